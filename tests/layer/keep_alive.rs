//! Keep-alive cadence and reset, the initial `retry:`, and batching of ready events,
//! read frame by frame from the response body with Tokio's clock paused.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::{sync::mpsc, time::Instant};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tower::{ServiceExt, service_fn};
use tower_sse::{EncodedEvent, Event, EventId, KeepAlive, MakeEventStream, ResponseBody, SseLayer};

type Body = Pin<Box<ResponseBody<Full<Bytes>>>>;

/// A factory written as a type (not a closure): its one stream reads from a channel.
#[derive(Clone)]
struct Channel(Arc<Mutex<Option<mpsc::UnboundedReceiver<EncodedEvent>>>>);

impl MakeEventStream<()> for Channel {
    type Stream = UnboundedReceiverStream<EncodedEvent>;
    type Item = EncodedEvent;
    type Rejection = Infallible;
    type Future = Ready<Result<Self::Stream, Infallible>>;

    fn make_event_stream(&mut self, _: Request<()>, _: Option<EventId>) -> Self::Future {
        let rx = self.0.lock().unwrap().take().expect("one stream per test");
        ready(Ok(UnboundedReceiverStream::new(rx)))
    }
}

/// Serves one SSE request through the configured layer and returns its body and the
/// sender that feeds the stream.
async fn open(
    configure: impl FnOnce(SseLayer<Channel>) -> SseLayer<Channel>,
) -> (Body, mpsc::UnboundedSender<EncodedEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let factory = Channel(Arc::new(Mutex::new(Some(rx))));
    let inner = service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("inner"))))
    });
    let service = tower::Layer::layer(&configure(SseLayer::new(factory)), inner);
    let request = Request::get("/")
        .header("accept", "text/event-stream")
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    (Box::pin(response.into_body()), tx)
}

/// The next data frame, and how long after `since` it came.
async fn next(body: &mut Body, since: Instant) -> (Bytes, Duration) {
    let frame = body.frame().await.expect("a frame").unwrap();
    (frame.into_data().unwrap(), since.elapsed())
}

fn event(data: &str) -> EncodedEvent {
    Event::new().data(data).encode()
}

#[tokio::test(start_paused = true)]
async fn keep_alive_every_15_seconds_by_default() {
    let (mut body, _tx) = open(|layer| layer).await;
    let start = Instant::now();
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(":\n\n"), Duration::from_secs(15))
    );
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(":\n\n"), Duration::from_secs(30))
    );
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(":\n\n"), Duration::from_secs(45))
    );
}

#[tokio::test(start_paused = true)]
async fn every_event_restarts_the_interval() {
    let (mut body, tx) = open(|layer| layer).await;
    let start = Instant::now();

    tokio::time::sleep(Duration::from_secs(10)).await;
    tx.send(event("at 10")).unwrap();
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: at 10\n\n"), Duration::from_secs(10))
    );
    // Not at 15 s: 15 s after the event.
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(":\n\n"), Duration::from_secs(25))
    );

    tokio::time::sleep(Duration::from_secs(14)).await;
    tx.send(event("at 39")).unwrap();
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: at 39\n\n"), Duration::from_secs(39))
    );
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(":\n\n"), Duration::from_secs(54))
    );
}

#[tokio::test(start_paused = true)]
async fn custom_interval_and_message() {
    let (mut body, _tx) = open(|layer| {
        layer.keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(2))
                .comment("still\nhere"),
        )
    })
    .await;
    let start = Instant::now();
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(": still\n: here\n\n"), Duration::from_secs(2))
    );

    let ping = Event::new().event_static("ping").data("");
    let (mut body, _tx) = open(|layer| {
        layer.keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(1))
                .event(ping),
        )
    })
    .await;
    let start = Instant::now();
    assert_eq!(
        next(&mut body, start).await,
        (
            Bytes::from("event: ping\ndata: \n\n"),
            Duration::from_secs(1)
        )
    );
}

#[tokio::test(start_paused = true)]
async fn no_keep_alive_when_turned_off() {
    let (mut body, tx) = open(|layer| layer.without_keep_alive()).await;
    let waited = tokio::time::timeout(Duration::from_secs(3600), body.frame()).await;
    assert!(waited.is_err(), "nothing is sent in an hour");
    tx.send(event("late")).unwrap();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "data: late\n\n");
}

#[tokio::test(start_paused = true)]
async fn retry_is_sent_first() {
    let (mut body, tx) = open(|layer| layer.reconnection_time(Duration::from_millis(2500))).await;
    tx.send(event("x")).unwrap();
    let start = Instant::now();
    assert_eq!(next(&mut body, start).await.0, "retry: 2500\n\n");
    assert_eq!(next(&mut body, start).await.0, "data: x\n\n");
}

#[tokio::test(start_paused = true)]
async fn ready_events_share_one_frame() {
    let (mut body, tx) = open(|layer| layer).await;
    let mut expected = Vec::new();
    for n in 0..100 {
        let encoded = event(&n.to_string());
        expected.extend_from_slice(encoded.as_bytes());
        tx.send(encoded).unwrap();
    }
    let start = Instant::now();
    let (frame, at) = next(&mut body, start).await;
    assert_eq!(at, Duration::ZERO);
    assert_eq!(frame, expected, "all 100 ready events in the first frame");
}

#[tokio::test(start_paused = true)]
async fn the_frame_size_is_bounded() {
    let (mut body, tx) = open(|layer| layer.max_frame_size(30)).await;
    // Each event is 16 bytes: two fill a frame past 30 bytes.
    for n in 0..5 {
        tx.send(event(&format!("event {n}"))).unwrap();
    }
    let start = Instant::now();
    assert_eq!(
        next(&mut body, start).await.0,
        "data: event 0\n\ndata: event 1\n\n"
    );
    assert_eq!(
        next(&mut body, start).await.0,
        "data: event 2\n\ndata: event 3\n\n"
    );
    assert_eq!(next(&mut body, start).await.0, "data: event 4\n\n");
}

#[tokio::test(start_paused = true)]
async fn a_lone_event_is_sent_without_a_copy() {
    let (mut body, tx) = open(|layer| layer).await;
    let encoded = event("shared");
    let pointer = encoded.as_bytes().as_ptr();
    tx.send(encoded).unwrap();
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame, "data: shared\n\n");
    assert_eq!(
        frame.as_ptr(),
        pointer,
        "the frame is the encoded event's own bytes"
    );
}

#[tokio::test(start_paused = true)]
async fn large_events_are_sent_alone_and_never_copied() {
    let (mut body, tx) = open(|layer| layer).await;
    let large = event(&"L".repeat(600));
    let pointer = large.as_bytes().as_ptr();
    tx.send(event("a")).unwrap();
    tx.send(event("b")).unwrap();
    tx.send(large.clone()).unwrap();
    tx.send(event("c")).unwrap();
    tx.send(event("d")).unwrap();
    let start = Instant::now();
    assert_eq!(next(&mut body, start).await.0, "data: a\n\ndata: b\n\n");
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame, large.as_bytes());
    assert_eq!(frame.as_ptr(), pointer, "the large event's own bytes");
    assert_eq!(next(&mut body, start).await.0, "data: c\n\ndata: d\n\n");
}

#[tokio::test(start_paused = true)]
async fn frames_never_exceed_the_bound_and_lose_nothing() {
    // Events of 8 to 15 bytes against a 40-byte bound: every event arrives once, in
    // order, and no frame with more than one event is over the bound.
    let (mut body, tx) = open(|layer| layer.max_frame_size(40)).await;
    let mut expected = Vec::new();
    for n in 0..200u32 {
        let encoded = event(&"x".repeat((n % 8) as usize));
        expected.extend_from_slice(encoded.as_bytes());
        tx.send(encoded).unwrap();
    }
    drop(tx);
    let mut received = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.len() <= 40, "a frame of {} bytes", data.len());
        received.extend_from_slice(&data);
    }
    assert_eq!(received, expected);
}

#[tokio::test(start_paused = true)]
async fn an_event_read_but_not_sent_goes_out_before_the_shutdown_event() {
    let shutdown = tower_sse::Shutdown::with_last_event(Event::new().event_static("bye").data(""));
    let (mut body, tx) = open(|layer| layer.graceful_shutdown(shutdown.clone())).await;
    // The small event goes out; the large one after it is read and held back for a
    // frame of its own.
    let large = event(&"L".repeat(600));
    tx.send(event("small")).unwrap();
    tx.send(large.clone()).unwrap();
    let start = Instant::now();
    assert_eq!(next(&mut body, start).await.0, "data: small\n\n");
    shutdown.trigger();
    let mut expected = large.as_bytes().to_vec();
    expected.extend_from_slice(b"event: bye\ndata: \n\n");
    assert_eq!(next(&mut body, start).await.0, expected);
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn event_items_are_batched_within_the_bound_too() {
    // The same as above with `Event` items, which are copied into the frame without
    // being encoded on their own first.
    let events: Vec<Event> = (0..200u32)
        .map(|n| Event::new().data("x".repeat((n % 8) as usize)))
        .collect();
    let expected: Vec<u8> = events
        .iter()
        .flat_map(|event| event.clone().encode().as_bytes().to_vec())
        .collect();
    let layer = SseLayer::new(move |_: Request<()>, _: Option<EventId>| {
        let events = events.clone();
        async move { Ok::<_, Infallible>(tokio_stream::iter(events)) }
    })
    .max_frame_size(40);
    let inner = service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("inner"))))
    });
    let request = Request::get("/")
        .header("accept", "text/event-stream")
        .body(())
        .unwrap();
    let response = tower::Layer::layer(&layer, inner)
        .oneshot(request)
        .await
        .unwrap();
    let mut body = Box::pin(response.into_body());
    let (mut received, mut frames) = (Vec::new(), 0);
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.len() <= 40, "a frame of {} bytes", data.len());
        received.extend_from_slice(&data);
        frames += 1;
    }
    assert_eq!(received, expected);
    assert!(frames < 200, "events were batched: {frames} frames");
}

#[tokio::test(start_paused = true)]
async fn the_body_ends_with_the_stream() {
    let (mut body, tx) = open(|layer| layer).await;
    tx.send(event("last")).unwrap();
    drop(tx);
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "data: last\n\n");
    assert!(body.frame().await.is_none());
    assert!(http_body::Body::is_end_stream(&*body));
}

#[tokio::test(start_paused = true)]
async fn extreme_intervals_do_not_panic() {
    let (mut body, tx) = open(|layer| {
        layer
            .keep_alive(KeepAlive::new().interval(Duration::MAX))
            .max_frame_size(usize::MAX)
    })
    .await;
    tx.send(event("a")).unwrap();
    tx.send(event("b")).unwrap();
    let start = Instant::now();
    assert_eq!(next(&mut body, start).await.0, "data: a\n\ndata: b\n\n");
    let waited = tokio::time::timeout(Duration::from_secs(3600), body.frame()).await;
    assert!(waited.is_err(), "no keep-alive within an hour");
}
