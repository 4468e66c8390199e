//! [`EventStream`], an event stream as a response a handler returns.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use axum_core::{
    body::Body,
    response::{IntoResponse, Response},
};
use futures_core::Stream;

use crate::{Event, EventItem, KeepAlive, Shutdown, body::EventBody, config::Config};

/// The settings of a response with none set, shared rather than made for each.
static DEFAULTS: LazyLock<Arc<Config>> = LazyLock::new(Arc::default);

/// A stream of events as a response: what a handler returns to answer with Server-Sent
/// Events, with the same body as [`SseLayer`](crate::SseLayer)'s streams (batching,
/// keep-alives, shutdown) and the same headers.
///
/// The layer chooses by `Accept` for a whole service; with an `EventStream` the handler
/// does, and axum's extractors (`State`, `Path`, `Query`, authentication) and the
/// [`EventId`](crate::EventId) extractor are at hand.
/// [`routing::page_or_events`](crate::routing::page_or_events) serves a page and its
/// events on one URL this way.
///
/// # Example
///
/// ```
/// use axum::{Router, extract::Path, routing::get};
/// use tower_sse::{Event, EventStream, EventId};
///
/// async fn events(Path(room): Path<String>, last: Option<EventId>) -> EventStream<impl tokio_stream::Stream<Item = Event>> {
///     let greeting = Event::new().data(format!("welcome to {room} (after {last:?})"));
///     EventStream::new(tokio_stream::iter([greeting]))
/// }
///
/// let app: Router = Router::new().route("/rooms/{room}/events", get(events));
/// # drop(app);
/// ```
#[must_use]
pub struct EventStream<St> {
    stream: St,
    config: Arc<Config>,
}

impl<St> EventStream<St>
where
    St: Stream + Send + 'static,
    St::Item: EventItem,
{
    /// A response streaming `stream`'s events, with a keep-alive comment after 15
    /// seconds without an event.
    pub fn new(stream: St) -> Self {
        Self {
            stream,
            config: DEFAULTS.clone(),
        }
    }

    /// Sets the keep-alive sent when the stream is idle (default: a comment after 15
    /// seconds), or none.
    pub fn keep_alive(mut self, keep_alive: Option<KeepAlive>) -> Self {
        Arc::make_mut(&mut self.config).keep_alive = keep_alive;
        self
    }

    /// Starts the stream with a `retry:` field: the reconnection time, how long the
    /// client waits before it reconnects.
    pub fn reconnection_time(mut self, retry: Duration) -> Self {
        Arc::make_mut(&mut self.config).set_retry(retry);
        self
    }

    /// Holds a frame smaller than `bytes` for up to `window`, so that the events that
    /// follow go out in the same write: see
    /// [`SseLayer::write_window`](crate::SseLayer::write_window), which this works like
    /// (with `bytes` as its [`write_window_bytes`](crate::SseLayer::write_window_bytes)).
    /// `Duration::ZERO` turns it off (the default).
    pub fn write_window(mut self, window: Duration, bytes: usize) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.write_window = window;
        config.write_window_bytes = bytes;
        self
    }

    /// Ends the stream when `shutdown` is triggered, after `last` if given, so the
    /// server's graceful shutdown can finish. See [`Shutdown`].
    pub fn graceful_shutdown(mut self, shutdown: Shutdown, last: Option<Event>) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.shutdown = Some(shutdown);
        config.set_shutdown_event(last);
        self
    }
}

impl<St> IntoResponse for EventStream<St>
where
    St: Stream + Send + 'static,
    St::Item: EventItem,
{
    fn into_response(self) -> Response {
        let x_accel_buffering = self.config.x_accel_buffering;
        let body = Body::new(EventBody::new(self.stream, self.config));
        crate::future::with_event_stream_headers(Response::new(body), x_accel_buffering)
    }
}

impl<St> std::fmt::Debug for EventStream<St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("stream", &std::any::type_name::<St>())
            .finish_non_exhaustive()
    }
}
