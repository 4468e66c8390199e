//! Settings shared by a layer and every service and response it makes.

use std::time::Duration;

use bytes::Bytes;

use crate::{Event, KeepAlive, Shutdown};

/// The default bound on a body frame that batches several ready events.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: usize = 64 * 1024;

/// The default byte bound of the write window: a frame this large goes out at once.
pub(crate) const DEFAULT_WRITE_WINDOW_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) keep_alive: Option<KeepAlive>,
    /// The encoded `retry:` field sent first, if any.
    pub(crate) retry: Option<Bytes>,
    pub(crate) x_accel_buffering: bool,
    pub(crate) max_frame_size: usize,
    /// How long a frame smaller than `write_window_bytes` may be held for more events;
    /// zero (the default) holds nothing.
    pub(crate) write_window: Duration,
    pub(crate) write_window_bytes: usize,
    pub(crate) last_event_id_query: bool,
    pub(crate) shutdown: Option<Shutdown>,
    /// The encoded event sent when the shutdown signal ends a stream, if any.
    pub(crate) shutdown_event: Option<Bytes>,
    /// How event streams are compressed, if they are.
    #[cfg(feature = "compression")]
    pub(crate) compression: Option<crate::Compression>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keep_alive: Some(KeepAlive::default()),
            retry: None,
            x_accel_buffering: true,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            write_window: Duration::ZERO,
            write_window_bytes: DEFAULT_WRITE_WINDOW_BYTES,
            last_event_id_query: true,
            shutdown: None,
            shutdown_event: None,
            #[cfg(feature = "compression")]
            compression: None,
        }
    }
}

impl Config {
    /// Sends `retry` as the first field of every stream.
    pub(crate) fn set_retry(&mut self, retry: Duration) {
        self.retry = Some(Event::new().retry(retry).encode().into_bytes());
    }

    /// The byte bound of the write window when it is on: a frame at least this large is
    /// never held. `None` when the window is off.
    pub(crate) fn window_bound(&self) -> Option<usize> {
        if self.write_window.is_zero() {
            None
        } else {
            Some(self.write_window_bytes.min(self.max_frame_size))
        }
    }

    /// Sends `event` last when the shutdown signal ends a stream.
    pub(crate) fn set_shutdown_event(&mut self, event: Option<Event>) {
        self.shutdown_event = event.map(|event| event.encode().into_bytes());
    }
}
