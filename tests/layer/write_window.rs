//! The write window: a small frame held up to the window for the events that follow,
//! released at once at its byte bound, at the end, at shutdown and when a keep-alive is
//! due; read frame by frame from the response body with Tokio's clock paused.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use tokio::{sync::mpsc, time::Instant};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tower::{ServiceExt, service_fn};
use tower_sse::{
    EncodedEvent, Event, EventId, KeepAlive, MakeEventStream, ResponseBody, Shutdown, SseLayer,
};

type Body = Pin<Box<ResponseBody<Full<Bytes>>>>;

const WINDOW: Duration = Duration::from_millis(5);

/// A factory whose one stream reads from a channel.
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

/// Serves one SSE request through the configured layer; returns its body and the
/// sender that feeds its stream.
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

/// A layer without keep-alives and with the write window.
fn windowed(layer: SseLayer<Channel>) -> SseLayer<Channel> {
    layer.without_keep_alive().write_window(WINDOW)
}

/// The next data frame, and how long after `since` it came.
async fn next(body: &mut Body, since: Instant) -> (Bytes, Duration) {
    let frame = body.frame().await.expect("a frame").unwrap();
    (frame.into_data().unwrap(), since.elapsed())
}

/// Polls the body once, now: its frame if it has one, `None` if it would wait.
fn poll_now(body: &mut Body) -> Option<Option<Bytes>> {
    let mut cx = Context::from_waker(Waker::noop());
    match body.as_mut().poll_frame(&mut cx) {
        Poll::Ready(frame) => Some(frame.map(|frame| frame.unwrap().into_data().unwrap())),
        Poll::Pending => None,
    }
}

fn event(data: &str) -> EncodedEvent {
    Event::new().data(data).encode()
}

#[tokio::test(start_paused = true)]
async fn held_frame_goes_out_one_window_after_its_first_event() {
    let (mut body, tx) = open(windowed).await;
    let start = Instant::now();
    tx.send(event("1")).unwrap();
    assert_eq!(poll_now(&mut body), None, "the first event is held");
    tokio::time::advance(Duration::from_millis(2)).await;
    tx.send(event("2")).unwrap();
    tokio::time::advance(Duration::from_millis(2)).await;
    tx.send(event("3")).unwrap();
    assert_eq!(poll_now(&mut body), None, "still within the window");
    // One frame, one window after the first event, not after the last.
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: 1\n\ndata: 2\n\ndata: 3\n\n"), WINDOW)
    );
    // The next event starts a window of its own.
    tx.send(event("4")).unwrap();
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: 4\n\n"), WINDOW * 2)
    );
    assert_eq!(poll_now(&mut body), None);
}

#[tokio::test(start_paused = true)]
async fn frame_reaching_the_byte_bound_goes_out_at_once() {
    // "data: 1234\n\n" is 12 bytes: three make 36, past the 30-byte bound.
    let (mut body, tx) = open(|layer| windowed(layer).write_window_bytes(30)).await;
    let start = Instant::now();
    tx.send(event("1234")).unwrap();
    assert_eq!(poll_now(&mut body), None);
    tx.send(event("5678")).unwrap();
    assert_eq!(poll_now(&mut body), None, "24 bytes are under the bound");
    tx.send(event("9abc")).unwrap();
    assert_eq!(
        next(&mut body, start).await,
        (
            Bytes::from("data: 1234\n\ndata: 5678\n\ndata: 9abc\n\n"),
            Duration::ZERO
        )
    );
    // An event as large as the bound is never held.
    let large = "x".repeat(30);
    tx.send(event(&large)).unwrap();
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(format!("data: {large}\n\n")), Duration::ZERO)
    );
    // A held frame that the next event does not fit beside (it would pass the frame
    // bound) goes out at once, and that event after it.
    tx.send(event("1")).unwrap();
    assert_eq!(poll_now(&mut body), None);
    tx.send(event(&large)).unwrap();
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: 1\n\n"), Duration::ZERO)
    );
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(format!("data: {large}\n\n")), Duration::ZERO)
    );
}

#[tokio::test(start_paused = true)]
async fn events_ready_together_past_the_bound_share_one_frame() {
    // The bound releases a frame; it does not cut what was ready together.
    let (mut body, tx) = open(|layer| windowed(layer).write_window_bytes(20)).await;
    let start = Instant::now();
    for data in ["1234", "5678", "9abc"] {
        tx.send(event(data)).unwrap();
    }
    assert_eq!(
        next(&mut body, start).await,
        (
            Bytes::from("data: 1234\n\ndata: 5678\n\ndata: 9abc\n\n"),
            Duration::ZERO
        )
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_the_held_frame_before_the_end() {
    let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
    let (mut body, tx) = open(|layer| windowed(layer).graceful_shutdown(shutdown.clone())).await;
    let start = Instant::now();
    tx.send(event("1")).unwrap();
    assert_eq!(poll_now(&mut body), None);
    tokio::time::advance(Duration::from_millis(1)).await;
    shutdown.trigger();
    assert_eq!(
        next(&mut body, start).await,
        (
            Bytes::from("data: 1\n\nevent: bye\ndata: \n\n"),
            Duration::from_millis(1)
        )
    );
    assert!(body.frame().await.is_none());
    assert!(tx.is_closed(), "the stream was dropped");
}

#[tokio::test(start_paused = true)]
async fn stream_end_sends_the_held_frame_at_once() {
    let (mut body, tx) = open(windowed).await;
    let start = Instant::now();
    tx.send(event("1")).unwrap();
    assert_eq!(poll_now(&mut body), None);
    tx.send(event("2")).unwrap();
    drop(tx);
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: 1\n\ndata: 2\n\n"), Duration::ZERO)
    );
    assert!(body.frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn longest_window_does_not_panic_and_the_end_still_releases() {
    let (mut body, tx) = open(|layer| layer.without_keep_alive().write_window(Duration::MAX)).await;
    let start = Instant::now();
    tx.send(event("1")).unwrap();
    assert_eq!(poll_now(&mut body), None);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(
        poll_now(&mut body),
        None,
        "held within the (clamped) window"
    );
    drop(tx);
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: 1\n\n"), Duration::from_secs(3600))
    );
    assert!(body.frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn client_leaving_drops_the_held_frame_and_the_stream() {
    let (mut body, tx) = open(windowed).await;
    tx.send(event("1")).unwrap();
    assert_eq!(poll_now(&mut body), None);
    drop(body);
    assert!(tx.is_closed(), "the stream was dropped with the body");
}

#[tokio::test(start_paused = true)]
async fn keep_alive_keeps_its_schedule_with_a_window() {
    let interval = Duration::from_millis(10);
    let (mut body, tx) = open(|layer| {
        layer
            .keep_alive(KeepAlive::new().interval(interval))
            .write_window(WINDOW)
    })
    .await;
    let start = Instant::now();
    // Idle: keep-alives exactly on schedule.
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(":\n\n"), interval)
    );
    // An event held 2 ms before the next keep-alive is due goes out when it is due,
    // not a whole window later: the stream is never quiet longer than the interval.
    tokio::time::advance(Duration::from_millis(8)).await;
    tx.send(event("1")).unwrap();
    assert_eq!(poll_now(&mut body), None);
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from("data: 1\n\n"), interval * 2)
    );
    // Then the keep-alive interval counts from that frame.
    assert_eq!(
        next(&mut body, start).await,
        (Bytes::from(":\n\n"), interval * 3)
    );
}

/// Frames read from a body fed the same way each time: events sent one at a time (each read
/// before the next is sent) and then together, with the time of each frame.
async fn frames_of(
    configure: impl FnOnce(SseLayer<Channel>) -> SseLayer<Channel>,
) -> Vec<(Bytes, Duration)> {
    let (mut body, tx) = open(configure).await;
    let start = Instant::now();
    let mut frames = Vec::new();
    for data in ["1", "2"] {
        tx.send(event(data)).unwrap();
        frames.push(next(&mut body, start).await);
    }
    for data in ["3", "4", "5"] {
        tx.send(event(data)).unwrap();
    }
    frames.push(next(&mut body, start).await);
    tokio::time::advance(Duration::from_millis(3)).await;
    tx.send(event("6")).unwrap();
    frames.push(next(&mut body, start).await);
    drop(tx);
    assert!(body.frame().await.is_none());
    frames
}

#[tokio::test(start_paused = true)]
async fn without_a_window_frames_are_as_before() {
    let expected = vec![
        (Bytes::from("data: 1\n\n"), Duration::ZERO),
        (Bytes::from("data: 2\n\n"), Duration::ZERO),
        (
            Bytes::from("data: 3\n\ndata: 4\n\ndata: 5\n\n"),
            Duration::ZERO,
        ),
        (Bytes::from("data: 6\n\n"), Duration::from_millis(3)),
    ];
    assert_eq!(
        frames_of(|layer| layer.without_keep_alive()).await,
        expected
    );
    assert_eq!(
        frames_of(|layer| layer.without_keep_alive().write_window(Duration::ZERO)).await,
        expected
    );
    // With the window, the same script: each frame one window after its first event.
    assert_eq!(
        frames_of(windowed).await,
        vec![
            (Bytes::from("data: 1\n\n"), WINDOW),
            (Bytes::from("data: 2\n\n"), WINDOW * 2),
            (Bytes::from("data: 3\n\ndata: 4\n\ndata: 5\n\n"), WINDOW * 3),
            (
                Bytes::from("data: 6\n\n"),
                WINDOW * 4 + Duration::from_millis(3)
            ),
        ]
    );
}

/// A hub's subscription served by an `EventStream` with the window: held and joined
/// like any stream's events.
#[cfg(all(feature = "axum", feature = "hub"))]
#[tokio::test(start_paused = true)]
async fn hub_stream_in_an_event_stream_is_held_the_window() {
    use axum::response::IntoResponse;
    use tower_sse::{EventStream, hub::Hub};

    let hub = Hub::builder().build();
    let subscription = hub.subscribe("prices").await.unwrap();
    let mut body = EventStream::new(subscription)
        .without_keep_alive()
        .write_window(WINDOW)
        .write_window_bytes(1024)
        .into_response()
        .into_body();
    let start = Instant::now();
    hub.publish_with_id("prices", "a", Event::new().data("1"))
        .await
        .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
    tokio::time::advance(Duration::from_millis(1)).await;
    hub.publish_with_id("prices", "b", Event::new().data("2"))
        .await
        .unwrap();
    let frame = body.frame().await.expect("a frame").unwrap();
    assert_eq!(
        (frame.into_data().unwrap(), start.elapsed()),
        (Bytes::from("data: 1\nid: a\n\ndata: 2\nid: b\n\n"), WINDOW)
    );
}
