//! [`Delivery`]: an encoded event with its position, as backends hand it to the hub.

use bytes::Bytes;

use crate::{EncodedEvent, Event, EventError};

use super::Position;

/// An event as a [`Backend`](super::Backend) hands it to the hub: encoded once, with its
/// `id:` field last, and its [`Position`] in its topic.
///
/// # Example
///
/// ```
/// use tower_sse::{Event, hub::backend::{Delivery, Position}};
///
/// let delivery = Delivery::new(Position::new(7, 0), "7", Event::new().data("hi"))?;
/// assert_eq!(delivery.position(), Position::new(7, 0));
/// assert_eq!(delivery.event().as_bytes(), &b"data: hi\nid: 7\n\n"[..]);
/// # Ok::<(), tower_sse::EventError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Delivery {
    position: Position,
    event: EncodedEvent,
}

impl Delivery {
    /// Encodes `event` with `id` as its last field.
    ///
    /// # Errors
    ///
    /// An [`EventError`] if `id` holds CR, LF or NUL.
    pub fn new(position: Position, id: &str, event: Event) -> Result<Self, EventError> {
        Ok(Self {
            position,
            event: event.id(id)?.encode(),
        })
    }

    /// An event that needs no id: the hub's own reset and shutdown events.
    pub(crate) fn without_id(position: Position, event: EncodedEvent) -> Self {
        Self { position, event }
    }

    /// Its position in its topic.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The encoded event, its id included.
    pub fn event(&self) -> &EncodedEvent {
        &self.event
    }

    pub(crate) fn into_event(self) -> EncodedEvent {
        self.event
    }

    /// The encoded event up to its `id:` line, for a subscription that sends an id of
    /// its own; the whole event if it has no id line last.
    pub(crate) fn fields_before_id(&self) -> Bytes {
        let bytes = self.event.as_bytes();
        // `...\nid: X\n\n` or `id: X\n\n`: the id's line starts after the last LF before
        // the final two.
        let body = &bytes[..bytes.len().saturating_sub(2)];
        let start = memchr::memrchr(b'\n', body).map_or(0, |at| at + 1);
        if body[start..].starts_with(b"id: ") {
            bytes.slice(..start)
        } else {
            bytes.slice(..bytes.len() - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_before_the_id() {
        let cut = |event: Event| {
            Delivery::new(Position::START, "1-0", event)
                .unwrap()
                .fields_before_id()
        };
        assert_eq!(cut(Event::new().data("a\nb")), &b"data: a\ndata: b\n"[..]);
        assert_eq!(cut(Event::new()), &b""[..]);
        assert_eq!(
            cut(Event::new().event_static("x").data("y")),
            &b"event: x\ndata: y\n"[..]
        );
        let plain = Delivery::without_id(Position::START, Event::new().data("r").encode());
        assert_eq!(plain.fields_before_id(), &b"data: r\n"[..]);
    }
}
