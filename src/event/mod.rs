//! The [`Event`] builder and its encoded form, [`EncodedEvent`].
//!
//! The ids a client sends back are in [`id`]; what an event stream may yield is in
//! [`item`].

pub(crate) mod id;
pub(crate) mod item;

use std::{fmt, time::Duration};

use bytes::{BufMut, Bytes, BytesMut};

use crate::{event::id::IdReason, metrics::EndReason};

/// One server-sent event, built field by field and encoded as it is built.
///
/// Every setter writes its field straight into the event's buffer, in the order the
/// setters are called, so that [`encode`](Event::encode) only has to add the blank line
/// that ends the event. The encoding follows the WHATWG "Server-sent events" format
/// exactly:
///
/// - every field is written as `name: value`, with the space, so a value that starts with
///   a space keeps it;
/// - [`data`](Event::data) is split on CRLF, LF and lone CR into one `data:` line each, so
///   every spec-following client rebuilds the same text with `\n` between the lines;
/// - empty data is written as `data: `, so the event is still dispatched;
/// - [`event`](Event::event) and [`id`](Event::id) refuse values that would start a new
///   line (and `id` refuses NUL, which clients ignore) with an [`EventError`]: no value
///   can inject a field or an event, and nothing is silently stripped.
///
/// Calling [`data`](Event::data) several times adds more lines to the same data, as
/// several `data:` lines do on the wire. Calling [`event`](Event::event),
/// [`id`](Event::id) or [`retry`](Event::retry) twice writes the field twice; clients keep
/// the last one.
///
/// An event without any data line is valid on the wire, but browsers do not dispatch it
/// (only its `id` and `retry` take effect). Call `data("")` to dispatch an event with empty
/// data.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::Event;
///
/// let event = Event::new()
///     .event_static("tick")
///     .id_number(42)
///     .retry(Duration::from_secs(3))
///     .data("line one\nline two");
///
/// assert_eq!(
///     event.encode().as_bytes(),
///     &b"event: tick\nid: 42\nretry: 3000\ndata: line one\ndata: line two\n\n"[..],
/// );
/// # Ok::<(), tower_sse::EventError>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Event {
    // A plain vector, so that an event sized exactly becomes `Bytes` without another
    // allocation.
    buf: Vec<u8>,
}

/// Lines up to this long are copied as one fixed-size block (see `write_lines`).
const SHORT: usize = 32;

/// Values up to this length are searched for line breaks without `memchr`.
const SHORT_SCAN: usize = 64;

impl Event {
    /// Creates an empty event.
    ///
    /// # Example
    ///
    /// ```
    /// let event = tower_sse::Event::new().data("hello");
    /// assert_eq!(event.encode().as_bytes(), &b"data: hello\n\n"[..]);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds data to the event, one `data:` line for each line of `data`.
    ///
    /// `data` is split on CRLF, LF and lone CR. Empty data writes one empty `data:` line,
    /// so the client still dispatches the event. Any string is accepted, so this cannot
    /// fail.
    ///
    /// # Example
    ///
    /// ```
    /// let event = tower_sse::Event::new().data("a\r\nb\rc\n");
    /// assert_eq!(
    ///     event.encode().as_bytes(),
    ///     &b"data: a\ndata: b\ndata: c\ndata: \n\n"[..],
    /// );
    /// ```
    pub fn data(mut self, data: impl AsRef<str>) -> Self {
        self.write_lines(b"data: ", data.as_ref().as_bytes());
        self
    }

    /// Adds `value`, serialized as JSON, as the event's data.
    ///
    /// JSON text is written compactly on one line; should a value produce line breaks
    /// (for example a `serde_json::value::RawValue`), they are split into `data:` lines
    /// like [`data`](Event::data) does, so the client still reads the exact JSON text.
    ///
    /// # Errors
    ///
    /// Returns the serializer's error if `value` cannot be serialized.
    ///
    /// # Example
    ///
    /// ```
    /// let event = tower_sse::Event::new().json_data(&serde_json::json!({"n": 1}))?;
    /// assert_eq!(event.encode().as_bytes(), &b"data: {\"n\":1}\n\n"[..]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json_data<T>(mut self, value: &T) -> Result<Self, serde_json::Error>
    where
        T: serde::Serialize + ?Sized,
    {
        let start = self.buf.len();
        self.buf.extend_from_slice(b"data: ");
        let body = self.buf.len();
        if let Err(err) = serde_json::to_writer(&mut self.buf, value) {
            self.buf.truncate(start);
            return Err(err);
        }
        if memchr::memchr2(b'\r', b'\n', &self.buf[body..]).is_none() {
            self.buf.push(b'\n');
        } else {
            let json = self.buf.split_off(body);
            self.buf.truncate(start);
            self.write_lines(b"data: ", &json);
        }
        Ok(self)
    }

    /// Sets the event's type, written as an `event:` line.
    ///
    /// Browsers dispatch an event of type `t` to `addEventListener("t", ...)`; an empty
    /// type means `message`.
    ///
    /// # Errors
    ///
    /// Returns an [`EventError`] if `event` contains CR or LF, which would end the field
    /// early and let the rest of the value start a new one.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// let event = Event::new().event_static("update").data("{}");
    /// assert_eq!(event.encode().as_bytes(), &b"event: update\ndata: {}\n\n"[..]);
    ///
    /// assert!(Event::new().event("a\nevent: b").is_err());
    /// # Ok::<(), tower_sse::EventError>(())
    /// ```
    pub fn event(mut self, event: impl AsRef<str>) -> Result<Self, EventError> {
        let value = event.as_ref().as_bytes();
        if let Some(at) = find_line_break(value) {
            return Err(EventError::new(Field::Event, value[at], at));
        }
        self.write_field(b"event: ", value);
        Ok(self)
    }

    /// Sets the event type from a string in your code, known to be valid: the common
    /// case reads without `?` or `expect`. Values from elsewhere go through
    /// [`event`](Event::event), which returns an error instead.
    ///
    /// # Panics
    ///
    /// If `event` contains CR or LF (as `http`'s `HeaderValue::from_static` does for an
    /// invalid literal): a bug in the program, not something a client can cause.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// let event = Event::new().event_static("tick").id_number(42).data("12:00");
    /// assert_eq!(event.encode().as_bytes(), &b"event: tick\nid: 42\ndata: 12:00\n\n"[..]);
    /// ```
    pub fn event_static(self, event: &'static str) -> Self {
        match self.event(event) {
            Ok(event) => event,
            Err(err) => panic!("`event_static` was given an invalid event type: {err}"),
        }
    }

    /// Sets a numeric id, which is always valid.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// assert_eq!(Event::new().id_number(7).encode().as_bytes(), &b"id: 7\n\n"[..]);
    /// ```
    pub fn id_number(mut self, id: u64) -> Self {
        let mut digits = itoa::Buffer::new();
        self.write_field(b"id: ", digits.format(id).as_bytes());
        self
    }

    /// Sets the event's id, written as an `id:` line.
    ///
    /// The client remembers the last id it received and sends it back in the
    /// `Last-Event-ID` header when it reconnects. An empty id resets what the client
    /// remembers.
    ///
    /// # Errors
    ///
    /// Returns an [`EventError`] if `id` contains CR or LF (which would inject a field) or
    /// NUL (which makes clients ignore the id).
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// let event = Event::new().id_number(7).data("x");
    /// assert_eq!(event.encode().as_bytes(), &b"id: 7\ndata: x\n\n"[..]);
    ///
    /// let err = Event::new().id("7\0").unwrap_err();
    /// assert_eq!(err.field(), "id");
    /// # Ok::<(), tower_sse::EventError>(())
    /// ```
    pub fn id(mut self, id: impl AsRef<str>) -> Result<Self, EventError> {
        let value = id.as_ref().as_bytes();
        if let Some(at) = value
            .iter()
            .position(|&b| b == b'\r' || b == b'\n' || b == 0)
        {
            return Err(EventError::new(Field::Id, value[at], at));
        }
        self.write_field(b"id: ", value);
        Ok(self)
    }

    /// Sets the client's reconnection delay, written as a `retry:` line in whole
    /// milliseconds.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let event = tower_sse::Event::new().retry(Duration::from_millis(1500));
    /// assert_eq!(event.encode().as_bytes(), &b"retry: 1500\n\n"[..]);
    /// ```
    pub fn retry(mut self, retry: Duration) -> Self {
        let mut digits = itoa::Buffer::new();
        self.write_field(b"retry: ", digits.format(retry.as_millis()).as_bytes());
        self
    }

    /// Adds a comment, which clients ignore; one `:` line for each line of `comment`.
    ///
    /// # Example
    ///
    /// ```
    /// let event = tower_sse::Event::new().comment("hello\nworld");
    /// assert_eq!(event.encode().as_bytes(), &b": hello\n: world\n\n"[..]);
    /// ```
    pub fn comment(mut self, comment: impl AsRef<str>) -> Self {
        self.write_lines(b": ", comment.as_ref().as_bytes());
        self
    }

    /// Finishes the event: adds the blank line that dispatches it and freezes the bytes.
    ///
    /// The result is cheap to clone, so one encoding can be sent to many clients.
    ///
    /// # Example
    ///
    /// ```
    /// let encoded = tower_sse::Event::new().data("hi").encode();
    /// let copy = encoded.clone(); // no copy of the bytes
    /// assert_eq!(copy.as_bytes(), &b"data: hi\n\n"[..]);
    /// ```
    pub fn encode(mut self) -> EncodedEvent {
        self.buf.push(b'\n');
        EncodedEvent(Bytes::from(self.buf), None)
    }

    /// The length of [`encode`](Event::encode)'s result.
    pub(crate) fn encoded_len(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends what [`encode`](Event::encode) would return to `dst`, without making it.
    pub(crate) fn encode_into(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        dst.put_slice(&self.buf);
        dst.put_u8(b'\n');
    }

    /// The fields written so far, without the blank line that ends the event: what a
    /// backend stores, to add the id it assigns before encoding.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn field_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Rebuilds an event from [`field_bytes`](Event::field_bytes) read back from storage.
    /// `None` unless the bytes are whole field lines that cannot end the event early:
    /// every line ends with LF, there is no CR and no blank line.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn from_field_bytes(fields: &[u8]) -> Option<Self> {
        let whole_lines = fields.is_empty()
            || (fields.ends_with(b"\n")
                && !fields.starts_with(b"\n")
                && memchr::memmem::find(fields, b"\n\n").is_none());
        if !whole_lines || memchr::memchr(b'\r', fields).is_some() {
            return None;
        }
        Some(Self {
            buf: fields.to_vec(),
        })
    }

    #[inline]
    fn write_field(&mut self, name: &[u8], value: &[u8]) {
        self.reserve(name.len() + value.len() + 1);
        self.push_line(name, value);
    }

    /// Makes room for `additional` bytes and the blank line [`encode`](Event::encode)
    /// adds. The first allocation leaves room for a few more short fields, so a typical
    /// event (an id, a type and its data) is built in one allocation. A field more than
    /// twice the room so far (large data, usually written last) gets exactly the room it
    /// needs, so `encode` then turns the event into `Bytes` without allocating again.
    fn reserve(&mut self, additional: usize) {
        let needed = additional + 1;
        if self.buf.capacity() == 0 {
            // The first field: allocate straight away, not through `Vec`'s growth path.
            self.buf = Vec::with_capacity(needed + 64);
        } else if self.buf.capacity() - self.buf.len() < needed {
            self.buf.reserve(needed);
        }
    }

    /// Writes `value` as one `prefix` line per line, splitting on CRLF, LF and lone CR.
    #[inline(always)]
    fn write_lines(&mut self, prefix: &[u8], value: &[u8]) {
        let Some(first) = find_line_break(value) else {
            self.write_field(prefix, value);
            return;
        };
        // Room for the text and a prefix for every 16 bytes of it: counting the lines
        // first would cost more than the room; shorter lines grow the buffer once.
        // (And `SHORT` bytes of slack for the copy of short lines below.)
        self.reserve(value.len() + (value.len() / 16 + 2) * (prefix.len() + 1) + SHORT);
        let mut start = 0;
        if memchr::memchr(b'\r', &value[first..]).is_none() {
            // LF only, the usual case: one single-byte search per line.
            for at in memchr::memchr_iter(b'\n', &value[first..]) {
                let at = first + at;
                let line = &value[start..at];
                match value.get(start..start + SHORT) {
                    // A short line is copied as a whole block of fixed size (no call
                    // to `memcpy`), then cut to its length.
                    Some(block)
                        if line.len() <= SHORT
                            && self.buf.capacity() - self.buf.len() > prefix.len() + SHORT =>
                    {
                        self.buf.extend_from_slice(prefix);
                        let end = self.buf.len() + line.len();
                        self.buf.extend_from_slice(block);
                        self.buf.truncate(end);
                        self.buf.push(b'\n');
                    }
                    _ => self.push_line(prefix, line),
                }
                start = at + 1;
            }
        } else {
            for at in memchr::memchr2_iter(b'\r', b'\n', &value[first..]) {
                let at = first + at;
                if at < start {
                    continue; // the LF of a CRLF
                }
                self.push_line(prefix, &value[start..at]);
                let crlf = value[at] == b'\r' && value.get(at + 1) == Some(&b'\n');
                start = at + 1 + usize::from(crlf);
            }
        }
        self.push_line(prefix, &value[start..]);
    }

    /// Appends `prefix`, `line` and LF; the caller has made room or accepts growth.
    #[inline(always)]
    fn push_line(&mut self, prefix: &[u8], line: &[u8]) {
        self.buf.extend_from_slice(prefix);
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
    }
}

/// The position of the first CR or LF in `value`.
///
/// Most values (an event type, a short JSON object) are short, and for them `memchr`'s
/// dispatch to its vector routine costs more than the search. Up to `SHORT_SCAN` bytes,
/// each 64-bit word is tested for a zero byte after XOR with CR and with LF, a test that
/// is exact for whether the word holds one; the position is only looked for, byte by
/// byte, when there is a break.
#[inline(always)]
fn find_line_break(value: &[u8]) -> Option<usize> {
    if value.len() > SHORT_SCAN {
        return memchr::memchr2(b'\r', b'\n', value);
    }
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
    const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
    // Whether a word holds a zero byte (exact: no false positives).
    let zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH != 0;
    let mut words = value.chunks_exact(8);
    let mut any = false;
    for word in &mut words {
        let word = u64::from_ne_bytes(word.try_into().unwrap_or_default());
        any |= zero(word ^ CR) | zero(word ^ LF);
    }
    any |= words.remainder().iter().any(|&b| b == b'\r' || b == b'\n');
    if any {
        value.iter().position(|&b| b == b'\r' || b == b'\n')
    } else {
        None
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("fields", &String::from_utf8_lossy(&self.buf))
            .finish()
    }
}

/// An event in its final wire form: immutable bytes, cheap to clone.
///
/// Made by [`Event::encode`], so it is always a whole, valid event, with one exception:
/// a hub [`Subscription`](crate::hub::Subscription)'s last item is empty (no bytes) and
/// tells the body why the subscription ended, for the metrics. A stream served by
/// [`SseLayer`](crate::SseLayer) may yield `EncodedEvent`s instead of [`Event`]s, which is
/// how one encoding is shared by every client of a broadcast.
///
/// # Example
///
/// ```
/// use tower_sse::{EncodedEvent, Event};
///
/// let encoded: EncodedEvent = Event::new().data("shared").encode();
/// let bytes: bytes::Bytes = encoded.clone().into_bytes();
/// assert_eq!(bytes, encoded.as_bytes());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncodedEvent(Bytes, Option<EndReason>);

impl EncodedEvent {
    /// Bytes that are already one whole encoded event.
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub(crate) fn from_bytes(bytes: Bytes) -> Self {
        Self(bytes, None)
    }

    /// The last item of a stream that ended for `reason`: no bytes, the reason for the
    /// body's metrics.
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub(crate) fn end(reason: EndReason) -> Self {
        Self(Bytes::new(), Some(reason))
    }

    /// Why the stream ended, if this is its end marker.
    pub(crate) fn end_reason(&self) -> Option<EndReason> {
        self.1
    }

    /// The encoded bytes, ending with the blank line.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Turns the event into its bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The length of the encoded event in bytes.
    #[allow(clippy::len_without_is_empty)] // at least the blank line (a hub's end: 0)
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The event's type (its `event` field), if it has one.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// let encoded = Event::new().event_static("score").id_number(7).data("3\n2").encode();
    /// assert_eq!(encoded.event_type(), Some("score"));
    /// assert_eq!(encoded.id(), Some("7"));
    /// assert_eq!(encoded.data().as_deref(), Some("3\n2"));
    /// ```
    pub fn event_type(&self) -> Option<&str> {
        self.fields()
            .find(|(name, _)| *name == "event")
            .map(|(_, value)| value)
    }

    /// The event's id (its `id` field), if it has one.
    pub fn id(&self) -> Option<&str> {
        self.fields()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value)
    }

    /// The event's data: its `data` lines joined with line feeds, as a client reads
    /// it; `None` for a message without data (a comment, a `retry:` alone), which a
    /// client does not dispatch.
    pub fn data(&self) -> Option<String> {
        let mut data: Option<String> = None;
        for (_, value) in self.fields().filter(|(name, _)| *name == "data") {
            match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
        data
    }

    /// The fields, as written by [`Event::encode`]: one a line, LF-terminated, the
    /// value after `: ` (comments have no name and are skipped).
    fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        std::str::from_utf8(&self.0)
            .unwrap_or_default()
            .split('\n')
            .filter_map(|line| {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                (!name.is_empty()).then_some((name, value))
            })
    }
}

impl From<Event> for EncodedEvent {
    fn from(event: Event) -> Self {
        event.encode()
    }
}

impl From<EncodedEvent> for Bytes {
    fn from(event: EncodedEvent) -> Self {
        event.0
    }
}

impl fmt::Debug for EncodedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EncodedEvent")
            .field(&String::from_utf8_lossy(&self.0))
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Event,
    Id,
}

/// An event id or field that cannot be used: a value that cannot be written to an
/// event's field without changing the meaning of the stream, or a client's
/// `Last-Event-ID` that cannot be read (its `Display` is the reason the layer, or the
/// axum extractor, sends with `400 Bad Request`).
///
/// # Example
///
/// ```
/// let err = tower_sse::Event::new().event("a\rb").unwrap_err();
/// assert_eq!(err.field(), "event");
/// assert_eq!(err.position(), Some(1));
/// assert_eq!(
///     err.to_string(),
///     "invalid SSE `event` value: carriage return (CR) at byte 1; \
///      `event` cannot contain CR or LF",
/// );
///
/// let err = tower_sse::EventId::new(&"9".repeat(2000)).unwrap_err();
/// assert_eq!(err.field(), "id");
/// assert_eq!(
///     err.to_string(),
///     "the last event id is 2000 bytes long; at most 1024 bytes are accepted",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventError(Kind);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// A value for a field of an event being built.
    Field {
        field: Field,
        byte: u8,
        position: usize,
    },
    /// An event id from outside: a client's `Last-Event-ID`, an engine's id.
    Id(IdReason),
}

impl EventError {
    fn new(field: Field, byte: u8, position: usize) -> Self {
        Self(Kind::Field {
            field,
            byte,
            position,
        })
    }

    /// An event id from outside that cannot be used.
    pub(crate) fn id(reason: IdReason) -> Self {
        Self(Kind::Id(reason))
    }

    /// The field that refused the value: `"event"` or `"id"` (also for a
    /// `Last-Event-ID`).
    pub fn field(&self) -> &'static str {
        match &self.0 {
            Kind::Field {
                field: Field::Event,
                ..
            } => "event",
            Kind::Field {
                field: Field::Id, ..
            }
            | Kind::Id(_) => "id",
        }
    }

    /// The byte offset, in the refused value, of the first forbidden character; `None`
    /// for a `Last-Event-ID` refused as a whole (too long, not UTF-8, repeated).
    pub fn position(&self) -> Option<usize> {
        match &self.0 {
            Kind::Field { position, .. } => Some(*position),
            Kind::Id(_) => None,
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (field, byte, at) = match &self.0 {
            Kind::Field {
                field,
                byte,
                position,
            } => (field, byte, position),
            Kind::Id(reason) => return reason.fmt(f),
        };
        let what = match byte {
            b'\r' => "carriage return (CR)",
            b'\n' => "line feed (LF)",
            _ => "NUL",
        };
        let rule = match field {
            Field::Event => "cannot contain CR or LF",
            Field::Id => "cannot contain CR, LF or NUL",
        };
        write!(
            f,
            "invalid SSE `{field}` value: {what} at byte {at}; `{field}` {rule}",
            field = self.field(),
        )
    }
}

impl std::error::Error for EventError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(event: Event) -> Bytes {
        event.encode().into_bytes()
    }

    #[test]
    fn data_single_line() {
        assert_eq!(bytes(Event::new().data("hello")), "data: hello\n\n");
    }

    #[test]
    fn data_splits_on_lf_cr_and_crlf() {
        assert_eq!(
            bytes(Event::new().data("a\nb\rc\r\nd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn many_short_lines_and_a_late_cr_take_every_path() {
        // Lines shorter than the room reserved per line, LF only and then with a CR
        // after many LFs: each line is one `data:` line, whatever the breaks.
        for breaks in ["\n", "\r", "\r\n"] {
            let lines: Vec<String> = (0..100).map(|n| "x".repeat(n % 3)).collect();
            let mut data = lines.join("\n");
            data.push_str(breaks);
            data.push_str("end");
            let mut expected: String = lines.iter().map(|l| format!("data: {l}\n")).collect();
            expected.push_str("data: end\n\n");
            assert_eq!(bytes(Event::new().data(&data)), expected, "{breaks:?}");
        }
    }

    #[test]
    fn lines_around_the_short_block_size_are_exact() {
        // Lines of 0 to 40 bytes, each followed by more text or at the very end.
        for len in 0..=40 {
            for tail in ["", "\nafter", "\nx", &"\n".repeat(3)] {
                let line: String = (0..len)
                    .map(|n| char::from(b'a' + (n % 26) as u8))
                    .collect();
                let data = format!("{line}\n{line}{tail}");
                let expected: String = data.split('\n').map(|l| format!("data: {l}\n")).collect();
                assert_eq!(
                    bytes(Event::new().data(&data)),
                    format!("{expected}\n"),
                    "{len} {tail:?}"
                );
            }
        }
    }

    #[test]
    fn line_breaks_are_found_at_every_position_of_short_and_long_values() {
        // Bytes next to CR and LF, and with the high bit set, around the word-sized
        // search for short values and `memchr` for longer ones.
        let fillers = [b'a', 0x0b, 0x0c, 0x0e, 0x09, 0x00, 0x8a, 0x8d, 0xff];
        for len in 0..=SHORT_SCAN + 16 {
            for &filler in &fillers {
                let mut value = vec![filler; len];
                assert_eq!(
                    find_line_break(&value),
                    None,
                    "len {len} filler {filler:#x}"
                );
                for at in 0..len {
                    for byte in [b'\r', b'\n'] {
                        value[at] = byte;
                        assert_eq!(find_line_break(&value), Some(at), "len {len} at {at}");
                        // A second break later does not move the first.
                        if at + 1 < len {
                            value[len - 1] = b'\n';
                            assert_eq!(find_line_break(&value), Some(at));
                            value[len - 1] = filler;
                        }
                        value[at] = filler;
                    }
                }
            }
        }
    }

    #[test]
    fn crlf_is_one_break_but_lf_cr_is_two() {
        // axum turns "a\r\nb" into "a\n\nb"; CRLF must be a single line break.
        assert_eq!(bytes(Event::new().data("a\r\nb")), "data: a\ndata: b\n\n");
        assert_eq!(
            bytes(Event::new().data("a\n\rb")),
            "data: a\ndata: \ndata: b\n\n"
        );
        assert_eq!(
            bytes(Event::new().data("a\r\r\nb")),
            "data: a\ndata: \ndata: b\n\n"
        );
    }

    #[test]
    fn empty_data_still_dispatches() {
        // axum writes no data line for "", so browsers never dispatch the event.
        assert_eq!(bytes(Event::new().data("")), "data: \n\n");
    }

    #[test]
    fn trailing_and_leading_newlines_survive() {
        assert_eq!(bytes(Event::new().data("a\n")), "data: a\ndata: \n\n");
        assert_eq!(bytes(Event::new().data("\na")), "data: \ndata: a\n\n");
        assert_eq!(bytes(Event::new().data("\r")), "data: \ndata: \n\n");
        assert_eq!(bytes(Event::new().data("\r\n")), "data: \ndata: \n\n");
    }

    #[test]
    fn leading_space_is_kept_by_the_separator_space() {
        // warp writes no space after the colon, so clients eat the value's first space.
        assert_eq!(bytes(Event::new().data(" x")), "data:  x\n\n");
        assert_eq!(bytes(Event::new().event(" t").unwrap()), "event:  t\n\n");
    }

    #[test]
    fn data_with_colon_nul_bom_and_unicode_is_verbatim() {
        assert_eq!(
            bytes(Event::new().data("id: 1\0\u{feff}é🦀")),
            "data: id: 1\0\u{feff}é🦀\n\n"
        );
    }

    #[test]
    fn data_twice_adds_lines() {
        assert_eq!(
            bytes(Event::new().data("a").data("b")),
            "data: a\ndata: b\n\n"
        );
    }

    #[test]
    fn fields_are_written_in_call_order() {
        let event = Event::new()
            .comment("c")
            .id_number(1)
            .event_static("e")
            .retry(Duration::from_millis(10))
            .data("d");
        assert_eq!(bytes(event), ": c\nid: 1\nevent: e\nretry: 10\ndata: d\n\n");
    }

    #[test]
    fn event_rejects_line_breaks() {
        for value in ["a\nb", "a\rb", "a\r\nb", "\n", "tick\n\ndata: injected"] {
            let err = Event::new().event(value).unwrap_err();
            assert_eq!(err.field(), "event");
            assert_eq!(err.position(), value.find(['\r', '\n']));
        }
    }

    #[test]
    fn event_allows_nul_and_empty() {
        assert_eq!(bytes(Event::new().event("").unwrap()), "event: \n\n");
        assert_eq!(bytes(Event::new().event("a\0").unwrap()), "event: a\0\n\n");
    }

    #[test]
    fn id_rejects_line_breaks_and_nul() {
        for (value, at) in [("1\n", 1), ("\r1", 0), ("1\0", 1), ("12\r\n", 2)] {
            let err = Event::new().id(value).unwrap_err();
            assert_eq!(err.field(), "id");
            assert_eq!(err.position(), Some(at));
        }
        let err = Event::new().id("a\0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid SSE `id` value: NUL at byte 1; `id` cannot contain CR, LF or NUL"
        );
    }

    #[test]
    fn empty_id_resets() {
        assert_eq!(bytes(Event::new().id("").unwrap()), "id: \n\n");
    }

    #[test]
    fn retry_is_whole_milliseconds() {
        assert_eq!(
            bytes(Event::new().retry(Duration::from_micros(2500))),
            "retry: 2\n\n"
        );
        assert_eq!(bytes(Event::new().retry(Duration::ZERO)), "retry: 0\n\n");
        assert_eq!(
            bytes(Event::new().retry(Duration::MAX)),
            "retry: 18446744073709551615999\n\n"
        );
    }

    #[test]
    fn comments_split_into_lines() {
        assert_eq!(bytes(Event::new().comment("")), ":\u{20}\n\n");
        assert_eq!(
            bytes(Event::new().comment("a\r\nb\rc")),
            ": a\n: b\n: c\n\n"
        );
        // A comment cannot end the event early.
        assert_eq!(
            bytes(Event::new().comment("x\n\ndata: y").data("z")),
            ": x\n: \n: data: y\ndata: z\n\n"
        );
    }

    #[test]
    fn field_bytes_round_trip_and_refuse_what_would_split_an_event() {
        let event = Event::new().event_static("e").data("a\nb");
        let fields = event.field_bytes().to_vec();
        assert_eq!(fields, b"event: e\ndata: a\ndata: b\n");
        let rebuilt = Event::from_field_bytes(&fields).unwrap().id_number(7);
        assert_eq!(bytes(rebuilt), "event: e\ndata: a\ndata: b\nid: 7\n\n");
        assert!(Event::from_field_bytes(b"").is_some());
        for bad in [
            &b"data: a"[..],
            b"data: a\n\ndata: b\n",
            b"\ndata: a\n",
            b"data: a\r\n",
        ] {
            assert!(Event::from_field_bytes(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn empty_event_is_a_blank_line() {
        assert_eq!(bytes(Event::new()), "\n");
    }

    #[test]
    fn encoded_clone_shares_bytes() {
        let encoded = Event::new().data("x").encode();
        let a = encoded.clone().into_bytes();
        let b = encoded.into_bytes();
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_data() {
        #[derive(serde::Serialize)]
        struct Msg<'a> {
            text: &'a str,
        }
        let event = Event::new().json_data(&Msg { text: "a\nb" }).unwrap();
        assert_eq!(bytes(event), "data: {\"text\":\"a\\nb\"}\n\n");
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_raw_value_with_newlines_is_split() {
        let raw = serde_json::value::RawValue::from_string("{\n\"a\": 1\r\n}".into()).unwrap();
        let event = Event::new().json_data(&raw).unwrap();
        assert_eq!(bytes(event), "data: {\ndata: \"a\": 1\ndata: }\n\n");
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_error_is_returned() {
        struct Fails;
        impl serde::Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("nope"))
            }
        }
        let err = Event::new().data("kept").json_data(&Fails).unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
