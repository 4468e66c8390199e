//! [`HubStats`], counters of a hub's activity.

use std::{collections::HashMap, sync::Arc};

/// Counters of a hub's activity, from [`Hub::stats`](super::Hub::stats): the one way to
/// read them. The same counts go to a metrics recorder with the `metrics` feature
/// (`sse_hub_subscribers` by topic), and
/// [`HubBuilder::on_subscriber`](super::HubBuilder::on_subscriber) is told of each
/// subscriber as it joins and leaves, to act on it (it counts nothing).
///
/// It is a snapshot, taken in one pass over the topics that have subscribers.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::{Event, hub::Hub};
///
/// let hub = Hub::new();
/// let subscription = hub.subscribe("news").await.unwrap();
/// assert_eq!(hub.stats().subscribers_of("news"), 1);
/// hub.publish("news", Event::new().data("x")).await.unwrap();
/// let stats = hub.stats();
/// assert_eq!((stats.subscribers, stats.topics, stats.published), (1, 1, 1));
/// drop(subscription);
/// assert_eq!(hub.stats().subscribers, 0);
/// assert_eq!(hub.stats().subscribers_of("news"), 0);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Subscribers connected now.
    pub subscribers: usize,
    /// Topics with at least one subscriber now.
    pub topics: usize,
    /// Events published through this handle since the hub was made.
    pub published: u64,
    /// Events the backend handed to this process since the hub was made: with a shared
    /// backend (Redis), those of the topics this process's clients followed.
    pub received: u64,
    /// Subscribers disconnected because they fell behind.
    pub lag_disconnects: u64,
    /// Times a subscriber skipped events because it fell behind.
    pub lag_skips: u64,
    pub(crate) by_topic: HashMap<Arc<str>, usize>,
}

impl HubStats {
    /// Subscribers of `topic` connected now (a subscription of several topics counts in
    /// each).
    pub fn subscribers_of(&self, topic: &str) -> usize {
        self.by_topic.get(topic).copied().unwrap_or(0)
    }
}
