//! A client's reading of an event stream, as the WHATWG "Server-sent events" section
//! ("Interpreting an event stream") defines it.

use std::time::Duration;

/// What a client reads from an event stream, in order.
///
/// # Example
///
/// ```
/// use tower_sse::testing::{Item, Parser};
///
/// let mut parser = Parser::new();
/// let items = parser.feed(b": hi\nretry: 50\ndata: a\n\n");
/// assert!(matches!(&items[0], Item::Comment(text) if text == " hi"));
/// assert!(matches!(&items[1], Item::Retry(time) if time.as_millis() == 50));
/// assert!(matches!(&items[2], Item::Event(event) if event.data == "a"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// An event the client dispatched.
    Event(ReceivedEvent),
    /// A comment line (a keep-alive, say), without its leading `:`.
    Comment(String),
    /// A valid `retry:` field: the client's new reconnection time.
    Retry(Duration),
}

/// An event as a browser's `EventSource` dispatches it.
///
/// # Example
///
/// ```
/// use tower_sse::testing::{Item, Parser};
///
/// let items = Parser::new().feed(b"event: tick\ndata: 1\ndata: 2\nid: 7\n\n");
/// let Item::Event(event) = &items[0] else { unreachable!() };
/// assert_eq!((event.event.as_str(), event.data.as_str(), event.id.as_str()), ("tick", "1\n2", "7"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedEvent {
    /// The event type: `message` unless an `event:` field named one.
    pub event: String,
    /// The data, its lines joined with `\n`.
    pub data: String,
    /// The client's last event id when the event was dispatched (`lastEventId`).
    pub id: String,
}

/// An incremental event-stream parser: feed it bytes as they arrive, split anywhere.
///
/// It follows the spec to the letter: a leading byte order mark is skipped, lines end
/// with CR, LF or CRLF (a CR at the end of one chunk and an LF at the start of the next
/// are one line ending), an event without data is not dispatched, an `id` containing
/// NUL is ignored, and an event cut off by the end of the stream is dropped.
///
/// # Example
///
/// ```
/// use tower_sse::testing::{Item, Parser};
///
/// let mut parser = Parser::new();
/// assert!(parser.feed(b"id: 7\rdata: one\r").is_empty()); // the CR may start a CRLF
/// let items = parser.feed(b"\ndata: two\r\n\n");
/// let Item::Event(event) = &items[0] else { unreachable!() };
/// assert_eq!((event.data.as_str(), parser.last_event_id()), ("one\ntwo", "7"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    started: bool,
    after_cr: bool,
    data: String,
    has_data: bool,
    event: String,
    last_event_id: String,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for a reconnection: the client keeps its last event id.
    pub fn with_last_event_id(id: &str) -> Self {
        Self {
            last_event_id: id.to_owned(),
            ..Self::default()
        }
    }

    /// The last event id the stream has set so far.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Reads `bytes`, returning what they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Item> {
        let mut items = Vec::new();
        if !self.started {
            let bom = b"\xEF\xBB\xBF";
            let have = self.line.len() + bytes.len();
            if have < bom.len() && bom.starts_with(&[&self.line[..], bytes].concat()) {
                self.line.extend_from_slice(bytes);
                return items;
            }
            let mut start = std::mem::take(&mut self.line);
            start.extend_from_slice(bytes);
            self.started = true;
            let skip = if start.starts_with(bom) { bom.len() } else { 0 };
            return self.feed_lines(&start[skip..], items);
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        self.feed_lines(bytes, std::mem::take(&mut items))
    }

    fn feed_lines(&mut self, bytes: &[u8], mut items: Vec<Item>) -> Vec<Item> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut items);
            let cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        items
    }

    fn process_line(&mut self, line: &[u8], items: &mut Vec<Item>) {
        let line = String::from_utf8_lossy(line);
        if line.is_empty() {
            self.dispatch(items);
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            items.push(Item::Comment(comment.to_owned()));
            return;
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        match name {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_event_id),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    items.push(Item::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, items: &mut Vec<Item>) {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            self.data.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        items.push(Item::Event(ReceivedEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            id: self.last_event_id.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<(String, String, String)> {
        let mut parser = Parser::new();
        chunks
            .iter()
            .flat_map(|chunk| parser.feed(chunk))
            .filter_map(|item| match item {
                Item::Event(e) => Some((e.event, e.data, e.id)),
                _ => None,
            })
            .collect()
    }

    fn one(event: &str, data: &str, id: &str) -> (String, String, String) {
        (event.into(), data.into(), id.into())
    }

    #[test]
    fn line_endings_split_across_chunks() {
        let got = events(&[b"data: a\r", b"\ndata: b\r\r", b"data: c\n\n"]);
        assert_eq!(got, [one("message", "a\nb", ""), one("message", "c", "")]);
    }

    #[test]
    fn byte_order_mark_split_and_skipped() {
        assert_eq!(
            events(&[b"\xEF\xBB", b"\xBFdata: x\n\n"]),
            [one("message", "x", "")]
        );
    }

    #[test]
    fn no_data_no_dispatch_but_id_sticks() {
        let got = events(&[b"id: 3\n\nevent: e\n\ndata\n\n"]);
        assert_eq!(got, [one("message", "", "3")]);
    }

    #[test]
    fn id_with_nul_ignored_and_unfinished_event_dropped() {
        let got = events(&[b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\ndata: cut"]);
        assert_eq!(got, [one("message", "a", "1"), one("message", "b", "1")]);
    }

    #[test]
    fn retry_only_digits() {
        let mut parser = Parser::new();
        let items = parser.feed(b"retry: 1x\nretry: 20\n\n");
        assert_eq!(items, [Item::Retry(Duration::from_millis(20))]);
    }
}
