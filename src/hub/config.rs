//! The hub's settings, as [`HubBuilder`](super::HubBuilder) gathers them: lag, limits,
//! the hub's own events, hooks.

use std::{sync::Arc, time::Duration};

use crate::{EncodedEvent, Shutdown};

use super::history::History;

/// Every setting of a hub.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) history: History,
    pub(crate) lag_bound: usize,
    pub(crate) lag: LagPolicy,
    pub(crate) limits: Limits,
    pub(crate) max_duration: Option<(Duration, Duration)>,
    pub(crate) reset_event: EncodedEvent,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) on_subscriber: Option<Hook>,
    pub(crate) metrics_topics: usize,
}

/// What to do with a subscriber that falls more than [`HubBuilder::lag_bound`](super::HubBuilder::lag_bound) events
/// behind.
///
/// # Example
///
/// ```
/// use tower_sse::{Event, hub::{Hub, LagPolicy}};
///
/// let notice = Event::new().event_static("lagged").data("some messages were skipped").encode();
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

/// A change in a hub's subscribers, given to [`HubBuilder::on_subscriber`](super::HubBuilder::on_subscriber).
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
/// let _subscription = hub.subscribe("news").await.unwrap();
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

/// What [`HubBuilder::on_subscriber`](super::HubBuilder::on_subscriber) calls.
pub(crate) type Hook = Arc<dyn Fn(SubscriberChange<'_>) + Send + Sync>;

/// The subscriber limits, checked when a subscriber joins.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) hub: usize,
    pub(crate) topic: usize,
    pub(crate) retry_after: Duration,
}
