//! NATS stopping gracefully mid-stream. (Kills, restarts with and without the store,
//! cut and silent connections, for every engine: tests/engines.)

use crate::{
    hub, publish_all,
    servers::{NatsServer, available},
    subscribed_to, take, until_published,
};

/// The server stops gracefully (SIGTERM, closing its store) and starts again
/// mid-stream: the client's stream stays open and gets every event once, in order.
#[tokio::test]
async fn a_server_stopping_gracefully_mid_stream_loses_nothing() {
    if !available() {
        return;
    }
    let mut nats = NatsServer::start().await;
    let (hub, other) = (hub(&nats).await, hub(&nats).await);
    let (_, mut events) = subscribed_to(&hub, "/", "room").await;
    let before = publish_all(&other, "room", (0..20).map(|n| format!("before {n}"))).await;
    nats.stop_gracefully();
    nats.restart().await;
    until_published(&other).await;
    let after = publish_all(&other, "room", (0..20).map(|n| format!("after {n}"))).await;
    let got = take(&mut events, 40).await;
    assert_eq!(got[..20], before);
    assert_eq!(got[20..], after);
    assert_eq!(
        hub.stats().subscribers_of("room"),
        1,
        "the stream stayed open"
    );
}
