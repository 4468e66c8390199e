//! The bare hyper example (`examples/hyper.rs`), served on 127.0.0.1:0 and read by hyper
//! clients over HTTP/1.1 and HTTP/2 (h2c): the same events over both, no `connection`
//! header on HTTP/2, several streams multiplexed on one HTTP/2 connection.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// The example, running; its address.
fn start() -> crate::common::Example {
    crate::common::Example::start("hyper", &[])
}

fn request(accept: &str, last_event_id: Option<&str>) -> Request<Empty<Bytes>> {
    let mut builder = Request::get("http://test/").header("accept", accept);
    if let Some(id) = last_event_id {
        builder = builder.header("last-event-id", id);
    }
    builder.body(Empty::new()).unwrap()
}

/// The data of every event in the body.
async fn data_of(body: hyper::body::Incoming) -> Vec<String> {
    tokio::time::timeout(
        Duration::from_secs(10),
        sse_stream::SseStream::new(body)
            .map(|event| event.unwrap().data.unwrap())
            .collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ended")
}

async fn http1(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    sender
}

async fn http2(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

fn expected(version: &str, from: u64) -> Vec<String> {
    (from..from + 5)
        .map(|n| format!("event {n} over {version}"))
        .collect()
}

#[tokio::test]
async fn events_over_http1() {
    let example = start();
    let addr = example.addr;
    let mut sender = http1(addr).await;
    let response = sender
        .send_request(request("text/event-stream", None))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(data_of(response.into_body()).await, expected("HTTP/1.1", 1));
}

#[tokio::test]
async fn events_over_http2_without_a_connection_header() {
    let example = start();
    let addr = example.addr;
    let mut sender = http2(addr).await;
    let response = sender
        .send_request(request("text/event-stream", Some("10")))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-transform"
    );
    assert!(response.headers().get("connection").is_none());
    assert!(response.headers().get("transfer-encoding").is_none());
    assert_eq!(
        data_of(response.into_body()).await,
        expected("HTTP/2.0", 11)
    );
}

#[tokio::test]
async fn several_streams_share_one_http2_connection() {
    let example = start();
    let addr = example.addr;
    let sender = http2(addr).await;
    let mut streams = Vec::new();
    for start in [0u64, 100, 200, 300] {
        let mut sender = sender.clone();
        streams.push(tokio::spawn(async move {
            let id = start.to_string();
            let response = sender
                .send_request(request("text/event-stream", Some(&id)))
                .await
                .unwrap();
            data_of(response.into_body()).await
        }));
    }
    for (stream, start) in streams.into_iter().zip([0u64, 100, 200, 300]) {
        assert_eq!(stream.await.unwrap(), expected("HTTP/2.0", start + 1));
    }
}

#[tokio::test]
async fn other_requests_reach_the_plain_service_over_both() {
    let example = start();
    let addr = example.addr;
    let mut h1 = http1(addr).await;
    let response = h1.send_request(request("*/*", None)).await.unwrap();
    assert_eq!(response.headers()["vary"], "accept");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello from hyper\n");

    let mut h2 = http2(addr).await;
    let response = h2.send_request(request("text/html", None)).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello from hyper\n");
}
