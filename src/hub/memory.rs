//! [`MemoryBackend`]: the history in this process's memory, delivered in `publish`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use crate::Event;

use super::{
    Delivery, EventId, Position, PublishError, SubscribeError,
    backend::{Backend, BoxFuture, Feed, IdScope, Replayed},
};

/// How much history each topic keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryLimits {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
}

struct Stored {
    id: Arc<str>,
    delivery: Delivery,
}

#[derive(Default)]
struct TopicLog {
    events: VecDeque<Stored>,
    bytes: usize,
    /// The id and position of the newest event that left the history.
    last_evicted: Option<(Arc<str>, Position)>,
}

#[derive(Default)]
struct State {
    next: u64,
    closed: bool,
    topics: HashMap<Arc<str>, TopicLog>,
    /// Every retained event's id, with its position.
    index: HashMap<Arc<str>, Position>,
    /// The id of each topic's newest evicted event, with its position.
    evicted: HashMap<Arc<str>, Position>,
}

/// The in-process backend: one sequence of ids across topics, history in memory,
/// delivery in `publish`.
pub(crate) struct MemoryBackend {
    state: Mutex<State>,
    feed: Option<Feed>,
    limits: HistoryLimits,
}

impl MemoryBackend {
    pub(crate) fn new(limits: HistoryLimits) -> Self {
        Self {
            state: Mutex::new(State {
                next: 1,
                ..State::default()
            }),
            feed: None,
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish_now(
        &self,
        topic: &str,
        id: Option<&str>,
        event: Event,
    ) -> Result<EventId, PublishError> {
        let mut state = self.lock();
        let state = &mut *state;
        // Checked under the lock that `shutdown` takes: no event slips past it.
        if state.closed {
            return Err(PublishError::ShuttingDown);
        }
        let position = Position::new(state.next, 0);
        let id: Arc<str> = match id {
            Some(id) if state.index.contains_key(id) || state.evicted.contains_key(id) => {
                return Err(PublishError::DuplicateId);
            }
            Some(id) => id.into(),
            None => itoa::Buffer::new().format(state.next).into(),
        };
        let delivery = Delivery::new(position, &id, event).map_err(PublishError::InvalidId)?;
        state.next += 1;

        let log = state.topics.entry(topic.into()).or_default();
        log.bytes += delivery.event().len();
        log.events.push_back(Stored {
            id: id.clone(),
            delivery: delivery.clone(),
        });
        evict(log, self.limits, &mut state.index, &mut state.evicted);
        if log
            .events
            .back()
            .is_some_and(|newest| newest.delivery.position() == position)
        {
            state.index.insert(id.clone(), position);
        }
        // Delivered under the lock, so deliveries are in position order, and a
        // subscriber that watched before reading the history sees each event in one of
        // the two (or both, and skips the copy).
        if let Some(feed) = &self.feed {
            feed.deliver(topic, delivery);
        }
        Ok(EventId::trusted(id))
    }

    fn replay_now(&self, topic: &str, after: Position, exact: bool) -> Replayed {
        let state = self.lock();
        let Some(log) = state.topics.get(topic) else {
            return Replayed::Events(Vec::new());
        };
        let evicted_after = log
            .last_evicted
            .as_ref()
            .is_some_and(|(_, position)| *position > after);
        if exact && evicted_after {
            return Replayed::Expired;
        }
        let start = log
            .events
            .partition_point(|stored| stored.delivery.position() <= after);
        Replayed::Events(
            log.events
                .range(start..)
                .map(|stored| stored.delivery.clone())
                .collect(),
        )
    }
}

/// Drops the oldest events of `log` past the limits, keeping the id of the newest one
/// that left (a client holding it is still owed nothing before it).
fn evict(
    log: &mut TopicLog,
    limits: HistoryLimits,
    index: &mut HashMap<Arc<str>, Position>,
    evicted: &mut HashMap<Arc<str>, Position>,
) {
    while log.events.len() > limits.events || (log.bytes > limits.bytes && !log.events.is_empty()) {
        let Some(old) = log.events.pop_front() else {
            break;
        };
        log.bytes -= old.delivery.event().len();
        index.remove(&old.id);
        if let Some((previous, _)) = &log.last_evicted {
            evicted.remove(previous);
        }
        let position = old.delivery.position();
        evicted.insert(old.id.clone(), position);
        log.last_evicted = Some((old.id, position));
    }
}

impl Backend for MemoryBackend {
    fn start(&mut self, feed: Feed) {
        self.feed = Some(feed);
    }

    fn ids(&self) -> IdScope {
        IdScope::Hub
    }

    fn name(&self) -> &'static str {
        "memory"
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        id: Option<&'a str>,
        event: Event,
    ) -> BoxFuture<'a, Result<EventId, PublishError>> {
        Box::pin(std::future::ready(self.publish_now(topic, id, event)))
    }

    fn locate(&self, id: &str) -> Option<Position> {
        let state = self.lock();
        state
            .index
            .get(id)
            .or_else(|| state.evicted.get(id))
            .copied()
    }

    fn head<'a>(&'a self, _topic: &'a str) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        let head = Position::new(self.lock().next - 1, 0);
        Box::pin(async move { Ok(head) })
    }

    fn watch<'a>(
        &'a self,
        _topic: &'a str,
        _watcher: u64,
    ) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        // Events are delivered under the lock: every one after this was not yet.
        let head = Position::new(self.lock().next - 1, 0);
        Box::pin(std::future::ready(Ok(head)))
    }

    fn unwatch(&self, _topic: &str, _watcher: u64) {}

    fn replay<'a>(
        &'a self,
        topic: &'a str,
        after: Position,
        exact: bool,
    ) -> BoxFuture<'a, Result<Replayed, SubscribeError>> {
        Box::pin(std::future::ready(Ok(self.replay_now(topic, after, exact))))
    }

    fn shutdown(&self) {
        self.lock().closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(events: usize, bytes: usize) -> MemoryBackend {
        MemoryBackend::new(HistoryLimits { events, bytes })
    }

    fn publish(backend: &MemoryBackend, topic: &str, data: &str) -> String {
        backend
            .publish_now(topic, None, Event::new().data(data))
            .unwrap()
            .to_string()
    }

    /// The ids replayed in `topic` after the event whose id is `after`.
    fn replayed(b: &MemoryBackend, topic: &str, after: &str) -> Result<Vec<String>, &'static str> {
        let Some(position) = b.locate(after) else {
            return Err("unknown");
        };
        ids(b.replay_now(topic, position, true))
    }

    fn ids(replayed: Replayed) -> Result<Vec<String>, &'static str> {
        match replayed {
            Replayed::Events(events) => Ok(events
                .iter()
                .map(|d| {
                    let text = std::str::from_utf8(d.event().as_bytes()).unwrap();
                    text.lines()
                        .find_map(|line| line.strip_prefix("id: "))
                        .unwrap()
                        .to_owned()
                })
                .collect()),
            Replayed::Expired => Err("expired"),
            Replayed::Unknown => Err("unknown"),
        }
    }

    #[test]
    fn ids_are_sequential_and_replay_is_exact() {
        let b = backend(100, 1 << 20);
        let ids: Vec<String> = (0..5).map(|n| publish(&b, "t", &n.to_string())).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5"]);
        assert_eq!(
            replayed(&b, "t", "2"),
            Ok(vec!["3".into(), "4".into(), "5".into()])
        );
        assert_eq!(replayed(&b, "t", "5"), Ok(vec![]));
        assert_eq!(replayed(&b, "t", "9"), Err("unknown"));
        assert_eq!(replayed(&b, "t", "x"), Err("unknown"));
    }

    #[test]
    fn history_boundary() {
        let b = backend(3, 1 << 20);
        for n in 0..6 {
            publish(&b, "t", &n.to_string());
        }
        // Retained: 4, 5, 6. Newest evicted: 3.
        assert_eq!(
            replayed(&b, "t", "3"),
            Ok(vec!["4".into(), "5".into(), "6".into()])
        );
        assert_eq!(replayed(&b, "t", "4"), Ok(vec!["5".into(), "6".into()]));
        assert_eq!(replayed(&b, "t", "2"), Err("unknown"));
        // Everything retained, for a client with no id that asks for the history.
        assert_eq!(
            ids(b.replay_now("t", Position::START, false)),
            Ok(vec!["4".into(), "5".into(), "6".into()])
        );
    }

    #[test]
    fn expired_in_another_topic_is_a_gap() {
        let b = backend(2, 1 << 20);
        publish(&b, "a", "a1"); // 1
        publish(&b, "b", "b1"); // 2
        publish(&b, "b", "b2"); // 3
        publish(&b, "b", "b3"); // 4: evicts 2 from b
        // The client saw 1; 2 is gone from b's history.
        assert_eq!(replayed(&b, "a", "1"), Ok(vec![]));
        assert_eq!(replayed(&b, "b", "1"), Err("expired"));
        // From 2 (b's newest evicted) all is there.
        assert_eq!(replayed(&b, "b", "2"), Ok(vec!["3".into(), "4".into()]));
    }

    #[test]
    fn byte_bound() {
        // "data: xxxxxxxx\nid: N\n\n" is 22 bytes for one-digit ids.
        let b = backend(100, 50);
        for _ in 0..5 {
            publish(&b, "t", "xxxxxxxx");
        }
        assert_eq!(replayed(&b, "t", "3"), Ok(vec!["4".into(), "5".into()]));
        assert_eq!(replayed(&b, "t", "2"), Err("unknown"));
    }

    #[test]
    fn user_ids() {
        let b = backend(10, 1 << 20);
        let id = b
            .publish_now("t", Some("msg-a"), Event::new().data("a"))
            .unwrap();
        assert_eq!(id.as_str(), "msg-a");
        publish(&b, "t", "b");
        assert!(matches!(
            b.publish_now("t", Some("msg-a"), Event::new()),
            Err(PublishError::DuplicateId)
        ));
        assert!(matches!(
            b.publish_now("t", Some("a\nb"), Event::new()),
            Err(PublishError::InvalidId(_))
        ));
        assert_eq!(replayed(&b, "t", "msg-a"), Ok(vec!["2".into()]));
    }
}
