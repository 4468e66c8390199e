//! The hub over NATS JetStream, against real `nats-server -js` processes that each test
//! starts on a free loopback port (a temporary store directory) and kills when it ends.
//! Needs Debian's `nats-server`; without it each test prints a line saying so and
//! passes, except under `.ci/run`, which installs it and makes a missing program fail.
#![cfg(feature = "nats")]

#[path = "../common/mod.rs"]
mod common;

mod faults;
mod servers;
mod sharing;

use std::{net::SocketAddr, time::Duration};

use common::{connect_events, eventually, hub_app, serve, within};
use futures_util::StreamExt;
use hyper::body::Incoming;
use tower_sse::{
    Event,
    hub::{Hub, NatsConfig},
};

use servers::NatsServer;

/// Settings for a test: short timeouts and heartbeat.
fn config_at(url: String) -> NatsConfig {
    NatsConfig::new(url)
        .prefix("test")
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(Duration::from_millis(1000))
        .heartbeat(Duration::from_millis(500))
}

async fn hub_at(url: String) -> Hub {
    Hub::builder().build_nats(config_at(url)).await.unwrap()
}

async fn hub(nats: &NatsServer) -> Hub {
    hub_at(nats.url()).await
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
    while let Some(event) = within(Duration::from_secs(20), events.next()).await {
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

/// The next event on `events` is the reset event.
async fn next_is_reset(events: &mut Events) {
    let event = within(Duration::from_secs(10), events.next())
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

/// Waits until `hub` can publish again (to a topic of its own, whose events no test
/// reads), after NATS came back.
async fn until_published(hub: &Hub) {
    within(Duration::from_secs(20), async {
        while hub.publish("probe", Event::new().data("p")).await.is_err() {}
    })
    .await;
}
