//! [`Position`], an event's place in its topic's history.

use std::fmt;

/// An event's place in the order of its topic's history, as a backend gives it.
///
/// Positions of one topic increase with every event published to it. The in-process
/// backend numbers all topics with one sequence, so its positions also order events of
/// different topics; a backend that keeps each topic apart (Redis, one stream a topic)
/// gives positions that are comparable only within a topic. A subscription merges the
/// live events of several topics by position and skips those it has already replayed.
///
/// # Example
///
/// ```
/// use tower_sse::hub::backend::Position;
///
/// let redis_id = Position::new(1_700_000_000_000, 0);
/// assert!(redis_id < Position::new(1_700_000_000_000, 1));
/// assert!(Position::START < redis_id);
/// assert_eq!(redis_id.parts(), (1_700_000_000_000, 0));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(u64, u64);

impl Position {
    /// Before every event: replaying after it replays everything retained.
    pub const START: Position = Position(0, 0);

    /// After every event: the position of the hub's shutdown event.
    pub(crate) const END: Position = Position(u64::MAX, u64::MAX);

    /// A position from its two parts, compared in order (major first).
    pub const fn new(major: u64, minor: u64) -> Self {
        Self(major, minor)
    }

    /// The two parts given to [`new`](Position::new).
    pub const fn parts(self) -> (u64, u64) {
        (self.0, self.1)
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}
