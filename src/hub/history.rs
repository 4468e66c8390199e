//! [`History`]: how much of each topic's past a hub keeps for replay, whatever the engine.

use std::time::Duration;

/// How much history each topic keeps for replay: by count, and optionally by bytes and
/// by age, the oldest events leaving first. Every engine honours it, or refuses it when
/// the hub is built ([`SetupError::Unsupported`](super::SetupError::Unsupported)).
///
/// A client that resumes from an event that has left the history gets the hub's reset
/// event (see [`Hub::subscribe`](super::Hub::subscribe)).
///
/// | bound | memory | Redis | NATS |
/// | --- | --- | --- | --- |
/// | [`events`](History::events) | exact | about (`MAXLEN ~`) | exact |
/// | [`bytes`](History::bytes) | exact | refused | refused |
/// | [`max_age`](History::max_age) | exact | on publish | exact |
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::hub::{History, Hub};
///
/// let history = History::new()
///     .events(10_000)
///     .bytes(Some(16 << 20))
///     .max_age(Some(Duration::from_secs(3600)));
/// assert_eq!(history.event_limit(), 10_000);
/// let hub = Hub::builder().history(history).build();
/// # drop(hub);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct History {
    events: usize,
    bytes: Option<usize>,
    max_age: Option<Duration>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            events: 1024,
            bytes: None,
            max_age: None,
        }
    }
}

impl History {
    /// The default bound: 1,024 events per topic, no byte bound, no age bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps at most `events` events per topic. `0` keeps none: every resume gets the
    /// reset event.
    ///
    /// Default: 1,024.
    pub fn events(mut self, events: usize) -> Self {
        self.events = events;
        self
    }

    /// Keeps at most this many bytes of encoded events per topic, or no byte bound for
    /// `None`.
    ///
    /// Default: `None`.
    pub fn bytes(mut self, bytes: Option<usize>) -> Self {
        self.bytes = bytes;
        self
    }

    /// Drops events older than this, or keeps them regardless of age for `None`.
    ///
    /// Default: `None`.
    pub fn max_age(mut self, age: Option<Duration>) -> Self {
        self.max_age = age.map(|age| age.max(Duration::from_millis(1)));
        self
    }

    /// The most events a topic keeps.
    pub fn event_limit(&self) -> usize {
        self.events
    }

    /// The most bytes a topic keeps, if bounded.
    pub fn byte_limit(&self) -> Option<usize> {
        self.bytes
    }

    /// The oldest an event may be, if bounded.
    pub fn age_limit(&self) -> Option<Duration> {
        self.max_age
    }
}
