//! One Redis server.

use std::time::Duration;

use futures_util::StreamExt;
use http::StatusCode;
use redis::Value;
use tower_sse::{
    Event, EventId,
    hub::{
        History, Hub, PublishError, Replay, SetupError,
        redis::{Redis, RedisConfig},
    },
};

use crate::{
    common::{body_bytes, connect_events, eventually, get as request, send, within},
    config_at, instance, next_is_reset, publish_all,
    servers::{Proxy, RedisServer, available},
    subscribed, subscribed_to, take, until_the_end,
};

fn config(redis: &RedisServer) -> RedisConfig {
    config_at(redis.url())
}

async fn hub(redis: &RedisServer) -> Hub {
    Hub::builder()
        .build_with(Redis::new(config(redis)))
        .await
        .unwrap()
}

/// How many instances are subscribed to each topic's channel.
async fn channel_subscribers(redis: &RedisServer, topics: &[&str]) -> Vec<i64> {
    let channels: Vec<String> = topics
        .iter()
        .map(|t| format!("test:{{{t}}}:live"))
        .collect();
    let mut command = vec!["PUBSUB", "SHARDNUMSUB"];
    command.extend(channels.iter().map(String::as_str));
    let reply = redis.by_hand(&command).await;
    let pairs: Vec<(String, i64)> = redis::from_redis_value(&reply).unwrap();
    pairs.into_iter().map(|(_, count)| count).collect()
}

async fn stream_length(redis: &RedisServer, topic: &str) -> i64 {
    let key = format!("test:{{{topic}}}:h");
    redis::from_redis_value(&redis.by_hand(&["XLEN", &key]).await).unwrap()
}

#[tokio::test]
async fn events_published_on_one_instance_reach_subscribers_of_another() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    let (_server_b, mut on_b) = subscribed(&b).await;
    let sent = publish_all(&a, "room", (0..200).map(|n| format!("message {n}"))).await;
    assert!(
        sent[0].0.contains('-'),
        "ids are Redis stream ids: {}",
        sent[0].0
    );
    assert_eq!(take(&mut on_b, 200).await, sent);
}

/// Each topic is a stream of its own, and an instance listens to a topic's channel only
/// while one of its clients follows the topic.
#[tokio::test]
async fn an_instance_receives_only_the_topics_its_clients_follow() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    assert_eq!(
        channel_subscribers(&redis, &["room", "other"]).await,
        [0, 0]
    );
    let (_server, events) = subscribed(&b).await;
    assert_eq!(
        channel_subscribers(&redis, &["room", "other"]).await,
        [1, 0]
    );
    publish_all(&a, "room", ["r".to_owned()]).await;
    publish_all(&a, "other", ["o1".to_owned(), "o2".to_owned()]).await;
    assert_eq!(stream_length(&redis, "room").await, 1);
    assert_eq!(stream_length(&redis, "other").await, 2);

    drop(events);
    eventually(Duration::from_secs(5), "the client left", || {
        b.subscribers("room") == 0
    })
    .await;
    let start = tokio::time::Instant::now();
    while channel_subscribers(&redis, &["room"]).await != [0] {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the instance unsubscribed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_client_resumes_on_another_instance_from_an_id_given_by_the_first() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    let server_b = instance(&b).await;
    let (_server_a, mut on_a) = subscribed(&a).await;
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

/// A stream of several topics sends cursors (one position per topic) as its ids; a
/// client that resumes from one on another instance gets exactly what it missed in
/// each topic.
#[tokio::test]
async fn several_topics_resume_together_across_instances() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    let server_a = instance(&a).await;
    let uri = "/?topic=x&topic=z";
    let (_server_b, mut on_b) = subscribed_to(&b, uri, "x").await;
    let mut wanted = Vec::new();
    for n in 0..30 {
        let topic = ["x", "y", "z"][n % 3];
        let sent = publish_all(&a, topic, [format!("{topic}{n}")]).await;
        if topic != "y" {
            wanted.push(sent[0].1.clone());
        }
    }
    let first = take(&mut on_b, 7).await;
    let data: Vec<&str> = first.iter().map(|(_, data)| data.as_str()).collect();
    assert_eq!(data, wanted[..7]);
    let cursor = first[6].0.clone();
    assert!(cursor.starts_with('~'), "a cursor: {cursor}");
    drop(on_b);

    let mut later = Vec::new();
    for n in 30..36 {
        let topic = ["x", "y", "z"][n % 3];
        let sent = publish_all(&a, topic, [format!("{topic}{n}")]).await;
        if topic != "y" {
            later.push(sent[0].1.clone());
        }
    }
    let mut resumed = connect_events(server_a, uri, Some(&cursor)).await;
    let rest = take(&mut resumed, wanted.len() - 7 + later.len()).await;
    let mut got: Vec<String> = rest.into_iter().map(|(_, data)| data).collect();
    let mut expected: Vec<String> = wanted[7..].iter().chain(&later).cloned().collect();
    // Each topic in order, every event once; the merge across topics may interleave.
    for list in [&mut got, &mut expected] {
        list.sort_by_key(|data| (data.as_bytes()[0], data[1..].parse::<u32>().unwrap()));
    }
    assert_eq!(got, expected);

    // A cursor made for other topics resumes with the reset event.
    let mut other = connect_events(server_a, "/?topic=x&topic=y", Some(&cursor)).await;
    next_is_reset(&mut other).await;
}

#[tokio::test]
async fn the_history_bound_and_the_reset_event() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let hub = Hub::builder()
        .history(History::new().events(100))
        .build_with(Redis::new(config(&redis).read_batch(64)))
        .await
        .unwrap();
    let server = instance(&hub).await;
    let sent = publish_all(&hub, "room", (0..3000).map(|n| format!("m{n}"))).await;
    // Other topics' histories are their own.
    publish_all(&hub, "other", (0..500).map(|n| format!("o{n}"))).await;

    // The first id was trimmed away long ago.
    let mut events = connect_events(server, "/", Some(&sent[0].0)).await;
    next_is_reset(&mut events).await;
    // An id Redis never gave.
    let mut events = connect_events(server, "/", Some("99999999999999-0")).await;
    next_is_reset(&mut events).await;

    // A recent id: exactly what follows, over several read batches.
    let subscription = hub
        .subscribe("room", EventId::new(&sent[2900].0).unwrap().as_ref())
        .await
        .unwrap();
    assert_eq!(subscription.replay(), Replay::Exact(99));
    let mut events = connect_events(server, "/", Some(&sent[2900].0)).await;
    assert_eq!(take(&mut events, 99).await, sent[2901..]);
}

/// Redis restarts and has lost its data. The first publish after it is back succeeds
/// (the broken connection is replaced and the publish retried), the client's stream
/// ends rather than going on as if nothing were lost, and resuming from its last id
/// gets the reset event, then every new event once.
#[tokio::test]
async fn redis_restarting_mid_stream() {
    if !available() {
        return;
    }
    let mut redis = RedisServer::start().await;
    let hub = hub(&redis).await;
    let other = Hub::builder()
        .build_with(Redis::new(
            config(&redis).command_timeout(Duration::from_secs(5)),
        ))
        .await
        .unwrap();
    let (server, mut events) = subscribed(&hub).await;
    let before = publish_all(&other, "room", (0..3).map(|n| format!("before {n}"))).await;
    assert_eq!(take(&mut events, 3).await, before);

    redis.stop();
    // The client reports a command on a connection that broke the same way whether or
    // not Redis got it: such a publish is uncertain, not refused; one whose connection
    // was refused was not stored.
    for _ in 0..2 {
        let err = hub
            .publish("room", Event::new().data("while down"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PublishError::Backend(_) | PublishError::Uncertain(_)),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{}", redis.port)),
            "the error names Redis: {err}"
        );
    }

    redis.restart().await;
    // At once: no retry loop here.
    let after = publish_all(&other, "room", ["after 0".to_owned()]).await;
    assert_eq!(
        until_the_end(&mut events).await,
        [],
        "nothing old, nothing twice"
    );

    let last = &before[2].0;
    let mut resumed = connect_events(server, "/", Some(last)).await;
    next_is_reset(&mut resumed).await;
    let more = publish_all(&other, "room", ["after 1".to_owned()]).await;
    assert_eq!(take(&mut resumed, 1).await, more);
    assert_ne!(after[0].0, more[0].0);
}

/// Redis is restored from an older snapshot (`SAVE`, more events, `kill -9`, restart):
/// the stream goes back in time. Connected clients must not get the old events again:
/// their streams end, and resuming gets the reset event, then new events once each.
#[tokio::test]
async fn a_restore_from_an_older_snapshot_resets_instead_of_replaying_old_events() {
    if !available() {
        return;
    }
    let mut redis = RedisServer::start().await;
    let hub = hub(&redis).await;
    let other = hub_with_patience(&redis).await;
    let (server, mut events) = subscribed(&hub).await;
    let saved = publish_all(&other, "room", (0..100).map(|n| format!("saved {n}"))).await;
    assert_eq!(redis.by_hand(&["SAVE"]).await, Value::Okay);
    let unsaved = publish_all(&other, "room", (0..20).map(|n| format!("unsaved {n}"))).await;
    let mut received = take(&mut events, 120).await;
    assert_eq!(received[..100], saved);
    assert_eq!(received[100..], unsaved);

    redis.stop();
    redis.restart().await;
    assert_eq!(
        stream_length(&redis, "room").await,
        100,
        "the snapshot came back"
    );
    let new = publish_all(&other, "room", (0..5).map(|n| format!("new {n}"))).await;
    received.extend(until_the_end(&mut events).await);
    assert_eq!(
        received.len(),
        120,
        "no event again, no event past the break"
    );

    let mut resumed = connect_events(server, "/", Some(&unsaved[19].0)).await;
    next_is_reset(&mut resumed).await;
    let live = publish_all(&other, "room", ["live".to_owned()]).await;
    assert_eq!(take(&mut resumed, 1).await, live);
    // A client that had only seen saved events also cannot resume exactly: what came
    // after them in its timeline is gone.
    let mut old = connect_events(server, "/", Some(&saved[99].0)).await;
    next_is_reset(&mut old).await;
    drop(new);
}

async fn hub_with_patience(redis: &RedisServer) -> Hub {
    Hub::builder()
        .build_with(Redis::new(
            config(redis).command_timeout(Duration::from_secs(5)),
        ))
        .await
        .unwrap()
}

/// The topic's stream is deleted and written again while Redis runs: the instance's
/// live clients cannot be told what they missed, so their streams end at the first new
/// event, and resuming gets the reset event.
#[tokio::test]
async fn a_stream_deleted_and_written_again_ends_the_streams() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let hub = hub(&redis).await;
    let (server, mut events) = subscribed(&hub).await;
    let first = publish_all(&hub, "room", ["first".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, first);

    redis.by_hand(&["DEL", "test:{room}:h"]).await;
    publish_all(&hub, "room", ["second".to_owned()]).await;
    assert_eq!(until_the_end(&mut events).await, []);
    let mut resumed = connect_events(server, "/", Some(&first[0].0)).await;
    next_is_reset(&mut resumed).await;
}

/// The age bound: a topic quiet for longer than it keeps its stream (it is trimmed,
/// not deleted), so its live client is not cut off when the next event comes; a client
/// resuming from the event that aged out missed nothing after it, and gets exactly that.
#[tokio::test]
async fn a_topic_quiet_past_its_age_bound_goes_on_without_a_reset() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let hub = Hub::builder()
        .history(History::new().max_age(Some(Duration::from_millis(300))))
        .build_with(Redis::new(config(&redis)))
        .await
        .unwrap();
    let (server, mut events) = subscribed(&hub).await;
    let old = publish_all(&hub, "room", ["old".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, old);
    // Until Redis's clock is past the bound.
    let published_ms: u64 = old[0].0.split('-').next().unwrap().parse().unwrap();
    let start = tokio::time::Instant::now();
    loop {
        let time: Vec<String> = redis::from_redis_value(&redis.by_hand(&["TIME"]).await).unwrap();
        let now_ms =
            time[0].parse::<u64>().unwrap() * 1000 + time[1].parse::<u64>().unwrap() / 1000;
        if now_ms > published_ms + 400 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "time passes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new = publish_all(&hub, "room", ["new".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, new, "the same stream goes on");
    assert_eq!(hub.subscribers("room"), 1);
    assert_eq!(
        stream_length(&redis, "room").await,
        1,
        "the old event aged out"
    );
    let mut resumed = connect_events(server, "/", Some(&old[0].0)).await;
    assert_eq!(take(&mut resumed, 1).await, new);
}

/// With no `Last-Event-ID`, `subscribe_with_history` replays every retained event of its
/// topic, in order, over several read batches (the last one short).
#[tokio::test]
async fn everything_retained_is_replayed_over_several_read_batches() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let hub = Hub::builder()
        .build_with(Redis::new(config(&redis).read_batch(16)))
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

/// Two instances keeping `max_len` entries a topic: `publisher` talks to Redis
/// directly, `hub` through `proxy` and serves `server`, where `events` has received the
/// `first` event.
struct CutOff {
    _redis: RedisServer,
    proxy: Proxy,
    publisher: Hub,
    hub: Hub,
    server: std::net::SocketAddr,
    events: crate::Events,
    first: Vec<(String, String)>,
}

impl CutOff {
    async fn start(max_len: usize) -> Self {
        let redis = RedisServer::start().await;
        let proxy = Proxy::start("redis", redis.port).await;
        let publisher = Hub::builder()
            .history(History::new().events(max_len))
            .build_with(Redis::new(config(&redis)))
            .await
            .unwrap();
        let hub = Hub::builder()
            .history(History::new().events(max_len))
            .build_with(Redis::new(config_at(proxy.url())))
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

/// An instance cut off from Redis while others publish more than the topic keeps: the
/// entries it had not received are trimmed away. Its live client must not silently go
/// on without them: its stream ends, and resuming from its last id gets the reset event.
#[tokio::test]
async fn an_instance_cut_off_while_entries_are_trimmed_ends_its_streams() {
    if !available() {
        return;
    }
    let CutOff {
        _redis,
        proxy,
        publisher,
        server,
        mut events,
        first,
        hub: cut_off,
        ..
    } = CutOff::start(100).await;
    proxy.cut().await;
    let sent = publish_all(&publisher, "room", (0..2000).map(|n| format!("m{n}"))).await;
    proxy.restore();
    assert_eq!(
        until_the_end(&mut events).await,
        [],
        "the stream ends without skipping to what was kept"
    );
    assert_eq!(sent.len(), 2000);
    eventually(Duration::from_secs(5), "the subscription released", || {
        cut_off.subscribers("room") == 0
    })
    .await;

    // Resuming: until the instance is back in touch with Redis, it answers `retry:`,
    // which an EventSource follows.
    let headers = [
        ("accept", "text/event-stream"),
        ("last-event-id", first[0].0.as_str()),
    ];
    let start = tokio::time::Instant::now();
    let response = loop {
        let response = send(server, request("/", &headers)).await;
        assert_eq!(response.status(), StatusCode::OK);
        if !response.headers().contains_key("retry-after") {
            break response;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "Redis is back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(response.status(), StatusCode::OK);
    let mut resumed = sse_stream::SseStream::new(response.into_body());
    next_is_reset(&mut resumed).await;
}

/// Cut off while fewer entries are published than the topic keeps: nothing was
/// trimmed, so the client stays connected and gets every one of them, once each.
#[tokio::test]
async fn an_instance_cut_off_briefly_loses_nothing_and_keeps_its_streams() {
    if !available() {
        return;
    }
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
    let live = publish_all(&publisher, "room", ["live".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, live);
}

/// The instance's connection dies without closing (a NAT forgot it): nothing tells it,
/// so the heartbeat finds it silent, replaces it, and the client gets what it missed,
/// once, in order, without reconnecting.
#[tokio::test]
async fn a_connection_that_goes_silent_is_replaced_and_nothing_is_missed() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let proxy = Proxy::start("redis", redis.port).await;
    let publisher = hub(&redis).await;
    let hub = Hub::builder()
        .build_with(Redis::new(
            config_at(proxy.url()).heartbeat(Duration::from_millis(200)),
        ))
        .await
        .unwrap();
    let (_server, mut events) = subscribed(&hub).await;
    let first = publish_all(&publisher, "room", ["first".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, first);

    proxy.freeze_open_connections();
    let missed = publish_all(&publisher, "room", (0..20).map(|n| format!("m{n}"))).await;
    assert_eq!(take(&mut events, 20).await, missed);
    assert_eq!(hub.subscribers("room"), 1);
}

/// Redis stores an event but its reply is lost with the connection: the publish is
/// retried after reconnecting, finds the entry it stored, and returns its id. The event
/// is stored and delivered once.
#[tokio::test]
async fn a_publish_whose_reply_was_lost_is_stored_once() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let proxy = Proxy::start("redis", redis.port).await;
    let publisher = Hub::builder()
        .build_with(Redis::new(config_at(proxy.url())))
        .await
        .unwrap();
    let reader = hub(&redis).await;
    let (_server, mut events) = subscribed(&reader).await;

    proxy.swallow_next_reply();
    let id = publisher
        .publish("room", Event::new().data("once"))
        .await
        .expect("the retry finds the stored event");
    assert_eq!(stream_length(&redis, "room").await, 1);
    assert_eq!(
        take(&mut events, 1).await,
        [(id.to_string(), "once".to_owned())]
    );
    let next = publish_all(&reader, "room", ["next".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, next, "and nothing twice");
}

/// When no reply comes back at all, the publish may have been stored: the error says
/// so (`Uncertain`), not that the event was refused. Here it was stored.
#[tokio::test]
async fn a_publish_that_cannot_be_confirmed_is_uncertain_not_refused() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let proxy = Proxy::start("redis", redis.port).await;
    let publisher = Hub::builder()
        .build_with(Redis::new(config_at(proxy.url())))
        .await
        .unwrap();
    proxy.swallow_every_reply(true);
    let err = within(
        Duration::from_secs(20),
        publisher.publish("room", Event::new().data("maybe")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PublishError::Uncertain(_)), "{err:?}");
    assert!(err.to_string().contains("may have been stored"), "{err}");
    assert_eq!(
        stream_length(&redis, "room").await,
        1,
        "it was stored, once"
    );
}

/// The longest command timeout still leaves the instance working.
#[tokio::test]
async fn the_longest_command_timeout_still_delivers() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let hub = Hub::builder()
        .build_with(Redis::new(config(&redis).command_timeout(Duration::MAX)))
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

/// Building a hub over `url`, where nothing answers, fails: the error.
async fn build_unreachable(url: &str) -> SetupError {
    within(
        Duration::from_secs(20),
        Hub::builder().build_with(Redis::new(
            RedisConfig::new(url).connect_timeout(Duration::from_millis(300)),
        )),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn setup_errors_name_the_url() {
    let err = Hub::builder()
        .build_with(Redis::new(RedisConfig::new("http://not-redis")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SetupError::Invalid {
                engine: "redis",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("`http://not-redis` is not a Redis URL"),
        "{err}"
    );

    let url = format!("redis://127.0.0.1:{}/", crate::servers::free_port());
    let err = build_unreachable(&url).await;
    assert!(
        matches!(
            err,
            SetupError::Unreachable {
                engine: "redis",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("cannot reach redis at `{url}`")),
        "{err}"
    );

    let err = Hub::builder()
        .build_with(Redis::new(
            RedisConfig::new("redis://127.0.0.1:1/").prefix("a{b}"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn passwords_stay_out_of_errors_and_responses() {
    let port = crate::servers::free_port();
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
    if !available() {
        return;
    }

    // A history read that fails answers `retry:` without Redis's details.
    let mut redis = RedisServer::start().await;
    let hub = hub(&redis).await;
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
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_bytes(response).await;
    assert_eq!(
        body,
        ": the event history is unavailable; try again later\nretry: 5000\n\n"
    );
}

#[tokio::test]
async fn the_greatest_id_is_unknown_not_an_error() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let hub = hub(&redis).await;
    let last = EventId::new("18446744073709551615-18446744073709551615").unwrap();
    let subscription = hub.subscribe("room", last.as_ref()).await.unwrap();
    assert_eq!(subscription.replay(), Replay::Reset);
}

#[tokio::test]
async fn ids_of_your_own_are_refused() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let hub = hub(&redis).await;
    let err = hub
        .publish_with_id("room", "mine", Event::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Redis stream ids"), "{err}");
}

/// A user's streams end on every instance when any instance revokes the user.
#[tokio::test]
async fn a_revocation_on_one_instance_ends_the_users_stream_on_another() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    let revocable = {
        let a = a.clone();
        move |_: http::Request<axum::body::Body>, _: Option<EventId>| {
            let a = a.clone();
            async move {
                let lifetime = tower_sse::Lifetime::new().revoked_by(a.revocation("user:7").await?);
                Ok::<_, tower_sse::hub::SubscribeError>(
                    lifetime.wrap(a.subscribe("room", None).await?),
                )
            }
        }
    };
    let app = axum::Router::new().layer(tower_sse::SseLayer::new(revocable));
    let server = crate::common::serve(app).await;
    let mut on_a = connect_events(server, "/", None).await;
    eventually(Duration::from_secs(5), "subscribed", || {
        a.subscribers("room") == 1
    })
    .await;

    b.publish("room", Event::new().data("hello")).await.unwrap();
    let hello = within(Duration::from_secs(5), on_a.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello.data.as_deref(), Some("hello"));

    b.revoke("user:7", "password changed").await.unwrap();
    let last = within(Duration::from_secs(5), on_a.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (last.event.as_deref(), last.data.as_deref()),
        (Some("revoked"), Some("password changed"))
    );
    assert!(
        within(Duration::from_secs(5), on_a.next()).await.is_none(),
        "the stream ended"
    );
    eventually(Duration::from_secs(5), "the subscriptions are gone", || {
        a.stats().subscribers == 0
    })
    .await;
}

/// A handoff taken on one instance, events published on another, the stream opened on
/// a third: exactly the events after the handoff, for one topic and for several.
#[tokio::test]
async fn a_handoff_resumes_exactly_across_instances() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let (a, b, c) = (hub(&redis).await, hub(&redis).await, hub(&redis).await);
    b.publish("x", Event::new().data("x0")).await.unwrap();
    let one = a.handoff("x").await.unwrap();
    let both = a.handoff(["x", "y"]).await.unwrap();
    for data in ["x1", "y1", "x2"] {
        b.publish(&data[..1], Event::new().data(data))
            .await
            .unwrap();
    }
    let server = instance(&c).await;
    let mut just_x = connect_events(server, "/?topic=x", Some(one.id().as_str())).await;
    let mut x_and_y = connect_events(server, "/?topic=x&topic=y", Some(both.id().as_str())).await;
    let data = |got: Vec<(String, String)>| got.into_iter().map(|(_, d)| d).collect::<Vec<_>>();
    assert_eq!(data(take(&mut just_x, 2).await), ["x1", "x2"]);
    // Topics of a Redis stream have no order between them: each topic's own, once.
    let got = data(take(&mut x_and_y, 3).await);
    let of = |topic: &str| {
        got.iter()
            .filter(|d| d.starts_with(topic))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (of("x"), of("y")),
        (
            vec!["x1".to_owned(), "x2".to_owned()],
            vec!["y1".to_owned()]
        )
    );
}
