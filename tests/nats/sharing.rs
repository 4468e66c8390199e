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
    take,
};

/// One id places a client in every topic it follows: ids are stream sequences, so an
/// id of one topic resumes a stream of several exactly. (Delivery and resume across
/// instances, for every engine: tests/engines.)
#[tokio::test]
async fn one_id_places_a_client_in_every_topic() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let (a, b) = (hub(&nats).await, hub(&nats).await);
    let x = publish_all(&a, "x", ["x0".to_owned(), "x1".to_owned()]).await;
    let y = publish_all(&a, "y", ["y0".to_owned()]).await;
    let server_b = instance(&b).await;
    let mut both = connect_events(server_b, "/?topic=x&topic=y", Some(&x[0].0)).await;
    assert_eq!(take(&mut both, 2).await, [x[1].clone(), y[0].clone()]);
}

/// An id ahead of the stream, or of another stream incarnation (epoch), gets the reset
/// event. (The history bound itself, for every engine: tests/engines.)
#[tokio::test]
async fn ids_ahead_of_the_stream_or_of_another_epoch_reset() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let hub = hub(&nats).await;
    let server = instance(&hub).await;
    let sent = publish_all(&hub, "room", (0..30).map(|n| format!("m{n}"))).await;
    let (sequence, epoch) = sent[29].0.split_once('-').unwrap();
    let ahead = format!("{}-{epoch}", sequence.parse::<u64>().unwrap() + 1000);
    let mut events = connect_events(server, "/", Some(&ahead)).await;
    next_is_reset(&mut events).await;
    let mut events = connect_events(server, "/", Some(&format!("{sequence}-0"))).await;
    next_is_reset(&mut events).await;
    let mut events = connect_events(server, "/", Some(&sent[27].0)).await;
    assert_eq!(take(&mut events, 2).await, sent[28..]);
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
                .subscribe("room")
                .after(EventId::new(&old[0].0).unwrap().as_ref())
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
