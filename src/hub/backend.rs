//! Where published events are stored, and how they reach the local fan-out.
//!
//! The hub talks to its storage through [`Backend`]: it assigns each event its key and id,
//! keeps the bounded history, hands every event to the [`Fanout`] in key order, and
//! answers replay queries. [`MemoryBackend`] does all of it in this process under one
//! lock. A backend shared by several processes (Redis Streams) implements the same trait,
//! delivering from its reader task instead of from `publish`.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::{EncodedEvent, Event};

use super::{PublishError, SubscribeError, fanout::Fanout};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An event's place in the hub's total order of events, across all topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key(pub(crate) u64, pub(crate) u64);

impl Key {
    /// After every event: the key of the shutdown event.
    pub(crate) const MAX: Key = Key(u64::MAX, u64::MAX);
}

/// An encoded event (its `id:` included) with its key, as the fan-out carries it.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) key: Key,
    pub(crate) event: EncodedEvent,
}

/// The answer to a replay query.
#[derive(Debug)]
pub(crate) enum Replayed {
    /// Every retained event after the client's last one, in key order; `after` is the key
    /// of the client's last event.
    Events { after: Key, events: Vec<Delivery> },
    /// The id is unknown, or events after it have left the history: an exact replay is
    /// not possible.
    Gap(Gap),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gap {
    UnknownId,
    Expired,
}

pub(crate) trait Backend: Send + Sync + 'static {
    /// Stores `event` in `topic`, with the hub-assigned id when `id` is `None`, delivers
    /// it to the fan-out and returns its id.
    fn publish<'a>(
        &'a self,
        topic: Arc<str>,
        id: Option<Arc<str>>,
        event: Event,
    ) -> BoxFuture<'a, Result<Arc<str>, PublishError>>;

    /// Stops taking events, sends `last` (if any) to the fan-out and closes it; an event
    /// published at the same time is either delivered before `last` or refused.
    fn shutdown(&self, last: Option<Delivery>);

    /// The retained events of `topics` after the event whose id is `after`, or all of
    /// them for `None`.
    fn replay<'a>(
        &'a self,
        topics: &'a [Arc<str>],
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Replayed, SubscribeError>>;
}

/// How much history each topic keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryLimits {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
}

struct Stored {
    key: Key,
    id: Arc<str>,
    event: EncodedEvent,
}

#[derive(Default)]
struct TopicLog {
    events: VecDeque<Stored>,
    bytes: usize,
    /// The id and key of the newest event that left the history.
    last_evicted: Option<(Arc<str>, Key)>,
}

#[derive(Default)]
struct State {
    next: u64,
    topics: HashMap<Arc<str>, TopicLog>,
    /// Every retained event's id, with its topic and key.
    index: HashMap<Arc<str>, (Arc<str>, Key)>,
    /// The id of each topic's newest evicted event, with its key.
    evicted: HashMap<Arc<str>, Key>,
}

/// The in-process backend: history in memory, delivery in `publish`.
pub(crate) struct MemoryBackend {
    state: Mutex<State>,
    fanout: Arc<Fanout>,
    limits: HistoryLimits,
}

impl MemoryBackend {
    pub(crate) fn new(fanout: Arc<Fanout>, limits: HistoryLimits) -> Self {
        Self {
            state: Mutex::new(State {
                next: 1,
                ..State::default()
            }),
            fanout,
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
        topic: Arc<str>,
        id: Option<Arc<str>>,
        event: Event,
    ) -> Result<Arc<str>, PublishError> {
        let mut state = self.lock();
        let state = &mut *state;
        // Checked under the lock that `shutdown` takes: no event slips past it.
        if self.fanout.is_closed() {
            return Err(PublishError::ShuttingDown);
        }
        let key = Key(state.next, 0);
        let id = match id {
            Some(id) => {
                if state.index.contains_key(&id) || state.evicted.contains_key(&id) {
                    return Err(PublishError::DuplicateId);
                }
                id
            }
            None => {
                let mut digits = itoa::Buffer::new();
                Arc::from(digits.format(key.0))
            }
        };
        let event = event.id(&*id).map_err(PublishError::InvalidId)?.encode();
        state.next += 1;

        let log = state.topics.entry(topic.clone()).or_default();
        log.bytes += event.len();
        log.events.push_back(Stored {
            key,
            id: id.clone(),
            event: event.clone(),
        });
        while log.events.len() > self.limits.events
            || (log.bytes > self.limits.bytes && !log.events.is_empty())
        {
            let Some(old) = log.events.pop_front() else {
                break;
            };
            log.bytes -= old.event.len();
            state.index.remove(&old.id);
            if let Some((previous, _)) = &log.last_evicted {
                state.evicted.remove(previous);
            }
            state.evicted.insert(old.id.clone(), old.key);
            log.last_evicted = Some((old.id, old.key));
        }
        if log.events.back().is_some_and(|newest| newest.key == key) {
            state.index.insert(id.clone(), (topic.clone(), key));
        }
        // Delivered under the lock, so deliveries are in key order, and a subscriber
        // that joined the fan-out before reading the history sees each event in one of
        // the two (or both, and skips the copy).
        self.fanout.deliver(&topic, Delivery { key, event });
        Ok(id)
    }

    fn replay_now(&self, topics: &[Arc<str>], after: Option<&str>) -> Replayed {
        let state = self.lock();
        let position = match after {
            // Everything retained: the client asked for no more than that.
            None => Some(Key(0, 0)),
            Some(after) => state
                .index
                .get(after)
                .map(|&(_, key)| key)
                .or_else(|| state.evicted.get(after).copied()),
        };
        let Some(position) = position else {
            return Replayed::Gap(Gap::UnknownId);
        };
        let exact = after.is_some();
        let after = position;
        let mut events = Vec::new();
        for topic in topics {
            let Some(log) = state.topics.get(topic) else {
                continue;
            };
            let evicted_after = log
                .last_evicted
                .as_ref()
                .is_some_and(|(_, key)| *key > after);
            if exact && evicted_after {
                return Replayed::Gap(Gap::Expired);
            }
            let start = log.events.partition_point(|stored| stored.key <= after);
            events.extend(log.events.range(start..).map(|stored| Delivery {
                key: stored.key,
                event: stored.event.clone(),
            }));
        }
        if topics.len() > 1 {
            events.sort_by_key(|delivery| delivery.key);
        }
        Replayed::Events { after, events }
    }
}

impl Backend for MemoryBackend {
    fn shutdown(&self, last: Option<Delivery>) {
        let _state = self.lock();
        self.fanout.close(last);
    }

    fn publish<'a>(
        &'a self,
        topic: Arc<str>,
        id: Option<Arc<str>>,
        event: Event,
    ) -> BoxFuture<'a, Result<Arc<str>, PublishError>> {
        let result = self.publish_now(topic, id, event);
        Box::pin(std::future::ready(result))
    }

    fn replay<'a>(
        &'a self,
        topics: &'a [Arc<str>],
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Replayed, SubscribeError>> {
        let result = self.replay_now(topics, after);
        Box::pin(std::future::ready(Ok(result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(events: usize, bytes: usize) -> MemoryBackend {
        MemoryBackend::new(Arc::new(Fanout::new(16)), HistoryLimits { events, bytes })
    }

    fn publish(backend: &MemoryBackend, topic: &str, data: &str) -> String {
        backend
            .publish_now(topic.into(), None, Event::new().data(data))
            .unwrap()
            .to_string()
    }

    fn replayed_ids(replayed: Replayed) -> Result<Vec<String>, Gap> {
        match replayed {
            Replayed::Events { events, .. } => Ok(events
                .iter()
                .map(|d| {
                    let text = std::str::from_utf8(d.event.as_bytes()).unwrap();
                    text.lines()
                        .find_map(|line| line.strip_prefix("id: "))
                        .unwrap()
                        .to_owned()
                })
                .collect()),
            Replayed::Gap(gap) => Err(gap),
        }
    }

    #[test]
    fn ids_are_sequential_and_replay_is_exact() {
        let b = backend(100, 1 << 20);
        let ids: Vec<String> = (0..5).map(|n| publish(&b, "t", &n.to_string())).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5"]);
        assert_eq!(
            replayed_ids(b.replay_now(&["t".into()], Some("2"))),
            Ok(vec!["3".into(), "4".into(), "5".into()])
        );
        assert_eq!(
            replayed_ids(b.replay_now(&["t".into()], Some("5"))),
            Ok(vec![])
        );
        assert_eq!(
            replayed_ids(b.replay_now(&["t".into()], Some("9"))),
            Err(Gap::UnknownId)
        );
        assert_eq!(
            replayed_ids(b.replay_now(&["t".into()], Some("x"))),
            Err(Gap::UnknownId)
        );
    }

    #[test]
    fn history_boundary() {
        let b = backend(3, 1 << 20);
        for n in 0..6 {
            publish(&b, "t", &n.to_string());
        }
        // Retained: 4, 5, 6. Newest evicted: 3.
        let t: Vec<Arc<str>> = vec!["t".into()];
        assert_eq!(
            replayed_ids(b.replay_now(&t, Some("3"))),
            Ok(vec!["4".into(), "5".into(), "6".into()])
        );
        assert_eq!(
            replayed_ids(b.replay_now(&t, Some("4"))),
            Ok(vec!["5".into(), "6".into()])
        );
        assert_eq!(
            replayed_ids(b.replay_now(&t, Some("2"))),
            Err(Gap::UnknownId)
        );
        // Everything retained, for a client with no id that asks for the history.
        assert_eq!(
            replayed_ids(b.replay_now(&t, None)),
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
        let both: Vec<Arc<str>> = vec!["a".into(), "b".into()];
        // The client saw 1; 2 is gone from b's history.
        assert_eq!(
            replayed_ids(b.replay_now(&both, Some("1"))),
            Err(Gap::Expired)
        );
        // From 2 (b's newest evicted) all is there.
        assert_eq!(
            replayed_ids(b.replay_now(&both, Some("2"))),
            Ok(vec!["3".into(), "4".into()])
        );
    }

    #[test]
    fn several_topics_merge_in_publish_order() {
        let b = backend(10, 1 << 20);
        for (topic, data) in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("b", "5")] {
            publish(&b, topic, data);
        }
        let ab: Vec<Arc<str>> = vec!["b".into(), "a".into()];
        assert_eq!(
            replayed_ids(b.replay_now(&ab, Some("1"))),
            Ok(vec!["2".into(), "3".into(), "5".into()])
        );
    }

    #[test]
    fn byte_bound() {
        // "data: xxxxxxxx\nid: N\n\n" is 22 bytes for one-digit ids.
        let b = backend(100, 50);
        for _ in 0..5 {
            publish(&b, "t", "xxxxxxxx");
        }
        let t: Vec<Arc<str>> = vec!["t".into()];
        assert_eq!(
            replayed_ids(b.replay_now(&t, Some("3"))),
            Ok(vec!["4".into(), "5".into()])
        );
        assert_eq!(
            replayed_ids(b.replay_now(&t, Some("2"))),
            Err(Gap::UnknownId)
        );
    }

    #[test]
    fn user_ids() {
        let b = backend(10, 1 << 20);
        let id = b
            .publish_now("t".into(), Some("msg-a".into()), Event::new().data("a"))
            .unwrap();
        assert_eq!(&*id, "msg-a");
        publish(&b, "t", "b");
        assert!(matches!(
            b.publish_now("t".into(), Some("msg-a".into()), Event::new()),
            Err(PublishError::DuplicateId)
        ));
        assert!(matches!(
            b.publish_now("t".into(), Some("a\nb".into()), Event::new()),
            Err(PublishError::InvalidId(_))
        ));
        let t: Vec<Arc<str>> = vec!["t".into()];
        assert_eq!(
            replayed_ids(b.replay_now(&t, Some("msg-a"))),
            Ok(vec!["2".into()])
        );
    }
}
