//! [`HubStats`], counters of a hub's activity.

/// Counters of a hub's activity, from [`Hub::stats`](super::Hub::stats).
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
    /// Events published through this handle since the hub was made.
    pub published: u64,
    /// Events the backend handed to this process since the hub was made: with a shared
    /// backend (Redis), those of the topics this process's clients followed.
    pub received: u64,
    /// Subscribers disconnected because they fell behind.
    pub lag_disconnects: u64,
    /// Times a subscriber skipped events because it fell behind.
    pub lag_skips: u64,
}
