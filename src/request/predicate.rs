//! Which requests [`SseLayer`](crate::SseLayer) diverts to the event stream factory.

use http::{HeaderMap, Method, Request, Uri};

use crate::accepts_event_stream;

/// Decides whether a request is served with events or passed to the inner service.
///
/// Implemented for [`DefaultPredicate`] and for every
/// `Fn(&Method, &Uri, &HeaderMap) -> bool` closure, which is enough to scope events to a
/// path or to serve them to `POST` requests. The helper [`accepts_event_stream`] gives the
/// default `Accept` rule to reuse.
///
/// A request with method `HEAD` that the predicate accepts is answered with the headers
/// of the event stream and an empty body.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, Method, Uri};
/// use tower_sse::{SseLayer, accepts_event_stream};
/// # use tower_sse::EventId;
/// # let factory = |_: http::Request<()>, _: Option<EventId>| async {
/// #     Ok::<_, std::convert::Infallible>(tokio_stream::empty::<tower_sse::Event>())
/// # };
///
/// // Events for `POST /chat` (an LLM-style protocol), whatever the Accept header says.
/// let layer = SseLayer::new(factory).predicate(|method: &Method, uri: &Uri, _: &HeaderMap| {
///     method == Method::POST && uri.path() == "/chat"
/// });
/// ```
pub trait Predicate {
    /// Returns `true` to serve `request` with events.
    fn should_serve<B>(&self, request: &Request<B>) -> bool;
}

impl<F> Predicate for F
where
    F: Fn(&Method, &Uri, &HeaderMap) -> bool,
{
    fn should_serve<B>(&self, request: &Request<B>) -> bool {
        self(request.method(), request.uri(), request.headers())
    }
}

/// The default rule: `GET` and `HEAD` requests whose `Accept` header prefers
/// `text/event-stream` (see [`accepts_event_stream`]).
///
/// # Example
///
/// ```
/// use http::{Request, header::ACCEPT};
/// use tower_sse::{DefaultPredicate, Predicate};
///
/// let events = Request::get("/").header(ACCEPT, "text/event-stream").body(()).unwrap();
/// let page = Request::get("/").header(ACCEPT, "text/html").body(()).unwrap();
/// assert!(DefaultPredicate.should_serve(&events));
/// assert!(!DefaultPredicate.should_serve(&page));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPredicate;

impl Predicate for DefaultPredicate {
    fn should_serve<B>(&self, request: &Request<B>) -> bool {
        (request.method() == Method::GET || request.method() == Method::HEAD)
            && accepts_event_stream(request.headers())
    }
}
