//! [`EventItem`], what an event stream may yield, and [`Piece`], one yielded item on its
//! way into a body frame.

// The sealed trait's method names a crate-private type (`Piece`); no other crate can
// name that trait, so it cannot call the method either.
#![allow(private_interfaces)]

use std::error::Error as StdError;

use bytes::{Bytes, BytesMut};

use crate::{BoxError, EncodedEvent, Event, metrics::EndReason};

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
        Ok(match self.end_reason() {
            Some(reason) => Piece::End(None, reason),
            None => Piece::Encoded(self.into_bytes()),
        })
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
        self.map_err(Into::into)
            .and_then(<EncodedEvent as sealed::Sealed>::into_piece)
    }
}

/// One item of an event stream on its way into a body frame.
#[derive(Debug)]
pub(crate) enum Piece {
    /// An event not encoded yet: copied straight into a batch, or encoded to be sent
    /// alone.
    Event(Event),
    /// Encoded bytes, possibly shared with other streams.
    Encoded(Bytes),
    /// The stream's end marker, after its last event if it has one: if the stream ends
    /// next, the body counts it closed for the reason.
    End(Option<Bytes>, EndReason),
}

impl Piece {
    /// The piece to send, if any, and why the stream ended, if this piece ends it.
    pub(crate) fn split_end(self) -> (Option<Self>, Option<EndReason>) {
        match self {
            Self::End(last, reason) => (last.map(Self::Encoded), Some(reason)),
            piece => (Some(piece), None),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Event(event) => event.encoded_len(),
            Self::Encoded(bytes) | Self::End(Some(bytes), _) => bytes.len(),
            Self::End(None, _) => 0,
        }
    }

    pub(crate) fn write_to(&self, dst: &mut BytesMut) {
        match self {
            Self::Event(event) => event.encode_into(dst),
            Self::Encoded(bytes) | Self::End(Some(bytes), _) => dst.extend_from_slice(bytes),
            Self::End(None, _) => {}
        }
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Self::Event(event) => event.encode().into_bytes(),
            Self::Encoded(bytes) | Self::End(Some(bytes), _) => bytes,
            Self::End(None, _) => Bytes::new(),
        }
    }
}
