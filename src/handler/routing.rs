//! Routes for axum that serve a page and its events on one URL, the events written as an
//! ordinary handler.

use axum::{
    extract::{Request, State},
    handler::Handler,
    response::Response,
    routing::MethodRouter,
};

use crate::{accepts_event_stream, request::response::add_vary_accept};

/// A `GET` route that answers requests asking for `text/event-stream` with the `events`
/// handler, and every other request with the `page` handler: one URL for a page and its
/// `EventSource`, as [`SseLayer`](crate::SseLayer) gives a whole service, but for one
/// path, with each side written as an axum handler (extractors, state, authentication).
///
/// `Accept` is negotiated as the layer does ([`accepts_event_stream`]: `*/*` and htmx's
/// `text/html, text/event-stream` get the page), both answers carry `Vary: Accept`, and
/// the events handler returns an [`EventStream`](crate::EventStream) (keep-alive,
/// `retry:`, shutdown), a hub `Subscription` (feature `hub`) wrapped in one,
/// or any other response (a `401`, a `204` to stop the browser reconnecting). `HEAD`
/// requests are served as axum serves them for `get`: the headers without the body.
///
/// # Example
///
/// ```
/// use axum::{Router, extract::Path, response::Html};
/// use tower_sse::{Event, EventStream, EventId, routing::page_or_events};
///
/// async fn page(Path(doc): Path<u32>) -> Html<String> {
///     Html(format!("<h1>document {doc}</h1><script>new EventSource(location.href)</script>"))
/// }
///
/// async fn changes(Path(doc): Path<u32>, last: Option<EventId>) -> EventStream<impl tokio_stream::Stream<Item = Event>> {
///     let _ = last; // resume after it
///     EventStream::new(tokio_stream::iter([Event::new().data(format!("doc {doc} changed"))]))
/// }
///
/// let app: Router = Router::new().route("/docs/{doc}", page_or_events(page, changes));
/// # drop(app);
/// ```
pub fn page_or_events<P, TP, E, TE, S>(page: P, events: E) -> MethodRouter<S>
where
    P: Handler<TP, S>,
    E: Handler<TE, S>,
    TP: 'static,
    TE: 'static,
    S: Clone + Send + Sync + 'static,
{
    axum::routing::get(move |State(state): State<S>, request: Request| {
        let (page, events) = (page.clone(), events.clone());
        async move {
            let mut response: Response = if accepts_event_stream(request.headers()) {
                events.call(request, state).await
            } else {
                page.call(request, state).await
            };
            add_vary_accept(response.headers_mut());
            response
        }
    })
}

/// A `GET` route serving [`RECONNECTING_EVENT_SOURCE_JS`](crate::RECONNECTING_EVENT_SOURCE_JS),
/// the script defining `ReconnectingEventSource`, as `text/javascript`, with an `ETag`
/// of the crate's version (a matching `If-None-Match` gets `304 Not Modified`) and
/// `Cache-Control: no-cache`, so a page revalidates it and an upgraded server's script
/// is used at once.
///
/// # Example
///
/// ```
/// use axum::Router;
/// use tower_sse::routing::reconnecting_event_source;
///
/// // The page loads it with <script src="/sse.js"></script>.
/// let app: Router = Router::new().route("/sse.js", reconnecting_event_source());
/// # drop(app);
/// ```
pub fn reconnecting_event_source<S>() -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    axum::routing::get(|request: Request| async move {
        const ETAG: &str = concat!("\"tower-sse-", env!("CARGO_PKG_VERSION"), "\"");
        let fresh = request
            .headers()
            .get_all(http::header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ETAG
            });
        let status = if fresh {
            http::StatusCode::NOT_MODIFIED
        } else {
            http::StatusCode::OK
        };
        let body = if fresh {
            axum::body::Body::empty()
        } else {
            axum::body::Body::from(crate::RECONNECTING_EVENT_SOURCE_JS)
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        headers.insert(http::header::ETAG, http::HeaderValue::from_static(ETAG));
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-cache"),
        );
        response
    })
}
