//! What the scenarios share: instances serving a hub, their clients, and what the
//! clients read.

use std::{net::SocketAddr, time::Duration};

use tower_sse::{
    Event, EventId,
    hub::{Hub, Replay},
};

pub use crate::common::engine::{
    Events, instance, next_is_reset, publish_all, take, until_the_end,
};
pub use crate::common::{connect_events, eventually, within};

/// Serves `hub` and opens an event stream on `uri`, subscribed to `topic` (one more
/// subscriber of it than before) once this returns.
pub async fn subscribed(hub: &Hub, uri: &str, topic: &str) -> (SocketAddr, Events) {
    let server = instance(hub).await;
    let events = follow(hub, server, uri, topic).await;
    (server, events)
}

/// Opens an event stream on `server` (serving `hub`), subscribed to `topic` when this
/// returns.
pub async fn follow(hub: &Hub, server: SocketAddr, uri: &str, topic: &str) -> Events {
    let before = hub.stats().subscribers_of(topic);
    let events = connect_events(server, uri, None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.stats().subscribers_of(topic) > before
    })
    .await;
    events
}

/// The data of each (id, data).
pub fn data(events: &[(String, String)]) -> Vec<String> {
    events.iter().map(|(_, data)| data.clone()).collect()
}

/// Waits until `hub` is back in touch with its server: it can publish again (to a topic
/// of its own, which no test reads) and subscribe (its live feed is back).
pub async fn until_published(hub: &Hub) {
    within(Duration::from_secs(30), async {
        while hub.publish("probe", Event::new().data("p")).await.is_err() {}
        while hub.subscribe("probe").await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// How many events of `topic` `hub` can replay from the start.
pub async fn stored(hub: &Hub, topic: &str) -> usize {
    let subscription = hub.subscribe(topic).with_history().await.unwrap();
    match subscription.replay() {
        Replay::Exact(n) => n,
        other => panic!("a replay of the history: {other:?}"),
    }
}

/// What a resume from `id` on `hub` would replay.
pub async fn replay_from(hub: &Hub, topic: &str, id: &str) -> Replay {
    let id = EventId::new(id).unwrap();
    hub.subscribe(topic)
        .after(id.as_ref())
        .await
        .unwrap()
        .replay()
}

/// `n` texts `{prefix}{i}`.
pub fn texts(prefix: &str, n: std::ops::Range<usize>) -> impl Iterator<Item = String> + '_ {
    n.map(move |i| format!("{prefix}{i}"))
}
