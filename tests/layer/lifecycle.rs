//! The stream lives exactly as long as the client: dropped when the client leaves (even
//! while idle), ended cleanly when it ends or fails.

use crate::common;

use std::{convert::Infallible, io, time::Duration};

use axum::{Router, body::Body, routing::get};
use common::{DropGuard, body_bytes, dropped, eventually, get as request, send, serve};
use http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tower_sse::{Event, EventId, SseLayer};

/// Reads from `socket` until the response head has arrived.
async fn read_head(socket: &mut tokio::net::TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed before the response head");
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(received).unwrap()
}

#[tokio::test]
async fn an_idle_stream_is_dropped_as_soon_as_the_client_leaves() {
    let (guard_tx, mut guard_rx) = tokio::sync::mpsc::unbounded_channel();
    let layer = SseLayer::new(move |_: Request<Body>, _: Option<EventId>| {
        let (guard, flag) = DropGuard::new();
        guard_tx.send(flag).unwrap();
        async move {
            // Never yields: the stream is idle, and no keep-alive is due for 15 s.
            let idle = tokio_stream::pending::<Event>().map(move |event| {
                let _owned = &guard;
                event
            });
            Ok::<_, Infallible>(idle)
        }
    });
    let addr = serve(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(layer),
    )
    .await;

    for close in ["clean", "reset"] {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET / HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        let head = read_head(&mut socket).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let flag = guard_rx.recv().await.unwrap();
        assert!(!dropped(&flag));

        if close == "reset" {
            // Linger 0 makes the close an RST; it does not block with a zero timeout.
            #[allow(deprecated)]
            socket.set_linger(Some(Duration::ZERO)).unwrap();
        }
        drop(socket);
        eventually(
            Duration::from_secs(5),
            "stream dropped after client left",
            || dropped(&flag),
        )
        .await;
    }
}

#[tokio::test]
async fn a_stream_that_ends_ends_the_body() {
    let layer = SseLayer::new(|_: Request<Body>, _: Option<EventId>| async {
        Ok::<_, Infallible>(tokio_stream::iter(vec![
            Event::new().data("a"),
            Event::new().data("b"),
        ]))
    });
    let addr = serve(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(layer),
    )
    .await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    assert_eq!(body_bytes(response).await, "data: a\n\ndata: b\n\n");
}

#[tokio::test]
async fn a_failing_stream_ends_after_the_last_whole_event() {
    let (guard, flag) = DropGuard::new();
    let guard = std::sync::Arc::new(std::sync::Mutex::new(Some(guard)));
    let layer = SseLayer::new(move |_: Request<Body>, _: Option<EventId>| {
        let guard = guard.lock().unwrap().take();
        async move {
            let items: Vec<Result<Event, io::Error>> = vec![
                Ok(Event::new().id_number(1).data("first")),
                Ok(Event::new().data("second\nline")),
                Err(io::Error::other("the database went away")),
                Ok(Event::new().data("never sent")),
            ];
            let stream = tokio_stream::iter(items).map(move |item| {
                let _owned = &guard;
                item
            });
            Ok::<_, Infallible>(stream)
        }
    })
    .max_frame_size(0);
    let addr = serve(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(layer),
    )
    .await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    // The body ends normally (the last chunk is sent), so the client sees a clean end
    // and reconnects with Last-Event-ID.
    assert_eq!(
        body_bytes(response).await,
        "id: 1\ndata: first\n\ndata: second\ndata: line\n\n"
    );
    eventually(Duration::from_secs(5), "failed stream dropped", || {
        dropped(&flag)
    })
    .await;
}
