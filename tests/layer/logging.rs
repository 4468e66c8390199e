//! A failing event stream is logged. Alone in its own test binary: `tracing` caches
//! whether a call site is wanted process-wide, so another test running in parallel
//! without a subscriber could make this one's thread-local subscriber miss the event.

use std::{convert::Infallible, io};

use axum::{Router, body::Body, routing::get};
use http::Request;
use tower_sse::{Event, EventId, SseLayer};

#[tokio::test]
async fn a_stream_error_is_logged() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let layer = SseLayer::new(|_: Request<Body>, _: Option<EventId>| async {
        let items: Vec<Result<Event, io::Error>> = vec![Err(io::Error::other("boom"))];
        Ok::<_, Infallible>(tokio_stream::iter(items))
    });
    let service = tower::ServiceExt::<Request<Body>>::map_err(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(layer),
        |never| match never {},
    );
    let request = Request::get("/")
        .header("accept", "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(service, request).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "");
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("event stream failed"), "{log}");
    assert!(log.contains("boom"), "{log}");
}
