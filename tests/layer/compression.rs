//! Compressed event streams through a real server: the coding chosen from
//! `Accept-Encoding`, the headers, and every event decodable as soon as its frame
//! arrives (the stream waits on the test before its next event), with the decompressed
//! body exactly the uncompressed one.
#![cfg(all(
    feature = "compression-gzip",
    feature = "compression-br",
    feature = "compression-zstd"
))]

use crate::common;

use std::{
    convert::Infallible,
    io::Write,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use common::{body_bytes, get as request, send, serve, within};
use futures_core::Stream;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tower_sse::{Compression, Event, EventId, KeepAlive, Shutdown, SseLayer};

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// Streams the test feeds through a channel, taken one per request; when there is none,
/// a fixed stream of two events.
#[derive(Clone, Default)]
struct Feeds(Arc<Mutex<Vec<mpsc::UnboundedReceiver<Event>>>>);

impl Feeds {
    fn feed(&self) -> mpsc::UnboundedSender<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().unwrap().push(rx);
        tx
    }
}

fn tick(n: u32) -> Event {
    Event::new().id_number(u64::from(n)).data(format!(
        r#"{{"symbol":"ACME","price":{}.{:02},"volume":{}}}"#,
        100 + n,
        n * 7 % 100,
        n * 1000
    ))
}

fn encoded(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|e| e.clone().encode().into_bytes())
        .collect()
}

fn app(feeds: &Feeds, configure: impl FnOnce(SseLayer<Feeds>) -> SseLayer<Feeds>) -> Router {
    Router::new()
        .route("/", get(|| async { "page" }))
        .layer(configure(
            SseLayer::new(feeds.clone()).compression(Compression::default()),
        ))
}

impl tower_sse::MakeEventStream<Body> for Feeds {
    type Stream = Events;
    type Item = Event;
    type Rejection = Infallible;
    type Future = std::future::Ready<Result<Events, Infallible>>;

    fn make_event_stream(&mut self, _: Request<Body>, _: Option<EventId>) -> Self::Future {
        let events: Events = match self.0.lock().unwrap().pop() {
            Some(rx) => Box::pin(UnboundedReceiverStream::new(rx)),
            None => Box::pin(tokio_stream::iter([tick(1), tick(2)])),
        };
        std::future::ready(Ok(events))
    }
}

/// A streaming decoder for one coding, fed the bytes as they arrive.
enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

impl Decoder {
    fn new(coding: &str) -> Self {
        match coding {
            "gzip" => Self::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            "br" => Self::Brotli(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096))),
            "zstd" => Self::Zstd(zstd::stream::write::Decoder::new(Vec::new()).unwrap()),
            other => panic!("no decoder for {other}"),
        }
    }

    /// Decodes `bytes`; returns everything decoded so far.
    fn push(&mut self, bytes: &[u8]) -> &[u8] {
        match self {
            Self::Gzip(d) => {
                d.write_all(bytes).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
            Self::Brotli(d) => {
                d.write_all(bytes).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
            Self::Zstd(d) => {
                d.write_all(bytes).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
        }
    }

    /// Everything decoded; fails unless the compressed stream was properly ended (gzip's
    /// trailer and checksum, brotli's last block, zstd's frame end).
    fn finish(self) -> Vec<u8> {
        match self {
            Self::Gzip(d) => d.finish().expect("a complete gzip stream"),
            Self::Brotli(d) => d.into_inner().expect("a complete brotli stream"),
            Self::Zstd(mut d) => {
                d.flush().unwrap();
                let out = d.get_ref().clone();
                d.finish().expect("a complete zstd frame");
                out
            }
        }
    }
}

/// Reads compressed frames until what they decode to is `expected`, failing if it is not
/// within 5 s (a frame held back by the compressor never arrives in time).
async fn decode_until(body: &mut Incoming, decoder: &mut Decoder, expected: &[u8]) {
    within(Duration::from_secs(5), async {
        loop {
            let frame = body.frame().await.expect("the stream is open").unwrap();
            let Ok(bytes) = frame.into_data() else {
                continue;
            };
            let decoded = decoder.push(&bytes);
            assert!(
                expected.starts_with(decoded),
                "decoded {:?}, expected {:?}",
                String::from_utf8_lossy(decoded),
                String::from_utf8_lossy(expected)
            );
            if decoded == expected {
                return;
            }
        }
    })
    .await;
}

async fn open(addr: std::net::SocketAddr, accept_encoding: &str) -> Response<Incoming> {
    let response = send(
        addr,
        request(
            "/",
            &[
                ("accept", "text/event-stream"),
                ("accept-encoding", accept_encoding),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response
}

fn header<'a>(response: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

/// Event 1, decoded before the test releases event 2; then event 2; then the end.
async fn each_event_decodes_before_the_next_is_sent(coding: &str) {
    let feeds = Feeds::default();
    let addr = serve(app(&feeds, SseLayer::without_keep_alive)).await;
    let tx = feeds.feed();
    let mut response = open(addr, coding).await;
    assert_eq!(header(&response, "content-encoding"), Some(coding));
    assert_eq!(header(&response, "vary"), Some("accept, accept-encoding"));
    assert_eq!(header(&response, "content-type"), Some("text/event-stream"));
    let mut decoder = Decoder::new(coding);

    tx.send(tick(1)).unwrap();
    decode_until(response.body_mut(), &mut decoder, &encoded(&[tick(1)])).await;
    // The stream is now waiting on the test: event 1 was decoded from the bytes sent
    // so far, so it was flushed, not held back for event 2.
    tx.send(tick(2)).unwrap();
    tx.send(tick(3)).unwrap();
    let all = encoded(&[tick(1), tick(2), tick(3)]);
    decode_until(response.body_mut(), &mut decoder, &all).await;

    drop(tx);
    let rest = body_bytes(response).await;
    decoder.push(&rest);
    assert_eq!(decoder.finish(), all);
}

#[tokio::test]
async fn gzip_flushes_every_event() {
    each_event_decodes_before_the_next_is_sent("gzip").await;
}

#[tokio::test]
async fn brotli_flushes_every_event() {
    each_event_decodes_before_the_next_is_sent("br").await;
}

#[tokio::test]
async fn zstd_flushes_every_event() {
    each_event_decodes_before_the_next_is_sent("zstd").await;
}

#[tokio::test]
async fn accept_encoding_chooses_the_coding() {
    let addr = serve(app(&Feeds::default(), SseLayer::without_keep_alive)).await;
    let cases: [(Option<&str>, Option<&str>); 12] = [
        (Some("gzip, deflate, br, zstd"), Some("zstd")),
        (Some("gzip, deflate, br"), Some("br")),
        (Some("gzip;q=0.5, br;q=0.9, zstd;q=0.8"), Some("br")),
        (Some("zstd;q=0, br;q=0, gzip"), Some("gzip")),
        (Some("*;q=0.1, zstd;q=0"), Some("br")),
        (Some("GZIP ; Q=1.0"), Some("gzip")),
        (Some("identity;q=1, gzip;q=0.5"), None),
        (Some("*;q=0"), None),
        (Some("identity"), None),
        (Some("deflate"), None),
        (Some(""), None),
        (None, None),
    ];
    for (accept_encoding, expected) in cases {
        let mut headers = vec![("accept", "text/event-stream")];
        headers.extend(accept_encoding.map(|value| ("accept-encoding", value)));
        let response = send(addr, request("/", &headers)).await;
        assert_eq!(
            header(&response, "content-encoding"),
            expected,
            "{accept_encoding:?}"
        );
        // Compressed or not, the stream depended on `Accept-Encoding`.
        assert_eq!(header(&response, "vary"), Some("accept, accept-encoding"));
        let body = body_bytes(response).await;
        let decoded = match expected {
            Some(coding) => {
                let mut decoder = Decoder::new(coding);
                decoder.push(&body);
                decoder.finish()
            }
            None => body.to_vec(),
        };
        assert_eq!(decoded, encoded(&[tick(1), tick(2)]), "{accept_encoding:?}");
    }
}

#[tokio::test]
async fn head_gets_the_headers_and_no_body() {
    let addr = serve(app(&Feeds::default(), |layer| layer)).await;
    let mut head = request(
        "/",
        &[("accept", "text/event-stream"), ("accept-encoding", "gzip")],
    );
    *head.method_mut() = http::Method::HEAD;
    let response = send(addr, head).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-encoding"), Some("gzip"));
    assert_eq!(header(&response, "vary"), Some("accept, accept-encoding"));
    assert_eq!(body_bytes(response).await, "");
}

#[tokio::test]
async fn pages_are_untouched() {
    let addr = serve(app(&Feeds::default(), |layer| layer)).await;
    let response = send(
        addr,
        request(
            "/",
            &[
                ("accept", "text/html"),
                ("accept-encoding", "gzip, br, zstd"),
            ],
        ),
    )
    .await;
    assert_eq!(header(&response, "content-encoding"), None);
    assert_eq!(header(&response, "vary"), Some("accept"));
    assert_eq!(body_bytes(response).await, "page");
}

#[tokio::test]
async fn uncompressed_when_not_configured() {
    let router = Router::new()
        .route("/", get(|| async { "page" }))
        .layer(SseLayer::new(
            |_: Request<Body>, _: Option<EventId>| async {
                Ok::<_, Infallible>(tokio_stream::iter([tick(1)]))
            },
        ));
    let addr = serve(router).await;
    let response = open(addr, "gzip, br, zstd").await;
    assert_eq!(header(&response, "content-encoding"), None);
    assert_eq!(header(&response, "vary"), Some("accept"));
    assert_eq!(body_bytes(response).await, encoded(&[tick(1)]));
}

/// The `retry:` hint, keep-alives and the shutdown event are frames like events: each is
/// decoded as it comes, and the compressed stream ends properly after the shutdown event.
#[tokio::test]
async fn retry_keep_alive_and_shutdown_work_compressed() {
    for coding in ["gzip", "br", "zstd"] {
        let feeds = Feeds::default();
        let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
        let addr = serve(app(&feeds, |layer| {
            layer
                .reconnection_time(Duration::from_millis(1500))
                .keep_alive(KeepAlive::new().interval(Duration::from_millis(50)))
                .graceful_shutdown(shutdown.clone())
        }))
        .await;
        let tx = feeds.feed();
        let mut response = open(addr, coding).await;
        assert_eq!(header(&response, "content-encoding"), Some(coding));
        let mut decoder = Decoder::new(coding);

        // The retry hint, then a keep-alive while the stream is idle.
        decode_until(response.body_mut(), &mut decoder, b"retry: 1500\n\n:\n\n").await;
        tx.send(tick(1)).unwrap();
        let mut expected = b"retry: 1500\n\n:\n\n".to_vec();
        // More keep-alives may come before the event: read until the event is decoded.
        within(Duration::from_secs(5), async {
            loop {
                let frame = response.body_mut().frame().await.unwrap().unwrap();
                let decoded = decoder.push(&frame.into_data().unwrap()).to_vec();
                let rest = &decoded[expected.len()..];
                if rest == b":\n\n" {
                    expected.extend_from_slice(b":\n\n");
                } else if !rest.is_empty() {
                    expected.extend_from_slice(&encoded(&[tick(1)]));
                    assert_eq!(decoded, expected, "{coding}");
                    return;
                }
            }
        })
        .await;

        shutdown.trigger();
        let rest = body_bytes(response).await;
        decoder.push(&rest);
        let decoded = decoder.finish();
        let tail = &decoded[expected.len()..];
        // Keep-alives may still have come before the signal.
        let tail = trim_keep_alives(tail);
        assert_eq!(tail, b"event: bye\ndata: \n\n", "{coding}");
        drop(tx);
    }
}

fn trim_keep_alives(mut bytes: &[u8]) -> &[u8] {
    while let Some(rest) = bytes.strip_prefix(b":\n\n") {
        bytes = rest;
    }
    bytes
}

/// tower-http's `CompressionLayer` outside: it compresses the page, and leaves the
/// already-compressed stream alone (no second coding, events still flushed).
#[tokio::test]
async fn tower_http_compression_outside_leaves_the_stream_alone() {
    let feeds = Feeds::default();
    let router = app(&feeds, SseLayer::without_keep_alive)
        .route("/big", get(|| async { "a page ".repeat(100) }))
        .layer(tower_http::compression::CompressionLayer::new());
    let addr = serve(router).await;

    let page = send(
        addr,
        request(
            "/big",
            &[("accept", "text/html"), ("accept-encoding", "gzip")],
        ),
    )
    .await;
    assert_eq!(header(&page, "content-encoding"), Some("gzip"));

    let tx = feeds.feed();
    let mut response = open(addr, "gzip").await;
    assert_eq!(
        response
            .headers()
            .get_all("content-encoding")
            .iter()
            .count(),
        1
    );
    assert_eq!(header(&response, "content-encoding"), Some("gzip"));
    let mut decoder = Decoder::new("gzip");
    tx.send(tick(1)).unwrap();
    decode_until(response.body_mut(), &mut decoder, &encoded(&[tick(1)])).await;
}
