//! An engine of one's own behind the public `Backend` trait: a small in-test backend
//! whose topics each have their own sequence (`IdScope::Topic`), served by a real server
//! and read by an independent client.
#![cfg(feature = "hub")]

use crate::common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{connect_events, eventually, hub_app, serve, within};
use futures_util::StreamExt;
use tower_sse::{
    Event, EventId,
    hub::{
        Engine, History, Hub, PublishError, Replay, SetupError, SubscribeError,
        backend::{Backend, BoxFuture, Delivery, Feed, IdScope, Position, Retained},
    },
};

/// Each topic's events, numbered from 1 within the topic; ids are those numbers. Keeps
/// the last `keep` events of a topic.
#[derive(Default)]
struct PerTopic {
    state: Mutex<HashMap<String, Vec<Delivery>>>,
    feed: Arc<Mutex<Option<Feed>>>,
    keep: usize,
    /// History reads asked for.
    reads: Arc<std::sync::atomic::AtomicUsize>,
    /// When set, each history read waits for a permit.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl PerTopic {
    fn new(keep: usize) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }
}

impl Engine for PerTopic {
    fn start(
        self,
        feed: Feed,
        _: History,
    ) -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>> {
        *self.feed.lock().unwrap() = Some(feed);
        Box::pin(async move { Ok(Box::new(self) as Box<dyn Backend>) })
    }
}

impl Backend for PerTopic {
    fn ids(&self) -> IdScope {
        IdScope::Topic
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        _id: Option<&'a str>,
        event: Event,
    ) -> BoxFuture<'a, Result<EventId, PublishError>> {
        let mut state = self.state.lock().unwrap();
        let log = state.entry(topic.to_owned()).or_default();
        let n = log.last().map_or(1, |d| d.position().parts().0 + 1);
        let id = n.to_string();
        let result = Delivery::new(Position::new(n, 0), &id, event)
            .map_err(PublishError::InvalidId)
            .and_then(|delivery| {
                let id = EventId::try_from(id).map_err(|err| PublishError::Backend(err.into()))?;
                log.push(delivery.clone());
                if log.len() > self.keep {
                    log.remove(0);
                }
                // Delivered under the lock, in order.
                if let Some(feed) = &*self.feed.lock().unwrap() {
                    feed.deliver(topic, delivery);
                }
                Ok(id)
            });
        Box::pin(std::future::ready(result))
    }

    fn locate(&self, id: &str) -> Option<Position> {
        id.parse().ok().map(|n| Position::new(n, 0))
    }

    fn watch<'a>(
        &'a self,
        topic: &'a str,
        _watcher: u64,
    ) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        let state = self.state.lock().unwrap();
        let head = state
            .get(topic)
            .and_then(|log| log.last())
            .map_or(Position::START, Delivery::position);
        Box::pin(std::future::ready(Ok(head)))
    }

    fn unwatch(&self, _topic: &str, _watcher: u64) {}

    fn replay<'a>(
        &'a self,
        topic: &'a str,
        after: Position,
        exact: bool,
    ) -> BoxFuture<'a, Result<Retained, SubscribeError>> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let gate = self.gate.clone();
        let state = self.state.lock().unwrap();
        let log = state.get(topic).map(Vec::as_slice).unwrap_or_default();
        let head = log.last().map_or(Position::START, Delivery::position);
        let oldest = log.first().map_or(Position::START, Delivery::position);
        let result = if exact && after > head {
            Retained::Unknown
        } else if exact && !log.is_empty() && after.parts().0 + 1 < oldest.parts().0 {
            Retained::Expired
        } else {
            Retained::Events(
                log.iter()
                    .filter(|d| d.position() > after)
                    .cloned()
                    .collect(),
            )
        };
        drop(state);
        Box::pin(async move {
            if let Some(gate) = gate {
                drop(gate.acquire().await.unwrap());
            }
            Ok(result)
        })
    }
}

/// The (id, data) of the next `n` events.
async fn take(
    events: &mut sse_stream::SseStream<hyper::body::Incoming>,
    n: usize,
) -> Vec<(String, String)> {
    common::take(events, n).await
}

#[tokio::test]
async fn a_backend_of_ones_own_serves_streams_and_resumes_them() {
    let hub = Hub::builder().build_with(PerTopic::new(100)).await.unwrap();
    let server = serve(hub_app(&hub)).await;

    // One topic: the backend's own ids, resumed through `locate`.
    let mut room = connect_events(server, "/", None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.stats().subscribers_of("room") == 1
    })
    .await;
    for text in ["a", "b", "c"] {
        hub.publish("room", Event::new().data(text)).await.unwrap();
    }
    let got = take(&mut room, 3).await;
    assert_eq!(got[0], ("1".to_owned(), "a".to_owned()));
    let mut resumed = connect_events(server, "/", Some("1")).await;
    assert_eq!(take(&mut resumed, 2).await, got[1..]);

    // Two topics with sequences of their own: cursors as ids, one position per topic.
    let uri = "/?topic=x&topic=y";
    let mut both = connect_events(server, uri, None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.stats().subscribers_of("y") == 1
    })
    .await;
    for (topic, text) in [("x", "x1"), ("y", "y1"), ("x", "x2"), ("y", "y2")] {
        hub.publish(topic, Event::new().data(text)).await.unwrap();
    }
    let seen = take(&mut both, 2).await;
    let cursor = seen[1].0.clone();
    assert!(cursor.starts_with('~'), "{cursor}");
    drop(both);
    hub.publish("y", Event::new().data("y3")).await.unwrap();
    let mut resumed = connect_events(server, uri, Some(&cursor)).await;
    let rest: Vec<String> = take(&mut resumed, 3)
        .await
        .into_iter()
        .map(|(_, data)| data)
        .collect();
    let mut all: Vec<String> = seen.into_iter().map(|(_, data)| data).collect();
    all.extend(rest);
    all.sort();
    assert_eq!(all, ["x1", "x2", "y1", "y2", "y3"], "each once");
}

#[tokio::test]
async fn what_the_backend_cannot_replay_resets_and_what_it_ends_ends() {
    let backend = PerTopic::new(2);
    let feed = backend.feed.clone();
    let hub = Hub::builder().build_with(backend).await.unwrap();
    for text in ["a", "b", "c", "d"] {
        hub.publish("room", Event::new().data(text)).await.unwrap();
    }
    let from = |id: &str| EventId::new(id).unwrap();
    // Kept: 3 and 4. After 2: exact; after 1: expired; after 9: unknown.
    let exact = hub
        .subscribe("room")
        .after(from("2").as_ref())
        .await
        .unwrap();
    assert_eq!(exact.replay(), Replay::Exact(2));
    for id in ["1", "9"] {
        let reset = hub
            .subscribe("room")
            .after(from(id).as_ref())
            .await
            .unwrap();
        assert_eq!(reset.replay(), Replay::Reset, "after {id}");
    }
    // A cursor for another set of topics resets too.
    let other = hub
        .subscribe(["room", "x"])
        .after(from("~0000000.1.1").as_ref())
        .await
        .unwrap();
    assert_eq!(other.replay(), Replay::Reset);
    drop((exact, other));

    // The backend ends a topic's streams (it lost track of the topic): they end, after
    // what they had queued, and new subscribers join as usual.
    let mut live = hub.subscribe("room").await.unwrap();
    hub.publish("room", Event::new().data("e")).await.unwrap();
    let feed = feed.lock().unwrap().clone().unwrap();
    assert_eq!(feed.end_topics(&["room".into()]), 1);
    let queued = within(Duration::from_secs(5), live.next()).await.unwrap();
    assert_eq!(queued.as_bytes(), &b"data: e\nid: 5\n\n"[..]);
    let end = within(Duration::from_secs(5), live.next()).await;
    assert_eq!(
        end.map(|end| end.len()),
        Some(0),
        "the empty item that says why"
    );
    assert!(live.next().await.is_none());
    assert!(!feed.is_closed());
    let again = hub.subscribe("room").await.unwrap();
    assert_eq!(again.replay(), Replay::Live);
}

/// A reconnect storm: hundreds of clients come back at once, each with its last id, while
/// a history read is slow. One read runs at a time per topic; the subscribers that come
/// meanwhile share the next, and each still gets exactly the events after its own id.
#[tokio::test]
async fn subscribers_resuming_at_once_share_one_history_read() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let backend = PerTopic {
        gate: Some(gate.clone()),
        ..PerTopic::new(1000)
    };
    let reads = backend.reads.clone();
    let hub = Hub::builder()
        .lag_bound(1024)
        .build_with(backend)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 1..=200 {
        let id = hub
            .publish("room", Event::new().data(n.to_string()))
            .await
            .unwrap();
        ids.push(id);
    }
    let mut clients = tokio::task::JoinSet::new();
    for k in 0..500 {
        let (hub, from) = (hub.clone(), ids[100 + k % 50].clone());
        clients.spawn(async move {
            let subscription = hub.subscribe("room").after(Some(&from)).await.unwrap();
            let seen: u64 = from.as_str().parse().unwrap();
            assert_eq!(subscription.replay(), Replay::Exact((200 - seen) as usize));
            let got: Vec<u64> = subscription
                .take((200 - seen) as usize)
                .map(|event| {
                    let text = String::from_utf8(event.into_bytes().to_vec()).unwrap();
                    let id = text.lines().find_map(|l| l.strip_prefix("id: "));
                    id.unwrap().parse::<u64>().unwrap()
                })
                .collect()
                .await;
            assert_eq!(got, (seen + 1..=200).collect::<Vec<_>>(), "from {seen}");
        });
    }
    // Every client has joined and waits for the history.
    eventually(Duration::from_secs(10), "500 subscribers waiting", || {
        hub.stats().subscribers_of("room") == 500
    })
    .await;
    gate.add_permits(10_000);
    within(Duration::from_secs(10), async {
        while let Some(client) = clients.join_next().await {
            client.unwrap();
        }
    })
    .await;
    // The first client's read, then one for the 499 that came while it ran.
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
}
