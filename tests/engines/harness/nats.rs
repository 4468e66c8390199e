//! NATS JetStream: one `nats-server -js`, with a proxy in front of it.

use std::time::Duration;

use futures_util::StreamExt as _;
use tower_sse::hub::{
    Hub,
    nats::{Nats as NatsEngine, NatsConfig},
};

use super::{Data, Engine, Fault, Settings, timeout, url};
use crate::{
    common::proxy::Proxy,
    nats_servers::{NatsServer, available},
};

/// The one place that builds a hub over NATS.
async fn build(url: String, settings: Settings) -> Hub {
    let config = NatsConfig::new(url)
        .prefix("test")
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(2 * timeout(settings))
        .heartbeat(Duration::from_millis(500));
    super::build(NatsEngine::new(config), settings).await
}

/// A `nats-server -js` and a proxy in front of it.
pub struct Nats {
    server: NatsServer,
    proxy: Proxy,
}

impl Engine for Nats {
    const NAME: &'static str = "nats";
    const FAULTS: &'static [Fault] = Fault::ALL;

    async fn start() -> Option<Self> {
        if !available() {
            return None;
        }
        let server = NatsServer::start().await;
        let proxy = Proxy::start("nats", server.port).await;
        Some(Self { server, proxy })
    }

    async fn hub(&self, settings: Settings) -> Hub {
        let url = url(settings, &self.proxy, self.server.url());
        build(url, settings).await
    }

    async fn kill(&mut self) {
        self.server.kill();
    }

    async fn restart(&mut self, data: Data) {
        self.server.kill();
        match data {
            Data::Kept => self.server.restart().await,
            Data::Lost => self.server.restart_empty().await,
        }
    }

    fn freeze(&self, frozen: bool) {
        self.server.signal(if frozen { "STOP" } else { "CONT" });
    }

    async fn snapshot(&mut self) {
        self.server.snapshot().await;
    }

    async fn restore(&mut self) {
        self.server.restore().await;
    }

    fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// The hub's consumers whose filter is `topic`'s subject (`test.t.<hex>`) and that
    /// an instance is bound to now (an ephemeral consumer outlives its subscription by
    /// the server's inactivity threshold, delivering nothing).
    async fn followers(&self, topic: &str) -> usize {
        let subject: String = topic.bytes().map(|b| format!("{b:02x}")).collect();
        let subject = format!("test.t.{subject}");
        let client = async_nats::connect(self.server.url()).await.unwrap();
        let stream = async_nats::jetstream::new(client)
            .get_stream("TOWER_SSE")
            .await
            .unwrap();
        let mut consumers = stream.consumers();
        let mut count = 0;
        while let Some(info) = consumers.next().await {
            let info = info.unwrap();
            if info.config.filter_subject == subject && info.push_bound {
                count += 1;
            }
        }
        count
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }
}
