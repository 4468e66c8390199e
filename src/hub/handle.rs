//! [`Hub`], the handle users publish and subscribe with.

use std::{
    fmt,
    sync::{Arc, atomic::Ordering},
};

use crate::{
    Event, MAX_LAST_EVENT_ID_LEN,
    metrics::{self, PublishTimer},
};

use super::{
    backend::{Backend, Delivery, EventId, Position},
    error::{PublishError, SubscribeError},
    state::State,
    stats::HubStats,
    subscribe::{self, Subscribe, Subscription},
    topics::{IntoTopics, valid_topic},
};

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
/// let mut subscription = hub.subscribe("news").await.unwrap();
/// let id = hub.publish("news", Event::new().data("hello")).await.unwrap();
/// let event = subscription.next().await.unwrap();
/// assert_eq!(event.as_bytes(), format!("data: hello\nid: {id}\n\n").as_bytes());
/// # }
/// ```
#[derive(Clone)]
pub struct Hub {
    state: Arc<State>,
}

impl Hub {
    pub(super) fn new_with(state: Arc<State>) -> Self {
        Self { state }
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
    /// [shutdown signal](super::HubBuilder::graceful_shutdown). Nothing is stored or sent then.
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
        metrics::publish_refused(self.state.backend.name(), error.label());
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
        let timer = PublishTimer::start(self.state.backend.name());
        let published = self.state.backend.publish(topic, id, event).await;
        timer.finish(published.as_ref().err().map(PublishError::label));
        let id = published?;
        self.state.published.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Subscribes to a topic, or to several in one stream (merged in publish order).
    /// Await the [`Subscribe`] it returns, after setting where the client resumes:
    /// [`after`](Subscribe::after) its `Last-Event-ID`, [`with_history`](Subscribe::with_history).
    /// Without either, the stream starts with the next event published.
    ///
    /// `topics` is one name (`"news"`, a `String`) or several (an array, a slice or a
    /// `Vec` of names).
    ///
    /// # Errors
    ///
    /// A [`SubscribeError`] for a subscriber past a limit, a bad topic (or none, or more
    /// than [`MAX_TOPICS_PER_SUBSCRIPTION`](super::MAX_TOPICS_PER_SUBSCRIPTION)) or a hub
    /// that is shutting down; it converts into the response to send.
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
    /// let last = Some(&ids[0]);
    /// let mut one = hub.subscribe("a").after(last).await?;
    /// assert_eq!(one.replay(), Replay::Exact(1));
    /// assert_eq!(one.next().await.unwrap().as_bytes(), format!("data: a4\nid: {}\n\n", ids[3]).as_bytes());
    ///
    /// // A client of "a" and "b" resumes both at once.
    /// let both: Vec<_> = hub.subscribe(["a", "b"]).after(last).await?.take(2).collect().await;
    /// assert_eq!(both[0].as_bytes(), format!("data: b2\nid: {}\n\n", ids[1]).as_bytes());
    /// assert_eq!(both[1].as_bytes(), format!("data: a4\nid: {}\n\n", ids[3]).as_bytes());
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe(&self, topics: impl IntoTopics) -> Subscribe<'_> {
        Subscribe::new(&self.state, topics.topic_names())
    }

    /// A subscriber of one of the hub's own topics, from now on.
    pub(super) async fn subscribe_reserved(
        &self,
        topic: String,
    ) -> Result<Subscription, SubscribeError> {
        subscribe::reserved(&self.state, topic).await
    }

    /// Whether the [shutdown signal](super::HubBuilder::graceful_shutdown) was triggered.
    pub(super) fn is_shut_down(&self) -> bool {
        self.state.fanout.is_closed()
    }

    /// The engine behind the hub.
    pub(super) fn backend(&self) -> &dyn Backend {
        &*self.state.backend
    }

    /// A refusal for a hub that is shutting down, if it is.
    pub(super) fn check_open(&self) -> Result<(), SubscribeError> {
        if self.is_shut_down() {
            return Err(SubscribeError::ShuttingDown {
                retry_after: self.state.config.limits.retry_after,
            });
        }
        Ok(())
    }

    /// Shuts the hub down when its [shutdown signal](super::HubBuilder::graceful_shutdown)
    /// is triggered; holds the hub weakly, so a dropped hub is not kept.
    pub(super) fn watch_shutdown(&self) {
        let Some(shutdown) = &self.state.config.shutdown else {
            return;
        };
        let hub = Arc::downgrade(&self.state);
        shutdown.on_trigger(move || {
            if let Some(state) = hub.upgrade() {
                Hub { state }.shut_down();
            }
        });
    }

    /// Ends every subscription, after the shutdown signal's last event if it has one,
    /// and refuses new subscribers and events from now on.
    fn shut_down(&self) {
        let last = (self.state.config.shutdown.as_ref())
            .and_then(crate::Shutdown::last_event)
            .map(|event| {
                let event = crate::EncodedEvent::from_bytes(event.clone());
                Delivery::without_id(Position::END, event)
            });
        self.state.backend.shutdown();
        self.state.fanout.close(last);
    }

    /// The hub's counters, now: the one place to read them (see [`HubStats`]).
    pub fn stats(&self) -> HubStats {
        let by_topic = self.state.fanout.topic_subscribers();
        HubStats {
            subscribers: self.state.fanout.subscribers(),
            topics: by_topic.len(),
            by_topic,
            published: self.state.published.load(Ordering::Relaxed),
            received: self.state.fanout.received(),
            lag_disconnects: self.state.lag_disconnects.load(Ordering::Relaxed),
            lag_skips: self.state.lag_skips.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("stats", &self.stats()).finish()
    }
}
