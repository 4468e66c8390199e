//! The chain check: each stored event records the position of its topic's event
//! before it, so a read after a position proves that nothing between is missing.

use crate::{
    BoxError, Event,
    hub::{Delivery, IdScope, Position, Replayed},
};

use super::engine::{Entry, Page, RemoteEngine};

/// What a topic's history holds after a position.
#[derive(Debug)]
pub(crate) enum After {
    /// Every retained event after it, in order, and the last position read.
    Events(Vec<Delivery>, Position),
    /// It cannot be read exactly ([`gap`] says why); the topic's head now.
    Broken(Replayed, Position),
}

/// Why the page read after `after` does not follow on from it, if it does not.
///
/// - a break recorded at or after `after`: unknown;
/// - no events after it: fine if the head is `after` (with ids ordered across topics,
///   [`IdScope::Hub`], at or before it: `after` may be another topic's event), unless
///   the page is [unproven](Page::unproven); if the head is another event, the events
///   after `after` left the history (expired) or `after` is not in it (unknown: ahead
///   of the head, or the same place with another event);
/// - events: the first must record `after` as its previous (with [`IdScope::Hub`], a
///   previous at or before it), and each next the one before it.
pub(crate) fn gap(page: &Page, after: Position, scope: IdScope) -> Option<Replayed> {
    if page.broken_at.is_some_and(|broken| after <= broken) {
        return Some(Replayed::Unknown);
    }
    let beyond = |at: Position| {
        if at.parts().0 <= after.parts().0 {
            Replayed::Unknown
        } else {
            Replayed::Expired
        }
    };
    let across = scope == IdScope::Hub;
    let follows = |at: Position| at == after || (across && at.parts().0 <= after.parts().0);
    let Some(first) = page.entries.first() else {
        if page.unproven {
            return Some(Replayed::Expired);
        }
        return (!follows(page.head)).then(|| beyond(page.head));
    };
    if !follows(first.previous) {
        return Some(beyond(first.previous));
    }
    let linked = page
        .entries
        .windows(2)
        .all(|pair| pair[1].previous == pair[0].position);
    (!linked).then_some(Replayed::Expired)
}

/// `topic`'s history after `after`, read page by page; with `exact`, every page must
/// follow on from the one before.
pub(crate) async fn read_after<E: RemoteEngine + ?Sized>(
    engine: &E,
    topic: &str,
    after: Position,
    exact: bool,
) -> Result<After, BoxError> {
    let limit = engine.page_size().max(1);
    let mut events = Vec::new();
    let mut from = after;
    loop {
        let page = engine.read(topic, from, limit).await?;
        if exact {
            if let Some(why) = gap(&page, from, engine.ids()) {
                return Ok(After::Broken(why, page.head));
            }
        }
        let full = page.entries.len() >= limit;
        for entry in page.entries {
            from = entry.position;
            if let Some(delivery) = delivery(engine, entry) {
                events.push(delivery);
            }
        }
        if !full {
            return Ok(After::Events(events, from));
        }
    }
}

/// The delivery of a stored entry; `None` (logged) for one whose fields are not an
/// event's.
pub(crate) fn delivery<E: RemoteEngine + ?Sized>(engine: &E, entry: Entry) -> Option<Delivery> {
    let Some(event) = Event::from_field_bytes(&entry.fields) else {
        tracing::error!(
            engine = engine.name(),
            "skipping a stored event that is not a tower-sse event"
        );
        return None;
    };
    Delivery::new(entry.position, &engine.id_of(entry.position), event).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: u64, mark: u64) -> Position {
        Position::new(n, mark)
    }

    fn page(head: Position, links: &[(Position, Position)]) -> Page {
        Page {
            head,
            entries: links
                .iter()
                .map(|&(previous, position)| Entry {
                    position,
                    previous,
                    fields: bytes::Bytes::new(),
                })
                .collect(),
            broken_at: None,
            unproven: false,
        }
    }

    /// The gap of a topic-scoped engine's page (Postgres, Redis).
    fn gap(page: &Page, after: Position) -> Option<Replayed> {
        super::gap(page, after, IdScope::Topic)
    }

    #[test]
    fn what_makes_a_history_incomplete() {
        let (a, b, c) = (at(1, 7), at(2, 9), at(3, 4));
        // Whole: from the start, from the middle, nothing new.
        assert!(
            gap(
                &page(c, &[(Position::START, a), (a, b), (b, c)]),
                Position::START
            )
            .is_none()
        );
        assert!(gap(&page(c, &[(b, c)]), b).is_none());
        assert!(gap(&page(c, &[]), c).is_none());
        assert!(gap(&page(Position::START, &[]), Position::START).is_none());
        // Trimmed: the first retained records a later previous; nothing left but a head.
        assert!(matches!(
            gap(&page(c, &[(b, c)]), a),
            Some(Replayed::Expired)
        ));
        assert!(matches!(gap(&page(c, &[]), a), Some(Replayed::Expired)));
        assert!(matches!(
            gap(&page(c, &[(b, c)]), Position::START),
            Some(Replayed::Expired)
        ));
        // A hole inside the page.
        assert!(matches!(
            gap(&page(c, &[(Position::START, a), (b, c)]), Position::START),
            Some(Replayed::Expired)
        ));
        // Ahead of the head (the store lost data), or the same place with another
        // event (a restore, then new events): unknown.
        assert!(matches!(gap(&page(b, &[]), c), Some(Replayed::Unknown)));
        assert!(matches!(
            gap(&page(at(3, 5), &[]), c),
            Some(Replayed::Unknown)
        ));
        assert!(matches!(
            gap(&page(at(4, 1), &[(at(3, 5), at(4, 1))]), c),
            Some(Replayed::Unknown)
        ));
        assert!(matches!(
            gap(&page(at(5, 1), &[(at(2, 2), at(3, 3))]), b),
            Some(Replayed::Unknown)
        ));
        // A break at or after the position.
        let mut broken = page(c, &[(b, c)]);
        broken.broken_at = Some(b);
        assert!(matches!(gap(&broken, b), Some(Replayed::Unknown)));
        assert!(gap(&page(c, &[]), c).is_none());
    }

    #[test]
    fn ids_ordered_across_topics_follow_on_from_another_topics_event() {
        let hub = |page: &Page, after| super::gap(page, after, IdScope::Hub);
        let e = 7;
        let (a, b, c) = (at(1, e), at(4, e), at(9, e));
        // `after` is another topic's event (6): a previous at or before it follows on.
        assert!(hub(&page(c, &[(a, b), (b, c)]), at(6, e)).is_none());
        assert!(hub(&page(b, &[]), at(6, e)).is_none());
        // A previous after it, or a head after it with nothing read: expired.
        assert!(matches!(
            hub(&page(c, &[(b, c)]), at(3, e)),
            Some(Replayed::Expired)
        ));
        assert!(matches!(
            hub(&page(c, &[]), at(6, e)),
            Some(Replayed::Expired)
        ));
        // Nothing read from a store that may have emptied the topic: expired.
        let mut unproven = page(a, &[]);
        unproven.unproven = true;
        assert!(matches!(hub(&unproven, at(6, e)), Some(Replayed::Expired)));
        // The topic scope wants the exact previous.
        assert!(matches!(
            gap(&page(c, &[(a, b), (b, c)]), at(6, e)),
            Some(Replayed::Unknown)
        ));
    }
}
