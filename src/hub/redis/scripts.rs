//! The two Lua scripts the backend runs: publish (append and announce in one step) and
//! read (a topic's history with what it takes to know that it is whole).

use std::sync::LazyLock;

use redis::{Script, Value};

use crate::Event;

use super::super::{Delivery, Position};

/// Appends an event to a topic's stream, trims the stream, and announces the event on
/// the topic's shard channel, all in one step (a script runs alone).
///
/// Each entry records the id the stream had generated before it (`p`, `0-0` for a new
/// stream), so a reader can tell that no entry between two it has is missing: after a
/// trim, a restore from an older snapshot, a failover that lost writes, or a deletion.
///
/// `KEYS[1]`: the stream. `ARGV`: the channel, the event's fields, a token unique to
/// this publish, the count bound, the age bound in ms (`0`: none; the stream is trimmed,
/// never deleted: a stream that disappears reads as lost data), and, when the call
/// retries one that may have been stored, how far back (ms) to look for its token.
/// Returns the entry's id. The message is `<id> <previous id> <fields>`.
///
/// The channel is not a key, but it shares the stream's hash tag, so Redis Cluster
/// serves both on one node.
pub(super) static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if ARGV[6] ~= '0' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local from = string.format('%d', now - tonumber(ARGV[6]))
  local recent = redis.call('XRANGE', KEYS[1], from, '+')
  for i = #recent, 1, -1 do
    local fields = recent[i][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'k' and fields[j + 1] == ARGV[3] then return recent[i][1] end
    end
  end
end
local previous = '0-0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then previous = info[i + 1] end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*',
  'e', ARGV[2], 'p', previous, 'k', ARGV[3])
if ARGV[5] ~= '0' then
  local ms = tonumber(string.match(id, '^(%d+)'))
  local oldest = math.max(0, ms - tonumber(ARGV[5]))
  redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', oldest))
end
redis.call('SPUBLISH', ARGV[1], id .. ' ' .. previous .. ' ' .. ARGV[2])
return id
",
    )
});

/// Reads a topic's stream after an id, with the last id the stream generated and the
/// topic's break (see [`BREAK`]), in one step.
///
/// `KEYS[1]`: the stream, `KEYS[2]`: the break. `ARGV`: the id to read after, and how
/// many entries (`0`: none, only the last id). Returns `{last, entries, break}`, with
/// `''` for a stream or a break that does not exist.
pub(super) static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local broken = redis.call('GET', KEYS[2]) or ''
if redis.call('EXISTS', KEYS[1]) == 0 then return {'', {}, broken} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last = ''
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
end
return {last, entries, broken}
",
    )
});

/// Records that a topic's history broke (Redis lost entries: a restore from an older
/// snapshot, a failover that lost writes, a deletion) after entries up to `ARGV[1]`
/// had been delivered: no position up to there can be resumed exactly any more. Kept
/// for `ARGV[2]` ms (the history's age bound), or for good (`0`).
///
/// `KEYS[1]`: the break. Keeps the greater of the old and the new break.
pub(super) static BREAK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('GET', KEYS[1])
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
if old then
  local oms, oseq = parts(old)
  local nms, nseq = parts(ARGV[1])
  if oms and nms and (oms > nms or (oms == nms and oseq >= nseq)) then return 0 end
end
if ARGV[2] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
",
    )
});

/// A Redis stream id, `<ms>-<seq>`, as a position.
pub(super) fn parse_id(id: &str) -> Option<Position> {
    let (ms, seq) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    Some(Position::new(ms.parse().ok()?, seq.parse().ok()?))
}

/// A position as a Redis stream id.
pub(super) fn id_of(position: Position) -> String {
    let (ms, seq) = position.parts();
    format!("{ms}-{seq}")
}

/// An event read back from Redis, with the id the stream had generated before it.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) previous: Position,
    pub(super) delivery: Delivery,
}

/// What [`READ`] found.
#[derive(Debug)]
pub(super) struct History {
    /// The last id the stream generated; `None` if the stream does not exist.
    pub(super) last: Option<Position>,
    /// The entries read, in order.
    pub(super) entries: Vec<Entry>,
    /// How many entries were read.
    pub(super) count: usize,
    /// The topic's break: no position up to it can be resumed exactly.
    pub(super) broken_at: Option<Position>,
}

/// Whether `entries` follow on from `after` with none missing, each recording the one
/// before it. `false` if an entry is not one of this crate's.
pub(super) fn continuous(after: Position, entries: &[Entry]) -> bool {
    let mut expected = after;
    entries.iter().all(|entry| {
        let follows = entry.previous == expected;
        expected = entry.delivery.position();
        follows
    })
}

impl History {
    /// Decodes [`READ`]'s reply; `None` if it is not one. An entry this crate did not
    /// write is kept with a previous id no chain has, so the history reads as broken.
    pub(super) fn from_reply(reply: Value) -> Option<Self> {
        let Value::Array(mut parts) = reply else {
            return None;
        };
        if parts.len() != 3 {
            return None;
        }
        let broken_at = text(&parts.pop()?).and_then(|id| parse_id(&id));
        let entries = parts.pop()?;
        let last = text(&parts[0])?;
        let last = if last.is_empty() {
            None
        } else {
            Some(parse_id(&last)?)
        };
        let Value::Array(entries) = entries else {
            return None;
        };
        let count = entries.len();
        let mut decoded = Vec::with_capacity(count);
        for entry in entries {
            let (id, fields) = entry_parts(entry)?;
            let position = parse_id(&id)?;
            let entry = fields.and_then(|(previous, fields)| {
                Some(Entry {
                    previous: parse_id(&previous)?,
                    delivery: delivery(position, &id, &fields)?,
                })
            });
            match entry {
                Some(entry) => decoded.push(entry),
                None => {
                    tracing::error!(%id, "a Redis stream entry that is not a tower-sse event");
                    decoded.push(Entry {
                        previous: Position::END,
                        delivery: Delivery::without_id(position, crate::Event::new().encode()),
                    });
                }
            }
        }
        Some(Self {
            last,
            entries: decoded,
            count,
            broken_at,
        })
    }
}

/// An entry's `p` (previous id) and `e` (the event's fields) fields.
type Fields = (String, Vec<u8>);

/// An entry's id, and its fields if it has both.
fn entry_parts(entry: Value) -> Option<(String, Option<Fields>)> {
    let Value::Array(mut pair) = entry else {
        return None;
    };
    if pair.len() != 2 {
        return None;
    }
    let fields = pair.pop()?;
    let id = text(&pair[0])?;
    let Value::Array(fields) = fields else {
        return Some((id, None));
    };
    let field = |wanted: &[u8]| {
        fields.chunks(2).find_map(|field| match field {
            [Value::BulkString(name), Value::BulkString(value)] if name == wanted => {
                Some(value.clone())
            }
            _ => None,
        })
    };
    let previous = field(b"p").and_then(|p| String::from_utf8(p).ok());
    Some((id, previous.zip(field(b"e"))))
}

/// The delivery of an event stored with `fields`, as every instance encodes it.
pub(super) fn delivery(position: Position, id: &str, fields: &[u8]) -> Option<Delivery> {
    let event = Event::from_field_bytes(fields)?;
    Delivery::new(position, id, event).ok()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids() {
        assert_eq!(
            parse_id("1700000000000-3"),
            Some(Position::new(1_700_000_000_000, 3))
        );
        assert_eq!(id_of(Position::new(5, 0)), "5-0");
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-1-1",
            "+1-0",
            "1 -0",
            "99999999999999999999-0",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
    }

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
        let history = History::from_reply(reply).unwrap();
        assert_eq!(history.last, Some(Position::new(9, 0)));
        assert_eq!(history.count, 2);
        assert_eq!(history.broken_at, Some(Position::new(1, 5)));
        assert_eq!(history.entries[0].previous, Position::new(2, 0));
        assert_eq!(
            history.entries[0].delivery.event().as_bytes(),
            &b"data: a\nid: 3-0\n\n"[..]
        );
        // Not one of this crate's: it breaks the chain.
        assert_eq!(history.entries[1].previous, Position::END);
        assert!(continuous(Position::new(2, 0), &history.entries[..1]));
        assert!(!continuous(Position::new(2, 0), &history.entries));
        assert!(!continuous(Position::new(1, 0), &history.entries[..1]));
        let missing = Value::Array(vec![bulk(b""), Value::Array(vec![]), bulk(b"")]);
        let missing = History::from_reply(missing).unwrap();
        assert!(missing.last.is_none() && missing.broken_at.is_none());
    }
}
