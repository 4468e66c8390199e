//! Keep-alive messages for idle streams.

use std::time::Duration;

use bytes::Bytes;

use crate::Event;

/// What an idle stream sends so that proxies and load balancers keep it open.
///
/// After `interval` without anything sent, the stream sends the keep-alive message (by
/// default the empty comment `:`), which clients ignore. Every event sent restarts the
/// interval, so a busy stream sends no keep-alives. The default interval is 15 seconds, as
/// the SSE standard suggests; proxies commonly close connections idle for 30 to 60
/// seconds.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::{Event, KeepAlive};
///
/// let keep_alive = KeepAlive::new()
///     .interval(Duration::from_secs(10))
///     .comment("still here");
/// # let _ = keep_alive;
///
/// // Or an event the page listens to, to show that the connection is alive.
/// let keep_alive = KeepAlive::new().event(Event::new().event_static("ping").data(""));
/// # let _ = keep_alive;
/// # Ok::<(), tower_sse::EventError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct KeepAlive {
    pub(crate) interval: Duration,
    pub(crate) message: Bytes,
}

impl Default for KeepAlive {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            message: Bytes::from_static(b":\n\n"),
        }
    }
}

impl KeepAlive {
    /// A keep-alive of an empty comment every 15 seconds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long a stream may stay idle before a keep-alive is sent.
    ///
    /// Default: 15 seconds. The interval is kept between one millisecond and one year.
    pub fn interval(mut self, interval: Duration) -> Self {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
        self.interval = interval.clamp(Duration::from_millis(1), YEAR);
        self
    }

    /// Sends the comment `text` (one `:` line per line of it) as the keep-alive.
    pub fn comment(mut self, text: impl AsRef<str>) -> Self {
        self.message = Event::new().comment(text).encode().into_bytes();
        self
    }

    /// Sends `event` as the keep-alive, for pages that want to see it.
    pub fn event(mut self, event: Event) -> Self {
        self.message = event.encode().into_bytes();
        self
    }
}
