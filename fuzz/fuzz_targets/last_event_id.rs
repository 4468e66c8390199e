//! Last-Event-ID handling through the real service: any header bytes and any query give
//! either the stream, with the id the factory saw equal to the one sent, or a 400 with a
//! reason; never a panic.
//!
//! Input: the header value, 0xFF, the query string.
#![no_main]

use std::convert::Infallible;

use bytes::Bytes;
use futures::executor::block_on;
use http::{HeaderValue, Request, Response};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use tower_sse::{Event, EventId, SseLayer};

fuzz_target!(|input: &[u8]| {
    let (header, query) = match input.iter().position(|&b| b == 0xff) {
        Some(at) => (&input[..at], Some(&input[at + 1..])),
        None => (input, None),
    };
    let mut uri = String::from("/events");
    if let Some(query) = query {
        uri.push('?');
        uri.push_str(&String::from_utf8_lossy(query));
    }
    let Ok(mut request) = Request::get(uri.as_str()).header("accept", "text/event-stream").body(()) else {
        return;
    };
    let header = HeaderValue::from_bytes(header).ok();
    if let Some(value) = &header {
        request.headers_mut().insert("last-event-id", value.clone());
    }

    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let layer = SseLayer::new(move |_: Request<()>, last: Option<EventId>| {
        *record.lock().unwrap() = Some(last);
        std::future::ready(Ok::<_, Infallible>(tokio_stream_once()))
    })
    .last_event_id_query(true);
    let inner = tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(http_body_util::Empty::<Bytes>::new()))
    });
    let service = tower::Layer::layer(&layer, inner);
    let response = block_on(service.oneshot(request)).unwrap();
    match response.status().as_u16() {
        200 => {
            let last = seen.lock().unwrap().clone().expect("the factory was called");
            if let (Some(value), Some(last)) = (&header, &last) {
                if !value.as_bytes().is_empty() {
                    assert_eq!(last.as_str().as_bytes(), value.as_bytes());
                }
            }
        }
        400 => assert!(seen.lock().unwrap().is_none(), "the factory is not called on a 400"),
        other => panic!("unexpected status {other}"),
    }
    let _ = response.into_body();
});

fn tokio_stream_once() -> futures::stream::Once<futures::future::Ready<Event>> {
    futures::stream::once(futures::future::ready(Event::new().data("x")))
}
