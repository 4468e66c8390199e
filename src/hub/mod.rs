//! A broadcast hub: topics, exact replay from `Last-Event-ID`, encode-once fan-out and
//! bounded slow clients.
//!
//! Most event streams are fan-out: one event, many clients. A [`Hub`] takes events with
//! [`publish`](Hub::publish) and hands them to every [`Subscription`] of the topic;
//! a subscription is a stream that plugs straight into an [`SseLayer`](crate::SseLayer)
//! factory.
//!
//! ```
//! use std::convert::Infallible;
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tower_sse::{Event, LastEventId, SseLayer, hub::Hub};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! let subscribe = {
//!     let hub = hub.clone();
//!     move |_: Request<Body>, last_event_id: Option<LastEventId>| {
//!         let hub = hub.clone();
//!         // A refused subscriber gets a 503 with Retry-After.
//!         async move { hub.subscribe("news", last_event_id.as_ref()).await }
//!     }
//! };
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "page" }))
//!     .layer(SseLayer::new(subscribe));
//!
//! let id = hub.publish("news", Event::new().event("headline")?.data("SSE hub lands")).await?;
//! assert_eq!(id.as_str(), "1");
//! # Ok(())
//! # }
//! ```
//!
//! # Ids and replay
//!
//! Every event gets an id when it is published: by default the hub's sequence number
//! (`1`, `2`, ..., increasing across all topics, so one `Last-Event-ID` places a client in
//! every topic it follows), or one of your own with [`Hub::publish_with_id`]. The id is
//! part of the encoded event, so the browser sends it back when it reconnects.
//!
//! Each topic keeps a bounded history ([`HubBuilder::history`]: by count and by bytes).
//! A subscriber that comes with a `Last-Event-ID` gets:
//!
//! - **every retained event after that id, then the live ones**, with none missing and
//!   none twice, if the id is in the history, or is the newest event that left it
//!   ([`Replay::Exact`]). The subscriber joins the live feed *before* it reads the history
//!   and skips live events it already replayed, so an event published meanwhile is sent
//!   exactly once;
//! - otherwise, when the id is unknown or events after it have left the history, **the
//!   reset event** ([`HubBuilder::reset_event`], by default an event of type `reset` with
//!   empty data) and then live events ([`Replay::Reset`]). The page should reload its
//!   state when it sees it. Nothing is lost silently.
//!
//! # Slow clients
//!
//! An event is encoded once, when it is published, and every subscriber is sent the same
//! bytes. Each topic's live feed is a ring of [`HubBuilder::lag_bound`] events shared by
//! its subscribers: a subscriber may fall that many events behind, and costs no memory of
//! its own to do so. Publishing never waits for a subscriber, so a client that stops
//! reading does not delay the others. When a subscriber falls further behind, the
//! [`LagPolicy`] applies: by default it is disconnected (its stream ends), and the
//! client reconnects and replays exactly what it missed from the history, as long as the
//! history holds it (keep the history longer than the lag bound); or it skips ahead,
//! optionally with a notice event.
//!
//! # Limits, lifetime and shutdown
//!
//! [`HubBuilder::max_subscribers`] and [`HubBuilder::max_subscribers_per_topic`] refuse
//! subscribers past a limit with a [`SubscribeError`] that answers `503` with
//! `Retry-After`. [`HubBuilder::max_lifetime`] ends each subscription after a time with
//! random jitter, so that clients reconnect (and, after a deploy, reconnect elsewhere) a
//! few at a time. [`Hub::shutdown`] sends the optional [`HubBuilder::shutdown_event`] and
//! ends every subscription, so the server's graceful shutdown can finish.
//!
//! # Backends
//!
//! Storage and delivery sit behind a backend. The in-process one, the default, keeps the
//! history in memory. With the `redis` feature, [`HubBuilder::build_redis`] keeps it in a
//! Redis stream shared by several server instances (see the `redis` module); the hub's
//! API is the same.

mod backend;
mod error;
mod fanout;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod subscription;

use std::{
    collections::VecDeque,
    fmt,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{EncodedEvent, Event, LastEventId, MAX_LAST_EVENT_ID_LEN};

pub use error::{PublishError, SubscribeError};
pub use subscription::{Replay, Subscription};

#[cfg(feature = "redis")]
pub use self::redis::{RedisConfig, RedisSetupError};

use backend::{Backend, Delivery, HistoryLimits, Key, MemoryBackend, Replayed};
use fanout::{Fanout, Limits};

/// The longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 256;

/// The most topics one subscription may follow.
pub const MAX_TOPICS_PER_SUBSCRIPTION: usize = 64;

/// What to do with a subscriber that falls more than [`HubBuilder::lag_bound`] events
/// behind.
///
/// # Example
///
/// ```
/// use tower_sse::{Event, hub::{Hub, LagPolicy}};
///
/// let notice = Event::new().event("lagged")?.data("some messages were skipped").encode();
/// let hub = Hub::builder().lag_policy(LagPolicy::Skip(Some(notice))).build();
/// # drop(hub);
/// # Ok::<(), tower_sse::EventError>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum LagPolicy {
    /// End its stream. The client reconnects with its `Last-Event-ID` and replays what it
    /// missed from the history. The default.
    #[default]
    Disconnect,
    /// Skip the events it missed and go on with the oldest one still in the live feed,
    /// sending `notice` (if any) in place of what was skipped.
    Skip(Option<EncodedEvent>),
}

/// A change in a hub's subscribers, given to [`HubBuilder::on_subscriber`].
///
/// # Example
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
/// use tower_sse::hub::{Hub, SubscriberChange};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let joined = Arc::new(AtomicUsize::new(0));
/// let count = joined.clone();
/// let hub = Hub::builder()
///     .on_subscriber(move |change| {
///         if let SubscriberChange::Joined { .. } = change {
///             count.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build();
/// let _subscription = hub.subscribe("news", None).await.unwrap();
/// assert_eq!(joined.load(Ordering::Relaxed), 1);
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SubscriberChange<'a> {
    /// A subscriber joined these topics.
    Joined {
        /// Its topics.
        topics: &'a [Arc<str>],
    },
    /// A subscriber left these topics: the client went away or its stream ended.
    Left {
        /// Its topics.
        topics: &'a [Arc<str>],
    },
}

/// Counters of a hub's activity, from [`Hub::stats`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::{Event, hub::Hub};
///
/// let hub = Hub::new();
/// let subscription = hub.subscribe("news", None).await.unwrap();
/// hub.publish("news", Event::new().data("x")).await.unwrap();
/// let stats = hub.stats();
/// assert_eq!((stats.subscribers, stats.topics, stats.published), (1, 1, 1));
/// drop(subscription);
/// assert_eq!(hub.stats().subscribers, 0);
/// assert_eq!(hub.subscribers("news"), 0);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Subscribers connected now.
    pub subscribers: usize,
    /// Topics with at least one subscriber now.
    pub topics: usize,
    /// Events published since the hub was made.
    pub published: u64,
    /// Subscribers disconnected because they fell behind.
    pub lag_disconnects: u64,
    /// Times a subscriber skipped events because it fell behind.
    pub lag_skips: u64,
}

/// The id the hub gave a published event: what the client sends back as `Last-Event-ID`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::{Event, hub::Hub};
///
/// let hub = Hub::new();
/// let id = hub.publish("news", Event::new().data("x")).await.unwrap();
/// assert_eq!(id.as_str(), "1");
/// assert_eq!(id.to_string(), "1");
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventId(Arc<str>);

impl EventId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type Hook = Arc<dyn Fn(SubscriberChange<'_>) + Send + Sync>;

#[derive(Clone)]
struct Config {
    history: HistoryLimits,
    lag_bound: usize,
    lag: LagPolicy,
    limits: Limits,
    max_lifetime: Option<(Duration, Duration)>,
    reset_event: EncodedEvent,
    shutdown_event: Option<EncodedEvent>,
    on_subscriber: Option<Hook>,
}

/// Builds a [`Hub`]; every setting has a default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::{Event, hub::{Hub, LagPolicy}};
///
/// let hub = Hub::builder()
///     .history(10_000, 16 << 20)
///     .lag_bound(1024)
///     .lag_policy(LagPolicy::Disconnect)
///     .max_subscribers(50_000)
///     .max_subscribers_per_topic(10_000)
///     .max_lifetime(Duration::from_secs(3600), Duration::from_secs(300))
///     .shutdown_event(Event::new().retry(Duration::from_secs(10)))
///     .on_subscriber(|change| println!("{change:?}"))
///     .build();
/// # drop(hub);
/// ```
#[must_use]
pub struct HubBuilder {
    config: Config,
}

impl Default for HubBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                history: HistoryLimits {
                    events: 1024,
                    bytes: 4 << 20,
                },
                lag_bound: 256,
                lag: LagPolicy::Disconnect,
                limits: Limits {
                    hub: usize::MAX,
                    topic: usize::MAX,
                    retry_after: Duration::from_secs(5),
                },
                max_lifetime: None,
                reset_event: Event::new()
                    .event("reset")
                    .expect("a fixed, valid type")
                    .data("")
                    .encode(),
                shutdown_event: None,
                on_subscriber: None,
            },
        }
    }
}

impl HubBuilder {
    /// How much history each topic keeps for replay: at most `events` events and `bytes`
    /// bytes of encoded events, the oldest leaving first. `0` events keeps none.
    ///
    /// Default: 1024 events, 4 MiB.
    pub fn history(mut self, events: usize, bytes: usize) -> Self {
        self.config.history = HistoryLimits { events, bytes };
        self
    }

    /// How many events a subscriber may fall behind the newest before the
    /// [`LagPolicy`] applies. It bounds the live feed each topic shares among its
    /// subscribers: a ring of this many slots (rounded up to a power of two), made when
    /// the topic gets its first subscriber.
    ///
    /// Default: 256. Kept between 1 and 65,536.
    pub fn lag_bound(mut self, events: usize) -> Self {
        self.config.lag_bound = events.clamp(1, 1 << 16);
        self
    }

    /// What to do with a subscriber that falls behind.
    ///
    /// Default: [`LagPolicy::Disconnect`].
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.config.lag = policy;
        self
    }

    /// The most subscribers the hub takes at once; more are refused with
    /// [`SubscribeError::HubFull`] (a `503`).
    ///
    /// Default: no limit.
    pub fn max_subscribers(mut self, limit: usize) -> Self {
        self.config.limits.hub = limit;
        self
    }

    /// The most subscribers one topic takes at once; more are refused with
    /// [`SubscribeError::TopicFull`] (a `503`).
    ///
    /// Default: no limit.
    pub fn max_subscribers_per_topic(mut self, limit: usize) -> Self {
        self.config.limits.topic = limit;
        self
    }

    /// The `Retry-After` sent with a refusal.
    ///
    /// Default: 5 seconds.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.config.limits.retry_after = after;
        self
    }

    /// Ends each subscription after `lifetime` plus a random part of `jitter`, so clients
    /// reconnect a few at a time (and resume from their `Last-Event-ID`).
    ///
    /// Default: none.
    pub fn max_lifetime(mut self, lifetime: Duration, jitter: Duration) -> Self {
        self.config.max_lifetime = Some((lifetime, jitter));
        self
    }

    /// The event that starts a subscription whose `Last-Event-ID` cannot be replayed
    /// exactly.
    ///
    /// Default: an event of type `reset` with empty data.
    pub fn reset_event(mut self, event: Event) -> Self {
        self.config.reset_event = event.encode();
        self
    }

    /// The last event every subscription gets when the hub shuts down.
    ///
    /// Default: none.
    pub fn shutdown_event(mut self, event: Event) -> Self {
        self.config.shutdown_event = Some(event.encode());
        self
    }

    /// Calls `hook` whenever a subscriber joins or leaves.
    pub fn on_subscriber<F>(mut self, hook: F) -> Self
    where
        F: Fn(SubscriberChange<'_>) + Send + Sync + 'static,
    {
        self.config.on_subscriber = Some(Arc::new(hook));
        self
    }

    /// Builds the hub, with the in-process backend.
    pub fn build(self) -> Hub {
        let history = self.config.history;
        self.build_with(|fanout| Box::new(MemoryBackend::new(fanout, history)))
    }

    /// Builds the hub with the backend `backend` makes around the hub's fan-out.
    fn build_with(self, backend: impl FnOnce(Arc<Fanout>) -> Box<dyn Backend>) -> Hub {
        let fanout = Arc::new(Fanout::new(self.config.lag_bound));
        let backend = backend(fanout.clone());
        Hub {
            shared: Arc::new(Shared {
                backend,
                fanout,
                config: self.config,
                published: AtomicU64::new(0),
                lag_disconnects: AtomicU64::new(0),
                lag_skips: AtomicU64::new(0),
            }),
        }
    }
}

impl fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubBuilder").finish_non_exhaustive()
    }
}

struct Shared {
    backend: Box<dyn Backend>,
    fanout: Arc<Fanout>,
    config: Config,
    published: AtomicU64,
    lag_disconnects: AtomicU64,
    lag_skips: AtomicU64,
}

/// A handle to a broadcast hub; clones share the hub. See the [module docs](self).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio_stream::StreamExt;
/// use tower_sse::{Event, hub::Hub};
///
/// let hub = Hub::new(); // or Hub::builder()...build()
/// let mut subscription = hub.clone().subscribe("news", None).await.unwrap();
/// hub.publish("news", Event::new().data("hello")).await.unwrap();
/// let event = subscription.next().await.unwrap();
/// assert_eq!(event.as_bytes(), &b"data: hello\nid: 1\n\n"[..]);
/// # }
/// ```
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with the default settings (see [`HubBuilder`]).
    pub fn new() -> Self {
        HubBuilder::default().build()
    }

    /// Starts building a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// Publishes `event` to `topic` with the next id of the hub's sequence, and returns
    /// the id.
    ///
    /// The event is encoded once, with its `id:` field, and the same bytes are sent to
    /// every subscriber. Set no id on `event` yourself: the hub's comes last and wins.
    ///
    /// # Errors
    ///
    /// [`PublishError::InvalidTopic`] for an empty or over-long topic,
    /// [`PublishError::ShuttingDown`] after [`shutdown`](Hub::shutdown). Nothing is stored
    /// or sent then.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_sse::hub::PublishError> {
    /// use tower_sse::{Event, hub::Hub};
    ///
    /// let hub = Hub::new();
    /// assert_eq!(hub.publish("a", Event::new().data("one")).await?.as_str(), "1");
    /// assert_eq!(hub.publish("b", Event::new().data("two")).await?.as_str(), "2");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish(&self, topic: &str, event: Event) -> Result<EventId, PublishError> {
        self.publish_inner(topic, None, event).await
    }

    /// Publishes `event` to `topic` with an id of your own, unique among the events still
    /// in the history.
    ///
    /// # Errors
    ///
    /// As [`publish`](Hub::publish), and for the id: [`PublishError::InvalidId`] (CR, LF
    /// or NUL), [`PublishError::IdLength`] (empty or over 1 KiB),
    /// [`PublishError::ReservedId`] (all digits, which are the hub's own ids),
    /// [`PublishError::IdNotHeaderSafe`] (control characters, or spaces at either end,
    /// which the `Last-Event-ID` header cannot bring back), [`PublishError::DuplicateId`].
    ///
    /// Ids must be unique for as long as a client may hold one: an id reused after its
    /// first event left the history would resume that client after the new event. Use
    /// ids that never repeat (a UUID, a database sequence).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tower_sse::{Event, hub::{Hub, PublishError}};
    ///
    /// let hub = Hub::new();
    /// let id = hub.publish_with_id("chat", "msg-7f3a", Event::new().data("hi")).await.unwrap();
    /// assert_eq!(id.as_str(), "msg-7f3a");
    /// let again = hub.publish_with_id("chat", "msg-7f3a", Event::new().data("hi")).await;
    /// assert!(matches!(again, Err(PublishError::DuplicateId)));
    /// # }
    /// ```
    pub async fn publish_with_id(
        &self,
        topic: &str,
        id: &str,
        event: Event,
    ) -> Result<EventId, PublishError> {
        if id.is_empty() || id.len() > MAX_LAST_EVENT_ID_LEN {
            return Err(PublishError::IdLength(id.len()));
        }
        if id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PublishError::ReservedId);
        }
        // The id comes back in a header, which cannot carry these as they are.
        let header_safe = !id.starts_with([' ', '\t'])
            && !id.ends_with([' ', '\t'])
            && !id
                .chars()
                .any(|c| c.is_ascii_control() && !matches!(c, '\r' | '\n' | '\0' | '\t'));
        if !header_safe {
            return Err(PublishError::IdNotHeaderSafe);
        }
        self.publish_inner(topic, Some(id.into()), event).await
    }

    async fn publish_inner(
        &self,
        topic: &str,
        id: Option<Arc<str>>,
        event: Event,
    ) -> Result<EventId, PublishError> {
        if !valid_topic(topic) {
            return Err(PublishError::InvalidTopic);
        }
        let id = self.shared.backend.publish(topic.into(), id, event).await?;
        self.shared.published.fetch_add(1, Ordering::Relaxed);
        Ok(EventId(id))
    }

    /// Subscribes to `topic`, resuming after `last_event_id` if the client sent one.
    ///
    /// # Errors
    ///
    /// A [`SubscribeError`] for a subscriber past a limit, a bad topic or a hub that is
    /// shutting down; it converts into the response to send.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, hub::{Hub, Replay}};
    ///
    /// let hub = Hub::new();
    /// for text in ["a", "b", "c"] {
    ///     hub.publish("t", Event::new().data(text)).await?;
    /// }
    /// // A client that saw event 1 reconnects.
    /// let last_event_id = tower_sse::LastEventId::new("1")?;
    /// let mut subscription = hub.subscribe("t", last_event_id.as_ref()).await?;
    /// assert_eq!(subscription.replay(), Replay::Exact(2));
    /// let next = subscription.next().await.unwrap();
    /// assert_eq!(next.as_bytes(), &b"data: b\nid: 2\n\n"[..]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe(
        &self,
        topic: &str,
        last_event_id: Option<&LastEventId>,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_all([topic], last_event_id).await
    }

    /// Subscribes to several topics in one stream, merged in publish order; one
    /// `Last-Event-ID` resumes all of them, since ids are one sequence across topics.
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Hub::subscribe); also [`SubscribeError::InvalidTopic`] for no
    /// topics at all.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, LastEventId, hub::Hub};
    ///
    /// let hub = Hub::new();
    /// for (topic, text) in [("a", "a1"), ("b", "b2"), ("c", "c3"), ("a", "a4")] {
    ///     hub.publish(topic, Event::new().data(text)).await.unwrap();
    /// }
    /// // A client that saw event 1 resumes both of its topics at once.
    /// let last = LastEventId::new("1").unwrap();
    /// let subscription = hub.subscribe_all(["a", "b"], last.as_ref()).await.unwrap();
    /// let replayed: Vec<_> = subscription.take(2).collect().await;
    /// assert_eq!(replayed[0].as_bytes(), &b"data: b2\nid: 2\n\n"[..]);
    /// assert_eq!(replayed[1].as_bytes(), &b"data: a4\nid: 4\n\n"[..]);
    /// # }
    /// ```
    pub async fn subscribe_all<I, T>(
        &self,
        topics: I,
        last_event_id: Option<&LastEventId>,
    ) -> Result<Subscription, SubscribeError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.subscribe_between(topics, last_event_id, false, async {})
            .await
    }

    /// Like [`subscribe_all`](Hub::subscribe_all), but a client without a
    /// `Last-Event-ID` first gets every event still in the history (what a chat page
    /// shows when it opens), then live events. With an id it resumes exactly as
    /// `subscribe_all` does.
    ///
    /// # Errors
    ///
    /// As [`subscribe_all`](Hub::subscribe_all).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_sse::{Event, hub::{Hub, Replay}};
    ///
    /// let hub = Hub::new();
    /// hub.publish("chat", Event::new().data("hello")).await?;
    /// let subscription = hub.subscribe_with_history(["chat"], None).await?;
    /// assert_eq!(subscription.replay(), Replay::Exact(1));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe_with_history<I, T>(
        &self,
        topics: I,
        last_event_id: Option<&LastEventId>,
    ) -> Result<Subscription, SubscribeError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.subscribe_between(topics, last_event_id, true, async {})
            .await
    }

    /// [`subscribe_all`](Hub::subscribe_all), running `between` after joining the live
    /// feed and before reading the history: tests publish there to hit the race.
    async fn subscribe_between<I, T>(
        &self,
        topics: I,
        last_event_id: Option<&LastEventId>,
        history: bool,
        between: impl Future<Output = ()>,
    ) -> Result<Subscription, SubscribeError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut names: Vec<Arc<str>> = Vec::new();
        for topic in topics {
            let topic = topic.as_ref();
            if !valid_topic(topic) {
                return Err(SubscribeError::InvalidTopic);
            }
            names.push(topic.into());
        }
        names.sort();
        names.dedup();
        if names.is_empty() || names.len() > MAX_TOPICS_PER_SUBSCRIPTION {
            return Err(SubscribeError::InvalidTopic);
        }
        let topics: Arc<[Arc<str>]> = names.into();
        let shared = &self.shared;

        let lifetime = shared.config.max_lifetime.map(|(lifetime, jitter)| {
            Box::pin(tokio::time::sleep(
                lifetime.saturating_add(random_part_of(jitter)),
            ))
        });

        // Join the live feed first, then read the history: an event published in
        // between is in both, and the subscription skips the live copy.
        let receivers = shared.fanout.join(&topics, shared.config.limits)?;
        // From here, dropping `subscription` (on an error or a panic too) unregisters it.
        let mut subscription =
            Subscription::new(shared.clone(), topics.clone(), receivers, lifetime);
        tracing::debug!(?topics, "hub subscriber joined");
        if let Some(hook) = &shared.config.on_subscriber {
            hook(SubscriberChange::Joined { topics: &topics });
        }
        between.await;
        if last_event_id.is_none() && !history {
            return Ok(subscription);
        }
        let after = last_event_id.map(LastEventId::as_str);
        match shared.backend.replay(&topics, after).await? {
            Replayed::Events {
                after: position,
                events,
            } => {
                let count = events.len();
                let sent_through = events.last().map_or(position, |last| last.key);
                subscription.start_with(
                    events.into_iter().map(|d| d.event).collect(),
                    sent_through,
                    Replay::Exact(count),
                );
            }
            Replayed::Gap(gap) => {
                tracing::debug!(
                    ?topics,
                    ?after,
                    ?gap,
                    "Last-Event-ID cannot be replayed; sending the reset event"
                );
                subscription.start_with(
                    VecDeque::from([shared.config.reset_event.clone()]),
                    Key(0, 0),
                    Replay::Reset,
                );
            }
        }
        Ok(subscription)
    }

    /// Ends every subscription, after the [shutdown event](HubBuilder::shutdown_event) if
    /// one is set, and refuses new subscribers and events from now on.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::hub::Hub;
    ///
    /// let hub = Hub::new();
    /// let mut subscription = hub.subscribe("t", None).await.unwrap();
    /// hub.shutdown();
    /// assert!(subscription.next().await.is_none());
    /// # }
    /// ```
    pub fn shutdown(&self) {
        let last = self
            .shared
            .config
            .shutdown_event
            .clone()
            .map(|event| Delivery {
                key: Key::MAX,
                event,
            });
        self.shared.backend.shutdown(last);
    }

    /// The hub's counters.
    pub fn stats(&self) -> HubStats {
        HubStats {
            subscribers: self.shared.fanout.subscribers(),
            topics: self.shared.fanout.topics(),
            published: self.shared.published.load(Ordering::Relaxed),
            lag_disconnects: self.shared.lag_disconnects.load(Ordering::Relaxed),
            lag_skips: self.shared.lag_skips.load(Ordering::Relaxed),
        }
    }

    /// How many subscribers `topic` has now.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.shared.fanout.topic_subscribers(topic)
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("stats", &self.stats()).finish()
    }
}

fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_TOPIC_LEN
}

/// A random duration in `0..=max`, for jitter.
fn random_part_of(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    // RandomState is seeded randomly per instance: enough for spreading reconnects.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    fn id_of(event: &EncodedEvent) -> String {
        std::str::from_utf8(event.as_bytes())
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("id: "))
            .unwrap()
            .to_owned()
    }

    /// An event published after the subscriber joined the live feed but before it read
    /// the history is in both: it must be sent once.
    #[tokio::test]
    async fn an_event_published_while_subscribing_is_sent_once() {
        let hub = Hub::new();
        for _ in 0..3 {
            hub.publish("t", Event::new().data("before")).await.unwrap();
        }
        let last = LastEventId::new("1").unwrap();
        let publisher = hub.clone();
        let subscription = hub
            .subscribe_between(["t"], last.as_ref(), false, async move {
                publisher
                    .publish("t", Event::new().data("between"))
                    .await
                    .unwrap();
            })
            .await
            .unwrap();
        assert_eq!(subscription.replay(), Replay::Exact(3));
        hub.publish("t", Event::new().data("after")).await.unwrap();
        hub.shutdown();
        let ids: Vec<String> = subscription.map(|event| id_of(&event)).collect().await;
        assert_eq!(ids, ["2", "3", "4", "5"]);
    }

    /// The same when nothing was replayed before the race.
    #[tokio::test]
    async fn an_event_published_while_subscribing_at_the_head_is_sent_once() {
        let hub = Hub::new();
        hub.publish("t", Event::new().data("seen")).await.unwrap();
        let last = LastEventId::new("1").unwrap();
        let publisher = hub.clone();
        let subscription = hub
            .subscribe_between(["t"], last.as_ref(), false, async move {
                publisher
                    .publish("t", Event::new().data("between"))
                    .await
                    .unwrap();
            })
            .await
            .unwrap();
        hub.shutdown();
        let ids: Vec<String> = subscription.map(|event| id_of(&event)).collect().await;
        assert_eq!(ids, ["2"]);
    }
}
