//! The hub over NATS JetStream, against real `nats-server -js` processes that each test
//! starts on a free loopback port (a temporary store directory) and kills when it ends.
//! Needs Debian's `nats-server`; without it each test prints a line saying so and
//! passes, except under `.ci/run`, which installs it and makes a missing program fail.
#![cfg(all(feature = "nats", feature = "axum"))]

#[path = "../common/mod.rs"]
mod common;

mod faults;
mod servers;
mod sharing;

use std::time::Duration;

use common::engine::{instance, next_is_reset, publish_all, subscribed_to, take};
use common::{connect_events, within};
use tower_sse::{
    Event,
    hub::{
        Hub,
        nats::{Nats, NatsConfig},
    },
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
    Hub::builder()
        .build_with(Nats::new(config_at(url)))
        .await
        .unwrap()
}

async fn hub(nats: &NatsServer) -> Hub {
    hub_at(nats.url()).await
}

/// Waits until `hub` can publish again (to a topic of its own, whose events no test
/// reads), after NATS came back.
async fn until_published(hub: &Hub) {
    within(Duration::from_secs(20), async {
        while hub.publish("probe", Event::new().data("p")).await.is_err() {}
    })
    .await;
}
