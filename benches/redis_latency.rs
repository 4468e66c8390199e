//! Cross-instance delivery latency of the Redis hub: two hubs on one Redis, a subscriber
//! on B, events published on A; against the in-process hub measured in the same run.
//!
//! `cargo bench --features redis --bench redis_latency` starts its own `redis-server`
//! on a free loopback port (set `REDIS_URL` to use another). Prints p50, p99 and max of
//! publish-to-receive time, for paced publishing (one event every 200 µs) and a burst.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use tower_sse::hub::{
    Hub,
    redis::{Redis, RedisConfig},
};

#[path = "support/latency.rs"]
mod latency;

use latency::{EVENTS, measure, report};

#[tokio::main]
async fn main() {
    let (url, mut server) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let (url, child) = start_redis();
            (url, Some(child))
        }
    };
    let (a, b) = redis_pair(&url).await;
    let local = Hub::builder().lag_bound(EVENTS).build();

    latency::header();
    for paced in [true, false] {
        let mode = if paced {
            "paced, 1 per 200 µs"
        } else {
            "burst"
        };
        report(
            &format!("redis, A -> B, {mode}"),
            measure(&a, &b, paced).await,
        );
        report(
            &format!("in-process, {mode}"),
            measure(&local, &local, paced).await,
        );
    }
    if let Some(child) = &mut server {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Starts a `redis-server` of the bench's own on a free loopback port; answers its URL
/// and the process.
fn start_redis() -> (String, Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("tower-sse-bench-redis-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server), or set REDIS_URL");
    (format!("redis://127.0.0.1:{port}/"), child)
}

/// Two hubs on the Redis at `url`, the first one retried until the server is up.
async fn redis_pair(url: &str) -> (Hub, Hub) {
    let config = || RedisConfig::new(url).prefix("bench:latency:");
    let a = loop {
        match latency::builder().build_with(Redis::new(config())).await {
            Ok(hub) => break hub,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let b = latency::builder()
        .build_with(Redis::new(config()))
        .await
        .unwrap();
    (a, b)
}
