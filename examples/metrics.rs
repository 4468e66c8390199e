//! Metrics of event streams and of the hub on a Prometheus `/metrics` page: a hub topic
//! `ticks` gets an event every second, `/` streams it to `EventSource`s (or any topic
//! named by `?topic=`), and `/metrics` shows open streams, events and bytes sent,
//! keep-alives, why streams closed, and subscribers per topic.
//!
//! Run with `cargo run --features hub,metrics --example metrics` (env `PORT` overrides
//! 3000, `TICK_MS` the tick interval), then:
//!
//! ```sh
//! curl -N -H 'accept: text/event-stream' http://127.0.0.1:3000/ &
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! The recorder is `metrics-exporter-prometheus`, without its own HTTP server: the page
//! is an ordinary axum route that renders the recorder's handle. Any other recorder of
//! the `metrics` facade (OpenTelemetry, StatsD) plugs in the same way.

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::time::Duration;

use axum::{Router, body::Body, extract::State, http::header, routing::get};
use http::Request;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_sse::{
    Event, EventId, KeepAlive, Shutdown, SseLayer,
    hub::{History, Hub, SubscribeError, Subscription},
};

const TICKS: &str = "ticks";

#[tokio::main]
async fn main() {
    // Once, before anything records: every metric of the process goes to this recorder.
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("no other recorder is installed");
    tower_sse::metrics::describe();

    // The one shutdown signal, for the hub and the layer.
    let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(2)));
    let hub = Hub::builder()
        .history(History::new().events(100).bytes(Some(1 << 20)))
        // At most 20 topics get their own label; `?topic=` is the client's choice.
        .metrics_topics(20)
        .graceful_shutdown(shutdown.clone())
        .build();
    tokio::spawn(tick(hub.clone()));

    let subscribe = {
        let hub = hub.clone();
        move |request: Request<Body>, last_event_id: Option<EventId>| {
            let hub = hub.clone();
            async move { join(hub, request, last_event_id).await }
        }
    };
    let app = Router::new()
        .route(
            "/",
            get(|| async { "an event stream of ticks: ask for text/event-stream\n" }),
        )
        .route("/metrics", get(render))
        .with_state(prometheus)
        .layer(
            SseLayer::new(subscribe)
                .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
                .graceful_shutdown(shutdown.clone()),
        );

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    let addr = listener.local_addr().unwrap();
    println!("metrics example on http://{addr}/ (the page: http://{addr}/metrics)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop_signal().await;
            shutdown.trigger();
        })
        .await
        .unwrap();
}

/// Publishes a tick to the `ticks` topic every `TICK_MS` milliseconds (default 1000).
async fn tick(hub: Hub) {
    let every = std::env::var("TICK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis);
    let mut interval = tokio::time::interval(every);
    for n in 0u64.. {
        interval.tick().await;
        let event = Event::new().event_static("tick").data(n.to_string());
        if hub.publish(TICKS, event).await.is_err() {
            return; // shutting down
        }
    }
}

/// Subscribes to the topic named by `?topic=`, or to `ticks`.
async fn join(
    hub: Hub,
    request: Request<Body>,
    last_event_id: Option<EventId>,
) -> Result<Subscription, SubscribeError> {
    let topic = request
        .uri()
        .query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("topic="))
        })
        .unwrap_or(TICKS)
        .to_owned();
    hub.subscribe(topic).after(last_event_id.as_ref()).await
}

/// The Prometheus text format, rendered from the recorder's handle.
async fn render(State(prometheus): State<PrometheusHandle>) -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus.render(),
    )
}
