//! [`HubBuilder`], the hub's settings.

use std::{
    fmt,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use crate::{EncodedEvent, Event};

#[cfg(feature = "nats")]
use super::nats::{NatsBackend, NatsConfig, NatsSetupError};
#[cfg(feature = "redis")]
use super::redis::{RedisBackend, RedisConfig, RedisSetupError};
use super::{
    Hub,
    backend::{Backend, Feed},
    config::{Hook, LagPolicy, Limits, SubscriberChange},
    fanout::Fanout,
    memory::{HistoryLimits, MemoryBackend},
    subscription::Context,
};

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) history: HistoryLimits,
    pub(crate) lag_bound: usize,
    pub(crate) lag: LagPolicy,
    pub(crate) limits: Limits,
    pub(crate) max_lifetime: Option<(Duration, Duration)>,
    pub(crate) reset_event: EncodedEvent,
    pub(crate) shutdown_event: Option<EncodedEvent>,
    pub(crate) on_subscriber: Option<Hook>,
    pub(crate) metrics_topics: usize,
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
                reset_event: Event::new().event_static("reset").data("").encode(),
                shutdown_event: None,
                on_subscriber: None,
                metrics_topics: 100,
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
    /// [`SubscribeError::HubFull`](super::SubscribeError::HubFull) (a `503`).
    ///
    /// Default: no limit.
    pub fn max_subscribers(mut self, limit: usize) -> Self {
        self.config.limits.hub = limit;
        self
    }

    /// The most subscribers one topic takes at once; more are refused with
    /// [`SubscribeError::TopicFull`](super::SubscribeError::TopicFull) (a `503`).
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

    /// How many topics get a `topic` label of their own in the `sse_hub_subscribers`
    /// gauge: the first `topics` distinct topics this hub sees; subscribers of later ones
    /// count under `topic="_other"`. This bounds the series a metrics store keeps; set
    /// it to what yours can hold, or to 0 to count every topic under `_other`. See the
    /// [`metrics`](crate::metrics) module.
    ///
    /// Default: 100.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::hub::Hub;
    ///
    /// // One topic per user: too many to label each.
    /// let hub = Hub::builder().metrics_topics(0).build();
    /// # drop(hub);
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics_topics(mut self, topics: usize) -> Self {
        self.config.metrics_topics = topics;
        self
    }

    /// Builds the hub, with the in-process backend.
    pub fn build(self) -> Hub {
        let history = self.config.history;
        self.build_with(MemoryBackend::new(history))
    }

    /// Builds the hub over `backend`: an engine of your own (see [`Backend`]).
    ///
    /// # Example
    ///
    /// See [`Backend`].
    pub fn build_with(self, mut backend: impl Backend) -> Hub {
        let fanout = Arc::new(Fanout::new(
            self.config.lag_bound,
            self.config.metrics_topics,
        ));
        backend.start(Feed::new(fanout.clone()));
        let backend: Arc<dyn Backend> = Arc::new(backend);
        let context = Arc::new(Context {
            fanout,
            backend: backend.clone(),
            lag: self.config.lag.clone(),
            on_subscriber: self.config.on_subscriber.clone(),
            lag_disconnects: AtomicU64::new(0),
            lag_skips: AtomicU64::new(0),
            next_watcher: AtomicU64::new(0),
        });
        Hub::new_with(backend, context, self.config)
    }

    /// Builds the hub over Redis (one server or a cluster), so that every hub built
    /// with the same nodes and [`prefix`](RedisConfig::prefix) shares its topics and
    /// history. See the [`redis`](super::redis) module for what it guarantees.
    ///
    /// [`history`](HubBuilder::history) does not apply: each topic's history is a Redis
    /// stream, bounded by [`RedisConfig::max_len`] and [`RedisConfig::max_age`].
    ///
    /// # Errors
    ///
    /// A [`RedisSetupError`] naming the node if a URL is invalid or Redis does not
    /// answer.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn build_redis(self, config: RedisConfig) -> Result<Hub, RedisSetupError> {
        let backend = RedisBackend::connect(config).await?;
        Ok(self.build_with(backend))
    }

    /// Builds the hub over NATS JetStream, so that every hub built with the same
    /// [stream](NatsConfig::stream) and [prefix](NatsConfig::prefix) shares its topics
    /// and history. See the [`nats`](super::nats) module for what it guarantees.
    ///
    /// [`history`](HubBuilder::history) does not apply: the history is a JetStream
    /// stream, bounded by [`NatsConfig::max_per_topic`], [`NatsConfig::max_bytes`] and
    /// [`NatsConfig::max_age`].
    ///
    /// # Errors
    ///
    /// A [`NatsSetupError`] if the settings cannot work, NATS does not answer, or it
    /// refuses the stream (JetStream is off).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tower_sse::hub::NatsSetupError> {
    /// use tower_sse::hub::{Hub, NatsConfig};
    ///
    /// let hub = Hub::builder()
    ///     .build_nats(NatsConfig::new("nats://127.0.0.1:4222").max_per_topic(10_000))
    ///     .await?;
    /// # drop(hub);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "nats")]
    #[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
    pub async fn build_nats(self, config: NatsConfig) -> Result<Hub, NatsSetupError> {
        let backend = NatsBackend::connect(config).await?;
        Ok(self.build_with(backend))
    }
}

impl fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubBuilder").finish_non_exhaustive()
    }
}
