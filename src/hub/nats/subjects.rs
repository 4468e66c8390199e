//! How topics and events are laid out in NATS: a subject per topic, and each message
//! carrying the event's fields and the sequence of its topic's event before it.

use std::fmt::Write;

use async_nats::HeaderMap;

/// The header that records the stream sequence of the topic's previous event (`0` for
/// none): the chain that replay, catch-up and live delivery check.
pub(super) const PREVIOUS: &str = "Tower-Sse-Previous";

/// The subject names of one hub.
#[derive(Clone, Debug)]
pub(super) struct Subjects {
    pub(super) prefix: String,
}

impl Subjects {
    /// The subject of `topic`: `<prefix>.t.<topic in hex>`, a single token whatever
    /// bytes the topic has.
    pub(super) fn of(&self, topic: &str) -> String {
        let mut subject = format!("{}.t.", self.prefix);
        for byte in topic.bytes() {
            // Writing to a `String` cannot fail.
            let _ = write!(subject, "{byte:02x}");
        }
        subject
    }

    /// A subject of the stream that no topic has (`ping` is not hex): the heartbeat
    /// reads it.
    pub(super) fn probe(&self) -> String {
        format!("{}.t.ping", self.prefix)
    }

    /// A subject of the stream that no topic has: the stream's break record, the
    /// highest sequence its store was found gone back from.
    pub(super) fn breaks(&self) -> String {
        format!("{}.t.break", self.prefix)
    }

    /// What the stream captures: every topic's subject.
    pub(super) fn all(&self) -> String {
        format!("{}.t.>", self.prefix)
    }
}

/// The previous sequence a message records; `None` for a message this crate did not
/// write.
pub(super) fn previous_of(headers: Option<&HeaderMap>) -> Option<u64> {
    headers?.get(PREVIOUS)?.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_messages() {
        let subjects = Subjects {
            prefix: "p.q".into(),
        };
        assert_eq!(subjects.of("a.b *>"), "p.q.t.612e62202a3e");
        assert_eq!(subjects.all(), "p.q.t.>");
        assert_eq!(subjects.probe(), "p.q.t.ping");
        assert_eq!(subjects.breaks(), "p.q.t.break");
        let mut headers = HeaderMap::new();
        headers.insert(PREVIOUS, "17");
        assert_eq!(previous_of(Some(&headers)), Some(17));
        assert_eq!(previous_of(None), None);
    }
}
