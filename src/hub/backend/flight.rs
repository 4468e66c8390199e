//! Single flight: subscribers that resume a topic at the same moment share one history
//! read. After a deploy or a network blip every client comes back within its retry
//! time, most from nearby positions; without it, each would read the topic's history on
//! its own, and a shared engine would time out under thousands of identical reads.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::OnceCell;

use super::{super::error::SubscribeError, Backend, Delivery, Position, Retained};

/// The history reads of each topic: one runs at a time, and the subscribers that come
/// while it runs wait together for the next, which reads once for all of them.
#[derive(Default)]
pub(crate) struct Flights {
    topics: Mutex<HashMap<Arc<str>, Reads>>,
}

/// A topic's reads: the gate only one read holds at a time, and the read that waits for
/// it (by exactness), still taking subscribers.
struct Reads {
    gate: Arc<tokio::sync::Mutex<()>>,
    next: [Option<Arc<Flight>>; 2],
}

/// One history read of a topic, after the lowest position of its subscribers.
struct Flight {
    /// Lowered by each subscriber that boards it, until it starts.
    after: Mutex<Position>,
    exact: bool,
    outcome: OnceCell<(Position, Outcome)>,
}

#[derive(Clone)]
enum Outcome {
    Events(Arc<[Delivery]>),
    Expired,
    Unknown,
    Failed(Arc<str>),
}

impl Flights {
    /// The retained events of `topic` after `after`, as [`Backend::replay`] answers,
    /// from a read that starts after this call (so it holds every event published
    /// before) and is shared with the other subscribers waiting for it.
    pub(crate) async fn replay(
        &self,
        backend: &dyn Backend,
        topic: &Arc<str>,
        after: Position,
        exact: bool,
    ) -> Result<Retained, SubscribeError> {
        let (flight, gate) = self.board(topic, after, exact);
        let (read_after, outcome) = flight
            .outcome
            .get_or_init(|| async {
                let _one_at_a_time = gate.lock().await;
                let read_after = self.take_off(topic, &flight);
                let outcome = read(backend, topic, read_after, exact).await;
                self.land(topic, &gate);
                (read_after, outcome)
            })
            .await
            .clone();
        match slice(outcome, read_after, after) {
            Some(answer) => answer,
            // The read does not hold this subscriber's position: it cannot tell.
            None => backend.replay(topic, after, exact).await,
        }
    }

    /// The read to wait for: the topic's next one, which this subscriber lowers to its
    /// position, or a new one.
    fn board(
        &self,
        topic: &Arc<str>,
        after: Position,
        exact: bool,
    ) -> (Arc<Flight>, Arc<tokio::sync::Mutex<()>>) {
        let mut topics = lock(&self.topics);
        let reads = topics.entry(topic.clone()).or_insert_with(|| Reads {
            gate: Arc::default(),
            next: [None, None],
        });
        let gate = reads.gate.clone();
        let next = &mut reads.next[usize::from(exact)];
        if let Some(flight) = next {
            let mut lowest = lock(&flight.after);
            // A read of the whole history serves only those that asked for it.
            if exact {
                *lowest = (*lowest).min(after);
            }
            drop(lowest);
            return (flight.clone(), gate);
        }
        let flight = Arc::new(Flight {
            after: Mutex::new(after),
            exact,
            outcome: OnceCell::new(),
        });
        *next = Some(flight.clone());
        (flight, gate)
    }

    /// Starts `flight`: no one boards it any more. Returns where it reads from.
    fn take_off(&self, topic: &Arc<str>, flight: &Arc<Flight>) -> Position {
        let mut topics = lock(&self.topics);
        if let Some(reads) = topics.get_mut(topic) {
            let next = &mut reads.next[usize::from(flight.exact)];
            if next.as_ref().is_some_and(|next| Arc::ptr_eq(next, flight)) {
                *next = None;
            }
        }
        *lock(&flight.after)
    }

    /// A read has ended: forget the topic when nothing waits.
    fn land(&self, topic: &Arc<str>, gate: &Arc<tokio::sync::Mutex<()>>) {
        let mut topics = lock(&self.topics);
        let idle = topics.get(topic).is_some_and(|reads| {
            Arc::ptr_eq(&reads.gate, gate) && reads.next.iter().all(Option::is_none)
        });
        if idle {
            topics.remove(topic);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn read(backend: &dyn Backend, topic: &str, after: Position, exact: bool) -> Outcome {
    match backend.replay(topic, after, exact).await {
        Ok(Retained::Events(events)) => Outcome::Events(events.into()),
        Ok(Retained::Expired) => Outcome::Expired,
        Ok(Retained::Unknown) => Outcome::Unknown,
        Err(err) => Outcome::Failed(err.to_string().into()),
    }
}

/// The answer for a subscriber after `after`, from a read after `read_after`; `None`
/// when the read cannot tell (an event it does not hold).
fn slice(
    outcome: Outcome,
    read_after: Position,
    after: Position,
) -> Option<Result<Retained, SubscribeError>> {
    match outcome {
        Outcome::Failed(why) => Some(Err(SubscribeError::Backend(why.to_string().into()))),
        _ if read_after != after && !matches!(outcome, Outcome::Events(_)) => None,
        Outcome::Expired => Some(Ok(Retained::Expired)),
        Outcome::Unknown => Some(Ok(Retained::Unknown)),
        Outcome::Events(events) if read_after == after => {
            Some(Ok(Retained::Events(events.to_vec())))
        }
        Outcome::Events(events) => {
            // Exact from `after` only if the read holds the event at `after` itself.
            let at = events.iter().position(|d| d.position() == after)?;
            Some(Ok(Retained::Events(events[at + 1..].to_vec())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn delivery(n: u64) -> Delivery {
        Delivery::new(Position::new(n, 0), &n.to_string(), Event::new().data("x")).unwrap()
    }

    fn positions(answer: Option<Result<Retained, SubscribeError>>) -> Option<Vec<u64>> {
        match answer? {
            Ok(Retained::Events(events)) => {
                Some(events.iter().map(|d| d.position().parts().0).collect())
            }
            _ => None,
        }
    }

    #[test]
    fn a_read_serves_later_positions_it_holds() {
        let events: Arc<[Delivery]> = (4..=8).map(delivery).collect();
        let outcome = || Outcome::Events(events.clone());
        let at = |n| Position::new(n, 0);
        assert_eq!(
            positions(slice(outcome(), at(3), at(3))),
            Some(vec![4, 5, 6, 7, 8])
        );
        assert_eq!(positions(slice(outcome(), at(3), at(6))), Some(vec![7, 8]));
        assert_eq!(positions(slice(outcome(), at(3), at(8))), Some(vec![]));
        // Ahead of what was read, or a position it does not hold: it cannot tell.
        assert_eq!(positions(slice(outcome(), at(3), at(9))), None);
        assert!(slice(Outcome::Expired, at(3), at(6)).is_none());
        assert!(matches!(
            slice(Outcome::Expired, at(3), at(3)),
            Some(Ok(Retained::Expired))
        ));
    }
}
