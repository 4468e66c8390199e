//! Settings shared by a layer and every service and response it makes, and by an
//! [`EventStream`](crate::EventStream): one type, and one set of setters generated for
//! both, so that each offers the same settings under the same names.

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
    /// The shutdown signal, which carries the last event.
    pub(crate) shutdown: Option<Shutdown>,
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

    /// The encoded event sent last when the shutdown signal ends a stream, if any.
    pub(crate) fn shutdown_event(&self) -> Option<&Bytes> {
        self.shutdown.as_ref().and_then(Shutdown::last_event)
    }
}

/// The stream settings' setters, the same on [`SseLayer`](crate::SseLayer) and
/// [`EventStream`](crate::EventStream): each type holds an `Arc<Config>` named `config`.
macro_rules! stream_settings {
    () => {
        /// Sets the keep-alive sent on idle streams.
        ///
        /// Default: an empty comment after 15 seconds without an event.
        pub fn keep_alive(mut self, keep_alive: $crate::KeepAlive) -> Self {
            std::sync::Arc::make_mut(&mut self.config).keep_alive = Some(keep_alive);
            self
        }

        /// Sends no keep-alives.
        pub fn without_keep_alive(mut self) -> Self {
            std::sync::Arc::make_mut(&mut self.config).keep_alive = None;
            self
        }

        /// Starts every stream with a `retry:` field: the reconnection time, how long
        /// the client waits before it reconnects (whole milliseconds). (Not
        /// `Retry-After`, which the hub sends with a refusal.)
        ///
        /// Default: none, so browsers use their own delay (a few seconds).
        pub fn reconnection_time(mut self, retry: std::time::Duration) -> Self {
            std::sync::Arc::make_mut(&mut self.config).set_retry(retry);
            self
        }

        /// Sets whether streams carry `X-Accel-Buffering: no`, which tells nginx to pass
        /// events through as they come instead of buffering them.
        ///
        /// Default: `true`.
        pub fn x_accel_buffering(mut self, enabled: bool) -> Self {
            std::sync::Arc::make_mut(&mut self.config).x_accel_buffering = enabled;
            self
        }

        /// Bounds the body frame in which events that are ready together are sent.
        ///
        /// While the stream has events ready, small ones are copied into one frame of at
        /// most `bytes`: fewer, larger writes save work per event on busy streams. An
        /// event larger than `bytes`, and any event of 512 bytes or more, is never
        /// copied: it goes out as a frame of its own (over HTTP/1.1, hyper still writes
        /// several frames with one vectored write). `0` sends each event in its own
        /// frame.
        ///
        /// Default: 64 KiB.
        pub fn max_frame_size(mut self, bytes: usize) -> Self {
            std::sync::Arc::make_mut(&mut self.config).max_frame_size = bytes;
            self
        }

        /// Holds a frame smaller than [`write_window_bytes`](Self::write_window_bytes)
        /// for up to `window`, so that the events that follow go out in the same write.
        ///
        /// Without a window, the events a stream has ready together go out in one frame,
        /// and a stream whose events come one at a time (a price every millisecond)
        /// makes one write per event per client. With a window, the first event of a
        /// frame waits at most `window` for more: the frame goes out when the window has
        /// passed, at once when it reaches the byte bound, and never later than a
        /// keep-alive is due. The shutdown signal, the end of the stream (a
        /// [`Lifetime`](crate::Lifetime), the hub's lag policy, an error) send what is
        /// held at once, before the end; a client that leaves drops it with the stream.
        /// Each event is delayed by at most `window`: choose it for busy streams to many
        /// clients, where a few milliseconds buy far fewer writes, not for a stream that
        /// needs every event as soon as it exists.
        ///
        /// Events up to the byte bound are copied into the held frame.
        /// `Duration::ZERO` turns the window off.
        ///
        /// Default: off.
        pub fn write_window(mut self, window: std::time::Duration) -> Self {
            std::sync::Arc::make_mut(&mut self.config).write_window = window;
            self
        }

        /// Sets the byte bound of the [`write_window`](Self::write_window): a frame of
        /// at least `bytes` (or of [`max_frame_size`](Self::max_frame_size), if smaller)
        /// is written at once, never held.
        ///
        /// Default: 16 KiB.
        pub fn write_window_bytes(mut self, bytes: usize) -> Self {
            std::sync::Arc::make_mut(&mut self.config).write_window_bytes = bytes;
            self
        }

        /// Ends every stream when `shutdown` is triggered, after the signal's last event
        /// (see [`Shutdown::with_last_event`](crate::Shutdown::with_last_event)), so
        /// that the server's graceful shutdown can finish. See
        /// [`Shutdown`](crate::Shutdown).
        ///
        /// Default: none; streams end only when their stream ends or the client leaves.
        pub fn graceful_shutdown(mut self, shutdown: $crate::Shutdown) -> Self {
            std::sync::Arc::make_mut(&mut self.config).shutdown = Some(shutdown);
            self
        }

        /// Compresses event streams for the clients whose `Accept-Encoding` accepts one
        /// of `compression`'s codings, flushing after every frame so that no event
        /// waits: see [`Compression`](crate::Compression), and its warning about secrets
        /// and attacker-controlled text in one compressed stream.
        ///
        /// Every event stream then carries `Vary: accept, accept-encoding`, compressed
        /// or not.
        ///
        /// Default: none; streams are sent uncompressed.
        #[cfg(feature = "compression")]
        #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
        pub fn compression(mut self, compression: $crate::Compression) -> Self {
            std::sync::Arc::make_mut(&mut self.config).compression = Some(compression);
            self
        }
    };
}

pub(crate) use stream_settings;
