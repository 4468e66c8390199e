//! [`ResponseFuture`], the future [`Sse`](crate::Sse) returns.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures_core::Stream;
use http::Response;
use pin_project_lite::pin_project;

use crate::{
    BoxError, EventItem, ResponseBody,
    body::own::OwnBody,
    request::response::{IntoRefusal, Plan, add_vary_accept, event_stream_response},
};

pin_project! {
    /// The response future of [`Sse`](crate::Sse): the inner service's response, or the
    /// event stream's.
    ///
    /// # Example
    ///
    /// ```
    /// use http::Request;
    /// use tower::{Service, ServiceExt};
    /// use tower_sse::{Event, EventId, ResponseFuture, Sse};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let inner = tower::service_fn(|_: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("page")))
    /// });
    /// let events = |_: Request<()>, _: Option<EventId>| async {
    ///     Ok::<_, std::convert::Infallible>(tokio_stream::once(Event::new().data("hi")))
    /// };
    /// let mut service = Sse::new(inner, events);
    /// let future = service.ready().await.unwrap().call(Request::get("/").body(()).unwrap());
    /// let response = future.await.unwrap(); // a `ResponseFuture`
    /// assert_eq!(response.headers()["vary"], "accept");
    /// # }
    /// ```
    pub struct ResponseFuture<I, M> {
        #[pin]
        kind: Kind<I, M>,
    }
}

pin_project! {
    #[project = KindProj]
    // The pass-through future is kept inline, the others are boxed: the future is moved
    // (and by axum, boxed) on every request, so its size is that of the inner future,
    // not that of a factory's or a whole response.
    enum Kind<I, M> {
        Inner { #[pin] future: I },
        Events { future: Pin<Box<M>>, plan: Plan },
        Ready { response: Option<Box<Response<OwnBody>>> },
    }
}

impl<I, M> ResponseFuture<I, M> {
    pub(crate) fn inner(future: I) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn events(future: M, plan: Plan) -> Self {
        Self {
            kind: Kind::Events {
                future: Box::pin(future),
                plan,
            },
        }
    }

    pub(crate) fn ready(response: Response<OwnBody>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(Box::new(response)),
            },
        }
    }
}

impl<I, M, B, E, St, R> Future for ResponseFuture<I, M>
where
    I: Future<Output = Result<Response<B>, E>>,
    M: Future<Output = Result<St, R>>,
    St: Stream + Send + 'static,
    St::Item: EventItem,
    R: IntoRefusal,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.project().kind.project() {
            KindProj::Inner { future } => {
                let mut response = ready!(future.poll(cx))?;
                add_vary_accept(response.headers_mut());
                return Poll::Ready(Ok(response.map(ResponseBody::inner)));
            }
            KindProj::Events { future, plan } => match ready!(future.as_mut().poll(cx)) {
                Ok(stream) => event_stream_response(stream, plan),
                Err(rejection) => {
                    let mut response = rejection.into_refusal();
                    add_vary_accept(response.headers_mut());
                    response.map(ResponseBody::other)
                }
            },
            KindProj::Ready { response } => (*response
                .take()
                .expect("ResponseFuture polled after completion"))
            .map(ResponseBody::other),
        };
        Poll::Ready(Ok(response))
    }
}

impl<I, M> std::fmt::Debug for ResponseFuture<I, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Events { .. } => "Events",
            Kind::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
