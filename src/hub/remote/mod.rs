//! The driver of every engine that keeps the hub's topics outside the process: one
//! implementation of [`Backend`] over a small [`RemoteEngine`], through which an engine
//! supplies only what differs (storage, reads, a live feed).
//!
//! # What the driver does
//!
//! - **Interest** (`live.rs`): a topic's live feed is open only while a local client
//!   follows it. Watchers are kept by id; the first opens the feed, reads the topic's
//!   head and answers with it; the last one's unwatch closes it.
//! - **The chain** (`chain.rs`): each stored event records the position of its topic's
//!   event before it. Every read (a client's replay, a catch-up) checks that the first
//!   event records the position read after and each next one the one before it; a
//!   notice that does not follow on from the last delivered event makes the task read
//!   the missed ones, so a notice lost or late is never a hole.
//! - **Catch-up and breaks**: after a lost connection, or a notice ahead of the chain,
//!   the task reads each topic's events after the last one it delivered and delivers
//!   them once, in order (notices already covered by a read are dropped by position). If
//!   they cannot be read exactly (trimmed, or the store came back older), the break is
//!   recorded ([`RemoteEngine::record_break`]) and the topic's streams end
//!   ([`Feed::end_topics`]): clients resume from their `Last-Event-ID`, exactly or with
//!   the reset event.
//! - **Recovery**: a lost live connection (reported by the engine, or a heartbeat not
//!   answered in time) is reconnected with backoff (50 ms doubling to 2 s); every
//!   followed topic is opened again and caught up. Meanwhile clients of followed topics
//!   stay connected; a subscriber of a topic new to the instance is followed from the
//!   topic's head if the store answers it within the heartbeat (the reconnection opens
//!   the topic with the others), and refused otherwise (the hub answers with `retry:`).
//! - **Publishing** (`publish.rs`): one token per publish; a failed append is tried
//!   again up to three times, looking the token up first when a try may have been
//!   stored, so the event is stored once, and the error is
//!   [`PublishError::Uncertain`] whenever a try may have been stored. An engine that
//!   does not order appends is told the head to expect: the instance's last append to
//!   the topic (none for a topic new to it); the head is read only when it is wrong.
//!
//! # Writing an engine
//!
//! Implement [`RemoteEngine`] (see its contract) and wrap the engine in [`Remote`].
//! What the engine is (its name, server, id scope, heartbeat, page size and how its
//! positions are written as ids, [`Marks`]) is one [`Profile`] value; the methods are
//! what it does. How the engines map onto it:
//!
//! - **PostgreSQL** (`hub::postgres`): append is a SQL function that locks the topic's
//!   row (it orders appends itself) and checks the token under that lock; read is one
//!   statement with the head; the live feed is `LISTEN` on a channel per topic whose
//!   notices carry only the topic and position. Positions are never reused, so it keeps
//!   no break record.
//! - **Redis** (one stream per topic): append is the publish script (it orders appends
//!   itself, and finds a retried token); read is the read script, which returns the
//!   head and the break record (`<prefix>{topic}:b`, written by `record_break`) in one
//!   step; the live feed is `SSUBSCRIBE` per topic, whose messages carry the event
//!   (`Notice::Event` with its entry), one live connection per node.
//! - **NATS JetStream** (one stream): append is a publish with
//!   `Nats-Expected-Last-Subject-Sequence` set from `previous` (a wrong one is
//!   `Raced`) and the token as `Nats-Msg-Id` (the server's duplicate window answers a
//!   retried append with the first one's sequence, so `find` finds nothing); read is
//!   the topic's head, then a Direct Get per message up to it; the live feed is an
//!   ordered consumer per topic. Its ids order every topic
//!   ([`IdScope::Hub`](super::IdScope::Hub)), so the chain check lets a read start
//!   after another topic's event. Its client reconnects by itself and says so
//!   ([`Notice::Lost`], then [`Notice::Ready`]); a stream created anew (a new epoch)
//!   ends every topic ([`Notice::Ended`] of [`Topics::All`](engine::Topics::All)).
//! - **Redis Cluster** (later): a node's connection lost would end or recover only
//!   that node's topics, through the same [`Topics`](engine::Topics) (`Topics::Only`).
//!
//! # Notices that concern several topics
//!
//! [`Notice::Ended`] names the topics it concerns ([`Topics`](engine::Topics)): every
//! followed topic (their streams end, and every stream of the instance with them,
//! since a client of several topics resumes from one id), or some of them (only their
//! streams end). The driver stops following them; the next subscriber follows a topic
//! afresh.

mod chain;
mod engine;
mod ids;
mod live;
mod publish;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio::sync::{mpsc, oneshot};

#[cfg(any(feature = "redis", feature = "nats"))]
pub(crate) use self::engine::Topics;
pub(crate) use self::engine::{
    Append, AppendError, Appended, Entry, Found, Notice, Page, Paged, Profile, RemoteEngine,
};
pub(crate) use self::ids::Marks;
use self::{
    chain::{After, read_after},
    live::{Live, Request},
};
use super::{
    EventId, History, Position, PublishError, SetupError, SubscribeError,
    backend::{Backend, BoxFuture, Feed, IdScope, Replayed},
};
use crate::{BoxError, Event};

/// A [`Backend`] over a [`RemoteEngine`], running.
pub(crate) struct Remote<E> {
    engine: Arc<E>,
    requests: mpsc::UnboundedSender<Request>,
    live: tokio::task::AbortHandle,
    closed: AtomicBool,
    heads: publish::Heads,
}

impl<E: RemoteEngine> Remote<E> {
    /// Sets `engine`'s storage up for `history`, connects its live feed, and runs the
    /// live task, delivering to `feed`.
    pub(crate) async fn start(
        mut engine: E,
        feed: Feed,
        history: History,
    ) -> Result<Self, SetupError> {
        engine.setup(history).await?;
        let (notices, notice_receiver) = mpsc::unbounded_channel();
        // Replicas start together: a server busy setting up for another instance may
        // answer the first probe late. Three tries, 100 then 200 ms apart.
        let mut tries = 0;
        while let Err(source) = engine.connect_live(1, notices.clone()).await {
            tries += 1;
            if tries == 3 {
                return Err(SetupError::Unreachable {
                    engine: engine.name(),
                    url: engine.url().to_owned(),
                    source,
                });
            }
            tracing::debug!(error = %source, "the live feed did not connect yet; trying again");
            tokio::time::sleep(std::time::Duration::from_millis(100) * tries).await;
        }
        let engine = Arc::new(engine);
        let (requests, receiver) = mpsc::unbounded_channel();
        let task = Live::new(engine.clone(), feed, 1, notices);
        let live = tokio::spawn(task.run(receiver, notice_receiver)).abort_handle();
        Ok(Self {
            engine,
            requests,
            live,
            closed: AtomicBool::new(false),
            heads: publish::Heads::default(),
        })
    }

    fn failed(&self, what: &str, err: &BoxError) -> SubscribeError {
        SubscribeError::Backend(
            format!(
                "{what} on {} at `{}` failed: {err}",
                self.engine.name(),
                self.engine.url()
            )
            .into(),
        )
    }
}

/// The setup error for settings `engine` cannot work with.
pub(crate) fn invalid(engine: &'static str, reason: impl Into<String>) -> SetupError {
    let reason = reason.into();
    SetupError::Invalid { engine, reason }
}

/// Refuses a `history` with a byte bound on each topic, which `engine` cannot keep
/// (`what` names the bound in the error).
pub(crate) fn refuse_byte_bound(
    engine: &'static str,
    history: History,
    what: &'static str,
) -> Result<(), SetupError> {
    match history.byte_limit() {
        Some(_) => Err(SetupError::Unsupported { engine, what }),
        None => Ok(()),
    }
}

/// What an engine value's [`Engine::start`](super::backend::Engine::start) returns.
#[cfg(any(feature = "redis", feature = "nats"))]
pub(crate) type Starting = BoxFuture<'static, Result<Box<dyn Backend>, SetupError>>;

/// Starts the driver over the engine `connecting` makes: an engine value's
/// [`Engine::start`](super::backend::Engine::start).
#[cfg(any(feature = "redis", feature = "nats"))]
pub(crate) fn start<E: RemoteEngine>(
    connecting: impl std::future::Future<Output = Result<E, SetupError>> + Send + 'static,
    feed: Feed,
    history: History,
) -> Starting {
    Box::pin(async move {
        let remote = Remote::start(connecting.await?, feed, history).await?;
        Ok(Box::new(remote) as Box<dyn Backend>)
    })
}

/// The settings every engine outside the process has, whatever each config calls
/// them: how long connecting and one command may take, and how often the live
/// connection is pinged (the driver's heartbeat).
#[cfg(any(feature = "redis", feature = "nats"))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) connect: std::time::Duration,
    pub(crate) command: std::time::Duration,
    pub(crate) heartbeat: std::time::Duration,
}

#[cfg(any(feature = "redis", feature = "nats"))]
impl Default for Timing {
    fn default() -> Self {
        let seconds = std::time::Duration::from_secs;
        Self {
            connect: seconds(3),
            command: seconds(3),
            heartbeat: seconds(5),
        }
    }
}

/// The public setters of a config's [`Timing`] (its field `timing`), under the
/// config's own names and docs: `connect_timeout`, the command timeout's name, and
/// `heartbeat` (at least 10 ms).
#[cfg(any(feature = "redis", feature = "nats"))]
macro_rules! timing_setters {
    (
        $config:ident {
            $(#[$connect_doc:meta])* connect_timeout;
            $(#[$command_doc:meta])* $command:ident;
            $(#[$heartbeat_doc:meta])* heartbeat;
        }
    ) => {
        impl $config {
            $(#[$connect_doc])*
            pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.timing.connect = timeout;
                self
            }

            $(#[$command_doc])*
            pub fn $command(mut self, timeout: std::time::Duration) -> Self {
                self.timing.command = timeout;
                self
            }

            $(#[$heartbeat_doc])*
            pub fn heartbeat(mut self, every: std::time::Duration) -> Self {
                self.timing.heartbeat = every.max(std::time::Duration::from_millis(10));
                self
            }
        }
    };
}

/// An engine value (the public type a user hands to
/// [`HubBuilder::build_with`](super::HubBuilder::build_with)): a struct holding its
/// config, its `new`, and its [`Engine`](super::backend::Engine) impl, which starts the
/// driver over the engine that `$connect(config, history)` makes.
#[cfg(any(feature = "redis", feature = "nats"))]
macro_rules! engine_value {
    ($(#[$doc:meta])* $name:ident($config:ty) => $connect:path) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            config: $config,
        }

        impl $name {
            /// The engine with these settings; nothing is connected until the hub is built.
            pub fn new(config: $config) -> Self {
                Self { config }
            }
        }

        impl $crate::hub::backend::Engine for $name {
            fn start(
                self,
                feed: $crate::hub::backend::Feed,
                history: $crate::hub::History,
            ) -> $crate::hub::remote::Starting {
                let connecting = $connect(self.config, history);
                $crate::hub::remote::start(connecting, feed, history)
            }
        }
    };
}

#[cfg(any(feature = "redis", feature = "nats"))]
pub(crate) use {engine_value, timing_setters};

impl<E: RemoteEngine> Backend for Remote<E> {
    fn ids(&self) -> IdScope {
        self.engine.ids()
    }

    fn name(&self) -> &'static str {
        self.engine.name()
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
                    format!(
                        "the {} engine assigns the ids; publish without an id of your own",
                        self.engine.name()
                    )
                    .into(),
                ));
            }
            if self.closed.load(Ordering::SeqCst) {
                return Err(PublishError::ShuttingDown);
            }
            publish::publish(&*self.engine, &self.heads, topic, &event).await
        })
    }

    fn locate(&self, id: &str) -> Option<Position> {
        self.engine.locate(id)
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
            let gone = || SubscribeError::Backend("the hub's live task has stopped".into());
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
            (self.engine.head(topic).await).map_err(|err| self.failed("position read", &err))
        })
    }

    fn replay<'a>(
        &'a self,
        topic: &'a str,
        after: Position,
        exact: bool,
    ) -> BoxFuture<'a, Result<Replayed, SubscribeError>> {
        Box::pin(async move {
            match read_after(&*self.engine, topic, after, exact).await {
                Ok(After::Events(events, _)) => Ok(Replayed::Events(events)),
                Ok(After::Broken(why, _)) => Ok(why),
                Err(err) => Err(self.failed("history read", &err)),
            }
        })
    }

    fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.live.abort();
    }
}

impl<E> Drop for Remote<E> {
    fn drop(&mut self) {
        self.live.abort();
    }
}
