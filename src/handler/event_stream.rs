//! [`EventStream`], an event stream as a response a handler returns.

use std::sync::{Arc, LazyLock};

use axum_core::{
    body::Body,
    response::{IntoResponse, Response},
};
use futures_core::Stream;

use crate::{
    EventItem,
    body::{EventBody, config::Config},
};

/// The settings of a response with none set, shared rather than made for each.
static DEFAULTS: LazyLock<Arc<Config>> = LazyLock::new(Arc::default);

/// A stream of events as a response: what a handler returns to answer with Server-Sent
/// Events, with the same body as [`SseLayer`](crate::SseLayer)'s streams (batching,
/// keep-alives, shutdown) and the same headers. Its settings are the layer's, by the
/// same methods: keep-alive, `retry:`, write window, frame size, shutdown, compression
/// (with [`accept_encoding`](EventStream::accept_encoding)) and `X-Accel-Buffering`.
///
/// The layer chooses by `Accept` for a whole service; with an `EventStream` the handler
/// does, and axum's extractors (`State`, `Path`, `Query`, authentication) and the
/// [`EventId`](crate::EventId) extractor are at hand.
/// [`routing::page_or_events`](crate::handler::routing::page_or_events) serves a page and its
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
    /// The request's `Accept-Encoding`, for compression.
    #[cfg(feature = "compression")]
    accept_encoding: http::HeaderMap,
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
            #[cfg(feature = "compression")]
            accept_encoding: http::HeaderMap::new(),
        }
    }

    crate::body::config::stream_settings!();

    /// Reads the request's `Accept-Encoding`, which chooses the coding when the stream
    /// is [compressed](Self::compression): a handler's response does not see the
    /// request, so pass its headers (axum's `HeaderMap` extractor). Without it, a
    /// compressed stream is sent uncompressed (with `Vary: accept, accept-encoding`).
    /// Nothing without [`compression`](Self::compression).
    ///
    /// # Example
    ///
    #[cfg_attr(feature = "compression-gzip", doc = "```")]
    #[cfg_attr(not(feature = "compression-gzip"), doc = "```ignore")]
    /// use axum::{Router, http::HeaderMap, routing::get};
    /// use tower_sse::{Compression, Event, EventStream};
    ///
    /// async fn events(headers: HeaderMap) -> EventStream<impl tokio_stream::Stream<Item = Event>> {
    ///     EventStream::new(tokio_stream::iter([Event::new().data("compressed")]))
    ///         .compression(Compression::default())
    ///         .accept_encoding(&headers)
    /// }
    ///
    /// let app: Router = Router::new().route("/events", get(events));
    /// # drop(app);
    /// ```
    #[cfg(feature = "compression")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
    pub fn accept_encoding(mut self, headers: &http::HeaderMap) -> Self {
        self.accept_encoding = headers
            .get_all(http::header::ACCEPT_ENCODING)
            .iter()
            .map(|value| (http::header::ACCEPT_ENCODING, value.clone()))
            .collect();
        self
    }
}

impl<St> IntoResponse for EventStream<St>
where
    St: Stream + Send + 'static,
    St::Item: EventItem,
{
    fn into_response(self) -> Response {
        let head = crate::request::response::with_event_stream_headers(
            Response::new(()),
            self.config.x_accel_buffering,
        );
        #[cfg(feature = "compression")]
        if let Some(settings) = self.config.compression {
            let encoding = settings.negotiate(&self.accept_encoding);
            let events = EventBody::new(self.stream, self.config);
            return crate::compression::respond(head, Some(events), encoding, &settings);
        }
        head.map(|()| Body::new(EventBody::new(self.stream, self.config)))
    }
}

impl<St> std::fmt::Debug for EventStream<St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("stream", &std::any::type_name::<St>())
            .finish_non_exhaustive()
    }
}
