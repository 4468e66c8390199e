//! Event ids over PostgreSQL: `<sequence>-<mark in hex>`, the sequence the topic's and
//! the mark a random number drawn for each event when it is stored.
//!
//! The mark is what makes an id name one event for good: a database restored from an
//! older dump, or created anew, numbers its topics' events again from where it stands,
//! but draws new marks, so an id given before the restore never matches an event after
//! it, and the chain check answers it with the reset event.

use crate::hub::{Position, remote::Marks};

/// The ids: `<sequence>-<mark in hex>`, the mark at most 40 bits.
pub(super) const IDS: Marks = Marks::new(16, (1 << 40) - 1);

/// The position of a row's sequence and mark (never negative when this crate wrote
/// them).
pub(super) fn position(sequence: i64, mark: i64) -> Position {
    Position::new(
        u64::try_from(sequence).unwrap_or(0),
        u64::try_from(mark).unwrap_or(0),
    )
}

/// Marks an escape in a topic as stored: PostgreSQL's text holds no NUL, which the
/// hub's own topics (revocations) start with.
const ESCAPE: char = '\u{ffff}';

/// `topic` as the database stores it: each NUL written `ESCAPE 0` and each `ESCAPE`
/// written `ESCAPE 1`; any other topic is stored as it is (and so named from SQL).
pub(super) fn stored_topic(topic: &str) -> std::borrow::Cow<'_, str> {
    if !topic.contains(['\0', ESCAPE]) {
        return topic.into();
    }
    let mut stored = String::with_capacity(topic.len() + 8);
    for c in topic.chars() {
        match c {
            '\0' => stored.extend([ESCAPE, '0']),
            ESCAPE => stored.extend([ESCAPE, '1']),
            c => stored.push(c),
        }
    }
    stored.into()
}

/// The topic stored as `stored` by [`stored_topic`]; `None` for a malformed one.
pub(super) fn topic_of_stored(stored: &str) -> Option<String> {
    let mut topic = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        topic.push(match c {
            ESCAPE => match chars.next()? {
                '0' => '\0',
                '1' => ESCAPE,
                _ => return None,
            },
            c => c,
        });
    }
    Some(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let at = Position::new(42, 0xab_cdef_0123);
        assert_eq!(IDS.id_of(at), "42-abcdef0123");
        assert_eq!(IDS.parse("42-abcdef0123"), Some(at));
        assert_eq!(IDS.parse("7-1"), Some(Position::new(7, 1)));
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-1-1",
            "1-A",
            "+1-0",
            "1 -0",
            "1-fffffffffff",
            "1-10000000000",
        ] {
            assert_eq!(IDS.parse(bad), None, "{bad:?}");
        }
        assert_eq!(position(3, 9), Position::new(3, 9));
        assert_eq!(position(-1, -1), Position::START);
    }

    #[test]
    fn topics_with_nul_are_stored_escaped_and_read_back() {
        for topic in ["room", "\0revoke:user:7", "a\u{ffff}0", "\0\0", "\u{ffff}"] {
            let stored = stored_topic(topic);
            assert!(!stored.contains('\0'), "{stored:?}");
            assert_eq!(topic_of_stored(&stored).as_deref(), Some(topic));
        }
        assert_eq!(stored_topic("room"), "room");
        assert_ne!(stored_topic("\0a"), stored_topic("\u{ffff}0a"));
        assert_eq!(topic_of_stored("a\u{ffff}"), None);
        assert_eq!(topic_of_stored("a\u{ffff}2"), None);
    }
}
