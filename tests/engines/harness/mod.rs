//! What the scenarios need of an engine, and one implementation per engine.
//!
//! # Adding an engine
//!
//! 1. Write `harness/<engine>.rs` with a type implementing [`Engine`]: `start` a fresh
//!    server of the test's own (or return `None` after [`crate::common::have`] said the
//!    program is missing), and build every hub in **one** function, so that a change of
//!    the builder's API is one line per engine. Implement the faults the server allows
//!    (kill, restart with or without data, freeze, snapshot and restore, a proxy for
//!    cut connections); leave the others to their default, which fails the test.
//! 2. Declare it below (`pub mod <engine>;`, behind its feature).
//! 3. List it in `main.rs` with the scenarios it can run: each pair becomes a test
//!    named `<engine>::<scenario>`. A scenario an engine cannot run is left out of its
//!    list (and the reason said there), never run to pass without checking anything.
#![allow(dead_code)]

use std::time::Duration;

use tower_sse::hub::{History, Hub};

use crate::common::proxy::Proxy;

pub mod memory;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

/// How a scenario wants a hub: the history bound, and how it reaches the server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    /// Keep at most this many events a topic (the engine's default otherwise).
    pub events: Option<usize>,
    /// Keep events at most this long.
    pub max_age: Option<Duration>,
    /// Reach the server through the harness's [`Proxy`], which the test can cut.
    pub through_proxy: bool,
    /// Wait longer for the server (a publisher that outlasts a restart).
    pub patient: bool,
}

impl Settings {
    pub fn events(events: usize) -> Self {
        Self {
            events: Some(events),
            ..Self::default()
        }
    }

    pub fn max_age(age: Duration) -> Self {
        Self {
            max_age: Some(age),
            ..Self::default()
        }
    }

    pub fn through_proxy() -> Self {
        Self {
            through_proxy: true,
            ..Self::default()
        }
    }

    pub fn patient() -> Self {
        Self {
            patient: true,
            ..Self::default()
        }
    }
}

/// What a restart keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    /// Everything the server had stored.
    Kept,
    /// Nothing: it comes back empty.
    Lost,
}

/// A fault the seeded fault run can strike an engine with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9`, down for a while, then started again with what it had persisted.
    Kill,
    /// Killed and started again empty.
    RestartEmpty,
    /// `SIGSTOP` for a while, then `SIGCONT`.
    Freeze,
    /// The proxy cuts its connections and refuses new ones for a while.
    Cut,
    /// The proxy's open connections go silent without closing.
    Silent,
    /// A snapshot now; the next `Restore` goes back to it.
    Snapshot,
    /// Killed and started again from the last snapshot.
    Restore,
}

impl Fault {
    /// Every fault: for an engine of one server with a proxy in front of it.
    pub const ALL: &'static [Fault] = &[
        Fault::Kill,
        Fault::RestartEmpty,
        Fault::Freeze,
        Fault::Cut,
        Fault::Silent,
        Fault::Snapshot,
        Fault::Restore,
    ];
}

/// The URL a hub built with `settings` uses: the proxy's, or the server's own.
pub fn url(settings: Settings, proxy: &Proxy, server: String) -> String {
    if settings.through_proxy {
        proxy.url()
    } else {
        server
    }
}

/// An engine's server (or, for memory, the process), fresh for one test.
///
/// Every fault is optional: the default fails the test, so a scenario listed for an
/// engine that lacks a fault fails loudly instead of passing unchecked.
#[allow(async_fn_in_trait)]
pub trait Engine: Sized {
    /// Shown in the fault run's report.
    const NAME: &'static str;

    /// Whether one id of a stream of several topics is a cursor (`~...`: a position per
    /// topic), which another set of topics cannot use.
    const CURSORS: bool = false;

    /// Whether an instance lives on through a restart of the server (not so for memory,
    /// whose server is the process).
    const INSTANCES_OUTLIVE_THE_SERVER: bool = true;

    /// Whether, after a restore from a snapshot, an id the snapshot holds still names
    /// its event (Postgres: ids carry a random mark the restore brings back), so a
    /// resume from it is exact; otherwise the instance records the break and answers
    /// every id up to it with the reset event.
    const RESTORED_IDS_RESUME: bool = false;

    /// The faults this harness can strike, for the seeded fault run.
    const FAULTS: &'static [Fault] = &[];

    /// A fresh server, or `None` (after one line saying so) when the program is missing.
    async fn start() -> Option<Self>;

    /// A new instance of the hub on this server: the one place that builds hubs.
    async fn hub(&self, settings: Settings) -> Hub;

    /// The server is killed (`kill -9`) and stays down.
    async fn kill(&mut self) {
        unsupported(Self::NAME, "kill")
    }

    /// The server is killed and started again, with or without what it stored.
    async fn restart(&mut self, _data: Data) {
        unsupported(Self::NAME, "restart")
    }

    /// The server stops (`SIGSTOP`) or goes on (`SIGCONT`).
    fn freeze(&self, _frozen: bool) {
        unsupported(Self::NAME, "freeze")
    }

    /// Keeps a copy of what the server stores now.
    async fn snapshot(&mut self) {
        unsupported(Self::NAME, "snapshot")
    }

    /// Kills the server and starts it again from the last snapshot.
    async fn restore(&mut self) {
        unsupported(Self::NAME, "restore")
    }

    /// The proxy that hubs built [`Settings::through_proxy`] go through.
    fn proxy(&self) -> &Proxy {
        unsupported(Self::NAME, "a proxy")
    }

    /// How many instances follow `topic`'s live feed on the server now.
    async fn followers(&self, _topic: &str) -> usize {
        unsupported(Self::NAME, "counting followers")
    }

    /// The server's address, as errors name it (`127.0.0.1:PORT`).
    fn address(&self) -> String {
        unsupported(Self::NAME, "an address")
    }
}

fn unsupported(engine: &str, what: &str) -> ! {
    panic!("the {engine} harness has no {what}: leave this scenario out of its list")
}

/// A hub over `engine`, with the history bound of `settings`: what every harness's one
/// building function ends with.
pub async fn build(engine: impl tower_sse::hub::Engine, settings: Settings) -> Hub {
    Hub::builder()
        .history(history(settings))
        .build_with(engine)
        .await
        .unwrap()
}

/// The history bound of `settings`: the crate's default where they say nothing.
pub fn history(settings: Settings) -> History {
    let mut history = History::new().max_age(settings.max_age);
    if let Some(events) = settings.events {
        history = history.events(events);
    }
    history
}

/// How long an event takes to be published: short timeouts, except for a patient hub.
pub fn timeout(settings: Settings) -> Duration {
    if settings.patient {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(500)
    }
}
