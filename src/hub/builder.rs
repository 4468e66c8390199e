//! [`HubBuilder`], the hub's settings.

use std::{fmt, sync::Arc, time::Duration};

use crate::{Event, Shutdown};

use super::{
    backend::{Backend, Engine, Feed, fanout::Fanout, memory::MemoryBackend},
    config::{Config, LagPolicy, Limits, SubscriberChange},
    error::SetupError,
    handle::Hub,
    history::History,
    state::State,
};

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
}

/// Builds a [`Hub`]; every setting has a default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::{Event, Shutdown, hub::{History, Hub, LagPolicy}};
///
/// let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(10)));
/// let hub = Hub::builder()
///     .history(History::new().events(10_000).bytes(Some(16 << 20)))
///     .lag_bound(1024)
///     .lag_policy(LagPolicy::Disconnect)
///     .max_subscribers(50_000)
///     .max_subscribers_per_topic(10_000)
///     .max_duration(Duration::from_secs(3600), Duration::from_secs(300))
///     .graceful_shutdown(shutdown.clone())
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
                history: History::new(),
                lag_bound: 256,
                lag: LagPolicy::Disconnect,
                limits: Limits {
                    hub: usize::MAX,
                    topic: usize::MAX,
                    retry_after: Duration::from_secs(5),
                },
                max_duration: None,
                reset_event: Event::new().event_static("reset").data("").encode(),
                shutdown: None,
                on_subscriber: None,
                metrics_topics: 100,
            },
        }
    }
}

impl HubBuilder {
    /// How much history each topic keeps for replay, on every engine (see [`History`]).
    ///
    /// Default: [`History::new`]: 1,024 events, no byte or age bound.
    pub fn history(mut self, history: History) -> Self {
        self.config.history = history;
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
    /// [`SubscribeError::HubFull`](super::SubscribeError::HubFull) (a `retry:`).
    ///
    /// Default: no limit.
    pub fn max_subscribers(mut self, limit: usize) -> Self {
        self.config.limits.hub = limit;
        self
    }

    /// The most subscribers one topic takes at once; more are refused with
    /// [`SubscribeError::TopicFull`](super::SubscribeError::TopicFull) (a `retry:`).
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

    /// Ends each subscription after `duration` plus a random part of `jitter`, so clients
    /// reconnect a few at a time (and resume from their `Last-Event-ID`).
    ///
    /// Default: none.
    ///
    /// (To end a stream when its client's access ends, use [`Lifetime`](crate::Lifetime).)
    pub fn max_duration(mut self, duration: Duration, jitter: Duration) -> Self {
        self.config.max_duration = Some((duration, jitter));
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

    /// Shuts the hub down when `shutdown` is triggered: every subscription gets the
    /// signal's last event (see [`Shutdown::with_last_event`]) and ends, and new
    /// subscribers and events are refused from then on. Give the same signal to the
    /// [`SseLayer`](crate::SseLayer) or `EventStream` (feature `axum`) serving the
    /// hub's subscriptions: each client still gets the last event once.
    ///
    /// Default: none; the hub runs until it is dropped.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, Shutdown, hub::Hub};
    ///
    /// let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
    /// let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
    /// let mut subscription = hub.subscribe("t").await.unwrap();
    /// shutdown.trigger();
    /// assert_eq!(subscription.next().await.unwrap().as_bytes(), &b"event: bye\ndata: \n\n"[..]);
    /// // Then it ends; an empty item before the end tells the layer why.
    /// while let Some(rest) = subscription.next().await {
    ///     assert!(rest.as_bytes().is_empty());
    /// }
    /// # }
    /// ```
    pub fn graceful_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.config.shutdown = Some(shutdown);
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

    /// Builds the hub, with the in-process engine: history in this process's memory.
    pub fn build(self) -> Hub {
        let fanout = self.fanout();
        let backend = MemoryBackend::new(self.config.history, Feed::new(fanout.clone()));
        self.assemble(fanout, Arc::new(backend))
    }

    /// Builds the hub over `engine`: Redis, NATS (`hub::redis::Redis`,
    /// `hub::nats::Nats`), or an engine of your own (see [`Engine`]). Every hub built
    /// over the same engine settings shares its topics and history.
    ///
    /// # Errors
    ///
    /// A [`SetupError`] when the engine's settings cannot work, its server does not
    /// answer or refuses the setup, or it cannot honour the [`History`] bound.
    ///
    /// # Example
    ///
    /// See [`Backend`].
    pub async fn build_with(self, engine: impl Engine) -> Result<Hub, SetupError> {
        let fanout = self.fanout();
        let backend = engine
            .start(Feed::new(fanout.clone()), self.config.history)
            .await?;
        Ok(self.assemble(fanout, Arc::from(backend)))
    }

    fn fanout(&self) -> Arc<Fanout> {
        Arc::new(Fanout::new(
            self.config.lag_bound,
            self.config.metrics_topics,
        ))
    }

    fn assemble(self, fanout: Arc<Fanout>, backend: Arc<dyn Backend>) -> Hub {
        let hub = Hub::new_with(Arc::new(State::new(backend, fanout, self.config)));
        hub.watch_shutdown();
        hub
    }
}

impl fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubBuilder").finish_non_exhaustive()
    }
}
