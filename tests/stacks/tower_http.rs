//! tower-sse composed with tower-http's middleware, on 127.0.0.1:0: compression leaves
//! events alone (and a custom predicate must keep excluding them), tracing sees the
//! stream and its early drop, CORS works for a credentialed cross-origin EventSource,
//! and timeouts bound the response head, not the stream.

use crate::common;

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use common::{DropGuard, body_bytes, dropped, eventually, get as request, send, serve, within};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::UnboundedReceiverStream};
use tower::ServiceExt;
use tower_http::{
    compression::{
        CompressionLayer,
        predicate::{NotForContentType, Predicate, SizeAbove},
    },
    cors::{AllowOrigin, CorsLayer},
    on_early_drop::{OnBodyDropFn, OnEarlyDropLayer},
    timeout::{ResponseBodyTimeoutLayer, TimeoutLayer},
    trace::TraceLayer,
};
use tower_sse::{EncodedEvent, Event, EventId, KeepAlive, MakeEventStream, SseLayer};

/// Hands the test the sender of each new stream.
type Senders = mpsc::UnboundedReceiver<mpsc::UnboundedSender<EncodedEvent>>;

/// A factory whose streams the test feeds: each request's sender goes to the test.
#[derive(Clone)]
struct Fed(mpsc::UnboundedSender<mpsc::UnboundedSender<EncodedEvent>>);

impl MakeEventStream<Body> for Fed {
    type Stream = UnboundedReceiverStream<EncodedEvent>;
    type Item = EncodedEvent;
    type Rejection = Infallible;
    type Future = std::future::Ready<Result<Self::Stream, Infallible>>;

    fn make_event_stream(&mut self, _: Request<Body>, _: Option<EventId>) -> Self::Future {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.send(tx).unwrap();
        std::future::ready(Ok(UnboundedReceiverStream::new(rx)))
    }
}

fn fed_layer() -> (SseLayer<Fed>, Senders) {
    let (senders_tx, senders_rx) = mpsc::unbounded_channel();
    (SseLayer::new(Fed(senders_tx)), senders_rx)
}

fn page_router() -> Router {
    // A page large enough for the default compression predicate (over 32 bytes).
    Router::new().route("/", get(|| async { "a page ".repeat(100) }))
}

fn event(data: &str) -> EncodedEvent {
    Event::new().data(data).encode()
}

const GZIP_SSE: [(&str, &str); 2] = [("accept", "text/event-stream"), ("accept-encoding", "gzip")];

#[tokio::test]
async fn compression_leaves_events_alone_and_does_not_hold_them_back() {
    let (layer, mut senders) = fed_layer();
    let app = page_router().layer(layer).layer(CompressionLayer::new());
    let addr = serve(app).await;

    let response = send(addr, request("/", &GZIP_SSE)).await;
    assert!(response.headers().get("content-encoding").is_none());
    let tx = senders.recv().await.unwrap();
    let mut body = response.into_body();
    // Each event arrives before the next is even produced: nothing buffers them.
    for n in 0..3 {
        tx.send(event(&format!("event {n}"))).unwrap();
        let frame = within(Duration::from_secs(5), body.frame())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap(), format!("data: event {n}\n\n"));
    }

    // The page next to it is compressed as usual.
    let page = send(addr, request("/", &[("accept-encoding", "gzip")])).await;
    assert_eq!(page.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn a_custom_compression_predicate_must_exclude_event_streams_itself() {
    // `compress_when` replaces the default predicate, and with it the SSE exclusion.
    let (layer, mut senders) = fed_layer();
    let careless = CompressionLayer::new().compress_when(SizeAbove::new(0));
    let addr = serve(page_router().layer(layer).layer(careless)).await;
    let response = send(addr, request("/", &GZIP_SSE)).await;
    assert_eq!(
        response.headers()["content-encoding"],
        "gzip",
        "events get compressed"
    );
    drop((response, senders.recv().await));

    // Adding `NotForContentType::SSE` back keeps events uncompressed.
    let (layer, mut senders) = fed_layer();
    let careful =
        CompressionLayer::new().compress_when(SizeAbove::new(0).and(NotForContentType::SSE));
    let addr = serve(page_router().layer(layer).layer(careful)).await;
    let response = send(addr, request("/", &GZIP_SSE)).await;
    assert!(response.headers().get("content-encoding").is_none());
    let tx = senders.recv().await.unwrap();
    tx.send(event("plain")).unwrap();
    drop(tx);
    assert_eq!(body_bytes(response).await, "data: plain\n\n");
}

#[tokio::test]
async fn trace_and_on_early_drop_see_a_client_leave() {
    let drops = Arc::new(Mutex::new(Vec::new()));
    let log = drops.clone();
    let early_drop = OnEarlyDropLayer::builder().on_body_drop(OnBodyDropFn::new(
        move |request: &Request<Body>| {
            let log = log.clone();
            let path = request.uri().path().to_owned();
            move |parts: &http::response::Parts| {
                let content_type = parts.headers.get("content-type").cloned();
                move || log.lock().unwrap().push((path, content_type))
            }
        },
    ));
    let (guard_tx, mut guard_rx) = mpsc::unbounded_channel();
    let layer = SseLayer::new(move |_: Request<Body>, _: Option<EventId>| {
        let (guard, flag) = DropGuard::new();
        guard_tx.send(flag).unwrap();
        let stream = tokio_stream::iter(vec![Event::new().data("hi")])
            .chain(tokio_stream::pending())
            .map(move |event| {
                let _owned = &guard;
                event
            });
        std::future::ready(Ok::<_, Infallible>(stream))
    });
    let app = page_router()
        .layer(layer)
        .layer(early_drop)
        .layer(TraceLayer::new_for_http());
    let addr = serve(app).await;

    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    let mut body = response.into_body();
    let first = within(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "data: hi\n\n");
    let flag = guard_rx.recv().await.unwrap();
    drop(body);
    eventually(Duration::from_secs(5), "stream dropped", || dropped(&flag)).await;
    eventually(Duration::from_secs(5), "early drop reported", || {
        !drops.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        *drops.lock().unwrap(),
        [(
            "/".to_owned(),
            Some(HeaderValue::from_static("text/event-stream"))
        )]
    );
}

#[tokio::test]
async fn cors_for_a_credentialed_cross_origin_event_source() {
    let (layer, mut senders) = fed_layer();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::exact(HeaderValue::from_static(
            "http://app.test",
        )))
        .allow_credentials(true)
        // A reconnecting EventSource sends Last-Event-ID, which needs a preflight.
        .allow_headers([http::HeaderName::from_static("last-event-id")]);
    let addr = serve(page_router().layer(layer).layer(cors)).await;

    let response = send(
        addr,
        request(
            "/",
            &[
                ("accept", "text/event-stream"),
                ("origin", "http://app.test"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://app.test"
    );
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    let vary: Vec<_> = response.headers().get_all("vary").iter().collect();
    assert!(
        vary.iter().any(|v| v.to_str().unwrap().contains("origin")),
        "{vary:?}"
    );
    assert!(vary.iter().any(|v| *v == "accept"), "{vary:?}");
    let tx = senders.recv().await.unwrap();
    tx.send(event("cross-origin")).unwrap();
    drop(tx);
    assert_eq!(body_bytes(response).await, "data: cross-origin\n\n");

    // The preflight of the reconnect, answered by CorsLayer.
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/")
        .header("host", "test")
        .header("origin", "http://app.test")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "last-event-id")
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = send(addr, preflight).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-headers"],
        "last-event-id"
    );
}

#[tokio::test]
async fn timeout_layer_bounds_the_head_not_the_stream() {
    let layer = SseLayer::new(|_: Request<Body>, _: Option<EventId>| async {
        let events = tokio_stream::iter(0..5)
            .throttle(Duration::from_millis(60))
            .map(|n| Event::new().data(n.to_string()));
        Ok::<_, Infallible>(events)
    });
    let timeout =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_millis(100));
    let addr = serve(page_router().layer(layer).layer(timeout)).await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The stream lasts about 240 ms, well past the 100 ms timeout, and arrives whole.
    assert_eq!(
        body_bytes(response).await,
        "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n"
    );
}

/// `ResponseBodyTimeoutLayer` fails a body that sends nothing for its timeout: the
/// keep-alive interval must be shorter than it.
#[tokio::test(start_paused = true)]
async fn a_body_timeout_needs_a_shorter_keep_alive() {
    async fn frames_within(keep_alive: Duration, body_timeout: Duration) -> Result<usize, String> {
        let layer = SseLayer::new(|_: Request<Body>, _: Option<EventId>| async {
            Ok::<_, Infallible>(tokio_stream::pending::<Event>())
        })
        .keep_alive(KeepAlive::new().interval(keep_alive));
        let app = page_router()
            .layer(layer)
            .layer(ResponseBodyTimeoutLayer::new(body_timeout));
        let request = Request::get("/")
            .header("accept", "text/event-stream")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let mut body = Box::pin(response.into_body());
        let start = tokio::time::Instant::now();
        let mut frames = 0;
        while start.elapsed() < Duration::from_secs(120) {
            match body.frame().await {
                Some(Ok(_)) => frames += 1,
                Some(Err(err)) => return Err(err.to_string()),
                None => return Err("ended".into()),
            }
        }
        Ok(frames)
    }

    // Keep-alive every 10 s under a 15 s body timeout: the stream lives.
    assert_eq!(
        frames_within(Duration::from_secs(10), Duration::from_secs(15)).await,
        Ok(12)
    );
    // Keep-alive every 20 s under a 15 s body timeout: cut at 15 s.
    assert_eq!(
        frames_within(Duration::from_secs(20), Duration::from_secs(15)).await,
        Err("data was not received within the designated timeout".into())
    );
}
