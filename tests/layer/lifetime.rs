//! `Lifetime` with a wall-clock expiry (a token's `SystemTime`, or a JWT's `exp` in
//! Unix seconds), counted on Tokio's clock: seen here with the clock paused.
#![cfg(feature = "test-util")]

use std::{
    convert::Infallible,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{Request, Response};
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tower_sse::{
    Event, EventId, Lifetime, Sse,
    testing::{Item, TestClient},
};

/// A service whose streams send `hello`, then idle, within the lifetime `make` gives.
fn service(
    make: fn() -> Lifetime,
) -> impl tower::Service<
    Request<String>,
    Response = Response<tower_sse::ResponseBody<String>>,
    Error = Infallible,
    Future: Send,
> + Clone {
    let inner = tower::service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    Sse::new(
        inner,
        move |_: Request<String>, _: Option<EventId>| async move {
            let hello = tokio_stream::once(Event::new().data("hello"));
            Ok::<_, Infallible>(make().wrap(hello.chain(tokio_stream::pending())))
        },
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_expiry_ends_the_stream() {
    let mut client = TestClient::new(service(|| {
        Lifetime::new().expires_at(SystemTime::now() + Duration::from_secs(60))
    }));
    let start = Instant::now();
    let mut stream = client.events("/").await.unwrap();
    let events = stream.rest().await.unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed <= Duration::from_secs(60) && elapsed > Duration::from_secs(59));
    assert_eq!(events.len(), 2, "hello and expired");
    // With the keep-alives of the minute (15, 30 and 45 seconds) before the end.
    assert_eq!(
        String::from_utf8_lossy(stream.raw()),
        "data: hello\n\n:\n\n:\n\n:\n\nevent: expired\ndata: \n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn a_past_expiry_ends_the_stream_at_once() {
    let mut client = TestClient::new(service(|| {
        Lifetime::new().expires_at(SystemTime::now() - Duration::from_secs(1))
    }));
    let start = Instant::now();
    let mut stream = client.events("/").await.unwrap();
    stream.rest().await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(stream.raw(), b"event: expired\ndata: \n\n");
}

#[tokio::test(start_paused = true)]
async fn a_unix_seconds_expiry_ends_the_stream() {
    let mut client = TestClient::new(service(|| Lifetime::new().expires_at_unix(unix_now() + 60)));
    let start = Instant::now();
    let mut stream = client.events("/").await.unwrap();
    stream.rest().await.unwrap();
    let elapsed = start.elapsed();
    // Whole seconds: up to one less than asked.
    assert!(elapsed <= Duration::from_secs(60) && elapsed > Duration::from_secs(58));
    // With the keep-alives of the minute (15, 30 and 45 seconds) before the end.
    assert_eq!(
        String::from_utf8_lossy(stream.raw()),
        "data: hello\n\n:\n\n:\n\n:\n\nevent: expired\ndata: \n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn an_expiry_past_the_clock_never_comes() {
    let mut client = TestClient::new(service(|| Lifetime::new().expires_at_unix(u64::MAX)));
    let mut stream = client.events("/").await.unwrap();
    assert_eq!(stream.next_event().await.unwrap().unwrap().data, "hello");
    tokio::time::advance(Duration::from_secs(10 * 365 * 24 * 3600)).await;
    // Keep-alives only: no expired event, no end.
    let items = stream.ready_items().unwrap();
    assert!(
        items.iter().all(|item| matches!(item, Item::Comment(_))),
        "{items:?}"
    );
    assert!(!stream.is_ended());
}
