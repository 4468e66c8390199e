//! The Lua scripts the engine runs: publish (append and announce in one step), the
//! token look-up, read (a page of a topic's history with its head and break) and the
//! break record; and the decoding of their replies and of live messages.

use std::sync::LazyLock;

use bytes::Bytes;
use redis::{Script, Value};

use crate::hub::{
    Position,
    remote::{Entry, Marks, Page},
};

/// Appends an event to a topic's stream, trims the stream, and announces the event on
/// the topic's shard channel, all in one step (a script runs alone, so it orders
/// appends itself).
///
/// Each entry records the id the stream had generated before it (`p`, `0-0` for a new
/// stream): the chain. `KEYS[1]`: the stream. `ARGV`: the channel, the event's fields, a
/// token unique to this publish (`k`, for [`FIND`]), the count bound, the age bound in
/// ms (`0`: none; the stream is trimmed, never deleted: a stream that disappears reads
/// as lost data). Returns the entry's id. The message is `<id> <previous id> <fields>`.
///
/// The channel is not a key, but it shares the stream's hash tag, so Redis Cluster
/// serves both on one node.
pub(super) static PUBLISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/publish.lua")));

/// Looks for the entry a publish stored with a token. `KEYS[1]`: the stream. `ARGV`:
/// the token, and how far back (ms) to look. Returns the entry's id, or nil.
pub(super) static FIND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/find.lua")));

/// Reads a topic's stream after an id, with the last id the stream generated and the
/// topic's break (see [`BREAK`]), in one step.
///
/// `KEYS[1]`: the stream, `KEYS[2]`: the break. `ARGV`: the id to read after, and how
/// many entries (`0`: none, only the last id). Returns `{last, entries, break}`, with
/// `''` for a stream or a break that does not exist.
pub(super) static READ: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/read.lua")));

/// Records that a topic's history broke (Redis lost entries: a restore from an older
/// snapshot, a failover that lost writes, a deletion) after entries up to `ARGV[1]`
/// had been delivered: no position up to there can be resumed exactly any more. Kept
/// for `ARGV[2]` ms (the history's age bound), or for good (`0`).
///
/// `KEYS[1]`: the break. Keeps the greater of the old and the new break.
pub(super) static BREAK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/break.lua")));

/// Redis's stream ids, `<ms>-<seq>`, both in decimal.
pub(super) const IDS: Marks = Marks::new(10, u64::MAX);

/// Decodes [`READ`]'s reply; `None` if it is not one. An entry this crate did not
/// write is kept with a previous id no chain has and fields no event has, so an exact
/// read breaks there and another skips it.
pub(super) fn page_of(reply: Value) -> Option<Page> {
    let Value::Array(mut parts) = reply else {
        return None;
    };
    if parts.len() != 3 {
        return None;
    }
    let broken_at = text(&parts.pop()?).and_then(|id| IDS.parse(&id));
    let Value::Array(entries) = parts.pop()? else {
        return None;
    };
    let head = text(&parts[0])?;
    let head = if head.is_empty() {
        Position::START
    } else {
        IDS.parse(&head)?
    };
    let entries = entries.into_iter().map(entry_of).collect::<Option<_>>()?;
    Some(Page {
        head,
        entries,
        broken_at,
        unproven: false,
    })
}

/// A stream entry, `[id, [field, value, ...]]`, with its `p` (previous id) and `e`
/// (the event's fields).
fn entry_of(entry: Value) -> Option<Entry> {
    let Value::Array(mut pair) = entry else {
        return None;
    };
    if pair.len() != 2 {
        return None;
    }
    let fields = pair.pop()?;
    let id = text(&pair[0])?;
    let position = IDS.parse(&id)?;
    let fields = match fields {
        Value::Array(fields) => fields,
        _ => Vec::new(),
    };
    let field = |wanted: &[u8]| {
        fields.chunks(2).find_map(|field| match field {
            [Value::BulkString(name), Value::BulkString(value)] if name == wanted => {
                Some(value.clone())
            }
            _ => None,
        })
    };
    let previous = field(b"p").and_then(|p| IDS.parse(std::str::from_utf8(&p).ok()?));
    let (Some(previous), Some(fields)) = (previous, field(b"e")) else {
        tracing::error!(%id, "a Redis stream entry that is not a tower-sse event");
        return Some(foreign(position));
    };
    Some(Entry {
        position,
        previous,
        fields: fields.into(),
    })
}

/// An entry this crate did not write: it follows nothing, and is no event.
fn foreign(position: Position) -> Entry {
    Entry {
        position,
        previous: Position::END,
        fields: Bytes::from_static(b"\n"),
    }
}

/// A live message, `<id> <previous id> <fields>`, as an entry.
pub(super) fn message_entry(payload: &[u8]) -> Option<Entry> {
    let mut parts = payload.splitn(3, |&b| b == b' ');
    let mut id = || IDS.parse(std::str::from_utf8(parts.next()?).ok()?);
    let (position, previous) = (id()?, id()?);
    Some(Entry {
        position,
        previous,
        fields: Bytes::copy_from_slice(parts.next()?),
    })
}

/// An id in a reply, if it is text.
pub(super) fn text(value: &Value) -> Option<String> {
    redis::from_redis_value(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_reply() {
        let entry = |id: &str, fields: Vec<Value>| {
            Value::Array(vec![Value::BulkString(id.into()), Value::Array(fields)])
        };
        let bulk = |s: &[u8]| Value::BulkString(s.to_vec());
        let reply = Value::Array(vec![
            bulk(b"9-0"),
            Value::Array(vec![
                entry(
                    "3-0",
                    vec![bulk(b"e"), bulk(b"data: a\n"), bulk(b"p"), bulk(b"2-0")],
                ),
                entry("4-0", vec![bulk(b"x"), bulk(b"y")]),
            ]),
            bulk(b"1-5"),
        ]);
        let page = page_of(reply).unwrap();
        assert_eq!(page.head, Position::new(9, 0));
        assert_eq!(page.broken_at, Some(Position::new(1, 5)));
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.entries[0].previous, Position::new(2, 0));
        assert_eq!(&page.entries[0].fields[..], b"data: a\n");
        // Not one of this crate's: it breaks the chain, and is no event.
        assert_eq!(page.entries[1].previous, Position::END);
        assert!(crate::Event::from_field_bytes(&page.entries[1].fields).is_none());
        let missing = Value::Array(vec![bulk(b""), Value::Array(vec![]), bulk(b"")]);
        let missing = page_of(missing).unwrap();
        assert!(missing.head == Position::START && missing.broken_at.is_none());
        assert!(page_of(Value::Nil).is_none());
    }

    #[test]
    fn live_messages() {
        let entry = message_entry(b"12-3 12-2 event: x\ndata: y\n").unwrap();
        assert_eq!(entry.previous, Position::new(12, 2));
        assert_eq!(entry.position, Position::new(12, 3));
        assert_eq!(&entry.fields[..], b"event: x\ndata: y\n");
        assert!(message_entry(b"12-3 0-0 ").is_some());
        assert!(message_entry(b"12-3 0-0").is_none());
        assert!(message_entry(b"12-3 data: y\n").is_none());
        assert!(message_entry(b"x 0-0 data: y\n").is_none());
    }
}
