//! Reading a topic's history from the stream, checking its chain: every message
//! records the sequence of its topic's message before it, so a read knows whether it
//! has everything after a position.

use crate::{
    BoxError,
    hub::{Delivery, Replayed},
};

use super::{
    store::{Snapshot, Store},
    subjects::{delivery, previous_of},
};

/// What a topic's history holds after a sequence.
#[derive(Debug)]
pub(super) enum After {
    /// Every retained event after it, in order.
    Events(Vec<Delivery>),
    /// It cannot be read exactly: events after it are gone, or it is ahead of the
    /// stream.
    Broken(Replayed),
}

/// The messages of `subject` after `after`, up to the stream's last sequence in `now`.
/// With `exact`, each must follow on from the one before, the first from at most
/// `after`; without, whatever is retained.
pub(super) async fn read_after(
    store: &Store,
    subject: &str,
    after: u64,
    now: Snapshot,
    exact: bool,
) -> Result<After, BoxError> {
    if exact && after > now.last {
        // Ahead of the stream: the server lost events this client saw.
        return Ok(After::Broken(Replayed::Unknown));
    }
    let mut events = Vec::new();
    let mut previous = after;
    let mut from = after + 1;
    while from <= now.last {
        let Some(message) = store.next_of(subject, from).await? else {
            break;
        };
        if message.sequence > now.last {
            break;
        }
        from = message.sequence + 1;
        let recorded = previous_of(Some(&message.headers));
        let decoded = delivery(message.sequence, now.epoch, &message.payload);
        let follows = match recorded {
            Some(recorded) if events.is_empty() && previous == after => recorded <= after,
            Some(recorded) => recorded == previous,
            None => false,
        };
        match decoded {
            Some(delivery) if follows || !exact => events.push(delivery),
            // Not one of this crate's, or a link missing: events after `after` are gone.
            _ if exact => return Ok(After::Broken(Replayed::Expired)),
            _ => {}
        }
        previous = message.sequence;
    }
    if exact && events.is_empty() && store.bounded_by_time_or_size && after + 1 < now.first {
        // Events leave the stream by age or size too, so the topic may have had some
        // after `after` that are all gone: nothing proves otherwise.
        return Ok(After::Broken(Replayed::Expired));
    }
    Ok(After::Events(events))
}
