//! The hub over Redis Streams, against a real `redis-server` that each test starts on a
//! free loopback port (with a temporary directory, no persistence) and stops by PID.
//! Needs Debian's `redis-server`; `.ci/run` installs it. Without it these tests fail.
#![cfg(feature = "redis")]

mod common;

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{connect_events, eventually, get as request, hub_app, send, serve, within};
use futures_util::StreamExt;
use http::StatusCode;
use hyper::body::Incoming;
use tower_sse::{
    Event, LastEventId,
    hub::{Hub, PublishError, RedisConfig, RedisSetupError, Replay},
};

/// A `redis-server` of the test's own, stopped when dropped.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("tower-sse-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs: install it (apt-get install redis-server)");
        self.child = Some(child);
        // Ready when it answers PING.
        let client = redis::Client::open(self.url()).unwrap();
        let start = tokio::time::Instant::now();
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(redis: &RedisServer) -> RedisConfig {
    config_at(redis.url())
}

fn config_at(url: String) -> RedisConfig {
    RedisConfig::new(url)
        .key("test:events")
        .connect_timeout(Duration::from_millis(500))
        .command_timeout(Duration::from_millis(500))
}

/// A server whose `/` subscribes to the `topic` query parameters (default `room`).
async fn instance(hub: &Hub) -> SocketAddr {
    serve(hub_app(hub)).await
}

/// The next `n` events as (id, data).
async fn take(events: &mut sse_stream::SseStream<Incoming>, n: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let event = within(Duration::from_secs(10), events.next())
            .await
            .expect("the stream is open")
            .unwrap();
        got.push((event.id.unwrap_or_default(), event.data.unwrap_or_default()));
    }
    got
}

/// Serves `hub` and opens an event stream on its `room`, subscribed once this returns.
async fn subscribed(hub: &Hub) -> (SocketAddr, sse_stream::SseStream<Incoming>) {
    let server = instance(hub).await;
    let events = connect_events(server, "/", None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.subscribers("room") == 1
    })
    .await;
    (server, events)
}

/// Runs a command on `redis` as another writer would.
async fn by_hand(redis: &RedisServer, command: &[&str]) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(command[0]);
    for arg in &command[1..] {
        cmd.arg(*arg);
    }
    let _: redis::Value = cmd.query_async(&mut conn).await.unwrap();
}

/// The next event on `events` is the reset event.
async fn next_is_reset(events: &mut sse_stream::SseStream<Incoming>) {
    let event = within(Duration::from_secs(5), events.next())
        .await
        .expect("the stream is open")
        .unwrap();
    assert_eq!(event.event.as_deref(), Some("reset"), "{event:?}");
}

async fn publish_all(
    hub: &Hub,
    topic: &str,
    texts: impl IntoIterator<Item = String>,
) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    for text in texts {
        let id = hub.publish(topic, Event::new().data(&text)).await.unwrap();
        sent.push((id.to_string(), text));
    }
    sent
}

#[tokio::test]
async fn events_published_on_one_instance_reach_subscribers_of_another() {
    let redis = RedisServer::start().await;
    let a = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let b = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let (_server_a, server_b) = (instance(&a).await, instance(&b).await);

    let mut on_b = connect_events(server_b, "/", None).await;
    eventually(Duration::from_secs(5), "subscribed on B", || {
        b.subscribers("room") == 1
    })
    .await;
    let sent = publish_all(&a, "room", (0..200).map(|n| format!("message {n}"))).await;
    assert!(
        sent[0].0.contains('-'),
        "ids are Redis stream ids: {}",
        sent[0].0
    );
    assert_eq!(take(&mut on_b, 200).await, sent);
}

#[tokio::test]
async fn a_client_resumes_on_another_instance_from_an_id_given_by_the_first() {
    let redis = RedisServer::start().await;
    let a = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let b = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let (server_a, server_b) = (instance(&a).await, instance(&b).await);

    let mut on_a = connect_events(server_a, "/", None).await;
    eventually(Duration::from_secs(5), "subscribed on A", || {
        a.subscribers("room") == 1
    })
    .await;
    let first = publish_all(&a, "room", (0..10).map(|n| format!("m{n}"))).await;
    let seen = take(&mut on_a, 5).await;
    assert_eq!(seen, first[..5]);
    drop(on_a); // instance A goes away for this client after 5 events

    let later = publish_all(&a, "room", (10..15).map(|n| format!("m{n}"))).await;
    let last_seen = seen[4].0.clone();
    let mut on_b = connect_events(server_b, "/", Some(&last_seen)).await;
    let mut expected = first[5..].to_vec();
    expected.extend(later);
    assert_eq!(
        take(&mut on_b, 10).await,
        expected,
        "exactly the missed events, once each"
    );

    // Then live ones.
    let live = publish_all(&b, "room", ["live".to_owned()]).await;
    assert_eq!(take(&mut on_b, 1).await, live);
}

#[tokio::test]
async fn several_topics_resume_together_across_instances() {
    let redis = RedisServer::start().await;
    let a = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let b = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let server_b = instance(&b).await;
    let mut sent = Vec::new();
    for n in 0..30 {
        let topic = ["x", "y", "z"][n % 3];
        let id = a
            .publish(topic, Event::new().data(format!("{topic}{n}")))
            .await
            .unwrap();
        sent.push((id.to_string(), format!("{topic}{n}")));
    }
    let wanted: Vec<_> = sent[3..]
        .iter()
        .filter(|(_, data)| !data.starts_with('y'))
        .cloned()
        .collect();
    let mut events = connect_events(server_b, "/?topic=x&topic=z", Some(&sent[2].0)).await;
    assert_eq!(take(&mut events, wanted.len()).await, wanted);
}

#[tokio::test]
async fn the_history_bound_and_the_reset_event() {
    let redis = RedisServer::start().await;
    let hub = Hub::builder()
        .build_redis(config(&redis).max_len(100).read_batch(64))
        .await
        .unwrap();
    let server = instance(&hub).await;
    let sent = publish_all(&hub, "room", (0..3000).map(|n| format!("m{n}"))).await;

    // The first id was trimmed away long ago.
    let mut events = connect_events(server, "/", Some(&sent[0].0)).await;
    next_is_reset(&mut events).await;
    // An id Redis never gave.
    let mut events = connect_events(server, "/", Some("99999999999999-0")).await;
    next_is_reset(&mut events).await;

    // A recent id: exactly what follows, over several read batches.
    let subscription = hub
        .subscribe("room", LastEventId::new(&sent[2900].0).unwrap().as_ref())
        .await
        .unwrap();
    assert_eq!(subscription.replay(), Replay::Exact(99));
    let mut events = connect_events(server, "/", Some(&sent[2900].0)).await;
    assert_eq!(take(&mut events, 99).await, sent[2901..]);
}

#[tokio::test]
async fn redis_restarting_mid_stream() {
    let mut redis = RedisServer::start().await;
    let hub = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let other = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let (_, mut events) = subscribed(&hub).await;
    let before = publish_all(&other, "room", (0..3).map(|n| format!("before {n}"))).await;
    assert_eq!(take(&mut events, 3).await, before);

    redis.stop();
    let err = hub
        .publish("room", Event::new().data("while down"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Backend(_)), "{err:?}");
    assert!(
        err.to_string().contains(&redis.url()),
        "the error names Redis: {err}"
    );

    redis.restart().await;
    // The publisher's connection comes back on its own.
    let start = tokio::time::Instant::now();
    let first_after = loop {
        match other.publish("room", Event::new().data("after 0")).await {
            Ok(id) => break (id.to_string(), "after 0".to_owned()),
            Err(_) => {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "publishing resumed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let mut after = vec![first_after];
    after.extend(publish_all(&other, "room", (1..3).map(|n| format!("after {n}"))).await);
    // The subscriber stayed connected and gets exactly what came after, once each.
    assert_eq!(take(&mut events, 3).await, after);
    assert_eq!(hub.subscribers("room"), 1);
}

/// Redis comes back empty and the stream restarts with ids below the last one the reader
/// had read (here written by hand, as another writer or a restore could): the reader
/// starts again from the stream's beginning instead of waiting for ids above its old
/// position, so nothing written after the restart is missed.
#[tokio::test]
async fn a_stream_that_restarts_below_the_last_id_is_read_from_its_beginning() {
    let mut redis = RedisServer::start().await;
    let hub = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let (_, mut events) = subscribed(&hub).await;
    let before = publish_all(&hub, "room", ["before".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, before);
    let millis: u64 = before[0].0.split('-').next().unwrap().parse().unwrap();
    assert!(millis > 1, "a time-based id: {}", before[0].0);

    redis.stop();
    redis.restart().await;
    for (id, text) in [("1-1", "low 1"), ("1-2", "low 2")] {
        by_hand(
            &redis,
            &[
                "XADD",
                "test:events",
                id,
                "t",
                "room",
                "e",
                &format!("data: {text}\n"),
            ],
        )
        .await;
    }
    assert_eq!(
        take(&mut events, 2).await,
        [
            ("1-1".to_owned(), "low 1".to_owned()),
            ("1-2".to_owned(), "low 2".to_owned())
        ]
    );
}

/// With no `Last-Event-ID`, `subscribe_with_history` replays every retained event of its
/// topics, in order, over several read batches (the last one short), skipping other
/// topics' entries.
#[tokio::test]
async fn everything_retained_is_replayed_over_several_read_batches() {
    let redis = RedisServer::start().await;
    let hub = Hub::builder()
        .build_redis(config(&redis).read_batch(16))
        .await
        .unwrap();
    let mut expected = Vec::new();
    for n in 0..50 {
        let topic = if n % 5 == 0 { "other" } else { "room" };
        let text = format!("{topic} {n}");
        let id = hub.publish(topic, Event::new().data(&text)).await.unwrap();
        if topic == "room" {
            expected.push(format!("data: {text}\nid: {id}\n\n"));
        }
    }
    let mut subscription = hub.subscribe_with_history(["room"], None).await.unwrap();
    assert_eq!(subscription.replay(), Replay::Exact(40));
    let mut replayed = Vec::new();
    while replayed.len() < expected.len() {
        let event = within(Duration::from_secs(5), subscription.next())
            .await
            .expect("the subscription is open");
        replayed.push(String::from_utf8(event.as_bytes().to_vec()).unwrap());
    }
    assert_eq!(replayed, expected);
}

/// A TCP proxy in front of Redis that a test can cut: cutting closes every connection
/// through it, and refuses new ones until it is restored. Redis itself keeps running.
struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
    /// Connections being forwarded now.
    open: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(redis: &RedisServer) -> Self {
        let target = redis.port;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, watch) = tokio::sync::watch::channel(true);
        let open = Arc::new(AtomicUsize::new(0));
        let counter = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut up = watch.clone();
                if !*up.borrow() {
                    continue; // refused: dropped at once
                }
                let open = counter.clone();
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = up.wait_for(|up| !*up) => {}
                        }
                    }
                    drop(client);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { port, up, open }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Cuts every connection, and returns once none is left open.
    async fn cut(&self) {
        self.up.send_replace(false);
        eventually(
            Duration::from_secs(5),
            "the proxy's connections closed",
            || self.open.load(Ordering::SeqCst) == 0,
        )
        .await;
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// Two instances keeping `max_len` entries: `publisher` talks to Redis directly, `hub`
/// through `proxy` and serves `server`, where `events` has received the `first` event.
struct CutOff {
    _redis: RedisServer,
    proxy: Proxy,
    publisher: Hub,
    hub: Hub,
    server: SocketAddr,
    events: sse_stream::SseStream<Incoming>,
    first: Vec<(String, String)>,
}

impl CutOff {
    async fn start(max_len: usize) -> Self {
        let redis = RedisServer::start().await;
        let proxy = Proxy::start(&redis).await;
        let publisher = Hub::builder()
            .build_redis(config(&redis).max_len(max_len))
            .await
            .unwrap();
        let hub = Hub::builder()
            .build_redis(config_at(proxy.url()).max_len(max_len))
            .await
            .unwrap();
        let (server, mut events) = subscribed(&hub).await;
        let first = publish_all(&publisher, "room", ["first".to_owned()]).await;
        assert_eq!(take(&mut events, 1).await, first);
        Self {
            _redis: redis,
            proxy,
            publisher,
            hub,
            server,
            events,
            first,
        }
    }
}

/// An instance cut off from Redis while others publish more than the stream keeps: the
/// entries it had not read are trimmed away. Its live client must not silently go on
/// without them: its stream ends, and resuming from its last id gets the reset event.
#[tokio::test]
async fn a_reader_cut_off_while_entries_are_trimmed_ends_its_streams() {
    let CutOff {
        _redis,
        proxy,
        publisher,
        server,
        mut events,
        first,
        hub: cut_off,
    } = CutOff::start(100).await;
    proxy.cut().await;
    let sent = publish_all(&publisher, "room", (0..2000).map(|n| format!("m{n}"))).await;
    proxy.restore();

    let mut received = Vec::new();
    // Until the stream ends.
    while let Some(event) = within(Duration::from_secs(10), events.next()).await {
        let event = event.unwrap();
        received.push((event.id.unwrap_or_default(), event.data.unwrap_or_default()));
    }
    // Cut off before the first of them was published, it read none: the stream ends
    // instead of going on with the last hundred or so.
    assert_eq!(
        received,
        [],
        "the stream ends without skipping to what was kept"
    );
    assert_eq!(sent.len(), 2000);
    eventually(Duration::from_secs(5), "the subscription released", || {
        cut_off.subscribers("room") == 0
    })
    .await;

    // The instance's own connection to Redis comes back too; until it has, resuming
    // answers 503 (with Retry-After), as an EventSource would retry.
    let last = received.last().unwrap_or(&first[0]).0.clone();
    let headers = [
        ("accept", "text/event-stream"),
        ("last-event-id", last.as_str()),
    ];
    let start = tokio::time::Instant::now();
    let response = loop {
        let response = send(server, request("/", &headers)).await;
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "Redis is back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(response.status(), StatusCode::OK);
    let mut resumed = sse_stream::SseStream::new(response.into_body());
    next_is_reset(&mut resumed).await;
}

/// Cut off while fewer entries are published than the stream keeps: nothing was
/// trimmed, so the client stays connected and gets every one of them, once each.
#[tokio::test]
async fn a_reader_cut_off_briefly_loses_nothing_and_keeps_its_streams() {
    let CutOff {
        _redis,
        proxy,
        publisher,
        mut events,
        hub: cut_off,
        ..
    } = CutOff::start(10_000).await;
    proxy.cut().await;
    let sent = publish_all(&publisher, "room", (0..50).map(|n| format!("m{n}"))).await;
    proxy.restore();
    assert_eq!(take(&mut events, 50).await, sent);
    assert_eq!(cut_off.subscribers("room"), 1);
}

/// The stream is deleted and written again below the last id read, with Redis running
/// all along (no restart): the instance cannot tell what its clients missed, so it ends
/// their streams, and resuming from the old id gets the reset event.
#[tokio::test]
async fn a_stream_rewritten_below_without_a_restart_ends_the_streams() {
    let redis = RedisServer::start().await;
    let hub = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let (server, mut events) = subscribed(&hub).await;
    let first = publish_all(&hub, "room", ["first".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, first);

    by_hand(&redis, &["DEL", "test:events"]).await;
    by_hand(
        &redis,
        &[
            "XADD",
            "test:events",
            "1-1",
            "t",
            "room",
            "e",
            "data: low\n",
        ],
    )
    .await;
    // Noticed when the read that is waiting then times out and the next one has waited
    // too: two block times (5 s each) at most.
    assert!(
        within(Duration::from_secs(20), events.next())
            .await
            .is_none(),
        "the stream ends"
    );
    let mut resumed = connect_events(server, "/", Some(&first[0].0)).await;
    next_is_reset(&mut resumed).await;
}

/// The longest command timeout still leaves the reader working (it used to overflow
/// adding the block time, and the reader task died).
#[tokio::test]
async fn the_longest_command_timeout_still_delivers() {
    let redis = RedisServer::start().await;
    let hub = Hub::builder()
        .build_redis(config(&redis).command_timeout(Duration::MAX))
        .await
        .unwrap();
    let mut subscription = hub.subscribe("room", None).await.unwrap();
    let id = hub.publish("room", Event::new().data("x")).await.unwrap();
    let event = within(Duration::from_secs(5), subscription.next())
        .await
        .expect("the subscription is open");
    assert_eq!(
        event.as_bytes(),
        format!("data: x\nid: {id}\n\n").as_bytes()
    );
}

/// A loopback port with nothing listening.
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Building a hub over `url`, where nothing answers, fails: the error.
async fn build_unreachable(url: &str) -> RedisSetupError {
    within(
        Duration::from_secs(20),
        Hub::builder()
            .build_redis(RedisConfig::new(url).connect_timeout(Duration::from_millis(300))),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn setup_errors_name_the_url() {
    let err = Hub::builder()
        .build_redis(RedisConfig::new("http://not-redis"))
        .await
        .unwrap_err();
    assert!(matches!(err, RedisSetupError::InvalidUrl { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`http://not-redis` is not a valid Redis URL"),
        "{err}"
    );

    let url = format!("redis://127.0.0.1:{}/", unused_port());
    let err = build_unreachable(&url).await;
    assert!(
        matches!(err, RedisSetupError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("cannot reach Redis at `{url}`")),
        "{err}"
    );
}

#[tokio::test]
async fn passwords_stay_out_of_errors_and_responses() {
    let port = unused_port();
    let url = format!("redis://someuser:s3cret@127.0.0.1:{port}/");
    let err = build_unreachable(&url).await;
    let text = err.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("someuser"),
        "{text}"
    );
    assert!(
        text.contains(&format!("redis://127.0.0.1:{port}/")),
        "{text}"
    );

    // A history read that fails answers 503 without Redis's details.
    let mut redis = RedisServer::start().await;
    let hub = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let server = instance(&hub).await;
    redis.stop();
    let response = send(
        server,
        request(
            "/",
            &[("accept", "text/event-stream"), ("last-event-id", "1-0")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = common::body_bytes(response).await;
    assert_eq!(body, "the event history is unavailable; try again later");
}

#[tokio::test]
async fn the_greatest_id_is_unknown_not_an_error() {
    let redis = RedisServer::start().await;
    let hub = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let last = LastEventId::new("18446744073709551615-18446744073709551615").unwrap();
    let subscription = hub.subscribe("room", last.as_ref()).await.unwrap();
    assert_eq!(subscription.replay(), Replay::Reset);
}

#[tokio::test]
async fn ids_of_your_own_are_refused() {
    let redis = RedisServer::start().await;
    let hub = Hub::builder().build_redis(config(&redis)).await.unwrap();
    let err = hub
        .publish_with_id("room", "mine", Event::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Redis stream ids"), "{err}");
}
