//! The tonic example (`examples/tonic.rs`) on 127.0.0.1:0: a gRPC call and an SSE stream
//! against the one server, the events following what the gRPC service reports.
#![cfg(feature = "hub")]

use crate::common;

use std::time::Duration;

use common::{get, send, within};
use futures_util::StreamExt;
use http::StatusCode;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[tokio::test]
async fn grpc_and_sse_share_one_port() {
    // The example flips its status every 300 ms.
    let example = common::Example::start("tonic", &[("STATUS_EVERY_MS", "300")]);
    let addr = example.addr;

    // gRPC, over HTTP/2, through the layer.
    let endpoint = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap();
    let channel = within(Duration::from_secs(10), endpoint.connect())
        .await
        .unwrap();
    let mut grpc = HealthClient::new(channel);
    let check = |grpc: &mut HealthClient<tonic::transport::Channel>| {
        let mut grpc = grpc.clone();
        async move {
            grpc.check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status()
        }
    };
    // It answers (which status depends on when: it flips).
    let status = check(&mut grpc).await;
    assert!(
        matches!(status, ServingStatus::Serving | ServingStatus::NotServing),
        "{status:?}"
    );

    // SSE, over HTTP/1.1, on the same port.
    let response = send(addr, get("/status", &[("accept", "text/event-stream")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = sse_stream::SseStream::new(response.into_body());
    // Until the service says it stopped serving...
    loop {
        let event = within(Duration::from_secs(5), events.next())
            .await
            .expect("the stream is open")
            .unwrap();
        if event.data.as_deref() == Some("NOT_SERVING") {
            break;
        }
    }
    // ...which the gRPC service reports too (it flips back and forth: poll).
    let start = tokio::time::Instant::now();
    while check(&mut grpc).await != ServingStatus::NotServing {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "gRPC reported NOT_SERVING"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
