//! The hub alone with many subscribers, in one process and without sockets: the memory a
//! subscription costs, and how long one event takes to reach every subscriber's task.
//! Sockets (the kernel's part, the larger one) are measured by `benches/scale.sh`.
//!
//! ```text
//! cargo bench --features hub --bench hub_scale -- [subscribers] [events]
//! ```

#[path = "support/args.rs"]
mod args;

use args::arg;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio_stream::StreamExt;
use tower_sse::{Event, hub::Hub};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn main() {
    let (subscribers, events) = (arg(0, 100_000), arg(1, 20));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let hub = Hub::builder().lag_bound(64).build();
        // Per event: how many subscribers got it, and when the last one did (ns since
        // the start).
        let counts: Arc<Vec<AtomicU64>> = Arc::new((0..events).map(|_| AtomicU64::new(0)).collect());
        let lasts: Arc<Vec<AtomicU64>> = Arc::new((0..events).map(|_| AtomicU64::new(0)).collect());
        let start = Instant::now();
        let before = rss_bytes();
        for _ in 0..subscribers {
            let mut subscription = hub.subscribe("all").await.unwrap();
            let (counts, lasts) = (counts.clone(), lasts.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while subscription.next().await.is_some() {
                    counts[n].fetch_add(1, Ordering::Relaxed);
                    lasts[n].fetch_max(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    n += 1;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let per_subscriber = rss_bytes().saturating_sub(before) as f64 / subscribers as f64;
        let mut spans = Vec::new();
        for n in 0..events {
            let published = start.elapsed().as_nanos() as u64;
            hub.publish("all", Event::new().data("x".repeat(32))).await.unwrap();
            while counts[n].load(Ordering::Relaxed) < subscribers as u64 {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            spans.push((lasts[n].load(Ordering::Relaxed) - published) as f64 / 1e6);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        spans.sort_by(f64::total_cmp);
        let at = |q: f64| spans[((spans.len() - 1) as f64 * q) as usize];
        println!(
            "subscribers={subscribers} workers={workers} rss_per_subscription_b={per_subscriber:.0} publish_to_last_p50_ms={:.1} publish_to_last_p99_ms={:.1} ns_per_delivery_p50={:.0}",
            at(0.5),
            at(0.99),
            at(0.5) * 1e6 / subscribers as f64
        );
    });
}
