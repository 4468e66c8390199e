//! Publish-to-receive latency between two hubs, shared by the latency benches.

use std::time::{Duration, Instant};

use tokio_stream::StreamExt;
use tower_sse::{
    Event,
    hub::{History, Hub, HubBuilder},
};

/// Events per measurement, 64 bytes of data each.
pub(crate) const EVENTS: usize = 5_000;

/// The builder of every engine's hubs in the latency benches: a history that holds a
/// whole measurement, and a lag bound of a whole measurement, so that a subscriber
/// behind on a loaded machine is measured late, not disconnected (the default bound,
/// 256 events, ends the stream of a subscriber 256 behind, which a paced run reaches
/// when the receiving task waits about 50 ms).
pub(crate) fn builder() -> HubBuilder {
    Hub::builder()
        .history(History::new().events(100_000))
        .lag_bound(EVENTS)
}

/// The table's header line.
pub(crate) fn header() {
    println!("{EVENTS} events of 64 bytes; publish-to-receive latency");
    println!("{:<44} {:>9} {:>9} {:>9}", "", "p50", "p99", "max");
}

/// Publishes on `from` while a subscriber of `to` receives; each event's latency.
pub(crate) async fn measure(from: &Hub, to: &Hub, paced: bool) -> Vec<Duration> {
    let topic = format!("t{}", Instant::now().elapsed().as_nanos());
    let mut subscription = to.subscribe(&topic).await.unwrap();
    let start = Instant::now();
    let publisher = {
        let from = from.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            let mut sent = Vec::with_capacity(EVENTS);
            for n in 0..EVENTS {
                if paced {
                    let due = start + Duration::from_micros(200 * n as u64);
                    tokio::time::sleep_until(due.into()).await;
                }
                sent.push(start.elapsed());
                from.publish(&topic, Event::new().data(format!("{n:064}")))
                    .await
                    .unwrap();
            }
            sent
        })
    };
    let mut received = Vec::with_capacity(EVENTS);
    while received.len() < EVENTS {
        if subscription.next().await.is_none() {
            panic!(
                "the subscriber on B ended after {} of {EVENTS} events ({} disconnected for lag)",
                received.len(),
                to.stats().lag_disconnects
            );
        }
        received.push(start.elapsed());
    }
    let sent = publisher.await.unwrap();
    received
        .iter()
        .zip(&sent)
        .map(|(r, s)| r.saturating_sub(*s))
        .collect()
}

/// Prints p50, p99 and max of `latencies` under `name`.
pub(crate) fn report(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<44} {:>9.3?} {:>9.3?} {:>9.3?}",
        at(0.5),
        at(0.99),
        latencies[latencies.len() - 1]
    );
}

/// Publishes per second on `hub`: `n` publishes of 64 bytes to one topic, one publisher
/// waiting for each. (`postgres_latency` measures its own rates.)
#[allow(dead_code)]
pub(crate) async fn publishes_per_second(hub: &Hub, n: usize) -> f64 {
    let topic = format!("rate{}", Instant::now().elapsed().as_nanos());
    let start = Instant::now();
    for i in 0..n {
        hub.publish(&topic, Event::new().data(format!("{i:064}")))
            .await
            .unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}
