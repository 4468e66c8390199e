//! Event streams: open streams, events, bytes and keep-alives sent, and why each stream
//! closed, as a client sees them over a real server.

use crate::{common, recorder::run};

use std::{
    convert::Infallible,
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use bytes::Bytes;
use common::{eventually, get as request, send, serve, within};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::UnboundedReceiverStream};
use tower::ServiceExt;
use tower_sse::{Event, EventId, Shutdown, SseLayer};

const EVENTS: &str = "sse_events_sent_total";
const BYTES: &str = "sse_bytes_sent_total";
const OPEN: &str = "sse_streams_open";
const CLOSED: &str = "sse_streams_closed_total";
const KEEP_ALIVES: &str = "sse_keep_alives_total";

/// An app whose one event stream reads `items`, through `configure`d layer.
async fn serve_one<T>(
    items: mpsc::UnboundedReceiver<T>,
    configure: impl FnOnce(SseLayer<Factory<T>>) -> SseLayer<Factory<T>>,
) -> std::net::SocketAddr
where
    T: tower_sse::EventItem + Send + 'static,
{
    let factory: Factory<T> = Factory(Arc::new(Mutex::new(Some(items))));
    serve(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(configure(SseLayer::new(factory))),
    )
    .await
}

/// Hands its one channel out as the stream of the first request.
pub(crate) struct Factory<T>(Arc<Mutex<Option<mpsc::UnboundedReceiver<T>>>>);

impl<T> Clone for Factory<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> tower_sse::MakeEventStream<Body> for Factory<T>
where
    T: tower_sse::EventItem + Send + 'static,
{
    type Stream = UnboundedReceiverStream<T>;
    type Item = T;
    type Rejection = Infallible;
    type Future = std::future::Ready<Result<Self::Stream, Infallible>>;

    fn make_event_stream(&mut self, _: Request<Body>, _: Option<EventId>) -> Self::Future {
        let items = self.0.lock().unwrap().take().expect("one stream per test");
        std::future::ready(Ok(UnboundedReceiverStream::new(items)))
    }
}

/// Opens the event stream at `addr`.
async fn open(addr: std::net::SocketAddr) -> Response<Incoming> {
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response
}

/// The next data frame the client reads, or `None` at the end.
async fn next_frame(response: &mut Response<Incoming>) -> Option<Bytes> {
    let frame = within(Duration::from_secs(10), response.frame()).await?;
    Some(frame.unwrap().into_data().unwrap())
}

#[test]
fn events_and_bytes_sent_are_exactly_what_the_client_read() {
    run(false, |m| async move {
        let (tx, rx) = mpsc::unbounded_channel();
        // Three events ready at the first read: one frame, three events.
        for n in 0..3 {
            tx.send(Event::new().id_number(n).data("small")).unwrap();
        }
        let addr = serve_one(rx, |layer| {
            layer
                .without_keep_alive()
                .reconnection_time(Duration::from_secs(3))
        })
        .await;
        let mut response = open(addr).await;
        assert_eq!(m.gauge(OPEN, &[]), 1.0);

        let mut read = Vec::new();
        while !read.ends_with(b"data: small\n\n") || read.len() < 3 * 20 {
            read.extend_from_slice(&next_frame(&mut response).await.unwrap());
        }
        // A large event is sent in a frame of its own, the next one held for another.
        tx.send(Event::new().data("x".repeat(2000))).unwrap();
        tx.send(Event::new().data("last")).unwrap();
        drop(tx);
        while let Some(frame) = next_frame(&mut response).await {
            read.extend_from_slice(&frame);
        }

        assert!(read.starts_with(b"retry: 3000\n\n"), "{read:?}");
        assert_eq!(m.counter(BYTES, &[]), read.len() as u64);
        assert_eq!(m.counter(EVENTS, &[]), 5);
        assert_eq!(m.counter(CLOSED, &[("reason", "ended")]), 1);
        assert_eq!(
            m.series(CLOSED).len(),
            1,
            "one reason: {:?}",
            m.series(CLOSED)
        );
        eventually(Duration::from_secs(5), "the body is dropped", || {
            m.gauge(OPEN, &[]) == 0.0
        })
        .await;
    });
}

#[test]
fn a_client_that_leaves_counts_client_left() {
    run(false, |m| async move {
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Event::new().data("hi")).unwrap();
        let addr = serve_one(rx, |layer| layer.without_keep_alive()).await;
        let mut response = open(addr).await;
        assert_eq!(next_frame(&mut response).await.unwrap(), "data: hi\n\n");
        drop(response); // the client's connection closes with it
        eventually(Duration::from_secs(5), "the stream is closed", || {
            m.counter(CLOSED, &[("reason", "client_left")]) == 1
        })
        .await;
        assert_eq!(m.gauge(OPEN, &[]), 0.0);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
        assert_eq!(m.counter(EVENTS, &[]), 1);
        drop(tx);
    });
}

#[test]
fn the_shutdown_signal_counts_shutdown() {
    run(false, |m| async move {
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Event::new().data("hi")).unwrap();
        let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
        let addr = serve_one(rx, |layer| {
            layer
                .without_keep_alive()
                .graceful_shutdown(shutdown.clone())
        })
        .await;
        let mut response = open(addr).await;
        let mut read = next_frame(&mut response).await.unwrap().to_vec();
        shutdown.trigger();
        while let Some(frame) = next_frame(&mut response).await {
            read.extend_from_slice(&frame);
        }
        assert_eq!(read, b"data: hi\n\nevent: bye\ndata: \n\n");
        assert_eq!(m.counter(CLOSED, &[("reason", "shutdown")]), 1);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
        assert_eq!(m.counter(EVENTS, &[]), 2, "the shutdown event is an event");
        assert_eq!(m.counter(BYTES, &[]), read.len() as u64);
        drop(tx);
    });
}

#[test]
fn a_stream_error_counts_error() {
    run(false, |m| async move {
        let (tx, rx) = mpsc::unbounded_channel::<Result<Event, io::Error>>();
        tx.send(Ok(Event::new().data("hi"))).unwrap();
        tx.send(Err(io::Error::other("boom"))).unwrap();
        let addr = serve_one(rx, |layer| layer.without_keep_alive()).await;
        let mut response = open(addr).await;
        let mut read = Vec::new();
        while let Some(frame) = next_frame(&mut response).await {
            read.extend_from_slice(&frame);
        }
        assert_eq!(read, b"data: hi\n\n");
        assert_eq!(m.counter(CLOSED, &[("reason", "error")]), 1);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
        assert_eq!(m.counter(EVENTS, &[]), 1);
        drop(tx);
    });
}

/// Keep-alives with Tokio's clock paused: the body is read straight from the service, as
/// a server would, without sockets that a jumping clock would race.
#[test]
fn keep_alives_are_counted_with_their_bytes() {
    run(true, |m| async move {
        let (tx, rx) = mpsc::unbounded_channel::<Event>();
        let factory = Factory(Arc::new(Mutex::new(Some(rx))));
        let inner = tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let service = tower::Layer::layer(&SseLayer::new(factory), inner);
        let request = Request::get("/")
            .header("accept", "text/event-stream")
            .body(Body::empty())
            .unwrap();
        let mut body = Box::pin(service.oneshot(request).await.unwrap().into_body());
        for _ in 0..3 {
            // Default: a comment every 15 s of quiet.
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), ":\n\n");
        }
        assert_eq!(m.counter(KEEP_ALIVES, &[]), 3);
        assert_eq!(m.counter(BYTES, &[]), 9);
        assert_eq!(m.counter(EVENTS, &[]), 0);
        tx.send(Event::new().data("x")).unwrap();
        drop(tx);
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: x\n\n");
        assert!(body.frame().await.is_none());
        assert_eq!(m.counter(EVENTS, &[]), 1);
        assert_eq!(m.counter(KEEP_ALIVES, &[]), 3);
        assert_eq!(m.counter(CLOSED, &[("reason", "ended")]), 1);
        drop(body);
        assert_eq!(m.gauge(OPEN, &[]), 0.0);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
    });
}

/// A stream that ends right after another one ended (a chain) does not inherit the
/// reason the first one noted: here a hub subscription that reached its maximum duration,
/// followed by events of another stream, then the chain's own end.
#[test]
fn a_noted_reason_does_not_leak_to_the_next_stream() {
    run(true, |m| async move {
        let hub = tower_sse::hub::Hub::builder()
            .max_duration(Duration::from_secs(1), Duration::ZERO)
            .build();
        let factory = move |_: Request<Body>, _: Option<EventId>| {
            let hub = hub.clone();
            async move {
                let subscription = hub.subscribe("t").await?;
                let after = tokio_stream::iter([Event::new().data("after").encode()]);
                Ok::<_, tower_sse::hub::SubscribeError>(subscription.chain(after))
            }
        };
        let inner = tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let service = tower::Layer::layer(&SseLayer::new(factory).without_keep_alive(), inner);
        let request = Request::get("/")
            .header("accept", "text/event-stream")
            .body(Body::empty())
            .unwrap();
        let mut body = Box::pin(service.oneshot(request).await.unwrap().into_body());
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: after\n\n");
        assert!(body.frame().await.is_none());
        assert_eq!(m.counter(CLOSED, &[("reason", "ended")]), 1);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
    });
}
