//! The body of every response the layer makes itself (a refusal, a `400`, an event
//! stream once compressed): axum's `Body` with the `axum` feature, so axum users get
//! nothing boxed twice; without it, a boxed body of the crate's own.

use bytes::Bytes;
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
