//! [`Sse`], the service [`SseLayer`](crate::SseLayer) builds.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Method, Request, Response};
use tower_service::Service;

use crate::{
    BoxError, DefaultPredicate, EventId, MakeEventStream, Predicate, ResponseBody, ResponseFuture,
    body::config::Config,
    request::response::{Plan, bad_request},
};

/// Serves Server-Sent Events to the requests that ask for them; passes every other
/// request to `inner`.
///
/// Made by [`SseLayer`](crate::SseLayer), or by [`Sse::new`] with the default settings.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{ServiceExt, service_fn};
/// use tower_sse::{Event, EventId, Sse};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inner = service_fn(|_req: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(String::from("not events")))
/// });
/// let events = |_req: Request<String>, _last: Option<EventId>| async {
///     Ok::<_, Infallible>(tokio_stream::once(Event::new().data("hi")))
/// };
/// let service = Sse::new(inner, events);
///
/// let request = Request::get("/").header("accept", "text/event-stream").body(String::new()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// # }
/// ```
#[derive(Clone)]
pub struct Sse<S, F, P = DefaultPredicate> {
    inner: S,
    factory: F,
    predicate: P,
    config: Arc<Config>,
}

impl<S, F> Sse<S, F> {
    /// Wraps `inner`, serving the streams `factory` makes with the default settings.
    pub fn new(inner: S, factory: F) -> Self {
        Self::from_parts(inner, factory, DefaultPredicate, Arc::default())
    }
}

impl<S, F, P> Sse<S, F, P> {
    pub(crate) fn from_parts(inner: S, factory: F, predicate: P, config: Arc<Config>) -> Self {
        Self {
            inner,
            factory,
            predicate,
            config,
        }
    }

    /// The inner service.
    ///
    /// # Example
    ///
    /// ```
    /// # let events = |_: http::Request<()>, _: Option<tower_sse::EventId>| async {
    /// #     Ok::<_, std::convert::Infallible>(tokio_stream::empty::<tower_sse::Event>())
    /// # };
    /// let mut service = tower_sse::Sse::new("inner", events);
    /// assert_eq!(*service.get_ref(), "inner");
    /// *service.get_mut() = "changed";
    /// assert_eq!(service.into_inner(), "changed");
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, F, P, ReqBody, ResBody> Service<Request<ReqBody>> for Sse<S, F, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    F: MakeEventStream<ReqBody>,
    P: Predicate,
    ResBody: http_body::Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, F::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if !self.predicate.should_serve(&request) {
            return ResponseFuture::inner(self.inner.call(request));
        }
        let last_event_id = match EventId::from_request(&request, self.config.last_event_id_query) {
            Ok(id) => id,
            Err(reason) => return ResponseFuture::ready(bad_request(reason.to_string())),
        };
        let plan = Plan {
            config: self.config.clone(),
            head: request.method() == Method::HEAD,
            #[cfg(feature = "compression")]
            encoding: self
                .config
                .compression
                .as_ref()
                .and_then(|compression| compression.negotiate(request.headers())),
        };
        let make = self.factory.make_event_stream(request, last_event_id);
        ResponseFuture::events(make, plan)
    }
}

impl<S, F, P> fmt::Debug for Sse<S, F, P>
where
    S: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse")
            .field("inner", &self.inner)
            .field("factory", &std::any::type_name::<F>())
            .field("predicate", &std::any::type_name::<P>())
            .field("config", &self.config)
            .finish()
    }
}
