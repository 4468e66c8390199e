//! The engine API: what an engine author implements to put a [`Hub`](super::Hub) over a
//! store of their own. An app does not need this module: it builds a hub with
//! [`HubBuilder::build`](super::HubBuilder::build) or hands one of the crate's engines
//! (`hub::redis::Redis`, `hub::nats::Nats`, `hub::postgres::Postgres`) to
//! [`HubBuilder::build_with`](super::HubBuilder::build_with).
//!
//! # Writing an engine
//!
//! An engine is two values:
//!
//! 1. its settings, an [`Engine`]: [`HubBuilder::build_with`](super::HubBuilder::build_with)
//!    calls [`Engine::start`] once, with the hub's [`Feed`] and [`History`]
//!    bound, and gets the running [`Backend`];
//! 2. the running [`Backend`]: it stores each published event in its topic's bounded
//!    history, gives it an [`EventId`] and a [`Position`], and hands it, encoded once as a
//!    [`Delivery`], to the [`Feed`] of every process that [watches](Backend::watch) the
//!    topic. [`Backend::replay`] answers a resuming client with the [`Retained`] events
//!    after a position, or says why it cannot.
//!
//! The hub does the rest: topic checks, limits, merging several topics, the reset
//! event, single-flight history reads, lag, the maximum duration and shutdown. Say in
//! [`Backend::ids`] ([`IdScope`]) whether one id places a client in every topic or only
//! in its own; the hub then sends cursors for streams of several topics.
//!
//! The contract the hub relies on for exact resumption is on [`Backend`];
//! `tests/hub/backend.rs` holds a complete engine with a history, and the example on
//! [`Backend`] a minimal one.

mod delivery;
pub(crate) mod fanout;
mod feed;
pub(crate) mod flight;
pub(crate) mod memory;
mod position;

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::Event;

/// The id of an event (the crate root's `EventId`), here too for
/// engines.
pub use crate::EventId;
pub use delivery::Delivery;
pub use feed::Feed;
pub use position::Position;

use super::{
    error::{PublishError, SetupError, SubscribeError},
    history::History,
};

/// A boxed future, as [`Backend`]'s methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a backend's event ids order.
///
/// # Example
///
/// ```
/// use tower_sse::hub::backend::IdScope;
///
/// assert_ne!(IdScope::Hub, IdScope::Topic);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdScope {
    /// One sequence across all topics: one event's id places a client in every topic,
    /// so a stream of several topics sends each event's own id.
    Hub,
    /// Each topic has its own sequence: a stream of several topics sends a cursor of
    /// one position per topic as its ids (see [`Hub::subscribe`](super::Hub::subscribe)).
    Topic,
}

/// The answer to [`Backend::replay`].
///
/// # Example
///
/// ```
/// use tower_sse::hub::backend::Retained;
///
/// let nothing_missed = Retained::Events(Vec::new());
/// assert!(matches!(nothing_missed, Retained::Events(events) if events.is_empty()));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Retained {
    /// Every retained event after the position asked for, in order.
    Events(Vec<Delivery>),
    /// Events after the position have left the history: an exact replay is impossible.
    Expired,
    /// The position is ahead of the history (the storage lost data) or was never given:
    /// an exact replay is impossible.
    Unknown,
}

/// What a [`HubBuilder`](super::HubBuilder) is handed to build a hub over: an engine's
/// settings, as a value, before any I/O. [`start`](Engine::start) connects, sets up the
/// engine's storage for the hub's [`History`] bound (idempotently: replicas start at the
/// same moment), and returns the running [`Backend`].
///
/// The crate's engines are `hub::redis::Redis`, `hub::nats::Nats` and
/// `hub::postgres::Postgres` (features `redis`, `nats` and `postgres`); see [`Backend`]
/// for one of your own.
pub trait Engine: Send + 'static {
    /// Sets the engine up for a hub whose local subscribers `feed` reaches, keeping
    /// `history` of each topic.
    ///
    /// # Errors
    ///
    /// A [`SetupError`]: the settings cannot work, the server does not answer or
    /// refuses the setup, or a bound of `history` cannot be honoured.
    fn start(
        self,
        feed: Feed,
        history: History,
    ) -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>>;
}

/// Storage and delivery behind a [`Hub`](super::Hub): the in-process default, Redis, or
/// an engine of your own.
///
/// A backend stores each published event in its topic's bounded history, gives it an id
/// and a [`Position`], and hands it to the [`Feed`] of every process that
/// [watches](Backend::watch) the topic. The hub does the rest: limits, replay merging,
/// the reset event, lag, lifetime and shutdown.
///
/// The contract the hub relies on, for exact resumption:
///
/// - positions of a topic increase, and a topic's deliveries come in position order;
/// - once [`watch`](Backend::watch) has returned position `p`, every event of the topic
///   after `p` is delivered to the feed (or the topic's subscriptions are ended with
///   [`Feed::end_topics`]);
/// - [`replay`](Backend::replay) after `p` returns every retained event after `p`, or
///   says why it cannot.
///
/// # Example
///
/// A backend that keeps nothing and delivers in `publish` (see `tests/hub/backend.rs` for
/// one with a history):
///
/// ```
/// use std::sync::{Mutex, atomic::{AtomicU64, Ordering}};
/// use tower_sse::{Event, hub::{History, Hub, PublishError, SetupError, SubscribeError,
///     backend::{Backend, BoxFuture, Delivery, Engine, EventId, Feed, IdScope, Position, Retained}}};
///
/// #[derive(Default)]
/// struct NoHistory { next: AtomicU64, feed: Mutex<Option<Feed>> }
///
/// impl Engine for NoHistory {
///     fn start(mut self, feed: Feed, _history: History)
///         -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>> {
///         *self.feed.get_mut().unwrap() = Some(feed);
///         Box::pin(async move { Ok(Box::new(self) as Box<dyn Backend>) })
///     }
/// }
///
/// impl Backend for NoHistory {
///     fn ids(&self) -> IdScope { IdScope::Hub }
///     fn publish<'a>(&'a self, topic: &'a str, _id: Option<&'a str>, event: Event)
///         -> BoxFuture<'a, Result<EventId, PublishError>> {
///         let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
///         let id = n.to_string();
///         let delivery = Delivery::new(Position::new(n, 0), &id, event);
///         let feed = self.feed.lock().unwrap().clone();
///         Box::pin(async move {
///             let delivery = delivery.map_err(PublishError::InvalidId)?;
///             if let Some(feed) = feed { feed.deliver(topic, delivery); }
///             EventId::try_from(id).map_err(|err| PublishError::Backend(err.into()))
///         })
///     }
///     fn locate(&self, _id: &str) -> Option<Position> { None }
///     fn watch<'a>(&'a self, _topic: &'a str, _watcher: u64) -> BoxFuture<'a, Result<Position, SubscribeError>> {
///         let head = Position::new(self.next.load(Ordering::SeqCst), 0);
///         Box::pin(async move { Ok(head) })
///     }
///     fn unwatch(&self, _topic: &str, _watcher: u64) {}
///     fn replay<'a>(&'a self, _topic: &'a str, _after: Position, _exact: bool)
///         -> BoxFuture<'a, Result<Retained, SubscribeError>> {
///         Box::pin(async { Ok(Retained::Unknown) })
///     }
///     // The `backend` label of the hub's metrics; "custom" if left out.
///     fn name(&self) -> &'static str { "no-history" }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), SetupError> {
/// let hub = Hub::builder().build_with(NoHistory::default()).await?;
/// # drop(hub);
/// # Ok(())
/// # }
/// ```
pub trait Backend: Send + Sync + 'static {
    /// Whether ids order events across topics or within a topic only.
    fn ids(&self) -> IdScope;

    /// Stores `event` in `topic` with `id` (or one the backend assigns, for `None`) and
    /// returns the id. The hub has checked the topic name and, for `Some`, that the id
    /// is safe to send in an event and in a header.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        id: Option<&'a str>,
        event: Event,
    ) -> BoxFuture<'a, Result<EventId, PublishError>>;

    /// The position of the event a client last saw, from its id; `None` if the id is
    /// not one of this backend's.
    fn locate(&self, id: &str) -> Option<Position>;

    /// A subscriber of this process (`watcher`, unique in this process) follows `topic`
    /// from now on: make sure its events reach the feed, and return the topic's position
    /// at that moment (every later event will be delivered).
    ///
    /// The hub calls [`unwatch`](Backend::unwatch) with the same topic and watcher
    /// exactly once for every call of `watch`, whether the watch succeeded, failed, or
    /// was abandoned while pending (the client left): keep the watchers of a topic by
    /// id, and ignore an unwatch for one you do not hold.
    fn watch<'a>(
        &'a self,
        topic: &'a str,
        watcher: u64,
    ) -> BoxFuture<'a, Result<Position, SubscribeError>>;

    /// The subscriber `watcher` no longer follows `topic`.
    fn unwatch(&self, topic: &str, watcher: u64);

    /// The position of the last event stored in `topic` now ([`Position::START`] for
    /// none): a replay after it returns exactly the events published later. The hub's
    /// [handoff](super::Hub::handoff) reads it.
    ///
    /// The default watches the topic for a moment; a backend that can read its head
    /// directly should.
    fn head<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        // Counting down from the top: never a watcher id the hub hands out.
        static WATCHERS: AtomicU64 = AtomicU64::new(u64::MAX);
        let watcher = WATCHERS.fetch_sub(1, Ordering::Relaxed);
        Box::pin(async move {
            let head = self.watch(topic, watcher).await;
            self.unwatch(topic, watcher);
            head
        })
    }

    /// The retained events of `topic` after `after`. With `exact`, say
    /// [`Retained::Expired`] or [`Retained::Unknown`] when events after it are gone;
    /// without, return whatever is retained.
    fn replay<'a>(
        &'a self,
        topic: &'a str,
        after: Position,
        exact: bool,
    ) -> BoxFuture<'a, Result<Retained, SubscribeError>>;

    /// The hub is shutting down: refuse events from now on. An event whose publish
    /// returned before this call has been delivered.
    fn shutdown(&self) {}

    /// The backend's name, as the `backend` label of the hub's metrics (feature
    /// `metrics`) shows it: `memory` and `redis` for the crate's own.
    ///
    /// Default: `custom`.
    fn name(&self) -> &'static str {
        "custom"
    }
}

/// `url` without its user name and password, for messages and logs: what the shared
/// engines (Redis, NATS) say about where they failed.
#[cfg(any(feature = "redis", feature = "nats", feature = "postgres"))]
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://{}", &url[..scheme], &url[at + 1..])
        }
        (None, Some(at)) => url[at + 1..].to_owned(),
        _ => url.to_owned(),
    }
}

/// The answer's old name, still used by the crate's engines.
#[allow(unused_imports)]
pub(crate) use Retained as Replayed;
