//! A chat room in the browser, on the broadcast hub: a page with a form that POSTs
//! messages, and an `EventSource` that shows everyone's. Open it in several tabs: each
//! sees the others. Drop the connection (the button, or go offline for a moment) and it
//! resumes from its last event id, with no message missed or repeated.
//!
//! Run with `cargo run --features hub --example chat` (env `PORT` overrides 3000) and open the printed
//! URL.
//!
//! With `--redis URL` (or env `REDIS_URL`) and the `redis` feature, the room lives in
//! Redis, so several instances share it:
//!
//! ```sh
//! redis-server --port 6379 &
//! PORT=3000 cargo run --features redis --example chat -- --redis redis://127.0.0.1:6379
//! PORT=3001 cargo run --features redis --example chat -- --redis redis://127.0.0.1:6379
//! ```
//!
//! A message sent on http://127.0.0.1:3000/ shows on http://127.0.0.1:3001/ too. On a
//! Redis Cluster, give any of its nodes (comma-separated) with `--redis-cluster`:
//!
//! ```sh
//! cargo run --features redis --example chat -- --redis-cluster redis://127.0.0.1:7000,redis://127.0.0.1:7001
//! ```
//!
//! With `--nats URL` (or env `NATS_URL`) and the `nats` feature, the room lives in a NATS
//! JetStream stream instead:
//!
//! ```sh
//! nats-server -js &
//! PORT=3000 cargo run --features nats --example chat -- --nats nats://127.0.0.1:4222
//! PORT=3001 cargo run --features nats --example chat -- --nats nats://127.0.0.1:4222
//! ```
//!
//! With `--postgres URL` (or env `POSTGRES_URL`) and the `postgres` feature, the room
//! lives in a PostgreSQL database, and any SQL client can post to it inside its own
//! transaction:
//!
//! ```sh
//! PORT=3000 cargo run --features postgres --example chat -- --postgres postgres://app@127.0.0.1/app
//! PORT=3001 cargo run --features postgres --example chat -- --postgres postgres://app@127.0.0.1/app
//! psql app -c "SELECT chat_publish('room', '{\"name\":\"sql\",\"text\":\"hi\"}', 'message')"
//! ```

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::time::Duration;

use axum::{
    Form, Router,
    body::Body,
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse},
    routing::{get, post},
};
use http::Request;
use serde::Deserialize;
use tower_sse::{
    Event, EventId, KeepAlive, Shutdown, SseLayer,
    hub::{History, Hub, SubscribeError, Subscription},
    routing::reconnecting_event_source,
};

const ROOM: &str = "room";

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_sse=debug".into()),
        )
        .init();

    // The one shutdown signal, for the hub and the layer: on Ctrl-C every client gets
    // `retry: 2000` once (so they come back spread out) and its stream ends.
    let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(2)));
    let builder = Hub::builder()
        .history(History::new().events(500))
        .graceful_shutdown(shutdown.clone());
    let hub = match (postgres_arg(), nats_arg(), redis_arg()) {
        (Some(url), _, _) => build_postgres(builder, url).await,
        (None, Some(url), _) => build_nats(builder, url).await,
        (None, None, None) => builder.build(),
        (None, None, Some((cluster, urls))) => build_redis(builder, cluster, urls).await,
    };

    let subscribe = {
        let hub = hub.clone();
        move |_: Request<Body>, last_event_id: Option<EventId>| {
            let hub = hub.clone();
            async move { join(hub, last_event_id).await }
        }
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/send", post(send))
        // The script defining ReconnectingEventSource, which the page loads.
        .route("/sse.js", reconnecting_event_source())
        .with_state(hub.clone())
        .layer(
            SseLayer::new(subscribe)
                .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
                .graceful_shutdown(shutdown.clone()),
        );

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    println!("chat on http://{}/", listener.local_addr().unwrap());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop_signal().await;
            shutdown.trigger();
        })
        .await
        .unwrap();
}

/// `--redis URL` (or env `REDIS_URL`), or `--redis-cluster URL,URL...`: whether it is a
/// cluster, and the URLs.
fn redis_arg() -> Option<(bool, String)> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        for (flag, cluster) in [("--redis", false), ("--redis-cluster", true)] {
            if arg == flag {
                return args.next().map(|urls| (cluster, urls));
            }
            if let Some(urls) = arg
                .strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
            {
                return Some((cluster, urls.to_owned()));
            }
        }
    }
    std::env::var("REDIS_URL").ok().map(|url| (false, url))
}

/// `--postgres URL` (or env `POSTGRES_URL`).
fn postgres_arg() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--postgres" {
            return args.next();
        }
        if let Some(url) = arg.strip_prefix("--postgres=") {
            return Some(url.to_owned());
        }
    }
    std::env::var("POSTGRES_URL").ok()
}

#[cfg(feature = "postgres")]
async fn build_postgres(builder: tower_sse::hub::HubBuilder, url: String) -> Hub {
    use tower_sse::hub::postgres::{Postgres, PostgresConfig};
    let config = PostgresConfig::new(&url).prefix("chat_");
    match builder.build_with(Postgres::new(config)).await {
        Ok(hub) => {
            println!("room shared through PostgreSQL (SQL: chat_publish)");
            hub
        }
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "postgres"))]
async fn build_postgres(_: tower_sse::hub::HubBuilder, _: String) -> Hub {
    eprintln!(
        "--postgres needs the postgres feature: cargo run --features postgres --example chat -- --postgres URL"
    );
    std::process::exit(2);
}

/// `--nats URL` (or env `NATS_URL`).
fn nats_arg() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--nats" {
            return args.next();
        }
        if let Some(url) = arg.strip_prefix("--nats=") {
            return Some(url.to_owned());
        }
    }
    std::env::var("NATS_URL").ok()
}

#[cfg(feature = "nats")]
async fn build_nats(builder: tower_sse::hub::HubBuilder, url: String) -> Hub {
    use tower_sse::hub::nats::{Nats, NatsConfig};
    let config = NatsConfig::servers(url.split(','))
        .stream("CHAT")
        .prefix("chat");
    match builder.build_with(Nats::new(config)).await {
        Ok(hub) => {
            println!("room shared through NATS at {url}");
            hub
        }
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "nats"))]
async fn build_nats(_: tower_sse::hub::HubBuilder, _: String) -> Hub {
    eprintln!(
        "--nats needs the nats feature: cargo run --features nats --example chat -- --nats URL"
    );
    std::process::exit(2);
}

#[cfg(feature = "redis")]
async fn build_redis(builder: tower_sse::hub::HubBuilder, cluster: bool, urls: String) -> Hub {
    use tower_sse::hub::redis::{Redis, RedisConfig};
    let config = if cluster {
        RedisConfig::cluster(urls.split(','))
    } else {
        RedisConfig::new(&urls)
    };
    match builder.build_with(Redis::new(config.prefix("chat:"))).await {
        Ok(hub) => {
            println!("room shared through Redis at {urls}");
            hub
        }
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "redis"))]
async fn build_redis(_: tower_sse::hub::HubBuilder, _: bool, _: String) -> Hub {
    eprintln!(
        "--redis needs the redis feature: cargo run --features redis --example chat -- --redis URL"
    );
    std::process::exit(2);
}

async fn join(hub: Hub, last_event_id: Option<EventId>) -> Result<Subscription, SubscribeError> {
    // A new page gets the recent messages; a reconnecting one, exactly what it missed.
    // A refusal is returned as it is: the browser is told to come back later (`200`
    // with `retry:`), never given a 503, after which it would not reconnect.
    hub.subscribe([ROOM])
        .after(last_event_id.as_ref())
        .with_history()
        .await
}

#[derive(Deserialize)]
struct Message {
    name: String,
    text: String,
}

/// Publishes a message to the room; refuses empty or over-long ones with a reason.
async fn send(State(hub): State<Hub>, Form(message): Form<Message>) -> impl IntoResponse {
    let name = message.name.trim();
    let text = message.text.trim();
    if name.is_empty() || text.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "name and text are required".to_owned(),
        );
    }
    if name.chars().count() > 40 || text.chars().count() > 2000 {
        return (
            StatusCode::BAD_REQUEST,
            "names are at most 40 characters, messages at most 2000".to_owned(),
        );
    }
    let data = serde_json::json!({ "name": name, "text": text }).to_string();
    let event = Event::new().event_static("message").data(data);
    match hub.publish(ROOM, event).await {
        Ok(id) => (StatusCode::OK, id.to_string()),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The chat page: a form that posts messages and an `EventSource` that shows them.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tower-sse chat</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 44em; margin: 2em auto; }
  #log { border: 1px solid #ccc; height: 24em; overflow-y: auto; padding: .5em; }
  .notice { color: #a60; font-style: italic; }
  .id { color: #999; font-size: .8em; }
  form { display: flex; gap: .5em; margin-top: .5em; }
  #text { flex: 1; }
</style>
<h1>tower-sse chat</h1>
<p>Open this page in several tabs. <button id="drop">Drop the connection</button>
  <span id="status">connecting…</span></p>
<div id="log"></div>
<form id="form">
  <input id="name" placeholder="name" size="10" required>
  <input id="text" placeholder="message" required autocomplete="off">
  <button>Send</button>
</form>
<script src="/sse.js"></script>
<script>
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  let lastId = "";
  let source;

  function line(html, cls) {
    const p = document.createElement("div");
    if (cls) p.className = cls;
    p.innerHTML = html;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
  }
  function escape(s) {
    return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  function connect() {
    // The browser's own reconnects send Last-Event-ID; when it gives up (a proxy's 502
    // during a restart) ReconnectingEventSource opens a new one with ?lastEventId=, and so
    // does the drop button's reconnect.
    source = new ReconnectingEventSource(lastId ? "/?lastEventId=" + encodeURIComponent(lastId) : "/");
    source.onopen = () => { status.textContent = "connected"; };
    source.onerror = () => { status.textContent = "reconnecting…"; };
    source.addEventListener("reopen", (e) => {
      status.textContent = `server unreachable; trying again in ${Math.round(e.detail / 1000)} s…`;
    });
    source.addEventListener("message", (e) => {
      lastId = e.lastEventId;
      const m = JSON.parse(e.data);
      line(`<span class="id">#${escape(e.lastEventId)}</span> <b>${escape(m.name)}</b>: ${escape(m.text)}`);
    });
    source.onreset = () => {
      line("some messages are no longer in the server's history; showing new ones from here", "notice");
    };
  }
  connect();

  document.getElementById("drop").onclick = () => {
    source.close();
    status.textContent = "disconnected for 3 s…";
    line("connection dropped; messages sent meanwhile arrive on reconnect", "notice");
    setTimeout(connect, 3000);
  };

  document.getElementById("form").onsubmit = async (e) => {
    e.preventDefault();
    const text = document.getElementById("text");
    const body = new URLSearchParams({ name: document.getElementById("name").value, text: text.value });
    const response = await fetch("/send", { method: "POST", body });
    if (response.ok) { text.value = ""; } else { line(escape(await response.text()), "notice"); }
  };
</script>
</html>
"#;
