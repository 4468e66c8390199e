//! A Redis Cluster of three masters.

use std::{collections::HashSet, time::Duration};

use tower_sse::hub::{
    Hub,
    redis::{Redis, RedisConfig},
};

use crate::{
    common::{connect_events, eventually},
    instance, next_is_reset, publish_all,
    servers::{RedisCluster, available},
    subscribed_to, take, until_the_end,
};

fn config(cluster: &RedisCluster) -> RedisConfig {
    RedisConfig::cluster(cluster.urls())
        .prefix("test:")
        .connect_timeout(Duration::from_millis(500))
        .command_timeout(Duration::from_millis(500))
}

async fn hub(cluster: &RedisCluster) -> Hub {
    Hub::builder()
        .build_with(Redis::new(config(cluster)))
        .await
        .unwrap()
}

/// A topic whose stream lives on node `node`, and one on each other node.
async fn topic_on(cluster: &RedisCluster, node: usize) -> String {
    for n in 0.. {
        let topic = format!("topic-{n}");
        if cluster.node_of(&format!("test:{{{topic}}}:h")).await == node {
            return topic;
        }
    }
    unreachable!()
}

/// Topics spread over the masters; an event published on one instance reaches the
/// clients of another, and a client of several topics on several nodes resumes exactly
/// on a third instance.
#[tokio::test]
async fn topics_spread_over_the_masters_and_instances_share_them() {
    if !available() {
        return;
    }
    let cluster = RedisCluster::start().await;
    let (a, b, c) = (
        hub(&cluster).await,
        hub(&cluster).await,
        hub(&cluster).await,
    );

    // Thirty topics land on all three masters.
    let mut nodes = HashSet::new();
    for n in 0..30 {
        let topic = format!("spread-{n}");
        publish_all(&a, &topic, ["x".to_owned()]).await;
        nodes.insert(cluster.node_of(&format!("test:{{{topic}}}:h")).await);
    }
    assert_eq!(nodes.len(), 3, "every master holds topics");

    let (t0, t1, t2) = (
        topic_on(&cluster, 0).await,
        topic_on(&cluster, 1).await,
        topic_on(&cluster, 2).await,
    );
    let uri = format!("/?topic={t0}&topic={t1}&topic={t2}");
    let (_server_b, mut on_b) = subscribed_to(&b, &uri, &t0).await;
    let mut sent = Vec::new();
    for n in 0..9 {
        let topic = [&t0, &t1, &t2][n % 3];
        sent.extend(publish_all(&a, topic, [format!("{n}")]).await);
    }
    let seen = take(&mut on_b, 4).await;
    let mut data: Vec<String> = seen.iter().map(|(_, d)| d.clone()).collect();
    let cursor = seen[3].0.clone();
    drop(on_b);
    for n in 9..12 {
        let topic = [&t0, &t1, &t2][n % 3];
        sent.extend(publish_all(&a, topic, [format!("{n}")]).await);
    }
    let server_c = instance(&c).await;
    let mut on_c = connect_events(server_c, &uri, Some(&cursor)).await;
    data.extend(take(&mut on_c, 8).await.into_iter().map(|(_, d)| d));
    data.sort_by_key(|d| d.parse::<u32>().unwrap());
    let expected: Vec<String> = (0..12).map(|n| n.to_string()).collect();
    assert_eq!(data, expected, "every event once, across three nodes");
}

/// A node is killed and comes back (without its data): clients of topics on the other
/// nodes see nothing of it; clients of a topic on it have their streams ended and
/// resume with the reset event.
#[tokio::test]
async fn a_node_restarting_touches_only_its_own_topics() {
    if !available() {
        return;
    }
    let mut cluster = RedisCluster::start().await;
    let (publisher, hub) = (
        Hub::builder()
            .build_with(Redis::new(
                config(&cluster).command_timeout(Duration::from_secs(5)),
            ))
            .await
            .unwrap(),
        hub(&cluster).await,
    );
    let (lost, kept) = (topic_on(&cluster, 0).await, topic_on(&cluster, 1).await);
    let (server, mut on_lost) = subscribed_to(&hub, &format!("/?topic={lost}"), &lost).await;
    let mut on_kept = connect_events(server, &format!("/?topic={kept}"), None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.stats().subscribers_of(&kept) == 1
    })
    .await;
    let before = publish_all(&publisher, &lost, ["before".to_owned()]).await;
    assert_eq!(take(&mut on_lost, 1).await, before);

    cluster.nodes[0].stop();
    // The other nodes keep serving, and their clients keep receiving.
    let during = publish_all(&publisher, &kept, (0..5).map(|n| format!("during {n}"))).await;
    assert_eq!(take(&mut on_kept, 5).await, during);

    cluster.nodes[0].restart().await;
    cluster.wait_until_ok().await;
    publish_all(&publisher, &lost, ["after".to_owned()]).await;
    assert_eq!(
        until_the_end(&mut on_lost).await,
        [],
        "its data is gone: the stream ends"
    );
    let mut resumed = connect_events(server, &format!("/?topic={lost}"), Some(&before[0].0)).await;
    next_is_reset(&mut resumed).await;
    let live = publish_all(&publisher, &lost, ["live".to_owned()]).await;
    assert_eq!(take(&mut resumed, 1).await, live);

    let after = publish_all(&publisher, &kept, ["after".to_owned()]).await;
    assert_eq!(take(&mut on_kept, 1).await, after, "still the same stream");
    assert_eq!(hub.stats().subscribers_of(&kept), 1);
}

/// A master is killed and its replica, which has every event (the test waits for the
/// replica to acknowledge them), takes over: clients of topics on it stay connected and
/// get every later event once; clients of topics on other masters see nothing of it.
#[tokio::test]
async fn a_master_failing_over_to_its_replica() {
    if !available() {
        return;
    }
    let mut cluster = RedisCluster::start_with_replicas(1).await;
    let publisher = Hub::builder()
        .build_with(Redis::new(
            config(&cluster).command_timeout(Duration::from_secs(5)),
        ))
        .await
        .unwrap();
    let hub = hub(&cluster).await;
    let (moved, kept) = (topic_on(&cluster, 0).await, topic_on(&cluster, 1).await);
    let (server, mut on_moved) = subscribed_to(&hub, &format!("/?topic={moved}"), &moved).await;
    let mut on_kept = connect_events(server, &format!("/?topic={kept}"), None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.stats().subscribers_of(&kept) == 1
    })
    .await;
    let before = publish_all(&publisher, &moved, ["before".to_owned()]).await;
    assert_eq!(take(&mut on_moved, 1).await, before);
    let master = cluster.nodes[0].port;
    crate::servers::by_hand(master, &["WAIT", "1", "5000"]).await;

    cluster.nodes[0].stop();
    let during = publish_all(&publisher, &kept, ["during".to_owned()]).await;
    assert_eq!(take(&mut on_kept, 1).await, during);
    // The replica takes over the slots.
    let start = tokio::time::Instant::now();
    while cluster.node_of(&format!("test:{{{moved}}}:h")).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a replica took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.wait_until_ok().await;
    let after = publish_all(&publisher, &moved, (0..5).map(|n| format!("after {n}"))).await;
    assert_eq!(
        take(&mut on_moved, 5).await,
        after,
        "the same stream, every event once"
    );
    assert_eq!(hub.stats().subscribers_of(&moved), 1);
    let kept_after = publish_all(&publisher, &kept, ["after".to_owned()]).await;
    assert_eq!(take(&mut on_kept, 1).await, kept_after);
}
