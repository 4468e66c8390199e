//! [`CompressedBody`], an event stream's body compressed frame by frame.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http_body::{Body, Frame};
use pin_project_lite::pin_project;

use super::encoder::Encoder;
use crate::BoxError;

pin_project! {
    /// Compresses each frame of `inner` on its own and flushes it, so a client decodes
    /// every frame's events as soon as it arrives; ends the compressed stream when
    /// `inner` ends.
    pub(crate) struct CompressedBody<B> {
        #[pin]
        inner: B,
        // `None` once the compressed stream is finished (or failed).
        encoder: Option<Encoder>,
    }
}

impl<B> CompressedBody<B> {
    pub(crate) fn new(inner: B, encoder: Encoder) -> Self {
        Self {
            inner,
            encoder: Some(encoder),
        }
    }
}

impl<B> Body for CompressedBody<B>
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
        let mut this = self.project();
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(None);
            };
            let compressed = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => encoder.encode(&data),
                    // Trailers: an event body sends none; pass them on if one did.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Some(Err(error)) => {
                    *this.encoder = None;
                    return Poll::Ready(Some(Err(error.into())));
                }
                None => match this.encoder.take() {
                    Some(encoder) => encoder.finish(),
                    None => return Poll::Ready(None),
                },
            };
            match compressed {
                // Nothing came out (brotli may have nothing to flush): read on.
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
                Err(error) => {
                    tracing::error!(
                        %error,
                        "compressing the event stream failed; ending the response"
                    );
                    *this.encoder = None;
                    return Poll::Ready(Some(Err(error.into())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none()
    }
}
