//! [`Feed`]: the hub's local fan-out, as an engine sees it.

use std::sync::Arc;

use super::{Delivery, fanout::Fanout};

/// The hub's local fan-out, handed to a [`Backend`](super::Backend) when the hub is built: the backend
/// hands it every event published to a topic this process [watches](super::Backend::watch).
///
/// # Example
///
/// ```
/// use tower_sse::{Event, hub::backend::{Delivery, Feed, Position}};
///
/// fn hand_over(feed: &Feed, n: u64) {
///     let id = n.to_string();
///     let delivery = Delivery::new(Position::new(n, 0), &id, Event::new().data("x")).unwrap();
///     feed.deliver("news", delivery); // to this process's subscribers of "news", if any
/// }
/// # let _ = hand_over;
/// ```
#[derive(Clone)]
pub struct Feed {
    fanout: Arc<Fanout>,
}

impl Feed {
    pub(crate) fn new(fanout: Arc<Fanout>) -> Self {
        Self { fanout }
    }

    /// Sends `delivery` to this process's subscribers of `topic`. Deliveries of one topic
    /// must come in increasing position, each once.
    pub fn deliver(&self, topic: &str, delivery: Delivery) {
        self.fanout.deliver(topic, delivery);
    }

    /// Ends the current subscriptions of `topics` after what they have queued: for a
    /// backend that cannot deliver their events exactly any more. Their clients resume
    /// from their `Last-Event-ID`, exactly or with the reset event; the topics' other
    /// subscriptions go on.
    pub fn end_topics(&self, topics: &[Arc<str>]) -> usize {
        self.fanout.end_topics(topics)
    }

    /// Ends every current subscription, as [`end_topics`](Feed::end_topics) does.
    pub fn end_all(&self) -> usize {
        self.fanout.end_subscriptions()
    }

    /// Whether the hub has shut down.
    pub fn is_closed(&self) -> bool {
        self.fanout.is_closed()
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("subscribers", &self.fanout.subscribers())
            .finish()
    }
}
