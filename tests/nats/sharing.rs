//! Several instances sharing topics through one NATS server.

use std::time::Duration;

use tower_sse::{
    EventId,
    hub::{
        History, Hub, Replay, SetupError,
        nats::{Nats, NatsConfig},
    },
};

use crate::{
    config_at, connect_events, hub, instance, next_is_reset, publish_all,
    servers::{NatsServer, available},
    subscribed_to, take,
};

/// Events published on one instance reach another's clients, each once, in order; a
/// client resumes by id on either instance.
#[tokio::test]
async fn events_reach_other_instances_once_and_resume_anywhere() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let (a, b) = (hub(&nats).await, hub(&nats).await);
    let (_, mut on_b) = subscribed_to(&b, "/", "room").await;
    let sent = publish_all(&a, "room", (0..50).map(|n| format!("m{n}"))).await;
    assert_eq!(take(&mut on_b, 50).await, sent);

    let server_a = instance(&a).await;
    let mut resumed = connect_events(server_a, "/", Some(&sent[20].0)).await;
    assert_eq!(take(&mut resumed, 29).await, sent[21..]);
    let more = publish_all(&b, "room", ["late".to_owned()]).await;
    assert_eq!(take(&mut resumed, 1).await, more);
    assert_eq!(take(&mut on_b, 1).await, more);

    // One id places a client in every topic it follows: ids are stream sequences.
    let x = publish_all(&a, "x", ["x0".to_owned(), "x1".to_owned()]).await;
    let y = publish_all(&a, "y", ["y0".to_owned()]).await;
    let mut both = connect_events(server_a, "/?topic=x&topic=y", Some(&x[0].0)).await;
    assert_eq!(take(&mut both, 2).await, [x[1].clone(), y[0].clone()]);
}

/// An instance follows only the topics its clients follow: one JetStream consumer for
/// one watched topic, however many topics are published to.
#[tokio::test]
async fn an_instance_receives_only_the_topics_its_clients_follow() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let (a, b) = (hub(&nats).await, hub(&nats).await);
    let (_, mut events) = subscribed_to(&b, "/?topic=followed", "followed").await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("TOWER_SSE").await.unwrap();
    for n in 0..10 {
        publish_all(&a, &format!("other{n}"), ["x".to_owned()]).await;
    }
    let sent = publish_all(&a, "followed", ["f".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, sent);
    assert_eq!(stream.info().await.unwrap().state.consumer_count, 1);
}

/// The per-topic bound: a client whose events were removed gets the reset event; one
/// from another stream incarnation or ahead of the stream too; a recent one resumes
/// exactly.
#[tokio::test]
async fn the_history_bound_and_the_reset_event() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let hub = Hub::builder()
        .history(History::new().events(100))
        .build_with(Nats::new(config_at(nats.url())))
        .await
        .unwrap();
    let server = instance(&hub).await;
    let sent = publish_all(&hub, "room", (0..300).map(|n| format!("m{n}"))).await;
    publish_all(&hub, "other", (0..50).map(|n| format!("o{n}"))).await;

    let mut events = connect_events(server, "/", Some(&sent[0].0)).await;
    next_is_reset(&mut events).await;
    let (sequence, epoch) = sent[299].0.split_once('-').unwrap();
    let ahead = format!("{}-{epoch}", sequence.parse::<u64>().unwrap() + 1000);
    let mut events = connect_events(server, "/", Some(&ahead)).await;
    next_is_reset(&mut events).await;
    let mut events = connect_events(server, "/", Some(&format!("{sequence}-0"))).await;
    next_is_reset(&mut events).await;

    let subscription = hub
        .subscribe("room", EventId::new(&sent[250].0).unwrap().as_ref())
        .await
        .unwrap();
    assert_eq!(subscription.replay(), Replay::Exact(49));
    let mut events = connect_events(server, "/", Some(&sent[200].0)).await;
    assert_eq!(take(&mut events, 99).await, sent[201..]);
    // The oldest retained event's id: the event before it is gone, the replay is not.
    let mut events = connect_events(server, "/", Some(&sent[199].0)).await;
    assert_eq!(take(&mut events, 100).await, sent[200..]);
}

/// With an age bound, a topic can lose every event: resuming from before the stream's
/// first event then cannot be proven exact, and gets the reset event.
#[tokio::test]
async fn an_age_bound_resets_what_it_cannot_prove() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let hub = Hub::builder()
        .history(History::new().max_age(Some(Duration::from_millis(300))))
        .build_with(Nats::new(config_at(nats.url())))
        .await
        .unwrap();
    let server = instance(&hub).await;
    let old = publish_all(&hub, "room", ["old".to_owned(), "older".to_owned()]).await;
    let mut gone = false;
    crate::common::within(Duration::from_secs(20), async {
        while !gone {
            tokio::time::sleep(Duration::from_millis(100)).await;
            publish_all(&hub, "ticks", ["t".to_owned()]).await;
            let subscription = hub
                .subscribe("room", EventId::new(&old[0].0).unwrap().as_ref())
                .await
                .unwrap();
            gone = subscription.replay() != Replay::Exact(1);
        }
    })
    .await;
    let mut events = connect_events(server, "/", Some(&old[0].0)).await;
    next_is_reset(&mut events).await;
}

/// Bad settings and an absent server are errors at build time, naming the server.
#[tokio::test]
async fn setup_errors() {
    let err = Hub::builder()
        .build_with(Nats::new(
            NatsConfig::new("nats://127.0.0.1:1").connect_timeout(Duration::from_millis(200)),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SetupError::Unreachable { engine: "nats", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

/// Two instances publishing to one topic at once: each publish appends after the
/// topic's last event (a race makes it read and try again), so the chain holds: the
/// client gets every event once, and a resume from the start of it is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_keep_one_chain() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let (a, b) = (hub(&nats).await, hub(&nats).await);
    let (server, mut events) = subscribed_to(&a, "/", "room").await;
    let first = publish_all(&a, "room", ["first".to_owned()]).await;
    let publishers = [("a", a.clone()), ("b", b.clone())].map(|(name, hub)| {
        tokio::spawn(async move {
            publish_all(&hub, "room", (0..40).map(|n| format!("{name} {n}"))).await
        })
    });
    let mut sent = Vec::new();
    for publisher in publishers {
        sent.extend(publisher.await.unwrap());
    }
    let mut got = take(&mut events, 81).await;
    assert_eq!(got.remove(0), first[0]);
    let mut resumed = connect_events(server, "/", Some(&first[0].0)).await;
    assert_eq!(
        take(&mut resumed, 80).await,
        got,
        "the replay is the live order"
    );
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "every event once");
}

/// The handoff and revocation work over NATS as over Redis: a handoff taken on one
/// instance resumes exactly on another, and a revocation from one instance ends the
/// user's stream on another.
#[tokio::test]
async fn handoff_and_revocation_across_instances() {
    use futures_util::StreamExt as _;

    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let (a, b) = (hub(&nats).await, hub(&nats).await);
    publish_all(&a, "x", ["x0".to_owned()]).await;
    let handoff = a.handoff(["x", "y"]).await.unwrap();
    let sent = publish_all(&b, "x", ["x1".to_owned()]).await;
    let more = publish_all(&b, "y", ["y1".to_owned()]).await;
    let server_b = instance(&b).await;
    let mut resumed =
        connect_events(server_b, "/?topic=x&topic=y", Some(handoff.id().as_str())).await;
    assert_eq!(
        take(&mut resumed, 2).await,
        [sent[0].clone(), more[0].clone()]
    );

    let revocable = {
        let a = a.clone();
        move |_: http::Request<axum::body::Body>, _: Option<EventId>| {
            let a = a.clone();
            async move {
                let lifetime = tower_sse::Lifetime::new().revoked_by(a.revocation("user:7").await?);
                let events = a.subscribe("room", None).await?;
                Ok::<_, tower_sse::hub::SubscribeError>(lifetime.wrap(events))
            }
        }
    };
    let app = axum::Router::new().layer(tower_sse::SseLayer::new(revocable));
    let server_a = crate::common::serve(app).await;
    let mut on_a = connect_events(server_a, "/", None).await;
    crate::common::eventually(Duration::from_secs(5), "subscribed", || {
        a.subscribers("room") == 1
    })
    .await;
    b.revoke("user:7", "password changed").await.unwrap();
    let last = crate::common::within(Duration::from_secs(5), on_a.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (last.event.as_deref(), last.data.as_deref()),
        (Some("revoked"), Some("password changed"))
    );
    let end = crate::common::within(Duration::from_secs(5), on_a.next()).await;
    assert!(end.is_none(), "the stream ended");
}
