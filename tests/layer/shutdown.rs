//! A shutdown signal ends every open stream, so axum's graceful shutdown finishes.

use crate::common;

use std::{convert::Infallible, time::Duration};

use axum::{Router, body::Body, routing::get};
use common::{body_bytes, get as request, send, within};
use http::Request;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_sse::{Event, EventId, Shutdown, SseLayer};

fn app(shutdown: &Shutdown) -> Router {
    let events = |_: Request<Body>, _: Option<EventId>| async {
        // One event, then idle forever: only the signal can end this stream.
        let first = tokio_stream::once(Event::new().id_number(1).data("hello"));
        Ok::<_, Infallible>(tokio_stream::StreamExt::chain(
            first,
            tokio_stream::pending(),
        ))
    };
    Router::new().route("/", get(|| async { "page" })).layer(
        SseLayer::new(events)
            .graceful_shutdown(shutdown.clone())
            .shutdown_event(Event::new().event_static("bye").data("")),
    )
}

#[tokio::test]
async fn graceful_shutdown_finishes_with_streams_open() {
    let shutdown = Shutdown::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = shutdown.clone();
    let server = tokio::spawn(
        axum::serve(listener, app(&shutdown))
            .with_graceful_shutdown(async move {
                stop_rx.await.ok();
                signal.trigger();
            })
            .into_future(),
    );

    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
        // Wait for the first event, so the stream is open and idle.
        let frame = within(
            Duration::from_secs(5),
            http_body_util::BodyExt::frame(&mut response),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(frame.into_data().unwrap(), "id: 1\ndata: hello\n\n");
        clients.push(response);
    }

    stop_tx.send(()).unwrap();
    for response in clients {
        assert_eq!(body_bytes(response).await, "event: bye\ndata: \n\n");
    }
    within(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(shutdown.is_triggered());
}

#[tokio::test]
async fn streams_opened_after_the_trigger_end_at_once() {
    let shutdown = Shutdown::new();
    shutdown.trigger();
    let request = Request::get("/")
        .header("accept", "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let response = app(&shutdown).oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = within(
        Duration::from_secs(5),
        http_body_util::BodyExt::collect(response.into_body()),
    )
    .await
    .unwrap()
    .to_bytes();
    assert_eq!(body, "event: bye\ndata: \n\n");
}

/// The hub's shutdown and the layer's, together (as the chat example's Ctrl-C does):
/// every client gets the hub's shutdown event, then the layer's, and graceful shutdown
/// finishes. The layer's signal used to end the streams before they read the hub's
/// event, which then reached no client.
#[cfg(feature = "hub")]
#[tokio::test]
async fn the_hub_and_the_layer_shutting_down_together() {
    use tower_sse::hub::Hub;

    const CLIENTS: usize = 200;
    let shutdown = Shutdown::new();
    let hub = Hub::builder()
        .shutdown_event(Event::new().event_static("hub-bye").data(""))
        .build();
    let subscribe = {
        let hub = hub.clone();
        move |_: Request<Body>, last: Option<EventId>| {
            let hub = hub.clone();
            async move { hub.subscribe("room").after(last.as_ref()).await }
        }
    };
    let app = Router::new().route("/", get(|| async { "page" })).layer(
        SseLayer::new(subscribe)
            .graceful_shutdown(shutdown.clone())
            .shutdown_event(Event::new().event_static("layer-bye").data("")),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (signal, stopping) = (shutdown.clone(), hub.clone());
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                stop_rx.await.ok();
                stopping.shutdown();
                signal.trigger();
            })
            .into_future(),
    );

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(send(addr, request("/", &[("accept", "text/event-stream")])).await);
    }
    common::eventually(Duration::from_secs(10), "every client subscribed", || {
        hub.stats().subscribers_of("room") == CLIENTS
    })
    .await;
    stop_tx.send(()).unwrap();
    for response in clients {
        assert_eq!(
            body_bytes(response).await,
            "event: hub-bye\ndata: \n\nevent: layer-bye\ndata: \n\n"
        );
    }
    within(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}
