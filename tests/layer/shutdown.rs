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
    Router::new()
        .route("/", get(|| async { "page" }))
        .layer(SseLayer::new(events).graceful_shutdown(shutdown.clone()))
}

#[tokio::test]
async fn graceful_shutdown_finishes_with_streams_open() {
    let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
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
    let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
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

/// Serves `app` until the returned sender fires, then triggers `shutdown` as the
/// server's graceful shutdown begins: the server's task, to await.
#[cfg(feature = "hub")]
async fn serve_until(
    app: Router,
    shutdown: &Shutdown,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = shutdown.clone();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                stop_rx.await.ok();
                signal.trigger();
            })
            .into_future(),
    );
    (addr, stop_tx, server)
}

/// Opens `CLIENTS` streams of `app` (whose streams are the hub's `room`), publishes one
/// event, triggers `shutdown`, and checks that every client got the event, then the
/// signal's last event once, then the end; and that graceful shutdown finished.
#[cfg(feature = "hub")]
async fn every_client_gets_the_last_event_once(
    app: Router,
    hub: &tower_sse::hub::Hub,
    shutdown: &Shutdown,
) {
    const CLIENTS: usize = 100;
    let (addr, stop_tx, server) = serve_until(app, shutdown).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(send(addr, request("/", &[("accept", "text/event-stream")])).await);
    }
    common::eventually(Duration::from_secs(10), "every client subscribed", || {
        hub.stats().subscribers_of("room") == CLIENTS
    })
    .await;
    let id = hub
        .publish("room", Event::new().data("news"))
        .await
        .unwrap();
    stop_tx.send(()).unwrap();
    let expected = format!("data: news\nid: {id}\n\nevent: bye\ndata: \n\n");
    for response in clients {
        assert_eq!(body_bytes(response).await, expected.as_str());
    }
    within(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

/// The hub's streams behind a layer.
#[cfg(feature = "hub")]
fn hub_behind_a_layer(hub: &tower_sse::hub::Hub, layer_shutdown: Option<&Shutdown>) -> Router {
    let subscribe = {
        let hub = hub.clone();
        move |_: Request<Body>, last: Option<EventId>| {
            let hub = hub.clone();
            async move { hub.subscribe("room").after(last.as_ref()).await }
        }
    };
    let layer = SseLayer::new(subscribe);
    let layer = match layer_shutdown {
        Some(shutdown) => layer.graceful_shutdown(shutdown.clone()),
        None => layer,
    };
    Router::new()
        .route("/", get(|| async { "page" }))
        .layer(layer)
}

#[cfg(feature = "hub")]
fn bye() -> Shutdown {
    Shutdown::with_last_event(Event::new().event_static("bye").data(""))
}

/// One signal, given to the hub and to the layer (as the examples do): every client
/// gets the last event once, after what was published, and graceful shutdown finishes.
/// The layer's signal used to end the streams before they read the hub's event.
#[cfg(feature = "hub")]
#[tokio::test]
async fn one_signal_for_the_hub_and_the_layer() {
    let shutdown = bye();
    let hub = tower_sse::hub::Hub::builder()
        .graceful_shutdown(shutdown.clone())
        .build();
    let app = hub_behind_a_layer(&hub, Some(&shutdown));
    every_client_gets_the_last_event_once(app, &hub, &shutdown).await;
}

/// The signal given to the hub only: its subscriptions send the last event.
#[cfg(feature = "hub")]
#[tokio::test]
async fn the_signal_on_the_hub_alone() {
    let shutdown = bye();
    let hub = tower_sse::hub::Hub::builder()
        .graceful_shutdown(shutdown.clone())
        .build();
    let app = hub_behind_a_layer(&hub, None);
    every_client_gets_the_last_event_once(app, &hub, &shutdown).await;
}

/// The signal given to the layer only: the layer sends the last event; the hub goes on.
#[cfg(feature = "hub")]
#[tokio::test]
async fn the_signal_on_the_layer_alone() {
    let shutdown = bye();
    let hub = tower_sse::hub::Hub::new();
    let app = hub_behind_a_layer(&hub, Some(&shutdown));
    every_client_gets_the_last_event_once(app, &hub, &shutdown).await;
    assert!(hub.publish("room", Event::new()).await.is_ok());
}

/// One signal, given to the hub and to each handler's `EventStream`.
#[cfg(all(feature = "hub", feature = "axum"))]
#[tokio::test]
async fn one_signal_for_the_hub_and_an_event_stream() {
    use axum::{extract::State, response::IntoResponse};
    use tower_sse::{EventStream, hub::Hub};

    async fn events(
        State((hub, shutdown)): State<(Hub, Shutdown)>,
        last: Option<EventId>,
    ) -> axum::response::Response {
        match hub.subscribe("room").after(last.as_ref()).await {
            Ok(subscription) => EventStream::new(subscription)
                .graceful_shutdown(shutdown)
                .into_response(),
            Err(refusal) => refusal.into_response(),
        }
    }
    let shutdown = bye();
    let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
    let app = Router::new()
        .route("/", get(events))
        .with_state((hub.clone(), shutdown.clone()));
    every_client_gets_the_last_event_once(app, &hub, &shutdown).await;
}
