//! The user-supplied factory that turns a request into an event stream.

// The sealed traits' methods name crate-private types (`Piece`, `BoxBody`); no other
// crate can name those traits, so it cannot call the methods either.
#![allow(private_interfaces)]

use std::{error::Error as StdError, future::Future};

use crate::response::IntoRefusal;
use futures_core::Stream;
use http::Request;

use bytes::{Bytes, BytesMut};

use crate::{BoxError, EncodedEvent, Event, EventId};

/// Makes the event stream for a request that [`SseLayer`](crate::SseLayer) diverted.
///
/// The factory gets the whole request (method, URI, headers, extensions, so app state
/// and authentication work as usual, and the body, for protocols that POST) and the
/// request's [`EventId`], already parsed. It answers with either
///
/// - `Ok(stream)`: a stream of [`Event`]s, [`EncodedEvent`]s, or `Result`s of either,
///   sent as a `200 text/event-stream` response; or
/// - `Err(response)`: any [`IntoRefusal`] value (a `StatusCode`, a
///   `(StatusCode, &str)`, with the `axum` feature anything `IntoResponse`), sent as it
///   is. Answer `401` or
///   `404` to refuse, or `204 No Content` to tell a browser to stop reconnecting.
///
/// It is implemented for every `FnMut(Request<B>, Option<EventId>) -> impl Future`
/// closure with that output, including async closures.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, StatusCode};
/// use tower_sse::{Event, EventId, SseLayer};
///
/// # type Body = ();
/// let layer = SseLayer::new(|req: Request<Body>, last_event_id: Option<EventId>| async move {
///     if !req.headers().contains_key("authorization") {
///         return Err(StatusCode::UNAUTHORIZED);
///     }
///     let start = last_event_id.and_then(|id| id.parse::<u64>().ok()).map_or(0, |n| n + 1);
///     let events = (start..start + 3).map(|n| Event::new().id(n.to_string()).map(|e| e.data("hi")));
///     Ok(tokio_stream::iter(events))
/// });
/// # let _: SseLayer<_> = layer;
/// ```
pub trait MakeEventStream<B> {
    /// The stream of events sent to the client.
    type Stream: Stream<Item = Self::Item> + Send + 'static;
    /// What the stream yields.
    type Item: EventItem;
    /// The response sent instead of a stream.
    type Rejection: IntoRefusal;
    /// The future that makes the stream.
    type Future: Future<Output = Result<Self::Stream, Self::Rejection>>;

    /// Makes the event stream for `request`.
    fn make_event_stream(
        &mut self,
        request: Request<B>,
        last_event_id: Option<EventId>,
    ) -> Self::Future;
}

impl<F, Fut, B, St, R> MakeEventStream<B> for F
where
    F: FnMut(Request<B>, Option<EventId>) -> Fut,
    Fut: Future<Output = Result<St, R>>,
    St: Stream + Send + 'static,
    St::Item: EventItem,
    R: IntoRefusal,
{
    type Stream = St;
    type Item = St::Item;
    type Rejection = R;
    type Future = Fut;

    fn make_event_stream(
        &mut self,
        request: Request<B>,
        last_event_id: Option<EventId>,
    ) -> Self::Future {
        self(request, last_event_id)
    }
}

/// What an event stream may yield: [`Event`], [`EncodedEvent`], or a `Result` of either
/// whose error converts into a boxed error.
///
/// An `Err` ends the response after the events already sent (never in the middle of an
/// event) and is logged with `tracing` at the `error` level.
///
/// This trait is sealed: it cannot be implemented outside this crate.
///
/// # Example
///
/// ```
/// use std::io;
/// use tower_sse::{Event, EventItem};
///
/// fn assert_item<T: EventItem>(_: T) {}
/// assert_item(Event::new().data("an event"));
/// assert_item(Event::new().data("encoded once").encode());
/// assert_item(Ok::<_, io::Error>(Event::new()));
/// assert_item(Err::<Event, _>(io::Error::other("ends the stream, logged")));
/// ```
pub trait EventItem: sealed::Sealed {}

/// What makes an [`EventItem`], out of reach of other crates.
pub(crate) mod sealed {
    use super::{BoxError, Piece};

    pub trait Sealed {
        /// The item, ready for the body.
        fn into_piece(self) -> Result<Piece, BoxError>;
    }
}

impl EventItem for Event {}
impl sealed::Sealed for Event {
    fn into_piece(self) -> Result<Piece, BoxError> {
        Ok(Piece::Event(self))
    }
}

impl EventItem for EncodedEvent {}
impl sealed::Sealed for EncodedEvent {
    fn into_piece(self) -> Result<Piece, BoxError> {
        Ok(Piece::Encoded(self.into_bytes()))
    }
}

impl<E> EventItem for Result<Event, E> where E: Into<Box<dyn StdError + Send + Sync>> {}
impl<E> sealed::Sealed for Result<Event, E>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    fn into_piece(self) -> Result<Piece, BoxError> {
        self.map(Piece::Event).map_err(Into::into)
    }
}

impl<E> EventItem for Result<EncodedEvent, E> where E: Into<Box<dyn StdError + Send + Sync>> {}
impl<E> sealed::Sealed for Result<EncodedEvent, E>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    fn into_piece(self) -> Result<Piece, BoxError> {
        self.map(|event| Piece::Encoded(event.into_bytes()))
            .map_err(Into::into)
    }
}

/// One item of an event stream on its way into a body frame.
///
#[derive(Debug)]
pub(crate) enum Piece {
    /// An event not encoded yet: copied straight into a batch, or encoded to be sent
    /// alone.
    Event(crate::Event),
    /// Encoded bytes, possibly shared with other streams.
    Encoded(Bytes),
}

impl Piece {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Event(event) => event.encoded_len(),
            Self::Encoded(bytes) => bytes.len(),
        }
    }

    pub(crate) fn write_to(&self, dst: &mut BytesMut) {
        match self {
            Self::Event(event) => event.encode_into(dst),
            Self::Encoded(bytes) => dst.extend_from_slice(bytes),
        }
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Self::Event(event) => event.encode().into_bytes(),
            Self::Encoded(bytes) => bytes,
        }
    }
}
