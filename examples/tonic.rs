//! gRPC and Server-Sent Events on one port: a tonic server (the standard gRPC health
//! service) wrapped with `SseLayer`. gRPC requests never ask for `text/event-stream`, so
//! they reach tonic untouched; an `EventSource` (HTTP/1.1, which the server accepts too)
//! gets the service's status changes as events.
//!
//! Run with `cargo run --features hub --example tonic` (env `PORT` overrides 3000, and
//! `STATUS_EVERY_MS` the 5 s between status changes), then
//! `curl -N -H 'accept: text/event-stream' http://127.0.0.1:3000/status` beside any gRPC
//! client calling `grpc.health.v1.Health/Check` on the same port.

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::time::Duration;

use http::Request;
use tokio::net::TcpListener;
use tokio_stream::{StreamExt, wrappers::TcpListenerStream};
use tonic_health::ServingStatus;
use tower_sse::{Event, EventId, Shutdown, SseLayer, hub::Hub};

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    println!("gRPC and SSE on http://{}/", listener.local_addr().unwrap());
    // The one shutdown signal, for the hub and the layer.
    let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(2)));
    let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
    let server = tokio::spawn(serve(listener, hub.clone(), shutdown.clone()));
    // Flip the status now and then, so the events have something to say.
    let every = std::env::var("STATUS_EVERY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis);
    let mut serving = true;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            // Ctrl-C or SIGTERM: the hub ends every event stream, and the process exits.
            () = &mut stop => {
                shutdown.trigger();
                return;
            }
        }
        serving = !serving;
        let status = if serving { "SERVING" } else { "NOT_SERVING" };
        let _ = hub.publish("status", Event::new().data(status)).await;
        if server.is_finished() {
            break;
        }
    }
}

/// Serves gRPC health checks and status events on `listener`; the status follows what is
/// published to `hub`'s `status` topic.
async fn serve(listener: TcpListener, hub: Hub, shutdown: Shutdown) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    // Mirror each published status into the gRPC health service.
    let mut statuses = hub.subscribe("status").await.expect("a fresh hub");
    tokio::spawn(async move {
        while let Some(event) = statuses.next().await {
            let text = String::from_utf8_lossy(event.as_bytes());
            let status = if text.contains("data: NOT_SERVING") {
                ServingStatus::NotServing
            } else {
                ServingStatus::Serving
            };
            reporter.set_service_status("", status).await;
        }
    });

    let events = move |_: Request<tonic::body::Body>, last_event_id: Option<EventId>| {
        let hub = hub.clone();
        async move { hub.subscribe("status").after(last_event_id.as_ref()).await }
    };
    let result = tonic::transport::Server::builder()
        .accept_http1(true) // EventSource speaks HTTP/1.1
        .layer(SseLayer::new(events).graceful_shutdown(shutdown))
        .add_service(health)
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await;
    if let Err(err) = result {
        eprintln!("server error: {err}");
    }
}
