//! The responses the layer makes itself (event streams, refusals, `400`s), and
//! [`IntoRefusal`], what a factory may answer instead of a stream.
//!
//! With the `axum` feature their body is axum's `Body` (nothing to box again for axum
//! users) and a refusal is anything `IntoResponse`; without it, the crate does not
//! depend on axum: the body is a boxed one of its own, and a refusal is one of a few
//! plain types.

// The sealed traits' methods name crate-private types (`Piece`, `BoxBody`); no other
// crate can name those traits, so it cannot call the methods either.
#![allow(private_interfaces)]

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body::Body;

use crate::BoxError;

/// The body of a response the layer makes itself.
#[cfg(feature = "axum")]
pub(crate) type OwnBody = axum_core::body::Body;

/// The body of a response the layer makes itself.
#[cfg(not(feature = "axum"))]
pub(crate) type OwnBody = boxed::BoxBody;

/// `body` as the layer's own response body.
#[cfg(feature = "axum")]
pub(crate) fn own_body<B>(body: B) -> OwnBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    axum_core::body::Body::new(body)
}

/// `body` as the layer's own response body.
#[cfg(not(feature = "axum"))]
pub(crate) fn own_body<B>(body: B) -> OwnBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    boxed::BoxBody::new(body)
}

/// A body of `bytes`, then the end.
pub(crate) fn bytes_body(bytes: Bytes) -> OwnBody {
    own_body(boxed::Once(Some(bytes)))
}

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

    use super::OwnBody;

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

mod boxed {
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use bytes::Bytes;
    use http_body::{Body, Frame, SizeHint};

    use crate::BoxError;

    /// One chunk of bytes, then the end.
    pub(crate) struct Once(pub(crate) Option<Bytes>);

    impl Body for Once {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.get_mut().0.take().map(|bytes| Ok(Frame::data(bytes))))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_none()
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.0.as_ref().map_or(0, |bytes| bytes.len() as u64))
        }
    }

    /// Any body, boxed, its errors boxed.
    #[cfg_attr(feature = "axum", allow(dead_code))]
    pub(crate) struct BoxBody(Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>);

    #[cfg_attr(feature = "axum", allow(dead_code))]
    impl BoxBody {
        pub(crate) fn new<B>(body: B) -> Self
        where
            B: Body<Data = Bytes> + Send + 'static,
            B::Error: Into<BoxError>,
        {
            Self(Box::pin(MapErr(body)))
        }
    }

    impl Body for BoxBody {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            self.0.as_mut().poll_frame(cx)
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_end_stream()
        }

        fn size_hint(&self) -> SizeHint {
            self.0.size_hint()
        }
    }

    impl std::fmt::Debug for BoxBody {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("BoxBody")
        }
    }

    pin_project_lite::pin_project! {
        struct MapErr<B> { #[pin] body: B }
    }

    #[allow(non_snake_case)]
    fn MapErr<B>(body: B) -> MapErr<B> {
        MapErr { body }
    }

    impl<B> Body for MapErr<B>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            self.project()
                .body
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map_err(Into::into)))
        }

        fn is_end_stream(&self) -> bool {
            self.body.is_end_stream()
        }

        fn size_hint(&self) -> SizeHint {
            self.body.size_hint()
        }
    }
}
