//! Scale-out over Redis: instances whose clients follow disjoint sets of topics, and
//! events spread over every topic. For each instance, the events it received from Redis
//! against the events its clients needed; and how many publishes a second the cluster
//! takes.
//!
//! ```text
//! REDIS_NODES=redis://127.0.0.1:7000,... [REDIS_CLUSTER=1] \
//!   cargo bench --features redis --bench cluster -- [topics] [events] [publishers] [instances]
//! ```
//!
//! `benches/cluster.sh` starts a cluster of 1 or 3 masters on loopback and runs this.
//! Each instance is a hub with its own Redis connections, as a server process has; the
//! subscribers are the hub's subscriptions, drained as fast as they come (no HTTP:
//! what is measured is what Redis sends each instance).

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
use tower_sse::{
    Event,
    hub::{
        History, Hub,
        redis::{Redis, RedisConfig},
    },
};

#[tokio::main]
async fn main() {
    let Ok(nodes) = std::env::var("REDIS_NODES") else {
        eprintln!("set REDIS_NODES (see benches/cluster.sh)");
        return;
    };
    let cluster = std::env::var("REDIS_CLUSTER").is_ok_and(|v| v == "1");
    let (topics, events, publishers, instances) =
        (arg(0, 10_000), arg(1, 30_000), arg(2, 64), arg(3, 3));
    let mut hubs = build_hubs(&nodes, cluster, instances + 1).await;
    let publisher = hubs.pop().unwrap();

    let subscribed = Instant::now();
    let received = subscribe_instances(&hubs, topics).await;
    let subscribe_s = subscribed.elapsed().as_secs_f64();

    let started = Instant::now();
    publish_spread(&publisher, events, topics, publishers).await;
    let publish_s = started.elapsed().as_secs_f64();

    // What each instance's clients needed: the events of its topics.
    let mut needed = vec![0u64; instances];
    for n in 0..events {
        needed[spread_topic(n, topics) % instances] += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..instances).any(|i| received[i].load(Ordering::Relaxed) < needed[i])
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let masters = if cluster { nodes.split(',').count() } else { 1 };
    println!(
        "masters={masters} topics={topics} events={events} publishers={publishers} subscribe_s={subscribe_s:.1} publish_per_s={:.0}",
        events as f64 / publish_s
    );
    for (i, hub) in hubs.iter().enumerate() {
        let from_redis = hub.stats().received;
        println!(
            "instance={i} topics={} needed={} delivered={} received_from_redis={from_redis} ratio={:.3}",
            hub.stats().topics,
            needed[i],
            received[i].load(Ordering::Relaxed),
            from_redis as f64 / needed[i].max(1) as f64
        );
    }
}

/// `count` hubs over Redis (`nodes`, a cluster if `cluster`), each with its own
/// connections, sharing a key prefix of this process.
async fn build_hubs(nodes: &str, cluster: bool, count: usize) -> Vec<Hub> {
    let prefix = format!("bench:{}:", std::process::id());
    let config = || {
        let config = if cluster {
            RedisConfig::cluster(nodes.split(','))
        } else {
            RedisConfig::new(nodes.split(',').next().unwrap())
        };
        config.prefix(&prefix)
    };
    let mut hubs = Vec::new();
    for _ in 0..count {
        hubs.push(
            Hub::builder()
                .history(History::new().events(100))
                .build_with(Redis::new(config()))
                .await
                .unwrap(),
        );
    }
    hubs
}

/// Instance i's clients follow the topics t with t % instances == i, one subscriber a
/// topic, drained as fast as events come; answers each instance's count of deliveries.
async fn subscribe_instances(hubs: &[Hub], topics: usize) -> Vec<Arc<AtomicU64>> {
    let instances = hubs.len();
    let received: Vec<Arc<AtomicU64>> = (0..instances).map(|_| Arc::default()).collect();
    for (i, hub) in hubs.iter().enumerate() {
        for t in (i..topics).step_by(instances) {
            let mut subscription = hub.subscribe(format!("t{t}")).await.unwrap();
            let count = received[i].clone();
            tokio::spawn(async move {
                while subscription.next().await.is_some() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    received
}

/// The topic of event `n`: a multiplicative hash spreads consecutive events over the
/// topics.
fn spread_topic(n: usize, topics: usize) -> usize {
    (n.wrapping_mul(2_654_435_761)) % topics
}

/// Publishes `events` events spread over every topic, from `publishers` concurrent
/// publishers, and waits for all of them.
async fn publish_spread(publisher: &Hub, events: usize, topics: usize, publishers: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..publishers {
        let (publisher, next) = (publisher.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n >= events {
                    return;
                }
                let topic = spread_topic(n, topics);
                publisher
                    .publish(&format!("t{topic}"), Event::new().data("x".repeat(64)))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}
