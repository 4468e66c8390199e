//! The broadcast hub, seen from outside: real servers on 127.0.0.1:0, real clients, and
//! the hub's own streams where the property is about the stream itself.
#![cfg(feature = "hub")]

use crate::common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use common::{
    body_bytes, connect_events, eventually, get as request, hub_app, send, serve, within,
};
use futures_util::StreamExt;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower_sse::{
    Event, EventId, Shutdown, SseLayer,
    hub::{History, Hub, LagPolicy, PublishError, Replay, SubscriberChange, Subscription},
};

/// The next `n` events: (type, id, data).
async fn take(
    events: &mut sse_stream::SseStream<Incoming>,
    n: usize,
) -> Vec<(Option<String>, Option<String>, Option<String>)> {
    let events = common::next_events(events, n).await;
    events
        .into_iter()
        .map(|e| (e.event, e.id, e.data))
        .collect()
}

fn ids(events: &[(Option<String>, Option<String>, Option<String>)]) -> Vec<u64> {
    events
        .iter()
        .map(|(_, id, _)| sequence(id.as_deref().unwrap()))
        .collect()
}

/// The sequence number of an id the hub gave (`<sequence>-<epoch>`).
fn sequence(id: &str) -> u64 {
    id.split_once('-').unwrap().0.parse().unwrap()
}

/// Publishes `message <n>` for each `n`, and returns the ids.
async fn publish_n(hub: &Hub, topic: &str, range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    let mut ids = Vec::new();
    for n in range {
        let id = hub
            .publish(topic, Event::new().data(format!("message {n}")))
            .await
            .unwrap();
        ids.push(id.to_string());
    }
    ids
}

#[tokio::test]
async fn exact_replay_after_last_event_id() {
    let hub = Hub::new();
    let addr = serve(hub_app(&hub)).await;
    let sent = publish_n(&hub, "room", 1..=10).await;

    let mut events = connect_events(addr, "/", Some(&sent[3])).await;
    let replayed = take(&mut events, 6).await;
    assert_eq!(ids(&replayed), [5, 6, 7, 8, 9, 10]);
    assert_eq!(replayed[0].2.as_deref(), Some("message 5"));

    publish_n(&hub, "room", 11..=12).await;
    assert_eq!(ids(&take(&mut events, 2).await), [11, 12]);

    // Without an id, only live events.
    let mut fresh = connect_events(addr, "/", None).await;
    eventually(Duration::from_secs(5), "second subscriber joined", || {
        hub.stats().subscribers_of("room") == 2
    })
    .await;
    publish_n(&hub, "room", 13..=13).await;
    assert_eq!(ids(&take(&mut fresh, 1).await), [13]);
    assert_eq!(ids(&take(&mut events, 1).await), [13]);
}

#[tokio::test]
async fn replay_across_the_history_boundary() {
    let hub = Hub::builder()
        .history(History::new().events(5).bytes(Some(1 << 20)))
        .build();
    let addr = serve(hub_app(&hub)).await;
    let sent = publish_n(&hub, "room", 1..=10).await;
    // Retained: 6..=10; 5 is the newest that left.

    let mut events = connect_events(addr, "/", Some(&sent[4])).await;
    assert_eq!(ids(&take(&mut events, 5).await), [6, 7, 8, 9, 10]);

    let epoch = sent[0].split_once('-').unwrap().1;
    let ahead = format!("99-{epoch}");
    // Gone, gone, never an id, ahead of the hub, and ids of an earlier process (the
    // same sequence numbers with another epoch, or none).
    for stale in [&sent[3], &sent[0], "not-an-id", &ahead, "7", "7-zzzzzzzz"] {
        let mut events = connect_events(addr, "/", Some(stale)).await;
        let first = take(&mut events, 1).await;
        assert_eq!(
            first,
            [(Some("reset".into()), None, Some(String::new()))],
            "Last-Event-ID {stale}"
        );
        drop(events);
    }

    // After a reset, live events follow.
    let mut events = connect_events(addr, "/", Some(&sent[1])).await;
    assert_eq!(take(&mut events, 1).await[0].0.as_deref(), Some("reset"));
    publish_n(&hub, "room", 11..=11).await;
    assert_eq!(ids(&take(&mut events, 1).await), [11]);
}

/// Publishes 3000 events to `t`, yielding now and then to let subscribers join.
async fn publish_3000(hub: Hub) {
    for n in 1..=3000u64 {
        hub.publish("t", Event::new().data(n.to_string()))
            .await
            .unwrap();
        if n % 10 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_missed_or_repeated_while_clients_join() {
    // Subscriptions are read only at the end, so the lag bound must hold all 3000.
    let shutdown = Shutdown::new();
    let hub = Hub::builder()
        .graceful_shutdown(shutdown.clone())
        .history(History::new().events(10_000).bytes(Some(64 << 20)))
        .lag_bound(4096)
        .build();
    // The hub's epoch, from an event of another topic: the events of `t` are then
    // numbered 2 to 3001.
    let marker = hub.publish("marker", Event::new()).await.unwrap();
    let epoch = marker.as_str().split_once('-').unwrap().1.to_owned();
    let publisher = tokio::spawn(publish_3000(hub.clone()));
    // Subscribers join while events are published, each resuming from some id.
    let mut subscribers = Vec::new();
    for round in 0..200u64 {
        let last = format!("{}-{epoch}", round * 13 + 1);
        let last = if round == 0 {
            None
        } else {
            EventId::new(&last).unwrap()
        };
        let subscription = hub.subscribe("t").after(last.as_ref()).await.unwrap();
        subscribers.push((last, subscription));
        tokio::task::yield_now().await;
    }
    publisher.await.unwrap();
    shutdown.trigger();
    for (last, subscription) in subscribers {
        let replay = subscription.replay();
        let mut got: Vec<Option<u64>> = subscription
            .map(|event| {
                let text = String::from_utf8(event.into_bytes().to_vec()).unwrap();
                text.lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .map(sequence)
            })
            .collect()
            .await;
        // The last item is the empty one that says why the stream ended: no id.
        assert_eq!(
            got.pop(),
            Some(None),
            "ends with the empty item for {last:?}"
        );
        if replay == Replay::Reset {
            // An id not published yet: the reset event (no id) comes first.
            assert_eq!(got.remove(0), None, "reset event first for {last:?}");
        }
        let got: Vec<u64> = got.into_iter().map(|id| id.expect("an id")).collect();
        let first = got.first().copied().unwrap_or(3002);
        if let (Some(last), Replay::Exact(_)) = (&last, replay) {
            assert_eq!(
                first,
                sequence(last.as_str()) + 1,
                "resumes right after its id"
            );
        }
        let expected: Vec<u64> = (first..=3001).collect();
        assert!(
            got == expected,
            "every event once, in order, from {last:?}: got {} events from {first}",
            got.len()
        );
    }
}

#[tokio::test]
async fn a_lagging_subscriber_is_disconnected_and_resumes_exactly() {
    let hub = Hub::builder().lag_bound(8).build();
    let mut slow = hub.subscribe("t").await.unwrap();
    let mut fast = hub.subscribe("t").await.unwrap();

    let sent = publish_n(&hub, "t", 1..=3).await;
    assert_eq!(
        slow.next().await.unwrap().as_bytes(),
        format!("data: message 1\nid: {}\n\n", sent[0]).as_bytes()
    );
    let mut fast_ids = Vec::new();
    for _ in 0..3 {
        fast_ids.push(fast.next().await.unwrap());
    }
    // The slow one stops reading while 20 more are published.
    for n in 4..=23 {
        hub.publish("t", Event::new().data(format!("message {n}")))
            .await
            .unwrap();
        fast_ids.push(fast.next().await.unwrap());
    }
    assert_eq!(
        fast_ids.len(),
        23,
        "the fast subscriber got every event at once"
    );

    // Its stream ends, after the empty item that says why; the client reconnects from
    // the last event it got: 1.
    assert_eq!(slow.next().await.map(|end| end.len()), Some(0));
    assert!(slow.next().await.is_none());
    assert_eq!(hub.stats().lag_disconnects, 1);
    drop(slow);
    assert_eq!(hub.stats().subscribers_of("t"), 1);
    let resumed = hub
        .subscribe("t")
        .after(EventId::new(&sent[0]).unwrap().as_ref())
        .await
        .unwrap();
    assert_eq!(resumed.replay(), Replay::Exact(22));
    let count = resumed.take(22).count().await;
    assert_eq!(count, 22);
}

#[tokio::test]
async fn the_skip_policy_sends_a_notice_and_goes_on() {
    let notice = Event::new().event_static("lagged").data("").encode();
    let hub = Hub::builder()
        .lag_bound(4)
        .lag_policy(LagPolicy::Skip(Some(notice)))
        .build();
    let mut slow = hub.subscribe("t").await.unwrap();
    let sent = publish_n(&hub, "t", 1..=10).await;
    let first = slow.next().await.unwrap();
    assert_eq!(first.as_bytes(), &b"event: lagged\ndata: \n\n"[..]);
    // Then the four newest, which the live feed still holds.
    let rest: Vec<_> = slow.by_ref().take(4).collect().await;
    assert_eq!(
        rest[0].as_bytes(),
        format!("data: message 7\nid: {}\n\n", sent[6]).as_bytes()
    );
    assert_eq!(
        rest[3].as_bytes(),
        format!("data: message 10\nid: {}\n\n", sent[9]).as_bytes()
    );
    assert_eq!(hub.stats().lag_skips, 1);
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_hold_up_the_others() {
    let hub = Hub::builder().lag_bound(16).build();
    let addr = serve(hub_app(&hub)).await;

    // A client that sends its request and never reads a byte.
    let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stuck,
        b"GET / HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n",
    )
    .await
    .unwrap();
    let mut reader = connect_events(addr, "/", None).await;
    eventually(Duration::from_secs(5), "both subscribed", || {
        hub.stats().subscribers_of("room") == 2
    })
    .await;

    // 32 MiB in all: far more than the stuck client's socket buffers hold.
    let payload = "x".repeat(64 * 1024);
    let reading = tokio::spawn(async move {
        let mut n = 0;
        while n < 512 {
            let event = within(Duration::from_secs(20), reader.next())
                .await
                .unwrap()
                .unwrap();
            n += 1;
            assert_eq!(event.id.as_deref().map(sequence), Some(n));
        }
        n
    });
    for _ in 0..512 {
        hub.publish("room", Event::new().data(&payload))
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(within(Duration::from_secs(30), reading).await.unwrap(), 512);
    drop(stuck);
    eventually(
        Duration::from_secs(5),
        "stuck client removed once gone",
        || hub.stats().subscribers_of("room") == 0,
    )
    .await;
}

#[tokio::test]
async fn limits_answer_a_retry_that_browsers_follow() {
    let hub = Hub::builder()
        .max_subscribers(3)
        .max_subscribers_per_topic(2)
        .retry_after(Duration::from_secs(7))
        .build();
    let addr = serve(hub_app(&hub)).await;
    let sse = [("accept", "text/event-stream")];

    let a = send(addr, request("/?topic=a", &sse)).await;
    let b = send(addr, request("/?topic=a", &sse)).await;
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let refused = send(addr, request("/?topic=a", &sse)).await;
    assert_eq!(refused.status(), StatusCode::OK);
    assert_eq!(refused.headers()["content-type"], "text/event-stream");
    assert_eq!(refused.headers()["retry-after"], "7");
    assert_eq!(refused.headers()["vary"], "accept");
    assert_eq!(
        body_bytes(refused).await,
        ": a topic has reached its limit of 2 subscribers\nretry: 7000\n\n"
    );

    let c = send(addr, request("/?topic=c", &sse)).await;
    assert_eq!(c.status(), StatusCode::OK);
    let refused = send(addr, request("/?topic=d", &sse)).await;
    assert_eq!(refused.status(), StatusCode::OK);
    assert_eq!(
        body_bytes(refused).await,
        ": the hub has reached its limit of 3 subscribers\nretry: 7000\n\n"
    );

    // Once one leaves, there is room again.
    drop(a);
    eventually(Duration::from_secs(5), "a left", || {
        hub.stats().subscribers == 2
    })
    .await;
    let again = send(addr, request("/?topic=a", &sse)).await;
    assert_eq!(again.status(), StatusCode::OK);
    drop((b, c));
}

#[tokio::test]
async fn shutdown_ends_every_stream_and_the_server() {
    let shutdown =
        Shutdown::with_last_event(Event::new().event_static("bye").data("server restarting"));
    let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let hub = hub.clone();
        tokio::spawn(
            axum::serve(listener, hub_app(&hub))
                .with_graceful_shutdown(async move {
                    stop_rx.await.ok();
                    shutdown.trigger();
                })
                .into_future(),
        )
    };
    let mut clients = Vec::new();
    for uri in ["/", "/", "/?topic=a&topic=b"] {
        clients.push(connect_events(addr, uri, None).await);
    }
    eventually(Duration::from_secs(5), "all joined", || {
        hub.stats().subscribers == 3
    })
    .await;

    stop_tx.send(()).unwrap();
    for mut client in clients {
        let events: Vec<_> =
            within(Duration::from_secs(5), (&mut client).collect::<Vec<_>>()).await;
        let events: Vec<_> = events.into_iter().map(|e| e.unwrap()).collect();
        assert_eq!(events.len(), 1, "the shutdown event once, then the end");
        assert_eq!(events[0].event.as_deref(), Some("bye"));
        assert_eq!(events[0].data.as_deref(), Some("server restarting"));
    }
    within(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        hub.publish("room", Event::new()).await,
        Err(PublishError::ShuttingDown)
    ));
    assert!(hub.subscribe("room").await.is_err());
}

#[tokio::test]
async fn a_client_that_leaves_is_removed_from_the_counts() {
    let changes = Arc::new(Mutex::new(Vec::new()));
    let log = changes.clone();
    let hub = Hub::builder()
        .on_subscriber(move |change| {
            let entry = match change {
                SubscriberChange::Joined { topics } => format!("joined {topics:?}"),
                SubscriberChange::Left { topics } => format!("left {topics:?}"),
                _ => unreachable!(),
            };
            log.lock().unwrap().push(entry);
        })
        .build();
    let addr = serve(hub_app(&hub)).await;

    let client = connect_events(addr, "/?topic=news&topic=sport", None).await;
    eventually(Duration::from_secs(5), "joined", || {
        hub.stats().subscribers == 1
    })
    .await;
    assert_eq!(hub.stats().subscribers_of("news"), 1);
    assert_eq!(hub.stats().subscribers_of("sport"), 1);
    assert_eq!(hub.stats().topics, 2);

    drop(client);
    eventually(Duration::from_secs(5), "left", || {
        hub.stats().subscribers == 0
    })
    .await;
    assert_eq!(hub.stats().subscribers_of("news"), 0);
    assert_eq!(hub.stats().topics, 0);
    assert_eq!(
        *changes.lock().unwrap(),
        [r#"joined ["news", "sport"]"#, r#"left ["news", "sport"]"#]
    );
}

#[tokio::test]
async fn several_topics_in_one_stream_merge_and_resume_together() {
    let hub = Hub::new();
    let addr = serve(hub_app(&hub)).await;
    let mut sent = Vec::new();
    for (topic, n) in [("a", 1), ("b", 2), ("c", 3), ("a", 4), ("b", 5)] {
        let id = hub
            .publish(topic, Event::new().data(format!("{topic}{n}")))
            .await
            .unwrap();
        sent.push(id.to_string());
    }
    let mut events = connect_events(addr, "/?topic=a&topic=b", Some(&sent[0])).await;
    let got = take(&mut events, 3).await;
    let data: Vec<_> = got.iter().map(|e| e.2.clone().unwrap()).collect();
    assert_eq!(data, ["b2", "a4", "b5"]);

    hub.publish("c", Event::new().data("c6")).await.unwrap();
    hub.publish("a", Event::new().data("a7")).await.unwrap();
    assert_eq!(take(&mut events, 1).await[0].2.as_deref(), Some("a7"));
}

#[tokio::test]
async fn thousands_of_subscribers_receive_every_event_in_order() {
    const CLIENTS: usize = 2000;
    const EVENTS: u64 = 20;
    let hub = Hub::new();
    let addr = serve(hub_app(&hub)).await;

    let mut readers = Vec::new();
    for _ in 0..CLIENTS {
        let mut events = connect_events(addr, "/", None).await;
        readers.push(tokio::spawn(async move {
            let got = take(&mut events, EVENTS as usize).await;
            ids(&got)
        }));
    }
    eventually(Duration::from_secs(20), "all subscribed", || {
        hub.stats().subscribers_of("room") == CLIENTS
    })
    .await;
    publish_n(&hub, "room", 1..=EVENTS).await;
    let expected: Vec<u64> = (1..=EVENTS).collect();
    for reader in readers {
        assert_eq!(
            within(Duration::from_secs(30), reader).await.unwrap(),
            expected
        );
    }
}

#[tokio::test]
async fn one_encoding_is_shared_by_every_subscriber() {
    let hub = Hub::new();
    let mut a: Subscription = hub.subscribe("t").await.unwrap();
    let mut b = hub.subscribe("t").await.unwrap();
    hub.publish("t", Event::new().data("x")).await.unwrap();
    let (a, b) = (a.next().await.unwrap(), b.next().await.unwrap());
    assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
}

#[tokio::test(start_paused = true)]
async fn subscriptions_end_after_their_lifetime_with_jitter() {
    let hub = Hub::builder()
        .max_duration(Duration::from_secs(60), Duration::from_secs(30))
        .build();
    let mut ends = Vec::new();
    for _ in 0..20 {
        let start = tokio::time::Instant::now();
        let mut subscription = hub.subscribe("t").await.unwrap();
        assert_eq!(subscription.next().await.map(|end| end.len()), Some(0));
        assert!(subscription.next().await.is_none());
        ends.push(start.elapsed());
    }
    for end in &ends {
        assert!(
            *end >= Duration::from_secs(60) && *end <= Duration::from_secs(90),
            "{end:?}"
        );
    }
    ends.sort();
    ends.dedup();
    assert!(ends.len() > 1, "jitter spreads the ends: {ends:?}");
}

#[tokio::test]
async fn publish_refuses_bad_ids_and_topics() {
    let hub = Hub::new();
    let e = Event::new;
    assert!(matches!(
        hub.publish("", e()).await,
        Err(PublishError::InvalidTopic)
    ));
    assert!(matches!(
        hub.publish(&"t".repeat(257), e()).await,
        Err(PublishError::InvalidTopic)
    ));
    assert!(matches!(
        hub.publish_with_id("t", "123", e()).await,
        Err(PublishError::ReservedId)
    ));
    assert!(matches!(
        hub.publish_with_id("t", "", e()).await,
        Err(PublishError::IdLength(0))
    ));
    assert!(matches!(
        hub.publish_with_id("t", &"a".repeat(1025), e()).await,
        Err(PublishError::IdLength(1025))
    ));
    let err = hub.publish_with_id("t", "a\nb", e()).await.unwrap_err();
    assert!(matches!(err, PublishError::InvalidId(_)));
    assert_eq!(
        err.to_string(),
        "cannot publish with this id: invalid SSE `id` value: line feed (LF) at byte 1; `id` cannot contain CR, LF or NUL"
    );
    assert_eq!(hub.stats().published, 0, "nothing was stored");
    assert!(hub.subscribe(Vec::<&str>::new()).await.is_err());
}

/// Publishing to two topics from one thread while another reads both in one stream: the
/// merged stream holds every event, in order. (A merge that sends a head before checking
/// the other topics again can skip an event published in between.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_topic_stream_misses_nothing_under_concurrent_publishing() {
    const EVENTS: u64 = 20_000;
    let hub = Hub::builder().lag_bound(EVENTS as usize).build();
    let subscription = hub.subscribe(["a", "b"]).await.unwrap();
    let reader = tokio::spawn(async move {
        subscription
            .take(EVENTS as usize)
            .map(|event| {
                let text = String::from_utf8(event.into_bytes().to_vec()).unwrap();
                text.lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .map(sequence)
                    .unwrap()
            })
            .collect::<Vec<_>>()
            .await
    });
    let publisher = hub.clone();
    tokio::spawn(async move {
        for n in 0..EVENTS {
            let topic = if n % 3 == 0 { "a" } else { "b" };
            publisher
                .publish(topic, Event::new().data("x"))
                .await
                .unwrap();
            if n % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let got = within(Duration::from_secs(30), reader).await.unwrap();
    let expected: Vec<u64> = (1..=EVENTS).collect();
    let first_wrong = got.iter().zip(&expected).position(|(g, e)| g != e);
    assert!(
        first_wrong.is_none(),
        "first difference at index {first_wrong:?}"
    );
}

/// Tokio's cooperative budget can make a topic's channel answer "pending" although it
/// holds an event. When that happens in the middle of a merge, the earlier event on the
/// starved topic must still come first: here the budget is left at exactly one read, so
/// the merge reads the first topic's event and is refused the second's.
#[tokio::test(flavor = "current_thread")]
async fn a_merge_starved_by_the_cooperative_budget_keeps_the_order() {
    use std::{future::Future, pin::pin, task::Poll};

    // Both orders of publishing, so that whichever topic the merge reads first holds
    // the later event in one of the two rounds.
    for (first, second) in [("a", "b"), ("b", "a")] {
        let hub = Hub::builder().build();
        let mut subscription = hub.subscribe(["a", "b"]).await.unwrap();
        let early = hub
            .publish(first, Event::new().data("early"))
            .await
            .unwrap();
        let late = hub
            .publish(second, Event::new().data("late"))
            .await
            .unwrap();
        // Something to spend the budget on: each read of a ready channel costs one unit.
        let (spend, mut budget) = tokio::sync::broadcast::channel(1024);
        for _ in 0..1024 {
            spend.send(()).unwrap();
        }
        tokio::task::yield_now().await; // a fresh budget for the next poll of this task
        let mut squeezed = false;
        let mut ids = Vec::new();
        while ids.len() < 2 {
            let event = std::future::poll_fn(|cx| {
                if !squeezed {
                    squeezed = true;
                    // Tokio's budget is 128 reads a poll: leave exactly one.
                    for _ in 0..127 {
                        assert!(pin!(budget.recv()).poll(cx).is_ready());
                    }
                }
                match subscription.poll_next_unpin(cx) {
                    Poll::Ready(event) => Poll::Ready(event),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
            .unwrap();
            let text = String::from_utf8(event.into_bytes().to_vec()).unwrap();
            ids.push(
                text.lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(
            ids,
            [early.to_string(), late.to_string()],
            "published {first} then {second}"
        );
    }
}

#[tokio::test]
async fn ids_that_could_not_come_back_are_refused() {
    let hub = Hub::builder()
        .history(History::new().events(1).bytes(Some(1 << 20)))
        .build();
    for id in [" leading", "trailing\t", "bell\u{7}", "del\u{7f}"] {
        assert!(
            matches!(
                hub.publish_with_id("t", id, Event::new()).await,
                Err(PublishError::IdNotHeaderSafe)
            ),
            "{id:?}"
        );
    }
    assert!(
        hub.publish_with_id("t", "inner\ttab ok", Event::new())
            .await
            .is_ok()
    );
    // Once "a" has left the history (history of 1), it is still not reusable: a client
    // holding it would resume after the new one.
    hub.publish_with_id("t", "a", Event::new()).await.unwrap();
    hub.publish_with_id("t", "b", Event::new()).await.unwrap();
    assert!(matches!(
        hub.publish_with_id("t", "a", Event::new()).await,
        Err(PublishError::DuplicateId)
    ));
}

#[tokio::test]
async fn settings_at_their_extremes_do_not_panic() {
    let hub = Hub::builder()
        .lag_bound(usize::MAX)
        .max_duration(Duration::MAX, Duration::from_secs(1))
        .retry_after(Duration::MAX)
        .max_subscribers(1)
        .build();
    let _first = hub.subscribe("t").await.unwrap();
    let refused = hub.subscribe("t").await.unwrap_err();
    let response = axum::response::IntoResponse::into_response(refused);
    assert_eq!(
        response.headers()["retry-after"],
        u64::MAX.to_string().as_str()
    );

    let too_many: Vec<String> = (0..65).map(|n| n.to_string()).collect();
    let hub = Hub::new();
    assert!(matches!(
        hub.subscribe(&too_many).await,
        Err(tower_sse::hub::SubscribeError::InvalidTopic)
    ));
    assert!(hub.subscribe(&too_many[..64]).await.is_ok());
}

#[tokio::test]
async fn a_refusal_is_a_retry_an_event_source_follows() {
    let hub = Hub::builder()
        .max_subscribers(0)
        .retry_after(Duration::from_secs(3))
        .build();
    let refusing = hub.clone();
    let layer = SseLayer::new(move |_: Request<Body>, last: Option<EventId>| {
        let hub = refusing.clone();
        async move { hub.subscribe("room").after(last.as_ref()).await }
    });
    let addr = serve(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(layer),
    )
    .await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["vary"], "accept");
    assert_eq!(
        body_bytes(response).await,
        ": the hub has reached its limit of 0 subscribers\nretry: 3000\n\n"
    );
}

#[tokio::test]
async fn a_panicking_hook_does_not_leak_a_subscriber() {
    let hub = Hub::builder()
        .max_subscribers(1)
        .on_subscriber(|change| {
            if matches!(change, SubscriberChange::Joined { .. }) {
                panic!("a hook that fails");
            }
        })
        .build();
    let joining = hub.clone();
    let result = tokio::spawn(async move { joining.subscribe("t").await.map(drop) }).await;
    assert!(result.unwrap_err().is_panic());
    assert_eq!(hub.stats().subscribers, 0);
    assert_eq!(hub.stats().subscribers_of("t"), 0);
}
