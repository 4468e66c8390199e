//! The tonic example (`examples/tonic.rs`) on 127.0.0.1:0: a gRPC call and an SSE stream
//! against the one server, the events following what the gRPC service reports.
#![cfg(feature = "hub")]

#[path = "../../examples/tonic.rs"]
mod example;

use crate::common;

use std::time::Duration;

use common::{get, send, within};
use futures_util::StreamExt;
use http::StatusCode;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tower_sse::{Event, hub::Hub};

#[tokio::test]
async fn grpc_and_sse_share_one_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Hub::new();
    tokio::spawn(example::serve(listener, hub.clone()));

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
    assert_eq!(check(&mut grpc).await, ServingStatus::Serving);

    // SSE, over HTTP/1.1, on the same port.
    let response = send(addr, get("/status", &[("accept", "text/event-stream")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = sse_stream::SseStream::new(response.into_body());
    common::eventually(Duration::from_secs(5), "SSE client subscribed", || {
        hub.subscribers("status") == 2
    })
    .await;

    hub.publish("status", Event::new().data("NOT_SERVING"))
        .await
        .unwrap();
    let event = within(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.data.as_deref(), Some("NOT_SERVING"));
    // The gRPC service saw the same change.
    let mut status = check(&mut grpc).await;
    let start = tokio::time::Instant::now();
    while status != ServingStatus::NotServing && start.elapsed() < Duration::from_secs(5) {
        tokio::task::yield_now().await;
        status = check(&mut grpc).await;
    }
    assert_eq!(status, ServingStatus::NotServing);
}
