//! What only the hub over PostgreSQL does (the scenarios every engine shares run in
//! `tests/engines`), against real servers that each test starts (`initdb` in a
//! temporary directory, a free loopback port) and stops when it ends. Needs Debian's
//! `postgresql`; without it each test prints a line saying so and passes, except under
//! `.ci/run`, which installs it and makes a missing program fail.
#![cfg(feature = "axum")]

#[path = "../common/mod.rs"]
mod common;

mod example;
mod faults;
mod from_sqlx;
mod servers;
mod sharing;

use std::time::Duration;

use common::within;
use tower_sse::{
    Event,
    hub::{
        Hub,
        postgres::{Postgres, PostgresConfig},
    },
};

use servers::PgServer;

/// Settings for a test: short timeouts and heartbeat.
fn config_at(url: String) -> PostgresConfig {
    PostgresConfig::new(url)
        .prefix("test_")
        .connect_timeout(Duration::from_millis(1000))
        .command_timeout(Duration::from_millis(1000))
        .heartbeat(Duration::from_millis(500))
}

/// A server of the test's own, or `None` (after one line saying so) when PostgreSQL is
/// not installed.
async fn started() -> Option<PgServer> {
    if !servers::available() {
        return None;
    }
    Some(PgServer::start().await)
}

async fn hub(pg: &PgServer) -> Hub {
    Hub::builder()
        .build_with(Postgres::new(config_at(pg.url())))
        .await
        .unwrap()
}

/// Waits until `hub` can publish again (to a topic of its own, whose events no test
/// reads), after the server came back.
async fn until_published(hub: &Hub) {
    within(Duration::from_secs(30), async {
        while hub.publish("probe", Event::new().data("p")).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// `n` texts `<prefix>0`, `<prefix>1`, ...
fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}
