//! [`Hub`], the handle users publish and subscribe with.

use std::{
    fmt,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{
    Event, MAX_LAST_EVENT_ID_LEN,
    metrics::{self, PublishTimer},
};

use super::{
    Delivery, EventId, HubBuilder, HubStats, IntoTopics, MAX_TOPIC_LEN,
    MAX_TOPICS_PER_SUBSCRIPTION, Position, PublishError, Replay, SubscribeError, Subscription,
    backend::{Backend, IdScope, Replayed},
    builder::Config,
    config::SubscriberChange,
    cursor,
    flight::Flights,
    subscription::Context,
};

/// Where a subscription resumes.
enum From {
    /// Everything retained.
    Start,
    /// After one position, in every topic.
    After(Position),
    /// After one position per topic.
    Each(Vec<Position>),
    /// The client's id cannot be placed.
    Unknown,
}

/// A handle to a broadcast hub; clones share the hub. See the [module docs](super).
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
/// let id = hub.publish("news", Event::new().data("hello")).await.unwrap();
/// let event = subscription.next().await.unwrap();
/// assert_eq!(event.as_bytes(), format!("data: hello\nid: {id}\n\n").as_bytes());
/// # }
/// ```
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    backend: Arc<dyn Backend>,
    context: Arc<Context>,
    config: Config,
    published: AtomicU64,
    flights: Flights,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub(super) fn new_with(
        backend: Arc<dyn Backend>,
        context: Arc<Context>,
        config: Config,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                backend,
                context,
                config,
                published: AtomicU64::new(0),
                flights: Flights::default(),
            }),
        }
    }

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
    /// [`PublishError::ShuttingDown`] after the
    /// [shutdown signal](HubBuilder::graceful_shutdown). Nothing is stored or sent then.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_sse::hub::PublishError> {
    /// use tower_sse::{Event, hub::Hub};
    ///
    /// let hub = Hub::new();
    /// // `<sequence>-<epoch>`: the epoch is this hub's own, drawn when it was built.
    /// let one = hub.publish("a", Event::new().data("one")).await?;
    /// let two = hub.publish("b", Event::new().data("two")).await?;
    /// assert!(one.as_str().starts_with("1-"));
    /// assert!(two.as_str().starts_with("2-"));
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
            return Err(self.refused(PublishError::IdLength(id.len())));
        }
        if id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.refused(PublishError::ReservedId));
        }
        // The id comes back in a header, which cannot carry these as they are.
        let header_safe = !id.starts_with([' ', '\t'])
            && !id.ends_with([' ', '\t'])
            && !id
                .chars()
                .any(|c| c.is_ascii_control() && !matches!(c, '\r' | '\n' | '\0' | '\t'));
        if !header_safe {
            return Err(self.refused(PublishError::IdNotHeaderSafe));
        }
        self.publish_inner(topic, Some(id), event).await
    }

    /// Counts `error`, which refused an event before it reached the backend.
    fn refused(&self, error: PublishError) -> PublishError {
        metrics::publish_refused(self.shared.backend.name(), error.label());
        error
    }

    async fn publish_inner(
        &self,
        topic: &str,
        id: Option<&str>,
        event: Event,
    ) -> Result<EventId, PublishError> {
        if !valid_topic(topic) {
            return Err(self.refused(PublishError::InvalidTopic));
        }
        self.publish_unchecked(topic, id, event).await
    }

    /// Publishes to a topic already checked, or one of the hub's own.
    pub(super) async fn publish_unchecked(
        &self,
        topic: &str,
        id: Option<&str>,
        event: Event,
    ) -> Result<EventId, PublishError> {
        let timer = PublishTimer::start(self.shared.backend.name());
        let published = self.shared.backend.publish(topic, id, event).await;
        timer.finish(published.as_ref().err().map(PublishError::label));
        let id = published?;
        self.shared.published.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Subscribes to a topic, or to several in one stream (merged in publish order),
    /// resuming after `last_event_id` if the client sent one; without it the stream
    /// starts with the next event published.
    ///
    /// `topics` is one name (`"news"`, a `String`) or several (an array, a slice or a
    /// `Vec` of names). One `Last-Event-ID` resumes every topic of a stream. With the
    /// in-process backend, ids are one sequence across topics, so each event's own id
    /// places the client in every topic. With a backend whose topics have their own
    /// sequences ([`IdScope::Topic`]: Redis), each event of a stream of several topics is
    /// sent with a *cursor* as its id instead: `~`, a hash of the topic names, then one
    /// position per topic (`~1x3k9ab.lq2f8x3c.0`). It stays under 800 bytes for 64 topics.
    /// A cursor made for another set of topics, or one that cannot be read, resumes with
    /// the reset event.
    ///
    /// # Errors
    ///
    /// A [`SubscribeError`] for a subscriber past a limit, a bad topic (or none, or more
    /// than [`MAX_TOPICS_PER_SUBSCRIPTION`]) or a hub that is shutting down; it converts
    /// into the response to send.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, EventId, hub::{Hub, Replay}};
    ///
    /// let hub = Hub::new();
    /// let mut ids = Vec::new();
    /// for (topic, text) in [("a", "a1"), ("b", "b2"), ("c", "c3"), ("a", "a4")] {
    ///     ids.push(hub.publish(topic, Event::new().data(text)).await?);
    /// }
    /// // A client of "a" that saw the first event reconnects.
    /// let last = &ids[0];
    /// let mut one = hub.subscribe("a", Some(last)).await?;
    /// assert_eq!(one.replay(), Replay::Exact(1));
    /// assert_eq!(one.next().await.unwrap().as_bytes(), format!("data: a4\nid: {}\n\n", ids[3]).as_bytes());
    ///
    /// // A client of "a" and "b" resumes both at once.
    /// let both: Vec<_> = hub.subscribe(["a", "b"], Some(last)).await?.take(2).collect().await;
    /// assert_eq!(both[0].as_bytes(), format!("data: b2\nid: {}\n\n", ids[1]).as_bytes());
    /// assert_eq!(both[1].as_bytes(), format!("data: a4\nid: {}\n\n", ids[3]).as_bytes());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe(
        &self,
        topics: impl IntoTopics,
        last_event_id: Option<&EventId>,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_between(topics, last_event_id, false, async {})
            .await
    }

    /// Like [`subscribe`](Hub::subscribe), but a client without a `Last-Event-ID` first
    /// gets every event still in the history (what a chat page shows when it opens),
    /// then live events. With an id it resumes exactly as `subscribe` does.
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Hub::subscribe).
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
    /// let subscription = hub.subscribe_with_history("chat", None).await?;
    /// assert_eq!(subscription.replay(), Replay::Exact(1));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe_with_history(
        &self,
        topics: impl IntoTopics,
        last_event_id: Option<&EventId>,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_between(topics, last_event_id, true, async {})
            .await
    }

    /// [`subscribe`](Hub::subscribe), running `between` after joining the live feed and
    /// before reading the history: tests publish there to hit the race.
    async fn subscribe_between(
        &self,
        topics: impl IntoTopics,
        last_event_id: Option<&EventId>,
        history: bool,
        between: impl Future<Output = ()>,
    ) -> Result<Subscription, SubscribeError> {
        let topics = topic_set(topics.topic_names())?;
        let mut subscription = self.join(&topics).await?;
        let cursor = topics.len() > 1 && self.shared.backend.ids() == IdScope::Topic;
        between.await;
        let from = match last_event_id {
            None if !history => None,
            None => Some(From::Start),
            Some(id) => Some(self.resume_from(id.as_str(), &topics, cursor)),
        };
        match from {
            None => {}
            Some(From::Unknown) => self.reset(&mut subscription, &topics, last_event_id),
            Some(from) => match self.replay(&topics, &from).await? {
                Some(events) => {
                    let count = events.len();
                    subscription.start_with(events, Replay::Exact(count));
                    metrics::replayed(true);
                }
                None => self.reset(&mut subscription, &topics, last_event_id),
            },
        }
        if cursor {
            subscription.use_cursor();
        }
        Ok(subscription)
    }

    /// A subscriber of one of the hub's own topics, from now on.
    pub(super) async fn subscribe_reserved(
        &self,
        topic: String,
    ) -> Result<Subscription, SubscribeError> {
        let topics: Arc<[Arc<str>]> = Arc::new([Arc::from(topic)]);
        self.join(&topics).await
    }

    /// Whether the [shutdown signal](HubBuilder::graceful_shutdown) was triggered.
    pub(super) fn is_shut_down(&self) -> bool {
        self.shared.context.fanout.is_closed()
    }

    /// A subscriber of `topics` that has joined the live feed and watches every topic,
    /// starting after the position each watch returned. Read the history after this:
    /// an event published in between is in both, and the subscription skips the copy.
    async fn join(&self, topics: &Arc<[Arc<str>]>) -> Result<Subscription, SubscribeError> {
        let shared = &self.shared;
        let lifetime = shared.config.max_lifetime.map(|(lifetime, jitter)| {
            Box::pin(tokio::time::sleep(
                lifetime.saturating_add(random_part_of(jitter)),
            ))
        });
        let receivers = shared.context.fanout.join(topics, shared.config.limits)?;
        // From here, dropping `subscription` (on an error or a panic too) unregisters it
        // and unwatches its topics.
        let mut subscription =
            Subscription::new(shared.context.clone(), topics.clone(), receivers, lifetime);
        tracing::debug!(?topics, "hub subscriber joined");
        if let Some(hook) = &shared.config.on_subscriber {
            hook(SubscriberChange::Joined { topics });
        }
        for index in 0..topics.len() {
            let start = subscription.watch(index).await?;
            subscription.start_after(index, start);
        }
        Ok(subscription)
    }

    /// Where a client's `Last-Event-ID` places it in each topic.
    fn resume_from(&self, id: &str, topics: &[Arc<str>], cursor: bool) -> From {
        let from_cursor = || {
            cursor::decode(id, cursor::topics_hash(topics), topics.len())
                .map_or(From::Unknown, From::Each)
        };
        if cursor {
            return from_cursor();
        }
        // A handoff position is a cursor whatever the topics and the backend.
        match self.shared.backend.locate(id) {
            Some(position) => From::After(position),
            None if id.starts_with('~') => from_cursor(),
            None => From::Unknown,
        }
    }

    /// The engine behind the hub.
    pub(super) fn backend(&self) -> &dyn Backend {
        &*self.shared.backend
    }

    /// A refusal for a hub that is shutting down, if it is.
    pub(super) fn check_open(&self) -> Result<(), SubscribeError> {
        if self.is_shut_down() {
            return Err(SubscribeError::ShuttingDown {
                retry_after: self.shared.config.limits.retry_after,
            });
        }
        Ok(())
    }

    /// The retained events of `topics` from `from`, merged in position order, each with
    /// its topic's index; `None` if they cannot be replayed exactly.
    async fn replay(
        &self,
        topics: &[Arc<str>],
        from: &From,
    ) -> Result<Option<Vec<(usize, Delivery)>>, SubscribeError> {
        let mut events = Vec::new();
        for (index, topic) in topics.iter().enumerate() {
            let (after, exact) = match from {
                From::Start => (Position::START, false),
                From::After(position) => (*position, true),
                From::Each(positions) => (positions[index], true),
                From::Unknown => return Ok(None),
            };
            let shared = &self.shared;
            let replayed = shared
                .flights
                .replay(&*shared.backend, topic, after, exact)
                .await?;
            match replayed {
                Replayed::Events(replayed) => {
                    events.extend(replayed.into_iter().map(|delivery| (index, delivery)));
                }
                gap => {
                    tracing::debug!(?topic, ?after, ?gap, "cannot replay exactly");
                    return Ok(None);
                }
            }
        }
        if topics.len() > 1 {
            events.sort_by_key(|(_, delivery)| delivery.position());
        }
        Ok(Some(events))
    }

    fn reset(
        &self,
        subscription: &mut Subscription,
        topics: &[Arc<str>],
        last_event_id: Option<&EventId>,
    ) {
        tracing::debug!(
            ?topics,
            last_event_id = ?last_event_id.map(EventId::as_str),
            "Last-Event-ID cannot be replayed; sending the reset event"
        );
        subscription.start_with_reset(self.shared.config.reset_event.clone());
        metrics::replayed(false);
    }

    /// Shuts the hub down when its [shutdown signal](HubBuilder::graceful_shutdown) is
    /// triggered; holds the hub weakly, so a dropped hub is not kept.
    pub(super) fn watch_shutdown(&self) {
        let Some(shutdown) = &self.shared.config.shutdown else {
            return;
        };
        let hub = Arc::downgrade(&self.shared);
        shutdown.on_trigger(move || {
            if let Some(shared) = hub.upgrade() {
                Hub { shared }.shut_down();
            }
        });
    }

    /// Ends every subscription, after the shutdown signal's last event if it has one,
    /// and refuses new subscribers and events from now on.
    fn shut_down(&self) {
        let last = self
            .shared
            .config
            .shutdown
            .as_ref()
            .and_then(crate::Shutdown::last_event)
            .map(|event| {
                let event = crate::EncodedEvent::from_bytes(event.clone());
                Delivery::without_id(Position::END, event)
            });
        self.shared.backend.shutdown();
        self.shared.context.fanout.close(last);
    }

    /// The hub's counters.
    pub fn stats(&self) -> HubStats {
        HubStats {
            subscribers: self.shared.context.fanout.subscribers(),
            topics: self.shared.context.fanout.topics(),
            published: self.shared.published.load(Ordering::Relaxed),
            received: self.shared.context.fanout.received(),
            lag_disconnects: self.shared.context.lag_disconnects.load(Ordering::Relaxed),
            lag_skips: self.shared.context.lag_skips.load(Ordering::Relaxed),
        }
    }

    /// How many subscribers `topic` has now.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.shared.context.fanout.topic_subscribers(topic)
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("stats", &self.stats()).finish()
    }
}

/// The topics asked for, checked, sorted and without repeats.
pub(super) fn topic_set(names: Vec<&str>) -> Result<Arc<[Arc<str>]>, SubscribeError> {
    let mut topics: Vec<Arc<str>> = Vec::with_capacity(names.len());
    for topic in names {
        if !valid_topic(topic) {
            return Err(SubscribeError::InvalidTopic);
        }
        topics.push(topic.into());
    }
    let mut names = topics;
    names.sort();
    names.dedup();
    if names.is_empty() || names.len() > MAX_TOPICS_PER_SUBSCRIPTION {
        return Err(SubscribeError::InvalidTopic);
    }
    Ok(names.into())
}

/// Topics starting with this character are the hub's own (revocations).
pub(super) const RESERVED: char = '\0';

fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_TOPIC_LEN && !topic.starts_with(RESERVED)
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
    use tokio_stream::StreamExt as _;

    use super::*;
    use crate::EncodedEvent;

    fn id_of(event: &EncodedEvent) -> String {
        std::str::from_utf8(event.as_bytes())
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("id: "))
            .and_then(|id| id.split('-').next())
            .unwrap()
            .to_owned()
    }

    /// A subscription of `t` resuming after event `first`, with an event published after
    /// it joined the live feed and before it read the history (so the event is in both).
    async fn resumed_after_one_while_publishing(hub: &Hub, first: EventId) -> Subscription {
        let last = first;
        let publisher = hub.clone();
        hub.subscribe_between(["t"], Some(&last), false, async move {
            publisher
                .publish("t", Event::new().data("between"))
                .await
                .unwrap();
        })
        .await
        .unwrap()
    }

    /// An event published after the subscriber joined the live feed but before it read
    /// the history is in both: it must be sent once.
    #[tokio::test]
    async fn an_event_published_while_subscribing_is_sent_once() {
        let shutdown = crate::Shutdown::new();
        let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
        let first = hub.publish("t", Event::new().data("before")).await.unwrap();
        for _ in 0..2 {
            hub.publish("t", Event::new().data("before")).await.unwrap();
        }
        let subscription = resumed_after_one_while_publishing(&hub, first).await;
        assert_eq!(subscription.replay(), Replay::Exact(3));
        hub.publish("t", Event::new().data("after")).await.unwrap();
        shutdown.trigger();
        let ids: Vec<String> = subscription.map(|event| id_of(&event)).collect().await;
        assert_eq!(ids, ["2", "3", "4", "5"]);
    }

    /// The same when nothing was replayed before the race.
    #[tokio::test]
    async fn an_event_published_while_subscribing_at_the_head_is_sent_once() {
        let shutdown = crate::Shutdown::new();
        let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
        let first = hub.publish("t", Event::new().data("seen")).await.unwrap();
        let subscription = resumed_after_one_while_publishing(&hub, first).await;
        shutdown.trigger();
        let ids: Vec<String> = subscription.map(|event| id_of(&event)).collect().await;
        assert_eq!(ids, ["2"]);
    }
}
