//! The hub over NATS JetStream, so that several server instances share topics and
//! replay, and each receives only the topics its clients follow.
//!
//! # How it works
//!
//! - **History: one JetStream stream** ([`NatsConfig::stream`], file storage) captures
//!   every topic's subject, `<prefix>.t.<topic in hex>`. It keeps the hub's
//!   [`History`] of each topic (its event count as the stream's
//!   per-subject limit, its age bound as the stream's `max_age`; a byte bound per topic
//!   is refused) and, if set, is bounded in all by [`NatsConfig::max_bytes`]. A stream
//!   that exists already is used as it is.
//! - **Ids** are `<stream sequence>-<epoch>` (`1042-k3x9q2a`). The sequence orders
//!   events across every topic, so one id places a client in all the topics it follows
//!   and a stream of several topics sends each event's own id (no cursor). The epoch
//!   names the stream's incarnation (from when it was created): an id from a stream
//!   since created anew is never read as one of the new stream's.
//! - **The chain.** Each message records, in a header, the sequence of its topic's
//!   event before it. A publish reads the topic's last sequence (a Direct Get) and
//!   appends expecting exactly it (`Nats-Expected-Last-Subject-Sequence`): a concurrent
//!   publish to the topic makes it read and try again, so the chain has no fork.
//! - **Live delivery by interest**: an instance follows a topic with an ordered
//!   JetStream consumer, filtered on the topic's subject, while it has at least one
//!   client of that topic, and drops it when the last one leaves. Each event is decoded
//!   and encoded once per instance and shared by its clients.
//!
//! # Guarantees
//!
//! - **Subscribing.** The instance reads the topic's last sequence, then follows the
//!   topic from the event after it, then reads the client's history: an event published
//!   meanwhile is sent once, whether it came live, from the history, or both.
//! - **Replay.** A client that resumes from an id gets exactly its topic's events after
//!   it, none missing and none twice: the first one read must record a previous event
//!   at or before the id, and each next one the one before it. Otherwise (the per-topic
//!   bound removed some), or if the id is ahead of the stream or from another epoch (the
//!   server lost the stream), it gets the hub's reset event first. With an age or byte
//!   bound, events may leave a topic entirely; a client whose position is before the
//!   stream's first event and whose topic has nothing after it then gets the reset
//!   event too, since nothing proves it missed nothing.
//! - **Live delivery** checks every event against the chain: one that does not follow
//!   the last one delivered makes the instance read the missed events from the stream
//!   and deliver them, once, in order; if they are gone, the topic's streams end, and
//!   their clients resume from their `Last-Event-ID`: exactly, or with the reset event.
//! - **A connection lost** (the server restarted, was killed, or the instance was cut
//!   off). The client reconnects by itself, and each topic's consumer is recreated from
//!   the last event it handed over: clients get the events they missed, once, in order,
//!   and stay connected. After every reconnection the stream's epoch is read again
//!   before a live event is delivered: a server that came back without the stream (it
//!   lost its store) gets the stream created anew, and every stream of the instance
//!   ends, so its clients resume with the reset event. A connection that dies without
//!   closing is found by the [heartbeat](NatsConfig::heartbeat).
//! - **Publishing while NATS is away** fails with [`PublishError::Backend`] when
//!   nothing was sent, or [`PublishError::Uncertain`] when a try may have been stored
//!   (its acknowledgement was lost). Tries carry one `Nats-Msg-Id`, so JetStream's
//!   duplicate window (two minutes) stores the event once however often it is retried.
//! - **Shutdown.** [`Hub::shutdown`](super::Hub::shutdown) stops the live task at once.
//! - **Ids** are the backend's: [`Hub::publish_with_id`](super::Hub::publish_with_id)
//!   is refused.
//!
//! A stream deleted and created again by hand while every instance stays connected is
//! noticed at the next subscription's replay or the next gap in a topic's chain.
//!
//! Needs nats-server 2.9 or newer, with JetStream (`-js`).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_sse::hub::{History, Hub, nats::{Nats, NatsConfig}};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::builder()
//!     .history(History::new().events(500).max_age(Some(Duration::from_secs(24 * 3600))))
//!     .build_with(Nats::new(NatsConfig::new("nats://127.0.0.1:4222").prefix("chat")))
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod history;
mod ids;
mod live;
mod publish;
mod store;
mod subjects;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_nats::{ConnectOptions, Event as ConnectionEvent};
use tokio::sync::{mpsc, oneshot};

pub use self::config::NatsConfig;
use self::{
    config::redacted,
    history::{After, read_after},
    ids::parse_id,
    live::{Live, Request},
    store::Store,
};
use super::{
    EventId, History, Position, PublishError, SetupError, SubscribeError,
    backend::{Backend, BoxFuture, Engine, Feed, IdScope, Replayed},
};
use crate::Event;

/// The NATS JetStream engine, as a value to build a hub over with
/// [`HubBuilder::build_with`](super::HubBuilder::build_with). See the module for what it
/// guarantees.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::hub::{Hub, SetupError, nats::{Nats, NatsConfig}};
///
/// let err = Hub::builder()
///     .build_with(Nats::new(NatsConfig::new("nats://127.0.0.1:4222").prefix("a b")))
///     .await
///     .unwrap_err();
/// assert!(matches!(err, SetupError::Invalid { engine: "nats", .. }));
/// # }
/// ```
#[derive(Debug)]
pub struct Nats {
    config: NatsConfig,
}

impl Nats {
    /// The engine with these settings; nothing is connected until the hub is built.
    pub fn new(config: NatsConfig) -> Self {
        Self { config }
    }
}

impl Engine for Nats {
    fn start(
        self,
        feed: Feed,
        history: History,
    ) -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>> {
        Box::pin(async move {
            let mut backend = NatsBackend::connect(self.config, history).await?;
            backend.run(feed);
            Ok(Box::new(backend) as Box<dyn Backend>)
        })
    }
}

/// The hub's backend over NATS JetStream, once [`Nats`] is set up.
pub(crate) struct NatsBackend {
    store: Arc<Store>,
    requests: mpsc::UnboundedSender<Request>,
    /// Taken by `start`, which runs the live task.
    receiver: Option<mpsc::UnboundedReceiver<Request>>,
    live: Option<tokio::task::AbortHandle>,
    closed: AtomicBool,
}

impl NatsBackend {
    /// Connects to NATS and creates the stream if it is missing.
    pub(crate) async fn connect(config: NatsConfig, history: History) -> Result<Self, SetupError> {
        config.check()?;
        if history.byte_limit().is_some() {
            return Err(SetupError::Unsupported {
                engine: "nats",
                what: "a byte bound on each topic's history (NatsConfig::max_bytes bounds the whole stream)",
            });
        }
        let url = redacted(&config.servers);
        let (requests, receiver) = mpsc::unbounded_channel();
        let reconnected = requests.clone();
        let options = ConnectOptions::new()
            .name("tower-sse hub")
            .connection_timeout(config.connect_timeout)
            .request_timeout(Some(config.request_timeout))
            .ping_interval(config.heartbeat)
            .reconnect_delay_callback(|attempts| {
                let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
                std::time::Duration::from_millis(50)
                    .saturating_mul(attempts.min(40))
                    .min(std::time::Duration::from_secs(2))
            })
            .event_callback(move |event| {
                let reconnected = reconnected.clone();
                async move {
                    if matches!(event, ConnectionEvent::Connected) {
                        let _ = reconnected.send(Request::Reconnected);
                    }
                }
            });
        let client = options
            .connect(config.servers.as_slice())
            .await
            .map_err(|source| SetupError::Unreachable {
                engine: "nats",
                url: url.clone(),
                source: Box::new(source),
            })?;
        let store = Store::open(client, &config, history, url.clone())
            .await
            .map_err(|source| SetupError::Refused {
                engine: "nats",
                url,
                source,
            })?;
        Ok(Self {
            store: Arc::new(store),
            requests,
            receiver: Some(receiver),
            live: None,
            closed: AtomicBool::new(false),
        })
    }

    async fn replay_topic(
        &self,
        topic: &str,
        after: Position,
        exact: bool,
    ) -> Result<Replayed, SubscribeError> {
        let failed = |err: crate::BoxError| {
            SubscribeError::Backend(
                format!("history read on NATS at `{}` failed: {err}", self.store.url).into(),
            )
        };
        let now = self.store.refresh().await.map_err(failed)?;
        let (mut sequence, epoch) = after.parts();
        if after != Position::START && epoch != now.epoch {
            if exact {
                return Ok(Replayed::Unknown);
            }
            sequence = 0;
        }
        let subject = self.store.subjects.of(topic);
        let read = read_after(&self.store, &subject, sequence, now, exact)
            .await
            .map_err(failed)?;
        Ok(match read {
            After::Events(events) => Replayed::Events(events),
            After::Broken(why) => why,
        })
    }
}

impl NatsBackend {
    /// Starts the live task, which hands events to `feed`.
    fn run(&mut self, feed: Feed) {
        let Some(receiver) = self.receiver.take() else {
            return;
        };
        let task = Live::new(self.store.clone(), feed);
        self.live = Some(tokio::spawn(task.run(receiver)).abort_handle());
    }
}

impl Backend for NatsBackend {
    fn ids(&self) -> IdScope {
        IdScope::Hub
    }

    fn name(&self) -> &'static str {
        "nats"
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        id: Option<&'a str>,
        event: Event,
    ) -> BoxFuture<'a, Result<EventId, PublishError>> {
        Box::pin(async move {
            if id.is_some() {
                return Err(PublishError::Backend(
                    "the NATS backend uses stream sequences as ids; publish without an id of your own"
                        .into(),
                ));
            }
            if self.closed.load(Ordering::SeqCst) {
                return Err(PublishError::ShuttingDown);
            }
            publish::publish(&self.store, topic, &event).await
        })
    }

    fn locate(&self, id: &str) -> Option<Position> {
        parse_id(id)
    }

    fn watch<'a>(
        &'a self,
        topic: &'a str,
        watcher: u64,
    ) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.requests.send(Request::Watch {
            topic: topic.into(),
            watcher,
            reply,
        });
        Box::pin(async move {
            let gone = || SubscribeError::Backend("the hub's NATS task has stopped".into());
            sent.map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
        })
    }

    fn unwatch(&self, topic: &str, watcher: u64) {
        let _ = self.requests.send(Request::Unwatch {
            topic: topic.into(),
            watcher,
        });
    }

    fn head<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        Box::pin(async move {
            let failed = |err: crate::BoxError| {
                SubscribeError::Backend(format!("position read on NATS failed: {err}").into())
            };
            let epoch = self.store.epoch().await.map_err(failed)?;
            let last = self
                .store
                .last_of(&self.store.subjects.of(topic))
                .await
                .map_err(failed)?;
            Ok(ids::position(last, epoch))
        })
    }

    fn replay<'a>(
        &'a self,
        topic: &'a str,
        after: Position,
        exact: bool,
    ) -> BoxFuture<'a, Result<Replayed, SubscribeError>> {
        Box::pin(self.replay_topic(topic, after, exact))
    }

    fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(live) = &self.live {
            live.abort();
        }
    }
}

impl Drop for NatsBackend {
    fn drop(&mut self) {
        if let Some(live) = &self.live {
            live.abort();
        }
    }
}
