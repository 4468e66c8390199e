//! The hub over Redis, against real `redis-server`s that each test starts on free
//! loopback ports (temporary directories, no persistence unless a test saves) and kills
//! when it ends: one server (`single`), and a three-master Redis Cluster (`cluster`).
//! Needs Debian's `redis-server` and `redis-tools`; without them each test prints a line
//! saying so and passes, except under `.ci/run`, which installs them and makes a missing
//! program fail.
#![cfg(all(feature = "redis", feature = "axum"))]

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod servers;
mod single;

use std::{net::SocketAddr, time::Duration};

use common::engine::{
    Events, instance, next_is_reset, publish_all, subscribed_to, take, until_the_end,
};
use tower_sse::hub::{Hub, redis::RedisConfig};

/// Settings for a test: short timeouts, a prefix of the test's own.
fn config_at(url: String) -> RedisConfig {
    RedisConfig::new(url)
        .prefix("test:")
        .connect_timeout(Duration::from_millis(500))
        .command_timeout(Duration::from_millis(500))
}

/// [`subscribed_to`] the default topic, `room`.
async fn subscribed(hub: &Hub) -> (SocketAddr, Events) {
    subscribed_to(hub, "/", "room").await
}
