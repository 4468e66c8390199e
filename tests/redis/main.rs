//! The hub over Redis, against real `redis-server`s that each test starts on free
//! loopback ports (temporary directories, no persistence unless a test saves) and kills
//! when it ends: one server (`single`), and a three-master Redis Cluster (`cluster`).
//! Needs Debian's `redis-server` and `redis-tools`; without them each test prints a line
//! saying so and passes, except under `.ci/run`, which installs them and makes a missing
//! program fail.
#![cfg(feature = "redis")]

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod servers;
mod single;

use std::{net::SocketAddr, time::Duration};

use common::{connect_events, eventually, hub_app, serve, within};
use futures_util::StreamExt;
use hyper::body::Incoming;
use tower_sse::{
    Event,
    hub::{Hub, RedisConfig},
};

/// Settings for a test: short timeouts, a prefix of the test's own.
fn config_at(url: String) -> RedisConfig {
    RedisConfig::new(url)
        .prefix("test:")
        .connect_timeout(Duration::from_millis(500))
        .command_timeout(Duration::from_millis(500))
}

/// A server whose `/` subscribes to the `topic` query parameters (default `room`).
async fn instance(hub: &Hub) -> SocketAddr {
    serve(hub_app(hub)).await
}

type Events = sse_stream::SseStream<Incoming>;

/// The next `n` events as (id, data).
async fn take(events: &mut Events, n: usize) -> Vec<(String, String)> {
    common::take(events, n).await
}

/// Every event until the stream ends, as (id, data).
async fn until_the_end(events: &mut Events) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while let Some(event) = within(Duration::from_secs(10), events.next()).await {
        let event = event.unwrap();
        got.push((event.id.unwrap_or_default(), event.data.unwrap_or_default()));
    }
    got
}

/// Serves `hub` and opens an event stream on `uri`, subscribed to `topic` once this
/// returns.
async fn subscribed_to(hub: &Hub, uri: &str, topic: &str) -> (SocketAddr, Events) {
    let server = instance(hub).await;
    let events = connect_events(server, uri, None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.subscribers(topic) == 1
    })
    .await;
    (server, events)
}

/// [`subscribed_to`] the default topic, `room`.
async fn subscribed(hub: &Hub) -> (SocketAddr, Events) {
    subscribed_to(hub, "/", "room").await
}

/// The next event on `events` is the reset event.
async fn next_is_reset(events: &mut Events) {
    let event = within(Duration::from_secs(5), events.next())
        .await
        .expect("the stream is open")
        .unwrap();
    assert_eq!(event.event.as_deref(), Some("reset"), "{event:?}");
}

/// Publishes each text to `topic`; returns (id, text) for each.
async fn publish_all(
    hub: &Hub,
    topic: &str,
    texts: impl IntoIterator<Item = String>,
) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    for text in texts {
        let id = hub.publish(topic, Event::new().data(&text)).await.unwrap();
        sent.push((id.to_string(), text));
    }
    sent
}
