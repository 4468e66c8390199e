//! [`MemoryBackend`]: the history in this process's memory, delivered in `publish`.

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, Hasher},
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::time::Instant;

use crate::Event;

use super::{
    super::{
        error::{PublishError, SubscribeError},
        history::History,
    },
    Backend, BoxFuture, Delivery, EventId, Feed, IdScope, Position, Retained,
};

struct Stored {
    id: Arc<str>,
    delivery: Delivery,
    at: Instant,
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
///
/// Its ids are `<sequence>-<epoch>`, the epoch drawn when the hub is built: a client
/// that resumes with an id of an earlier process (the server restarted) is not placed
/// in this one's sequence, and gets the reset event.
pub(crate) struct MemoryBackend {
    state: Mutex<State>,
    feed: Option<Feed>,
    limits: History,
    epoch: String,
}

impl MemoryBackend {
    pub(crate) fn new(limits: History, feed: Feed) -> Self {
        Self::with_epoch(limits, Some(feed), &epoch())
    }

    fn with_epoch(limits: History, feed: Option<Feed>, epoch: &str) -> Self {
        Self {
            state: Mutex::new(State {
                next: 1,
                ..State::default()
            }),
            feed,
            limits,
            epoch: epoch.to_owned(),
        }
    }

    fn new_id(&self, n: u64) -> Arc<str> {
        let mut id = String::with_capacity(24);
        id.push_str(itoa::Buffer::new().format(n));
        id.push('-');
        id.push_str(&self.epoch);
        id.into()
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
            None => self.new_id(state.next),
        };
        let delivery = Delivery::new(position, &id, event).map_err(PublishError::InvalidId)?;
        state.next += 1;

        let log = state.topics.entry(topic.into()).or_default();
        log.bytes += delivery.event().len();
        let now = Instant::now();
        log.events.push_back(Stored {
            id: id.clone(),
            delivery: delivery.clone(),
            at: now,
        });
        evict(log, self.limits, now, &mut state.index, &mut state.evicted);
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

    fn replay_now(&self, topic: &str, after: Position, exact: bool) -> Retained {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(log) = state.topics.get_mut(topic) else {
            return Retained::Events(Vec::new());
        };
        // Events past the age bound leave now, whether or not the topic was published to.
        evict(
            log,
            self.limits,
            Instant::now(),
            &mut state.index,
            &mut state.evicted,
        );
        let evicted_after = log
            .last_evicted
            .as_ref()
            .is_some_and(|(_, position)| *position > after);
        if exact && evicted_after {
            return Retained::Expired;
        }
        let start = log
            .events
            .partition_point(|stored| stored.delivery.position() <= after);
        Retained::Events(
            log.events
                .range(start..)
                .map(|stored| stored.delivery.clone())
                .collect(),
        )
    }
}

/// A new epoch for a hub's ids: 8 base-36 digits, random for every hub built.
fn epoch() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    let mut n = hasher.finish() % 36u64.pow(8);
    let mut digits = [b'0'; 8];
    for digit in digits.iter_mut().rev() {
        *digit = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// Whether the oldest event of `log` is past a bound of `limits`.
fn over(log: &TopicLog, limits: History, now: Instant) -> bool {
    let Some(oldest) = log.events.front() else {
        return false;
    };
    log.events.len() > limits.event_limit()
        || limits.byte_limit().is_some_and(|bytes| log.bytes > bytes)
        || limits
            .age_limit()
            .is_some_and(|age| now.saturating_duration_since(oldest.at) > age)
}

/// Drops the oldest events of `log` past the limits, keeping the id of the newest one
/// that left (a client holding it is still owed nothing before it).
fn evict(
    log: &mut TopicLog,
    limits: History,
    now: Instant,
    index: &mut HashMap<Arc<str>, Position>,
    evicted: &mut HashMap<Arc<str>, Position>,
) {
    while over(log, limits, now) {
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
    ) -> BoxFuture<'a, Result<Retained, SubscribeError>> {
        Box::pin(std::future::ready(Ok(self.replay_now(topic, after, exact))))
    }

    fn shutdown(&self) {
        self.lock().closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend whose ids are `<n>-e`, written `<n>` in these tests.
    fn backend(events: usize, bytes: usize) -> MemoryBackend {
        let limits = History::new().events(events).bytes(Some(bytes));
        MemoryBackend::with_epoch(limits, None, "e")
    }

    fn publish(backend: &MemoryBackend, topic: &str, data: &str) -> String {
        let id = backend
            .publish_now(topic, None, Event::new().data(data))
            .unwrap()
            .to_string();
        id.strip_suffix("-e").unwrap().to_owned()
    }

    /// The ids replayed in `topic` after the event whose id is `after`.
    fn replayed(b: &MemoryBackend, topic: &str, after: &str) -> Result<Vec<String>, &'static str> {
        let full = if after.bytes().all(|b| b.is_ascii_digit()) {
            format!("{after}-e")
        } else {
            after.to_owned()
        };
        let Some(position) = b.locate(&full) else {
            return Err("unknown");
        };
        ids(b.replay_now(topic, position, true))
    }

    fn ids(replayed: Retained) -> Result<Vec<String>, &'static str> {
        match replayed {
            Retained::Events(events) => Ok(events
                .iter()
                .map(|d| {
                    let text = std::str::from_utf8(d.event().as_bytes()).unwrap();
                    text.lines()
                        .find_map(|line| line.strip_prefix("id: "))
                        .unwrap()
                        .trim_end_matches("-e")
                        .to_owned()
                })
                .collect()),
            Retained::Expired => Err("expired"),
            Retained::Unknown => Err("unknown"),
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
    fn another_epochs_ids_are_unknown() {
        let b = backend(100, 1 << 20);
        publish(&b, "t", "a");
        publish(&b, "t", "b");
        // The same sequence numbers from a hub before a restart.
        assert_eq!(b.locate("1-f"), None);
        assert_eq!(b.locate("1"), None);
        assert!(b.locate("1-e").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn age_bound() {
        let limits = History::new().max_age(Some(std::time::Duration::from_secs(10)));
        let b = MemoryBackend::with_epoch(limits, None, "e");
        publish(&b, "t", "old");
        tokio::time::advance(std::time::Duration::from_secs(6)).await;
        publish(&b, "t", "newer");
        tokio::time::advance(std::time::Duration::from_secs(6)).await;
        // 1 is 12 s old: gone, though nothing was published since.
        assert_eq!(replayed(&b, "t", "1"), Ok(vec!["2".into()]));
        assert_eq!(replayed(&b, "t", "2"), Ok(vec![]));
        tokio::time::advance(std::time::Duration::from_secs(6)).await;
        // 2 has left too; the id before it is no longer known.
        assert_eq!(replayed(&b, "t", "2"), Ok(vec![]));
        assert_eq!(replayed(&b, "t", "1"), Err("unknown"));
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
