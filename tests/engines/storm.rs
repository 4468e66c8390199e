//! A reconnect storm: after a deploy every client comes back at once with a
//! `Last-Event-ID`, from nearby positions, each owed about 100 events. CI runs it at a
//! size it affords; the ignored `storm_full_size` runs 10,000 clients (`STORM_CLIENTS`)
//! on each engine of `ENGINES` after the in-process hub, and prints each time against
//! the in-process one:
//! `ulimit -n 30000; cargo test --release --all-features --test engines -- --ignored
//! --nocapture storm_full_size`. Clients and instances share the process: two open
//! files a client, so 10,000 clients need more than 20,000. Each instance's listen
//! queue holds 4,096 connections (`common::serve`): with tokio's 1,024, connections
//! dropped from it waited for TCP's retries, seconds that were no engine's.

use std::time::Duration;

use http::StatusCode;

use crate::{
    common::{get as request, send},
    harness::{Engine, Settings},
    support::{instance, publish_all, take, texts, within},
};

/// How many clients come back at once in CI.
const CLIENTS: usize = 500;

/// 200 events published; `CLIENTS` clients resume at once over two instances, each
/// from one of the 97th to 100th events: none is refused, and each gets exactly the
/// events after its id, once, in order.
pub async fn reconnect_storm<E: Engine>(engine: E) {
    storm(engine, CLIENTS).await;
}

/// The storm with `clients` clients; how long until every one had its events.
async fn storm<E: Engine>(engine: E, clients: usize) -> Duration {
    // The engines' usual timeouts (seconds), not the suite's short ones.
    let (a, b) = (
        engine.hub(Settings::patient()).await,
        engine.hub(Settings::patient()).await,
    );
    let servers = [instance(&a).await, instance(&b).await];
    let sent = publish_all(&a, "room", texts("m", 0..200)).await;
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let from = 99 - n % 4;
            let (server, sent) = (servers[n % 2], sent.clone());
            tokio::spawn(async move {
                let headers = [
                    ("accept", "text/event-stream"),
                    ("last-event-id", sent[from].0.as_str()),
                ];
                let response = send(server, request("/", &headers)).await;
                assert_eq!(response.status(), StatusCode::OK);
                assert!(
                    !response.headers().contains_key("retry-after"),
                    "client {n} refused"
                );
                let mut events = sse_stream::SseStream::new(response.into_body());
                let owed = sent.len() - from - 1;
                assert_eq!(
                    take(&mut events, owed).await,
                    sent[from + 1..],
                    "client {n}"
                );
            })
        })
        .collect();
    let limit = Duration::from_secs(60 + clients as u64 / 50);
    within(limit, async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
    let took = start.elapsed();
    println!(
        "{}: {clients} clients resumed, each owed about 100 events, none refused, in {took:?}",
        E::NAME
    );
    took
}

/// The storm at full size on every engine named in `ENGINES` (default all but
/// `memory`, the in-process hub measured again), after the in-process hub in the same
/// run (its second storm: the first warms the process up); each time is printed with
/// its ratio to the in-process one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: 10,000 clients (STORM_CLIENTS) on each engine"]
async fn storm_full_size() {
    let clients: usize = std::env::var("STORM_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let wanted =
        std::env::var("ENGINES").unwrap_or_else(|_| "redis,cluster,nats,postgres".to_owned());
    // The first storm in a process is slower (its memory grows): it warms the process
    // up, and the second is the reference, so that no engine gains from coming after it.
    storm(crate::harness::memory::Memory::default(), clients).await;
    let local = storm(crate::harness::memory::Memory::default(), clients).await;
    for name in wanted.split(',') {
        let took: Option<Duration> = match name {
            // The in-process hub again: after the first run has warmed the process up.
            "memory" => Some(storm(crate::harness::memory::Memory::default(), clients).await),
            #[cfg(feature = "redis")]
            "redis" => full::<crate::harness::redis::Redis>(clients).await,
            #[cfg(feature = "redis")]
            "cluster" => full::<crate::harness::redis::Cluster>(clients).await,
            #[cfg(feature = "nats")]
            "nats" => full::<crate::harness::nats::Nats>(clients).await,
            #[cfg(feature = "postgres")]
            "postgres" => full::<crate::harness::postgres::Postgres>(clients).await,
            other => panic!("no engine `{other}` here"),
        };
        if let Some(took) = took {
            let ratio = took.as_secs_f64() / local.as_secs_f64();
            println!("{name}: {ratio:.2} × the in-process time ({local:?})");
        }
    }
}

async fn full<E: Engine>(clients: usize) -> Option<Duration> {
    Some(storm(E::start().await?, clients).await)
}
