//! Hostile and broken clients against a real server on 127.0.0.1:0: each gets a defined
//! answer (a status or a close), and the server keeps serving everyone else.

use crate::common;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use common::{body_bytes, eventually, get as request, send, serve, within};
use http::{Request, StatusCode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_stream::StreamExt;
use tower_sse::{Event, EventId, SseLayer};

/// A server whose streams send `x` 64 KiB events as fast as they are read (forever),
/// counting how many the stream produced.
async fn firehose() -> (SocketAddr, Arc<AtomicUsize>) {
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let layer = SseLayer::new(move |request: Request<Body>, _: Option<EventId>| {
        let counter = counter.clone();
        async move {
            let payload = if request.uri().path() == "/small" {
                1
            } else {
                64 * 1024
            };
            let event = Event::new().data("x".repeat(payload)).encode();
            let events = tokio_stream::iter(std::iter::repeat(event)).map(move |event| {
                counter.fetch_add(1, Ordering::Relaxed);
                event
            });
            Ok::<_, Infallible>(events)
        }
    });
    let addr = serve(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(layer),
    )
    .await;
    (addr, produced)
}

/// Reads from `socket` until `needle` has arrived.
async fn read_until(socket: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    while !received.windows(needle.len()).any(|w| w == needle) {
        let n = within(Duration::from_secs(10), socket.read(&mut buf))
            .await
            .unwrap();
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        received.extend_from_slice(&buf[..n]);
    }
    received
}

async fn still_serving(addr: SocketAddr) {
    let response = send(addr, request("/", &[("accept", "text/html")])).await;
    assert_eq!(body_bytes(response).await, "page");
}

#[tokio::test]
async fn a_client_that_never_reads_is_held_back_by_backpressure() {
    let (addr, produced) = firehose().await;
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    // The stream runs until the socket buffers are full, then is not polled again.
    let mut last = 0;
    let mut stable_for = 0;
    eventually(Duration::from_secs(20), "production stops", || {
        let now = produced.load(Ordering::Relaxed);
        stable_for = if now == last && now > 0 {
            stable_for + 1
        } else {
            0
        };
        last = now;
        stable_for >= 40 // 200 ms without a new event
    })
    .await;
    // At most what the kernel's socket buffers can hold (the largest send and receive
    // buffers it allows, read from /proc), hyper's buffer and one frame, in 64 KiB events.
    let limit = |name: &str| -> usize {
        let text = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap();
        text.split_whitespace().last().unwrap().parse().unwrap()
    };
    let buffered = limit("tcp_wmem") + limit("tcp_rmem") + (1 << 20);
    let bound = buffered / (64 * 1024) + 2;
    assert!(
        last <= bound,
        "{last} events of 64 KiB produced for a client that reads nothing (bound {bound})"
    );

    // Others are served meanwhile.
    still_serving(addr).await;
    let mut other = TcpStream::connect(addr).await.unwrap();
    other
        .write_all(b"GET /small HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut other, b"data: x\n\n").await;
    drop(stuck);
}

#[tokio::test]
async fn thousands_of_accept_values_and_many_accept_lines() {
    let (addr, _) = firehose().await;
    // 5,000 media ranges in one line (about 100 KiB), events last: still parsed.
    let mut value = String::new();
    for n in 0..5000 {
        value.push_str(&format!("application/x-{n};q=0.5, "));
    }
    value.push_str("text/event-stream");
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET /small HTTP/1.1\r\nhost: t\r\naccept: {value}\r\n\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    let received = read_until(&mut socket, b"data: x\n\n").await;
    assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));

    // 90 Accept lines, events named in the middle one: every line is read.
    let mut lines = String::new();
    for n in 0..90 {
        if n == 45 {
            lines.push_str("accept: text/event-stream\r\n");
        } else {
            lines.push_str(&format!("accept: image/x-{n};q=0.1\r\n"));
        }
    }
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET /small HTTP/1.1\r\nhost: t\r\n{lines}\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    read_until(&mut socket, b"data: x\n\n").await;

    // More header lines than the server takes: hyper answers 431 itself.
    let mut lines = String::new();
    for n in 0..200 {
        lines.push_str(&format!("accept: image/x-{n}\r\n"));
    }
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET / HTTP/1.1\r\nhost: t\r\n{lines}\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    let received = read_until(&mut socket, b"\r\n\r\n").await;
    assert!(
        received.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&received)
    );
    still_serving(addr).await;
}

#[tokio::test]
async fn a_get_with_a_body_it_never_finishes_still_gets_its_stream() {
    let (addr, _) = firehose().await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            b"GET /small HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\ncontent-length: 1000000\r\n\r\nonly a few bytes",
        )
        .await
        .unwrap();
    let received = read_until(&mut socket, b"data: x\n\n").await;
    assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));
    still_serving(addr).await;
}

#[tokio::test]
async fn garbage_instead_of_http_is_refused_and_nothing_is_left_open() {
    let (addr, _) = firehose().await;
    let cases: [(&[u8], &str); 3] = [
        // A TLS ClientHello on the plain-text port.
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "HTTP/1.1 400 ",
        ),
        (b"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 "),
        // Valid HTTP with a non-UTF-8 Accept: not an event stream request, so the page.
        (
            b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\naccept: \xff\xfe\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain",
        ),
    ];
    for (garbage, answer) in cases {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket.write_all(garbage).await.unwrap();
        let mut received = Vec::new();
        within(Duration::from_secs(10), socket.read_to_end(&mut received))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with(answer), "{garbage:?} -> {text}");
    }
    still_serving(addr).await;
    assert_eq!(
        send(
            addr,
            request(
                "/",
                &[
                    ("accept", "text/event-stream"),
                    ("last-event-id", &"9".repeat(5000))
                ]
            )
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
}
