//! The hub over PostgreSQL: publish-to-receive latency between two instances, publishes
//! per second, and what publishing inside a transaction adds to it.
//!
//! `bash benches/postgres_latency.sh` starts a server of its own (`initdb` in a
//! temporary directory) and runs this with `POSTGRES_URL` set; or set it yourself:
//! `POSTGRES_URL=postgres://... cargo bench --features postgres --bench postgres_latency`.
//!
//! Prints p50, p99 and max of publish-to-receive time (paced: one event every 200 µs;
//! burst), publishes/s (one publisher waiting for each publish; 16 at once), and the
//! mean time of a transaction that inserts a row, with and without
//! `bench_publish(...)` in it.

use std::time::{Duration, Instant};

use tokio_postgres::NoTls;
use tower_sse::{
    Event,
    hub::{
        Hub,
        postgres::{Postgres, PostgresConfig},
    },
};

#[path = "support/latency.rs"]
mod latency;

use latency::{measure, report};

/// Transactions per variant in the transaction comparison.
const TRANSACTIONS: usize = 2_000;

#[tokio::main]
async fn main() {
    let url = std::env::var("POSTGRES_URL")
        .expect("POSTGRES_URL (bash benches/postgres_latency.sh sets it)");
    let build = || async {
        latency::builder()
            .build_with(Postgres::new(PostgresConfig::new(&url).prefix("bench_")))
            .await
            .unwrap()
    };
    let (a, b) = (build().await, build().await);
    latency::header();
    for paced in [true, false] {
        let mode = if paced {
            "paced, 1 per 200 µs"
        } else {
            "burst"
        };
        report(
            &format!("postgres, A -> B, {mode}"),
            measure(&a, &b, paced).await,
        );
    }
    throughput(&a).await;
    transactions(&url).await;
}

/// Publishes per second: one publisher that waits for each publish, then 16 at once
/// (on 16 topics, and on one).
async fn throughput(hub: &Hub) {
    let n = 4_000;
    let start = Instant::now();
    for i in 0..n {
        hub.publish("seq", Event::new().data(format!("{i:064}")))
            .await
            .unwrap();
    }
    rate("publishes/s, one publisher", n, start.elapsed());
    for topics in [16, 1] {
        let start = Instant::now();
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let hub = hub.clone();
                tokio::spawn(async move {
                    for i in 0..n / 16 {
                        let topic = format!("par{}", t % topics);
                        hub.publish(&topic, Event::new().data(format!("{i:064}")))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        rate(
            &format!("publishes/s, 16 publishers on {topics} topic(s)"),
            n,
            start.elapsed(),
        );
    }
}

fn rate(name: &str, n: usize, took: Duration) {
    println!("{name:<44} {:>9.0}", n as f64 / took.as_secs_f64());
}

/// The mean time of `BEGIN; INSERT; [SELECT bench_publish(...);] COMMIT`, each variant
/// alternated in rounds so both see the same server.
async fn transactions(url: &str) {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS bench_orders (id bigserial, state text)")
        .await
        .unwrap();
    let mut took = [Duration::ZERO; 2];
    for round in 0..TRANSACTIONS / 100 {
        for (variant, publish) in [(0, false), (1, true)] {
            let start = Instant::now();
            for i in 0..100 {
                let tx = client.transaction().await.unwrap();
                tx.execute("INSERT INTO bench_orders (state) VALUES ('new')", &[])
                    .await
                    .unwrap();
                if publish {
                    let data = format!("{round}-{i:060}");
                    tx.query_one("SELECT bench_publish('orders', $1)", &[&data])
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
            }
            took[variant] += start.elapsed();
        }
    }
    let mean = |total: Duration| total / u32::try_from(TRANSACTIONS).unwrap_or(u32::MAX);
    println!(
        "{:<44} {:>9.3?}",
        "transaction: insert, commit",
        mean(took[0])
    );
    println!(
        "{:<44} {:>9.3?}",
        "transaction: insert, bench_publish, commit",
        mean(took[1])
    );
}
