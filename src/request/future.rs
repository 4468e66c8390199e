//! [`ResponseFuture`], the future [`Sse`](crate::Sse) returns.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures_core::Stream;
use http::{
    HeaderMap, HeaderValue, Response, StatusCode,
    header::Entry,
    header::{CACHE_CONTROL, CONTENT_TYPE, VARY},
};
use pin_project_lite::pin_project;

use crate::{
    BoxError, EventItem, ResponseBody,
    body::EventBody,
    request::config::Config,
    request::response::{IntoRefusal, OwnBody, bytes_body, own_body, text_response},
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

/// How an event stream's response is to be made, decided from the request in
/// [`Sse::call`](crate::Sse): the settings, whether it is a `HEAD`, and the coding
/// chosen from `Accept-Encoding`.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) config: Arc<Config>,
    pub(crate) head: bool,
    /// `None`: uncompressed.
    #[cfg(feature = "compression")]
    pub(crate) encoding: Option<crate::compression::Encoding>,
}

fn event_stream_response<St, B>(stream: St, plan: &Plan) -> Response<ResponseBody<B>>
where
    St: Stream + Send + 'static,
    St::Item: EventItem,
{
    let events = if plan.head {
        drop(stream);
        None
    } else {
        Some(EventBody::new(stream, plan.config.clone()))
    };
    let head = with_event_stream_headers(Response::new(()), plan.config.x_accel_buffering);
    stream_body(head, events, plan).map(ResponseBody::other)
}

/// The event stream's body (none for a `HEAD`) under its headers, compressed with the
/// coding the request chose if the layer compresses.
fn stream_body<St>(
    head: Response<()>,
    events: Option<EventBody<St>>,
    plan: &Plan,
) -> Response<OwnBody>
where
    St: Stream + Send + 'static,
    St::Item: EventItem,
{
    #[cfg(feature = "compression")]
    if let Some(settings) = &plan.config.compression {
        return crate::compression::respond(head, events, plan.encoding, settings);
    }
    #[cfg(not(feature = "compression"))]
    let _ = plan;
    head.map(|()| events.map_or_else(|| bytes_body(Bytes::new()), own_body))
}

/// Sets an event stream's headers on `response`. `Cache-Control` is
/// `no-cache, no-transform` unless one is set already: `no-transform` keeps proxies
/// (HAProxy's and Caddy's compression among them) from buffering or rewriting the stream.
pub(crate) fn with_event_stream_headers<B>(
    mut response: Response<B>,
    x_accel_buffering: bool,
) -> Response<B> {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache, no-transform"));
    headers.insert(VARY, HeaderValue::from_static("accept"));
    if x_accel_buffering {
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    response
}

/// A `400 Bad Request` with `reason` as its text body.
pub(crate) fn bad_request(reason: String) -> Response<OwnBody> {
    let mut response = text_response(StatusCode::BAD_REQUEST, reason);
    add_vary_accept(response.headers_mut());
    response
}

/// Adds `accept` to `Vary`, keeping what is there; nothing if it is listed already or
/// `Vary` is `*`.
pub(crate) fn add_vary_accept(headers: &mut HeaderMap) {
    // One lookup: most responses have no `Vary` yet.
    match headers.entry(VARY) {
        Entry::Vacant(entry) => {
            entry.insert(HeaderValue::from_static("accept"));
        }
        Entry::Occupied(mut entry) => {
            let listed = entry.iter().any(|value| {
                value.as_bytes().split(|&b| b == b',').any(|item| {
                    let item = item.trim_ascii();
                    item == b"*" || item.eq_ignore_ascii_case(b"accept")
                })
            });
            if !listed {
                entry.append(HeaderValue::from_static("accept"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(existing: &[&'static str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for value in existing {
            headers.append(VARY, HeaderValue::from_static(value));
        }
        add_vary_accept(&mut headers);
        headers
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn vary_is_appended_not_replaced() {
        assert_eq!(vary(&[]), ["accept"]);
        assert_eq!(vary(&["origin"]), ["origin", "accept"]);
        assert_eq!(
            vary(&["origin, accept-encoding"]),
            ["origin, accept-encoding", "accept"]
        );
        assert_eq!(vary(&["Origin, Accept"]), ["Origin, Accept"]);
        assert_eq!(vary(&["origin", " ACCEPT "]), ["origin", " ACCEPT "]);
        assert_eq!(vary(&["*"]), ["*"]);
    }
}
