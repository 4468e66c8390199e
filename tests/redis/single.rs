//! One Redis server: what only Redis has (its stream ids, read batches, settings, a
//! stream deleted by hand). The scenarios every engine shares are in tests/engines.

use std::time::Duration;

use futures_util::StreamExt;
use http::StatusCode;
use tower_sse::{
    Event, EventId,
    hub::{
        Hub, Replay, SetupError,
        redis::{Redis, RedisConfig},
    },
};

use crate::{
    common::{body_bytes, connect_events, get as request, send, within},
    config_at, instance, next_is_reset, publish_all,
    servers::{RedisServer, available},
    subscribed, take, until_the_end,
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

/// With no `Last-Event-ID`, `subscribe(..).with_history()` replays every retained event of its
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
    let mut subscription = hub.subscribe(["room"]).with_history().await.unwrap();
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
    let mut subscription = hub.subscribe("room").await.unwrap();
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
    let subscription = hub.subscribe("room").after(last.as_ref()).await.unwrap();
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
    assert!(err.to_string().contains("assigns the ids"), "{err}");
}
