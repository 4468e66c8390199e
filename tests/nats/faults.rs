//! NATS restarting, killed, losing its store, and an instance cut off: every event once,
//! or the reset event, never a silent gap or a duplicate.

use tower_sse::{Event, hub::PublishError};

use crate::{
    connect_events, hub, hub_at, next_is_reset, publish_all,
    servers::{NatsServer, Proxy, available},
    subscribed_to, take, until_published, until_the_end,
};

/// The server stops and starts again (with its store) mid-stream, gracefully or
/// killed: the client's stream stays open and gets every event once, in order.
async fn restart_mid_stream(kill: bool) {
    let mut nats = NatsServer::start().await;
    let (hub, other) = (hub(&nats).await, hub(&nats).await);
    let (_, mut events) = subscribed_to(&hub, "/", "room").await;
    let before = publish_all(&other, "room", (0..20).map(|n| format!("before {n}"))).await;
    if kill {
        nats.kill();
    } else {
        nats.stop_gracefully();
    }
    nats.restart().await;
    until_published(&other).await;
    let after = publish_all(&other, "room", (0..20).map(|n| format!("after {n}"))).await;
    let got = take(&mut events, 40).await;
    assert_eq!(got[..20], before);
    assert_eq!(got[20..], after);
    assert_eq!(hub.subscribers("room"), 1, "the stream stayed open");
}

#[tokio::test]
async fn a_server_restarting_mid_stream_loses_nothing() {
    if !available() {
        return;
    }
    restart_mid_stream(false).await;
}

#[tokio::test]
async fn a_server_killed_and_restarted_with_its_store_loses_nothing() {
    if !available() {
        return;
    }
    restart_mid_stream(true).await;
}

/// The server comes back without its store: the stream is created anew. The client's
/// stream ends rather than going on as if nothing were lost, its old id resumes with
/// the reset event, and new events come once each.
#[tokio::test]
async fn a_server_restarted_empty_resets_instead_of_replaying_old_ids() {
    if !available() {
        return;
    }
    let mut nats = NatsServer::start().await;
    let (hub, other) = (hub(&nats).await, hub(&nats).await);
    let (server, mut events) = subscribed_to(&hub, "/", "room").await;
    let before = publish_all(&other, "room", (0..30).map(|n| format!("before {n}"))).await;
    assert_eq!(take(&mut events, 30).await, before);

    nats.kill();
    nats.restart_empty().await;
    until_published(&other).await;
    // As many new events as old ones: the new sequences reach the old ones' numbers.
    let after = publish_all(&other, "room", (0..40).map(|n| format!("after {n}"))).await;
    assert_eq!(
        until_the_end(&mut events).await,
        [],
        "nothing of the new stream under old ids"
    );

    let mut resumed = connect_events(server, "/", Some(&before[29].0)).await;
    next_is_reset(&mut resumed).await;
    let more = publish_all(&other, "room", ["more".to_owned()]).await;
    assert_eq!(take(&mut resumed, 1).await, more);
    assert!(
        before
            .iter()
            .all(|(id, _)| !after.iter().any(|(new, _)| new == id))
    );
    // From a new id, exactly.
    let mut exact = connect_events(server, "/", Some(&after[35].0)).await;
    let expected: Vec<_> = after[36..].iter().chain(&more).cloned().collect();
    assert_eq!(take(&mut exact, 5).await, expected);
}

/// An instance is cut off from NATS while another publishes: when it is back, its
/// client gets every event once, in order, and stays connected.
#[tokio::test]
async fn an_instance_cut_off_loses_nothing_and_keeps_its_streams() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let proxy = Proxy::start("nats", nats.port).await;
    let cut_off = hub_at(proxy.url()).await;
    let other = hub(&nats).await;
    let (_, mut events) = subscribed_to(&cut_off, "/", "room").await;
    let before = publish_all(&other, "room", (0..5).map(|n| format!("before {n}"))).await;
    assert_eq!(take(&mut events, 5).await, before);

    proxy.cut().await;
    let during = publish_all(&other, "room", (0..50).map(|n| format!("during {n}"))).await;
    proxy.restore();
    let after = publish_all(&other, "room", (0..5).map(|n| format!("after {n}"))).await;
    let got = take(&mut events, 55).await;
    assert_eq!(got[..50], during);
    assert_eq!(got[50..], after);
    assert_eq!(cut_off.subscribers("room"), 1);
}

/// The connection dies without closing (frozen behind a NAT): the heartbeat finds it,
/// and the client gets what it missed, once, in order.
#[tokio::test]
async fn a_silent_connection_is_found_and_recovered() {
    if !available() {
        return;
    }
    let nats = NatsServer::start().await;
    let proxy = Proxy::start("nats", nats.port).await;
    let frozen = hub_at(proxy.url()).await;
    let other = hub(&nats).await;
    let (_, mut events) = subscribed_to(&frozen, "/", "room").await;
    proxy.freeze_open_connections();
    let during = publish_all(&other, "room", (0..10).map(|n| format!("during {n}"))).await;
    assert_eq!(take(&mut events, 10).await, during);
    assert_eq!(frozen.subscribers("room"), 1);
}

/// Publishing while the server is down fails, saying whether the event may have been
/// stored; it never panics. Once the server is back, publishing works again.
#[tokio::test]
async fn publishing_while_the_server_is_down_fails_cleanly() {
    if !available() {
        return;
    }
    let mut nats = NatsServer::start().await;
    let hub = hub(&nats).await;
    publish_all(&hub, "room", ["up".to_owned()]).await;
    nats.kill();
    let err = hub
        .publish("room", Event::new().data("while down"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PublishError::Backend(_) | PublishError::Uncertain(_)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", nats.port)),
        "{err}"
    );
    nats.restart().await;
    until_published(&hub).await;
}
