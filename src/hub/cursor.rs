//! The cursor a stream of several topics sends as its ids when each topic has its own
//! sequence ([`IdScope::Topic`](super::backend::IdScope::Topic)).
//!
//! Format: `~`, seven base-36 digits of a 32-bit hash of the stream's sorted topic
//! names, then for each topic in that order `.` and its position, `major` in base 36
//! followed by `-` and `minor` in base 36 when `minor` is not 0. A Redis stream id
//! `1733390000123-0` takes 9 characters (12 with a small `minor`), so a cursor of 64
//! topics stays under 800 bytes.
//! A cursor longer than [`MAX_LAST_EVENT_ID_LEN`] is never sent: the event goes out
//! with the id `~`, which resumes with the reset event.

use std::sync::Arc;

use crate::MAX_LAST_EVENT_ID_LEN;

use super::backend::Position;

/// The id sent instead of a cursor too long to come back in a header.
const TOO_LONG: &str = "~";

/// Writes the cursor of `positions` (one per topic of `topics`) to a new string.
pub(crate) fn encode(topics_hash: u32, positions: &[Position]) -> String {
    let mut out = String::with_capacity(8 + positions.len() * 10);
    out.push('~');
    push_base36(&mut out, u64::from(topics_hash), 7);
    for position in positions {
        let (major, minor) = position.parts();
        out.push('.');
        push_base36(&mut out, major, 1);
        if minor != 0 {
            out.push('-');
            push_base36(&mut out, minor, 1);
        }
    }
    if out.len() > MAX_LAST_EVENT_ID_LEN {
        return TOO_LONG.to_owned();
    }
    out
}

/// The positions of a cursor written for these topics; `None` for anything else (an
/// id of another kind, another set of topics, a damaged cursor).
pub(crate) fn decode(id: &str, topics_hash: u32, topics: usize) -> Option<Vec<Position>> {
    let rest = id.strip_prefix('~')?;
    let mut parts = rest.split('.');
    let hash = parts.next()?;
    if hash.len() != 7 || parse_base36(hash)? != u64::from(topics_hash) {
        return None;
    }
    let positions: Vec<Position> = parts
        .map(|part| {
            let (major, minor) = match part.split_once('-') {
                Some((major, minor)) => (parse_base36(major)?, parse_base36(minor)?),
                None => (parse_base36(part)?, 0),
            };
            Some(Position::new(major, minor))
        })
        .collect::<Option<_>>()?;
    (positions.len() == topics).then_some(positions)
}

/// FNV-1a over the sorted topic names, each ended by a zero byte.
pub(crate) fn topics_hash(topics: &[Arc<str>]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in topics
        .iter()
        .flat_map(|topic| topic.bytes().chain(std::iter::once(0)))
    {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn push_base36(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [0u8; 13];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = DIGITS[(n % 36) as usize];
        n /= 36;
        if n == 0 && buf.len() - at >= width {
            break;
        }
    }
    out.extend(buf[at..].iter().map(|&b| char::from(b)));
}

fn parse_base36(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 13 || !s.bytes().all(|b| DIGITS.contains(&b)) {
        return None;
    }
    u64::from_str_radix(s, 36).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|&name| name.into()).collect()
    }

    #[test]
    fn a_cursor_round_trips() {
        let hash = topics_hash(&topics(&["a", "b"]));
        let positions = [Position::new(1_733_390_000_123, 0), Position::new(0, 0)];
        let cursor = encode(hash, &positions);
        assert!(cursor.starts_with('~'));
        assert_eq!(cursor.matches('.').count(), 2);
        assert_eq!(decode(&cursor, hash, 2), Some(positions.to_vec()));
        let with_minor = [Position::new(5, 7), Position::new(u64::MAX, u64::MAX - 1)];
        let cursor = encode(hash, &with_minor);
        assert_eq!(decode(&cursor, hash, 2), Some(with_minor.to_vec()));
    }

    #[test]
    fn another_topic_set_or_a_damaged_cursor_is_refused() {
        let hash = topics_hash(&topics(&["a", "b"]));
        let other = topics_hash(&topics(&["a", "c"]));
        assert_ne!(hash, other);
        // The zero byte keeps ["ab"] apart from ["a", "b"].
        assert_ne!(hash, topics_hash(&topics(&["ab"])));
        let cursor = encode(hash, &[Position::new(1, 0), Position::new(2, 0)]);
        assert_eq!(decode(&cursor, other, 2), None);
        assert_eq!(decode(&cursor, hash, 3), None);
        for bad in [
            "",
            "~",
            "1-0",
            "~zzzzzzz",
            &cursor.replace('.', ".."),
            &cursor.to_uppercase(),
        ] {
            assert_eq!(decode(bad, hash, 2), None, "{bad:?}");
        }
        assert_eq!(decode(&format!("{cursor}-"), hash, 2), None);
    }

    #[test]
    fn sixty_four_redis_ids_fit_in_a_header() {
        let positions = vec![Position::new(1_733_390_000_123, 0); 64];
        assert_eq!(encode(1, &positions).len(), 8 + 64 * 9);
        let positions = vec![Position::new(1_733_390_000_123, 999); 64];
        assert!(encode(1, &positions).len() <= 800);
        // Positions no backend of this crate makes do not fit: the reset marker.
        let huge = vec![Position::new(u64::MAX, u64::MAX); 64];
        assert_eq!(encode(1, &huge), TOO_LONG);
        assert_eq!(decode(TOO_LONG, 1, 64), None);
    }
}
