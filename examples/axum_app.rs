//! An ordinary axum app (an HTML page and a JSON route) to which one route adds
//! Server-Sent Events: the page's `EventSource` connects to the page's own URL, `/`,
//! and gets a live clock, because `page_or_events` answers by the `Accept` header: the
//! page for a browser's page load, the clock for its `EventSource`.
//!
//! Run with `cargo run --example axum_app` (env `PORT` overrides 3000), then open the
//! printed URL, or watch the events with
//! `curl -N -H 'accept: text/event-stream' http://127.0.0.1:3000/`.

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{Json, Router, extract::State, response::Html, routing::get};
use tokio_stream::{Stream, StreamExt, wrappers::IntervalStream};
use tower_sse::{
    Event, EventId, EventStream, Shutdown,
    routing::{page_or_events, reconnecting_event_source},
};

#[tokio::main]
async fn main() {
    // Ctrl-C or SIGTERM ends the clock streams, so the server stops at once instead of
    // waiting for clients that never leave.
    // The one shutdown signal: each clock stream holds it, and gets `retry: 1000` last.
    let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(1)));
    let app = Router::new()
        .route("/", page_or_events(page, clock)) // the one line
        .route("/api/time", get(time_json))
        // The script that reopens the page's stream when the browser gives up on it.
        .route("/sse.js", reconnecting_event_source())
        .with_state(shutdown.clone());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    println!("listening on http://{}/", listener.local_addr().unwrap());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop_signal().await;
            shutdown.trigger();
        })
        .await
        .unwrap();
}

/// The event stream: a `tick` event every second, numbered from where the client left
/// off, so a reconnecting page resumes its count. It ends when the server shuts down.
async fn clock(
    State(shutdown): State<Shutdown>,
    last_event_id: Option<EventId>,
) -> EventStream<impl Stream<Item = Event>> {
    let mut next = last_event_id
        .and_then(|id| id.parse::<u64>().ok())
        .map_or(0, |n| n + 1);
    let ticks = IntervalStream::new(tokio::time::interval(Duration::from_secs(1)));
    let stream = ticks.map(move |_| {
        let n = next;
        next += 1;
        Event::new()
            .event_static("tick")
            .id_number(n)
            .data(utc_time())
    });
    EventStream::new(stream)
        .reconnection_time(Duration::from_secs(1))
        .graceful_shutdown(shutdown)
}

async fn time_json() -> Json<serde_json::Value> {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Json(serde_json::json!({ "unix": unix.as_secs(), "utc": utc_time() }))
}

/// The time of day in UTC, as `HH:MM:SS UTC`.
fn utc_time() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02} UTC")
}

async fn page() -> Html<&'static str> {
    Html(
        r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tower-sse clock</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40em; margin: 3em auto; }
  #clock { font: bold 3em ui-monospace, monospace; }
  #status { color: #666; }
</style>
<h1>tower-sse clock</h1>
<p>This page and its events share one URL, <code>/</code>: the layer in front of the
axum router answers <code>Accept: text/event-stream</code> with events and passes
everything else to the router.</p>
<div id="clock">--:--:--</div>
<p id="status">connecting…</p>
<p>JSON from the same app: <a href="/api/time">/api/time</a></p>
<script src="/sse.js"></script>
<script>
  const clock = document.getElementById("clock");
  const status = document.getElementById("status");
  // An EventSource that a proxy's 502 during a restart does not close for good.
  const source = new ReconnectingEventSource("/");
  source.addEventListener("tick", (e) => {
    clock.textContent = e.data;
    status.textContent = `event #${e.lastEventId}`;
  });
  source.onerror = () => { status.textContent = "reconnecting…"; };
</script>
</html>
"#,
    )
}
