//! Faults between an instance and the server: the server down or frozen, a connection
//! cut, gone silent, or losing a publish's reply. Every event once, in order, or the
//! reset event; a publish is stored once or says it may have been.

use std::time::Duration;

use http::StatusCode;
use tower_sse::{Event, hub::PublishError};

use crate::{
    common::{get as request, send},
    harness::{Data, Engine, Settings},
    support::{
        eventually, next_is_reset, publish_all, stored, subscribed, take, texts, until_published,
        until_the_end, within,
    },
};

/// Publishing while the server is down fails, naming the server and saying whether the
/// event may have been stored; it never panics. Once the server is back, it works.
pub async fn publishing_while_down_fails_cleanly<E: Engine>(mut engine: E) {
    let hub = engine.hub(Settings::default()).await;
    publish_all(&hub, "room", ["up".to_owned()]).await;
    engine.kill().await;
    for _ in 0..2 {
        let err = hub
            .publish("room", Event::new().data("while down"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PublishError::Backend(_) | PublishError::Uncertain(_)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&engine.address()),
            "it names the server: {err}"
        );
    }
    engine.restart(Data::Kept).await;
    until_published(&hub).await;
}

/// An instance cut off from the server while another publishes fewer events than the
/// topic keeps: its client stays connected and gets every one of them, once, in order.
pub async fn cut_off_briefly_catches_up_once_in_order<E: Engine>(engine: E) {
    let cut_off = engine.hub(Settings::through_proxy()).await;
    let other = engine.hub(Settings::default()).await;
    let (_server, mut events) = subscribed(&cut_off, "/", "room").await;
    let before = publish_all(&other, "room", texts("before ", 0..5)).await;
    assert_eq!(take(&mut events, 5).await, before);

    engine.proxy().cut().await;
    let during = publish_all(&other, "room", texts("during ", 0..50)).await;
    engine.proxy().restore();
    let after = publish_all(&other, "room", texts("after ", 0..5)).await;
    let got = take(&mut events, 55).await;
    assert_eq!(got[..50], during);
    assert_eq!(got[50..], after);
    assert_eq!(cut_off.stats().subscribers_of("room"), 1);
}

/// Cut off while others publish more than the topic keeps: the events it missed are
/// gone. Its client's stream ends instead of skipping them; until the instance is back
/// in touch a resume is answered with `retry:` (which `EventSource` follows), then
/// with the reset event.
pub async fn cut_off_past_the_history_gives_reset<E: Engine>(engine: E) {
    let cut_off = engine
        .hub(Settings {
            through_proxy: true,
            ..Settings::events(100)
        })
        .await;
    let publisher = engine.hub(Settings::events(100)).await;
    let (server, mut events) = subscribed(&cut_off, "/", "room").await;
    let first = publish_all(&publisher, "room", ["first".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, first);

    engine.proxy().cut().await;
    publish_all(&publisher, "room", texts("m", 0..1000)).await;
    engine.proxy().restore();
    assert_eq!(
        until_the_end(&mut events).await,
        [],
        "the stream ends, skipping nothing"
    );
    eventually(Duration::from_secs(5), "the subscription released", || {
        cut_off.stats().subscribers_of("room") == 0
    })
    .await;

    let headers = [
        ("accept", "text/event-stream"),
        ("last-event-id", first[0].0.as_str()),
    ];
    let response = within(Duration::from_secs(20), async {
        loop {
            let response = send(server, request("/", &headers)).await;
            assert_eq!(response.status(), StatusCode::OK);
            if !response.headers().contains_key("retry-after") {
                break response;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let mut resumed = sse_stream::SseStream::new(response.into_body());
    next_is_reset(&mut resumed).await;
}

/// The instance's connection dies without closing (a NAT forgot it): the heartbeat
/// finds it silent and replaces it, and the client gets what it missed, once, in
/// order, without reconnecting.
pub async fn a_silent_connection_is_found<E: Engine>(engine: E) {
    let frozen = engine.hub(Settings::through_proxy()).await;
    let publisher = engine.hub(Settings::default()).await;
    let (_server, mut events) = subscribed(&frozen, "/", "room").await;
    let first = publish_all(&publisher, "room", ["first".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, first);

    engine.proxy().freeze_open_connections();
    let missed = publish_all(&publisher, "room", texts("m", 0..20)).await;
    assert_eq!(take(&mut events, 20).await, missed);
    assert_eq!(frozen.stats().subscribers_of("room"), 1);
    let more = publish_all(&frozen, "room", ["from the frozen one".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, more);
}

/// The server stops (`SIGSTOP`) for longer than the heartbeat, then goes on: clients
/// get every event once, in order, or the reset event, never a gap.
pub async fn a_frozen_server_goes_on_once_in_order<E: Engine>(engine: E) {
    let hub = engine.hub(Settings::default()).await;
    let publisher = engine.hub(Settings::patient()).await;
    let (_server, mut events) = subscribed(&hub, "/", "room").await;
    let before = publish_all(&publisher, "room", texts("before ", 0..5)).await;
    assert_eq!(take(&mut events, 5).await, before);
    engine.freeze(true);
    // Past the short timeout, so the instance sees the server silent.
    let err = hub.publish("probe", Event::new().data("frozen")).await;
    assert!(err.is_err(), "a frozen server answers nothing: {err:?}");
    engine.freeze(false);
    until_published(&publisher).await;
    let after = publish_all(&publisher, "room", texts("after ", 0..5)).await;
    assert_eq!(take(&mut events, 5).await, after);
}

/// The server stores an event but its reply is lost with the connection: the publish
/// is retried, finds the event it stored, and returns its id; stored and delivered once.
pub async fn a_lost_publish_reply_is_stored_once<E: Engine>(engine: E) {
    let publisher = engine.hub(Settings::through_proxy()).await;
    let reader = engine.hub(Settings::default()).await;
    let (_server, mut events) = subscribed(&reader, "/", "room").await;

    engine.proxy().swallow_next_reply();
    let id = publisher
        .publish("room", Event::new().data("once"))
        .await
        .expect("the retry finds the stored event");
    assert_eq!(
        take(&mut events, 1).await,
        [(id.to_string(), "once".to_owned())]
    );
    assert_eq!(stored(&reader, "room").await, 1);
    let next = publish_all(&reader, "room", ["next".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, next, "and nothing twice");
}

/// No reply comes back at all on a connection that worked: the publish may have been
/// stored, and the error says so (`Uncertain`) rather than that it was refused. Here it
/// was stored, once.
pub async fn uncertain_when_it_cannot_be_told<E: Engine>(engine: E) {
    let publisher = engine.hub(Settings::through_proxy()).await;
    let reader = engine.hub(Settings::default()).await;
    // A publish that went through first: an engine that connects for its first
    // statement (Postgres) would otherwise send nothing, and say so (`Backend`).
    publish_all(&publisher, "warm", ["w".to_owned()]).await;
    engine.proxy().swallow_every_reply(true);
    let err = within(
        Duration::from_secs(30),
        publisher.publish("room", Event::new().data("maybe")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PublishError::Uncertain(_)), "{err:?}");
    assert!(err.to_string().contains("may have been stored"), "{err}");
    assert_eq!(stored(&reader, "room").await, 1, "it was stored, once");
}
