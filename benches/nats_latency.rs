//! Cross-instance delivery latency of the NATS hub: two hubs on one `nats-server -js`, a
//! subscriber on B, events published on A; against the in-process hub and, with the
//! `redis` feature and `redis-server` installed, the Redis hub, measured in the same run;
//! with the `postgres` feature and `POSTGRES_URL`, the Postgres hub too.
//!
//! `cargo bench --features nats,redis --bench nats_latency` starts its own `nats-server`
//! (and `redis-server`) on free loopback ports (set `NATS_URL` to use another NATS).
//! With `REDIS_CLUSTER_NODES=redis://HOST:PORT,...` it also measures a Redis Cluster
//! (`bash benches/engine_latency.sh` starts a three-master cluster and sets it).
//! Prints p50, p99 and max of publish-to-receive time, for paced publishing (one event
//! every 200 µs) and a burst, each engine in turn for each mode; then publishes/s per
//! engine (one publisher waiting for each publish), in three interleaved rounds.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tower_sse::hub::{
    Hub,
    nats::{Nats, NatsConfig},
};

#[path = "support/latency.rs"]
mod latency;

use latency::{EVENTS, measure, report};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server of the bench's own, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let mut servers = Vec::new();
    let url = match std::env::var("NATS_URL") {
        Ok(url) => url,
        Err(_) => start_nats(&mut servers),
    };
    let (a, b) = nats_pair(&url).await;
    let mut engines = vec![("nats", a, b)];
    if let Some((ra, rb)) = redis_pair(&mut servers).await {
        engines.push(("redis", ra, rb));
    }
    if let Some((ca, cb)) = cluster_pair().await {
        engines.push(("redis cluster", ca, cb));
    }
    if let Some((pa, pb)) = postgres_pair().await {
        engines.push(("postgres", pa, pb));
    }
    let local = Hub::builder().lag_bound(EVENTS).build();
    engines.push(("in-process", local.clone(), local));

    latency::header();
    for paced in [true, false] {
        measure_mode(&engines, paced).await;
    }
    publish_rates(&engines).await;
    drop(servers);
}

/// Starts a `nats-server -js` of the bench's own on a free loopback port, kept in
/// `servers`, and answers its URL.
fn start_nats(servers: &mut Vec<Server>) -> String {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("tower-sse-bench-nats-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .arg("-sd")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (apt-get install nats-server), or set NATS_URL");
    servers.push(Server(child));
    format!("nats://127.0.0.1:{port}")
}

/// Two hubs on the NATS server at `url`, the first one retried until the server is up.
async fn nats_pair(url: &str) -> (Hub, Hub) {
    let config = || NatsConfig::new(url).prefix("bench");
    let a = loop {
        match latency::builder().build_with(Nats::new(config())).await {
            Ok(hub) => break hub,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let b = latency::builder()
        .build_with(Nats::new(config()))
        .await
        .unwrap();
    (a, b)
}

/// Publish-to-receive latency of each engine, paced or in a burst.
async fn measure_mode(engines: &[(&str, Hub, Hub)], paced: bool) {
    let mode = if paced {
        "paced, 1 per 200 µs"
    } else {
        "burst"
    };
    for (name, a, b) in engines {
        // One engine's failure is reported, and the others still measured.
        let (a, b) = (a.clone(), b.clone());
        match tokio::spawn(async move { measure(&a, &b, paced).await }).await {
            Ok(latencies) => report(&format!("{name}, A -> B, {mode}"), latencies),
            Err(_) => println!("{name}, A -> B, {mode}: failed (the panic is on stderr)"),
        }
    }
}

/// Publishes per second of each engine, in three interleaved rounds.
async fn publish_rates(engines: &[(&str, Hub, Hub)]) {
    let mut rates = vec![Vec::new(); engines.len()];
    for _round in 0..3 {
        for ((_, a, _), rates) in engines.iter().zip(&mut rates) {
            rates.push(latency::publishes_per_second(a, 2_000).await);
        }
    }
    println!("publishes/s, one publisher waiting for each (3 rounds of 2,000, interleaved)");
    for ((name, ..), rates) in engines.iter().zip(&rates) {
        let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!("{name:<44} {}", shown.join(" / "));
    }
}

/// Two hubs on a `redis-server` of the bench's own, if the feature and the program are
/// there.
#[cfg(feature = "redis")]
async fn redis_pair(servers: &mut Vec<Server>) -> Option<(Hub, Hub)> {
    use tower_sse::hub::redis::{Redis, RedisConfig};
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    servers.push(Server(child));
    let url = format!("redis://127.0.0.1:{port}/");
    let config = || RedisConfig::new(&url).prefix("bench:latency:");
    let started = Instant::now();
    let a = loop {
        match latency::builder().build_with(Redis::new(config())).await {
            Ok(hub) => break hub,
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => return None,
        }
    };
    let b = latency::builder()
        .build_with(Redis::new(config()))
        .await
        .ok()?;
    Some((a, b))
}

/// Two hubs on the Redis Cluster named by `REDIS_CLUSTER_NODES`, if set.
#[cfg(feature = "redis")]
async fn cluster_pair() -> Option<(Hub, Hub)> {
    use tower_sse::hub::redis::{Redis, RedisConfig};
    let nodes = std::env::var("REDIS_CLUSTER_NODES").ok()?;
    let config = || RedisConfig::cluster(nodes.split(',')).prefix("bench:latency:");
    let a = latency::builder()
        .build_with(Redis::new(config()))
        .await
        .unwrap();
    let b = latency::builder()
        .build_with(Redis::new(config()))
        .await
        .unwrap();
    Some((a, b))
}

#[cfg(not(feature = "redis"))]
async fn cluster_pair() -> Option<(Hub, Hub)> {
    None
}

#[cfg(not(feature = "redis"))]
async fn redis_pair(_: &mut Vec<Server>) -> Option<(Hub, Hub)> {
    None
}

/// Two hubs on the database named by `POSTGRES_URL`, if set.
#[cfg(feature = "postgres")]
async fn postgres_pair() -> Option<(Hub, Hub)> {
    use tower_sse::hub::postgres::{Postgres, PostgresConfig};
    let url = std::env::var("POSTGRES_URL").ok()?;
    let build = || async {
        latency::builder()
            .build_with(Postgres::new(PostgresConfig::new(&url).prefix("latency_")))
            .await
            .unwrap()
    };
    Some((build().await, build().await))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_pair() -> Option<(Hub, Hub)> {
    None
}
