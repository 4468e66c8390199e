//! The in-process engine. Its "server" is the process: every instance is the same hub,
//! and a restart is a new process, whose hub knows nothing of the old one's ids.

use std::sync::Mutex;

use tower_sse::{Shutdown, hub::Hub};

use super::{Data, Engine, Settings, history};

/// The process's hub, made by the first [`Engine::hub`] and replaced by a restart.
#[derive(Default)]
pub struct Memory {
    hub: Mutex<Option<(Hub, Shutdown)>>,
}

/// The one place that builds an in-process hub, with the signal a restart triggers.
fn build(settings: Settings) -> (Hub, Shutdown) {
    let shutdown = Shutdown::new();
    let hub = Hub::builder()
        .history(history(settings))
        .graceful_shutdown(shutdown.clone())
        .build();
    (hub, shutdown)
}

impl Engine for Memory {
    const NAME: &'static str = "memory";
    const INSTANCES_OUTLIVE_THE_SERVER: bool = false;

    async fn start() -> Option<Self> {
        Some(Self::default())
    }

    async fn hub(&self, settings: Settings) -> Hub {
        self.hub
            .lock()
            .unwrap()
            .get_or_insert_with(|| build(settings))
            .0
            .clone()
    }

    /// The process ends (every stream with it) and another starts: `Data::Kept` cannot
    /// be, memory keeps nothing.
    async fn restart(&mut self, data: Data) {
        assert_eq!(data, Data::Lost, "memory keeps nothing across a restart");
        if let Some((_, shutdown)) = self.hub.lock().unwrap().take() {
            shutdown.trigger();
        }
    }
}
