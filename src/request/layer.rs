//! [`SseLayer`], which adds Server-Sent Events in front of a service.

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use crate::{DefaultPredicate, Sse, body::config::Config};

/// Serves Server-Sent Events to the requests that ask for them, and passes every other
/// request to the inner service untouched.
///
/// A request that the [`Predicate`](crate::Predicate) accepts (by default: `GET` or `HEAD`
/// with an `Accept` header that prefers `text/event-stream`) goes to the factory, a
/// [`MakeEventStream`](crate::MakeEventStream), whose stream is sent as a
/// `text/event-stream` response. Both kinds of response carry `Vary: Accept`.
///
/// The stream settings (keep-alive, `retry:`, write window, frame size, shutdown,
/// compression, `X-Accel-Buffering`) are the same methods as on
/// [`EventStream`](crate::EventStream) (feature `axum`), the handler's way.
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
///
/// Every setting, with the default it replaces in the comment:
///
/// ```
/// use std::time::Duration;
/// use tower_sse::{Event, KeepAlive, Shutdown, SseLayer};
/// # let events = |_: http::Request<()>, _: Option<tower_sse::EventId>| async {
/// #     Ok::<_, std::convert::Infallible>(tokio_stream::empty::<tower_sse::Event>())
/// # };
/// let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(2)));
/// let layer = SseLayer::new(events)
///     .keep_alive(KeepAlive::new().interval(Duration::from_secs(20))) // 15 s; or .without_keep_alive()
///     .reconnection_time(Duration::from_secs(2)) // no `retry:`
///     .write_window(Duration::from_millis(2)) // off
///     .write_window_bytes(8 * 1024) // 16 KiB
///     .max_frame_size(16 * 1024) // 64 KiB
///     .x_accel_buffering(false) // true
///     .graceful_shutdown(shutdown.clone()) // none
///     .last_event_id_query(true); // true (the layer only: see its docs)
/// # drop(layer);
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

    crate::body::config::stream_settings!();

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
