//! Several instances sharing topics: delivery, resume, interest, order, handoff and
//! revocation, and instances starting together.

use std::time::Duration;

use futures_util::StreamExt as _;
use tower_sse::{Event, EventId, hub::Hub};

use crate::{
    harness::{Engine, Settings},
    support::{
        connect_events, data, eventually, follow, instance, next_is_reset, publish_all, subscribed,
        take, texts, within,
    },
};

/// Events published on one instance reach the clients of another, once each, in
/// order, with the same ids.
pub async fn delivery_across_instances<E: Engine>(engine: E) {
    let (a, b) = (
        engine.hub(Settings::default()).await,
        engine.hub(Settings::default()).await,
    );
    let (_server, mut on_b) = subscribed(&b, "/", "room").await;
    let sent = publish_all(&a, "room", texts("m", 0..200)).await;
    assert_eq!(take(&mut on_b, 200).await, sent);
    let back = publish_all(&b, "room", ["back".to_owned()]).await;
    assert_eq!(take(&mut on_b, 1).await, back);
}

/// A client that read part of a topic on one instance resumes on another from the
/// last id it got: exactly the events it missed, once each, then live ones.
pub async fn resume_on_another_instance<E: Engine>(engine: E) {
    let (a, b) = (
        engine.hub(Settings::default()).await,
        engine.hub(Settings::default()).await,
    );
    let server_b = instance(&b).await;
    let (_server_a, mut on_a) = subscribed(&a, "/", "room").await;
    let first = publish_all(&a, "room", texts("m", 0..10)).await;
    let seen = take(&mut on_a, 5).await;
    assert_eq!(seen, first[..5]);
    drop(on_a);

    let later = publish_all(&a, "room", texts("m", 10..15)).await;
    let mut on_b = connect_events(server_b, "/", Some(&seen[4].0)).await;
    let expected: Vec<_> = first[5..].iter().chain(&later).cloned().collect();
    assert_eq!(
        take(&mut on_b, 10).await,
        expected,
        "the missed events, once each"
    );
    let live = publish_all(&b, "room", ["live".to_owned()]).await;
    assert_eq!(take(&mut on_b, 1).await, live);
}

/// An instance follows a topic's live feed on the server only while one of its
/// clients follows the topic, whatever else is published.
pub async fn interest_based_delivery<E: Engine>(engine: E) {
    let (a, b) = (
        engine.hub(Settings::default()).await,
        engine.hub(Settings::default()).await,
    );
    assert_eq!(engine.followers("room").await, 0);
    let (_server, mut events) = subscribed(&b, "/", "room").await;
    for n in 0..10 {
        publish_all(&a, &format!("other{n}"), ["x".to_owned()]).await;
    }
    let sent = publish_all(&a, "room", ["r".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, sent);
    assert_eq!(engine.followers("room").await, 1, "b follows room");
    assert_eq!(engine.followers("other0").await, 0, "nobody follows other0");

    drop(events);
    eventually(Duration::from_secs(5), "the client left", || {
        b.stats().subscribers_of("room") == 0
    })
    .await;
    within(Duration::from_secs(5), async {
        while engine.followers("room").await != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A stream of several topics resumes on another instance with every event it missed
/// in each topic, once; each topic in its own order.
pub async fn several_topics_resumed_together<E: Engine>(engine: E) {
    let (a, b) = (
        engine.hub(Settings::default()).await,
        engine.hub(Settings::default()).await,
    );
    let server_a = instance(&a).await;
    let uri = "/?topic=x&topic=z";
    let (_server_b, mut on_b) = subscribed(&b, uri, "x").await;
    let publish = |range: std::ops::Range<usize>| {
        let a = a.clone();
        async move {
            let mut wanted = Vec::new();
            for n in range {
                let topic = ["x", "y", "z"][n % 3];
                let sent = publish_all(&a, topic, [format!("{topic}{n}")]).await;
                if topic != "y" {
                    wanted.push(sent[0].1.clone());
                }
            }
            wanted
        }
    };
    let wanted = publish(0..30).await;
    let seen = take(&mut on_b, 7).await;
    let (first, cursor) = (data(&seen), seen[6].0.clone());
    drop(on_b);

    let later = publish(30..36).await;
    let mut resumed = connect_events(server_a, uri, Some(&cursor)).await;
    let rest = data(&take(&mut resumed, wanted.len() - 7 + later.len()).await);
    // Each topic in its own order on both sides of the resume (a Redis Cluster keeps no
    // order between topics on different nodes), and every event once.
    for part in [&first, &rest] {
        for topic in ["x", "z"] {
            let numbers: Vec<u32> = part
                .iter()
                .filter_map(|d| d.strip_prefix(topic)?.parse().ok())
                .collect();
            assert!(numbers.is_sorted(), "{topic} in order: {part:?}");
        }
    }
    let mut got: Vec<String> = first.iter().chain(&rest).cloned().collect();
    let mut expected: Vec<String> = wanted.iter().chain(&later).cloned().collect();
    for list in [&mut got, &mut expected] {
        list.sort_by_key(|d| (d.as_bytes()[0], d[1..].parse::<u32>().unwrap()));
    }
    assert_eq!(got, expected, "every event once");
    let live = publish_all(&b, "z", ["z-live".to_owned()]).await;
    assert_eq!(data(&take(&mut resumed, 1).await), data(&live));

    if E::CURSORS {
        assert!(cursor.starts_with('~'), "a cursor: {cursor}");
        let mut other = connect_events(server_a, "/?topic=x&topic=y", Some(&cursor)).await;
        next_is_reset(&mut other).await;
    }
}

/// Two instances publishing to one topic at once: every client, on either instance,
/// gets every event once and in the same order, and a resume replays that order.
pub async fn two_publishers_keep_one_order<E: Engine>(engine: E) {
    let (a, b) = (
        engine.hub(Settings::default()).await,
        engine.hub(Settings::default()).await,
    );
    let (server_a, mut on_a) = subscribed(&a, "/", "room").await;
    let (_server_b, mut on_b) = subscribed(&b, "/", "room").await;
    let first = publish_all(&a, "room", ["first".to_owned()]).await;
    let publishers = [("a", a.clone()), ("b", b.clone())].map(|(name, hub)| {
        tokio::spawn(async move { publish_all(&hub, "room", texts(name, 0..40)).await })
    });
    let mut sent = Vec::new();
    for publisher in publishers {
        sent.extend(publisher.await.unwrap());
    }
    let mut got = take(&mut on_a, 81).await;
    assert_eq!(got.remove(0), first[0]);
    let mut got_b = take(&mut on_b, 81).await;
    assert_eq!(got_b.remove(0), first[0]);
    assert_eq!(got_b, got, "both instances' clients see one order");
    let mut resumed = connect_events(server_a, "/", Some(&first[0].0)).await;
    assert_eq!(
        take(&mut resumed, 80).await,
        got,
        "the replay is the live order"
    );
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "every event once");
}

/// A handoff taken on one instance, events published on another, the stream opened on
/// a third: exactly the events after the handoff, for one topic and for several.
pub async fn handoff_across_instances<E: Engine>(engine: E) {
    let hubs = [(); 3].map(|()| engine.hub(Settings::default()));
    let [a, b, c] = futures_util::future::join_all(hubs)
        .await
        .try_into()
        .unwrap();
    publish_all(&b, "x", ["x0".to_owned()]).await;
    let one = a.handoff("x").await.unwrap();
    let both = a.handoff(["x", "y"]).await.unwrap();
    for text in ["x1", "y1", "x2"] {
        publish_all(&b, &text[..1], [text.to_owned()]).await;
    }
    let server = instance(&c).await;
    let mut just_x = connect_events(server, "/?topic=x", Some(one.id().as_str())).await;
    let mut x_and_y = connect_events(server, "/?topic=x&topic=y", Some(both.id().as_str())).await;
    assert_eq!(data(&take(&mut just_x, 2).await), ["x1", "x2"]);
    let got = data(&take(&mut x_and_y, 3).await);
    let of = |topic: &str| {
        got.iter()
            .filter(|d| d.starts_with(topic))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (of("x"), of("y")),
        (
            vec!["x1".to_owned(), "x2".to_owned()],
            vec!["y1".to_owned()]
        )
    );
}

/// A user's stream on one instance ends, with the `revoked` event, when another
/// instance revokes the user.
pub async fn revocation_across_instances<E: Engine>(engine: E) {
    let (a, b) = (
        engine.hub(Settings::default()).await,
        engine.hub(Settings::default()).await,
    );
    let revocable = {
        let a = a.clone();
        move |_: http::Request<axum::body::Body>, _: Option<EventId>| {
            let a = a.clone();
            async move {
                let lifetime = tower_sse::Lifetime::new().revoked_by(a.revocation("user:7").await?);
                let events = a.subscribe("room").await?;
                Ok::<_, tower_sse::hub::SubscribeError>(lifetime.wrap(events))
            }
        }
    };
    let app = axum::Router::new().layer(tower_sse::SseLayer::new(revocable));
    let server = crate::common::serve(app).await;
    let mut on_a = follow(&a, server, "/", "room").await;
    b.publish("room", Event::new().data("hello")).await.unwrap();
    let hello = within(Duration::from_secs(5), on_a.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello.data.as_deref(), Some("hello"));

    b.revoke("user:7", "password changed").await.unwrap();
    let last = within(Duration::from_secs(5), on_a.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (last.event.as_deref(), last.data.as_deref()),
        (Some("revoked"), Some("password changed"))
    );
    assert!(
        within(Duration::from_secs(5), on_a.next()).await.is_none(),
        "the stream ended"
    );
    eventually(Duration::from_secs(5), "the subscriptions are gone", || {
        a.stats().subscribers == 0
    })
    .await;
}

/// Replicas start at the same moment against a fresh server: every one comes up and
/// they share topics. Several rounds, each on a new server.
pub async fn instances_started_together_all_come_up<E: Engine>(engine: E) {
    let mut engine = Some(engine);
    for round in 0..5 {
        let server = match engine.take() {
            Some(first) => first,
            None => E::start().await.unwrap(),
        };
        let hubs: Vec<Hub> =
            futures_util::future::join_all((0..4).map(|_| server.hub(Settings::default()))).await;
        let (_server, mut events) = subscribed(&hubs[3], "/", "room").await;
        for (n, hub) in hubs.iter().enumerate() {
            let sent = publish_all(hub, "room", [format!("round {round} from {n}")]).await;
            assert_eq!(take(&mut events, 1).await, sent);
        }
    }
}
