//! [`SseLayer`], which adds Server-Sent Events in front of a service.

use std::{fmt, sync::Arc, time::Duration};

use tower_layer::Layer;

use crate::{DefaultPredicate, Event, KeepAlive, Shutdown, Sse, config::Config};

/// Serves Server-Sent Events to the requests that ask for them, and passes every other
/// request to the inner service untouched.
///
/// A request that the [`Predicate`](crate::Predicate) accepts (by default: `GET` or `HEAD`
/// with an `Accept` header that prefers `text/event-stream`) goes to the factory, a
/// [`MakeEventStream`](crate::MakeEventStream), whose stream is sent as a
/// `text/event-stream` response. Both kinds of response carry `Vary: Accept`.
///
/// # Example
///
/// ```
/// use std::{convert::Infallible, time::Duration};
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use tower_sse::{Event, KeepAlive, EventId, SseLayer};
///
/// let events = |_req: Request<Body>, _last: Option<EventId>| async {
///     Ok::<_, Infallible>(tokio_stream::once(Event::new().data("hello")))
/// };
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "a page" }))
///     .layer(
///         SseLayer::new(events)
///             .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
///             .reconnection_time(Duration::from_secs(2)),
///     );
/// ```
#[derive(Clone)]
#[must_use]
pub struct SseLayer<F, P = DefaultPredicate> {
    factory: F,
    predicate: P,
    config: Arc<Config>,
}

impl<F> SseLayer<F> {
    /// Creates a layer that serves the streams `factory` makes.
    pub fn new(factory: F) -> Self {
        Self {
            factory,
            predicate: DefaultPredicate,
            config: Arc::default(),
        }
    }
}

impl<F, P> SseLayer<F, P> {
    /// Replaces the rule that decides which requests get events.
    ///
    /// Default: [`DefaultPredicate`].
    pub fn predicate<Q>(self, predicate: Q) -> SseLayer<F, Q> {
        SseLayer {
            factory: self.factory,
            predicate,
            config: self.config,
        }
    }

    /// Sets the keep-alive sent on idle streams.
    ///
    /// Default: an empty comment after 15 seconds without an event.
    pub fn keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        Arc::make_mut(&mut self.config).keep_alive = Some(keep_alive);
        self
    }

    /// Sends no keep-alives.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::SseLayer;
    /// # let events = |_: http::Request<()>, _: Option<tower_sse::EventId>| async {
    /// #     Ok::<_, std::convert::Infallible>(tokio_stream::empty::<tower_sse::Event>())
    /// # };
    /// let layer = SseLayer::new(events)
    ///     .without_keep_alive()
    ///     .x_accel_buffering(false)
    ///     .max_frame_size(16 * 1024)
    ///     .last_event_id_query(true);
    /// # drop(layer);
    /// ```
    pub fn without_keep_alive(mut self) -> Self {
        Arc::make_mut(&mut self.config).keep_alive = None;
        self
    }

    /// Starts every stream with a `retry:` field: the reconnection time, how long the
    /// client waits before it reconnects (whole milliseconds). (Not `Retry-After`, which
    /// the hub sends with a refusal.)
    ///
    /// Default: none, so browsers use their own delay (a few seconds).
    pub fn reconnection_time(mut self, retry: Duration) -> Self {
        Arc::make_mut(&mut self.config).set_retry(retry);
        self
    }

    /// Sets whether streams carry `X-Accel-Buffering: no`, which tells nginx to pass events
    /// through as they come instead of buffering them.
    ///
    /// Default: `true`.
    pub fn x_accel_buffering(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).x_accel_buffering = enabled;
        self
    }

    /// Bounds the body frame in which events that are ready together are sent.
    ///
    /// While the stream has events ready, small ones are copied into one frame of at
    /// most `bytes`: fewer, larger writes save work per event on busy streams. An event
    /// larger than `bytes`, and any event of 512 bytes or more, is never copied: it goes
    /// out as a frame of its own (over HTTP/1.1, hyper still writes several frames with
    /// one vectored write). `0` sends each event in its own frame.
    ///
    /// Default: 64 KiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).max_frame_size = bytes;
        self
    }

    /// Holds a frame smaller than [`write_window_bytes`](SseLayer::write_window_bytes)
    /// for up to `window`, so that the events that follow go out in the same write.
    ///
    /// Without a window, the events a stream has ready together go out in one frame,
    /// and a stream whose events come one at a time (a price every millisecond) makes
    /// one write per event per client. With a window, the first event of a frame waits
    /// at most `window` for more: the frame goes out when the window has passed, at once
    /// when it reaches the byte bound, and never later than a keep-alive is due. The
    /// shutdown signal, the end of the stream (a [`Lifetime`](crate::Lifetime), the
    /// hub's lag policy, an error) send what is held at once, before the end; a client
    /// that leaves drops it with the stream. Each event is delayed by at most `window`:
    /// choose it for busy streams to many clients, where a few milliseconds buy far fewer
    /// writes, not for a stream that needs every event as soon as it exists.
    ///
    /// Events up to the byte bound are copied into the held frame. `Duration::ZERO`
    /// turns the window off.
    ///
    /// Default: off.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_sse::SseLayer;
    /// # let events = |_: http::Request<()>, _: Option<tower_sse::EventId>| async {
    /// #     Ok::<_, std::convert::Infallible>(tokio_stream::empty::<tower_sse::Event>())
    /// # };
    /// let layer = SseLayer::new(events)
    ///     .write_window(Duration::from_millis(2))
    ///     .write_window_bytes(8 * 1024);
    /// # drop(layer);
    /// ```
    pub fn write_window(mut self, window: Duration) -> Self {
        Arc::make_mut(&mut self.config).write_window = window;
        self
    }

    /// Sets the byte bound of the [`write_window`](SseLayer::write_window): a frame of
    /// at least `bytes` (or of [`max_frame_size`](SseLayer::max_frame_size), if smaller)
    /// is written at once, never held.
    ///
    /// Default: 16 KiB.
    pub fn write_window_bytes(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).write_window_bytes = bytes;
        self
    }

    /// Ends every stream when `shutdown` is triggered, so the server's graceful shutdown
    /// can finish. See [`Shutdown`].
    ///
    /// Default: none; streams end only when their stream ends or the client leaves.
    pub fn graceful_shutdown(mut self, shutdown: Shutdown) -> Self {
        Arc::make_mut(&mut self.config).shutdown = Some(shutdown);
        self
    }

    /// Sends `event` as the last event of every stream that the
    /// [`graceful_shutdown`](SseLayer::graceful_shutdown) signal ends, for example a
    /// `retry:` that spreads the clients' reconnections, or a named event the page shows.
    ///
    /// Default: none.
    pub fn shutdown_event(mut self, event: Event) -> Self {
        Arc::make_mut(&mut self.config).set_shutdown_event(Some(event));
        self
    }

    /// Compresses event streams for the clients whose `Accept-Encoding` accepts one of
    /// `compression`'s codings, flushing after every frame so that no event waits: see
    /// [`Compression`](crate::Compression), and its warning about secrets and
    /// attacker-controlled text in one compressed stream.
    ///
    /// Every event stream then carries `Vary: accept, accept-encoding`, compressed or
    /// not. Requests passed to the inner service are untouched.
    ///
    /// Default: none; streams are sent uncompressed.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::{Compression, SseLayer};
    /// # let events = |_: http::Request<()>, _: Option<tower_sse::EventId>| async {
    /// #     Ok::<_, std::convert::Infallible>(tokio_stream::empty::<tower_sse::Event>())
    /// # };
    /// let layer = SseLayer::new(events).compression(Compression::default());
    /// # drop(layer);
    /// ```
    #[cfg(feature = "compression")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
    pub fn compression(mut self, compression: crate::Compression) -> Self {
        Arc::make_mut(&mut self.config).compression = Some(compression);
        self
    }

    /// Sets whether the last event id is also read from a `lastEventId` query parameter
    /// when the request has no `Last-Event-ID` header. A new `EventSource` cannot send
    /// the header, so a page that reopens one (as
    /// [`RECONNECTING_EVENT_SOURCE_JS`](crate::RECONNECTING_EVENT_SOURCE_JS) does after a
    /// proxy's `502`), a hub handoff's URL (feature `hub`) and polyfills
    /// pass it there. When both are present the header wins: it is what the browser sends
    /// on its own reconnects, and newer than the id in the URL it was opened with. The
    /// value is checked as the header is (`400 Bad Request` otherwise); like the header,
    /// it only says where to resume, so the factory must still check access.
    ///
    /// Default: `true`, as the [`EventId`](crate::EventId) extractor always reads it.
    pub fn last_event_id_query(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).last_event_id_query = enabled;
        self
    }
}

impl<S, F, P> Layer<S> for SseLayer<F, P>
where
    F: Clone,
    P: Clone,
{
    type Service = Sse<S, F, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Sse::from_parts(
            inner,
            self.factory.clone(),
            self.predicate.clone(),
            self.config.clone(),
        )
    }
}

impl<F, P> fmt::Debug for SseLayer<F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseLayer")
            .field("factory", &std::any::type_name::<F>())
            .field("predicate", &std::any::type_name::<P>())
            .field("config", &self.config)
            .finish()
    }
}
