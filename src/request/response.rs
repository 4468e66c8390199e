//! Every response the layer makes itself (event streams with their headers, refusals,
//! `400`s, `Vary: Accept` on pass-through ones), and
//! [`IntoRefusal`], what a factory may answer instead of a stream.
//!
//! With the `axum` feature their body is axum's `Body` (nothing to box again for axum
//! users) and a refusal is anything `IntoResponse`; without it, the crate does not
//! depend on axum: the body is a boxed one of its own, and a refusal is one of a few
//! plain types.

// The sealed trait's method names a crate-private type (`OwnBody`); no other crate
// can name that trait, so it cannot call the method either.
#![allow(private_interfaces)]

use std::sync::Arc;

use bytes::Bytes;
use futures_core::Stream;
use http::{
    HeaderMap, HeaderValue, Response, StatusCode,
    header::{CACHE_CONTROL, CONTENT_TYPE, Entry, VARY},
};

use crate::{
    EventItem, ResponseBody,
    body::{
        EventBody,
        config::Config,
        own::{OwnBody, bytes_body, own_body},
    },
};

/// A response with `text` as its body.
pub(crate) fn text_response(status: StatusCode, text: String) -> Response<OwnBody> {
    let mut response = Response::new(bytes_body(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// What a factory may answer instead of an event stream: with the `axum` feature,
/// anything axum's `IntoResponse` takes (a `StatusCode`, `(StatusCode, &str)`, a
/// `Response`...); without it, `StatusCode`, `(StatusCode, &'static str)`,
/// `(StatusCode, String)`, [`Infallible`](std::convert::Infallible) and the hub's
/// `SubscribeError`.
///
/// # Example
///
/// ```
/// use http::{Request, StatusCode};
/// use tower_sse::{Event, EventId, SseLayer};
///
/// let layer = SseLayer::new(|request: Request<()>, _: Option<EventId>| async move {
///     if request.headers().contains_key("authorization") {
///         Ok(tokio_stream::iter([Event::new().data("hello")]))
///     } else {
///         Err((StatusCode::UNAUTHORIZED, "log in first"))
///     }
/// });
/// # drop(layer);
/// ```
pub trait IntoRefusal: sealed::Sealed {}

/// Only the crate implements [`IntoRefusal`] (the hub's `SubscribeError` too).
pub(crate) mod sealed {
    use http::Response;

    use crate::body::own::OwnBody;

    pub trait Sealed {
        /// The response to send instead of an event stream.
        fn into_refusal(self) -> Response<OwnBody>;
    }
}

#[cfg(feature = "axum")]
impl<T: axum_core::response::IntoResponse> IntoRefusal for T {}

#[cfg(feature = "axum")]
impl<T: axum_core::response::IntoResponse> sealed::Sealed for T {
    fn into_refusal(self) -> Response<OwnBody> {
        self.into_response()
    }
}

#[cfg(not(feature = "axum"))]
mod plain {
    use std::convert::Infallible;

    use http::{Response, StatusCode};

    use super::{IntoRefusal, OwnBody, sealed::Sealed, text_response};

    impl IntoRefusal for StatusCode {}
    impl Sealed for StatusCode {
        fn into_refusal(self) -> Response<OwnBody> {
            text_response(self, String::new())
        }
    }

    impl IntoRefusal for (StatusCode, &'static str) {}
    impl Sealed for (StatusCode, &'static str) {
        fn into_refusal(self) -> Response<OwnBody> {
            text_response(self.0, self.1.to_owned())
        }
    }

    impl IntoRefusal for (StatusCode, String) {}
    impl Sealed for (StatusCode, String) {
        fn into_refusal(self) -> Response<OwnBody> {
            text_response(self.0, self.1)
        }
    }

    impl IntoRefusal for Infallible {}
    impl Sealed for Infallible {
        fn into_refusal(self) -> Response<OwnBody> {
            match self {}
        }
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

pub(crate) fn event_stream_response<St, B>(stream: St, plan: &Plan) -> Response<ResponseBody<B>>
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

/// A refused `Last-Event-ID` (or another bad event value) as a `400 Bad Request` with
/// the reason.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl axum_core::response::IntoResponse for crate::EventError {
    fn into_response(self) -> axum_core::response::Response {
        bad_request(self.to_string())
    }
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
mod vary_tests {
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
