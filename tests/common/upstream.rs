//! An app server that a test can stop and start again on the same port (a deploy behind
//! a proxy), a recorder on another origin that a page reports to while the app is down,
//! and the scenario "the app restarts while a page follows its events".

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use axum::{Router, body::Body, response::Html, routing::get};
use http::{Request, StatusCode};
use hyper_util::{rt::TokioIo, server::conn::auto, service::TowerToHyperService};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tower_sse::{Event, EventId, SseLayer, hub::Hub, routing::reconnecting_event_source};

use super::eventually;

/// A server on a fixed loopback port; `stop` closes its listener and every connection
/// at once, as a killed process would.
pub struct Upstream {
    pub port: u16,
    task: Option<JoinHandle<()>>,
}

impl Upstream {
    /// Serves `app` on a free port, over HTTP/1.1 and HTTP/2.
    pub async fn start(app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Self {
            port,
            task: Some(tokio::spawn(serve_until_aborted(listener, app))),
        }
    }

    /// Serves `app` again on the same port.
    pub async fn restart(&mut self, app: Router) {
        self.stop().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.task = Some(tokio::spawn(serve_until_aborted(listener, app)));
    }

    /// Closes the listener and every connection; returns once they are closed.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Accepts and serves connections; aborting it drops the `JoinSet`, which aborts every
/// connection's task.
async fn serve_until_aborted(listener: TcpListener, app: Router) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let service = TowerToHyperService::new(app.clone());
                connections.spawn(async move {
                    let builder = auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// A server on its own port that a page posts notes to (`POST /KIND`, any body), so the
/// test hears from the page while the page's own server is down.
pub struct Recorder {
    pub addr: SocketAddr,
    notes: mpsc::UnboundedReceiver<(String, String)>,
    counts: HashMap<String, usize>,
}

impl Recorder {
    pub async fn start() -> Self {
        let (tx, notes) = mpsc::unbounded_channel();
        let app = Router::new().fallback(move |request: Request<Body>| {
            let tx = tx.clone();
            async move {
                let kind = request.uri().path().trim_start_matches('/').to_owned();
                let body = axum::body::to_bytes(request.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                let _ = tx.send((kind, String::from_utf8_lossy(&body).into_owned()));
                StatusCode::NO_CONTENT
            }
        });
        let addr = super::serve(app).await;
        Self {
            addr,
            notes,
            counts: HashMap::new(),
        }
    }

    /// How many notes of `kind` came so far (as far as `wait_for` read).
    pub fn count(&self, kind: &str) -> usize {
        self.counts.get(kind).copied().unwrap_or(0)
    }

    /// Waits (60 s at most) for the `n`th note of `kind`; returns its body.
    pub async fn wait_for(&mut self, kind: &str, n: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let note = tokio::time::timeout_at(deadline, self.notes.recv()).await;
            let (got, body) = note
                .unwrap_or_else(|_| panic!("note {n} of `{kind}` within 60 s: {:?}", self.counts))
                .expect("the recorder runs");
            let count = self.counts.entry(got.clone()).or_default();
            *count += 1;
            if got == kind && *count == n {
                return body;
            }
        }
    }
}

/// The page: follows `/events` with `ReconnectingEventSource` (quick backoff for the
/// test), keeps every message's data (and `RESET` for a reset), notes `open`, `reopen`,
/// each `message` and, on `done`, its record to the recorder.
fn page(recorder: SocketAddr) -> String {
    format!(
        r#"<!doctype html>
<meta charset="utf-8">
<script src="/sse.js"></script>
<script>
  const got = [];
  const note = (kind, body) =>
    fetch("http://{recorder}/" + kind, {{ method: "POST", mode: "no-cors", body: body || "" }});
  const source = new ReconnectingEventSource("/events", {{ minDelay: 200, maxDelay: 800 }});
  source.onopen = () => note("open");
  source.addEventListener("reopen", () => note("reopen"));
  source.onreset = () => got.push("RESET");
  source.onmessage = (e) => {{
    if (e.data === "done") {{
      source.close();
      note("record", JSON.stringify(got));
    }} else {{
      got.push(e.data);
      note("message", e.data);
    }}
  }};
</script>
"#
    )
}

/// The app: the page, the script, and `/events`, the hub's `room` resumed from the
/// client's last event id (header or query), with `retry: 100`.
pub fn page_app(hub: &Hub, recorder: SocketAddr) -> Router {
    let hub = hub.clone();
    let events = move |_: Request<Body>, last: Option<EventId>| {
        let hub = hub.clone();
        async move { hub.subscribe("room").after(last.as_ref()).await }
    };
    let page = page(recorder);
    Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/sse.js", reconnecting_event_source())
        .layer(SseLayer::new(events).reconnection_time(Duration::from_millis(100)))
}

/// How the app is unavailable while it restarts.
#[derive(Clone, Copy, Debug)]
pub enum Down {
    /// Nothing listens (a proxy in front answers 502 or 503).
    Refused,
    /// A server answers every request with this status.
    Answering(StatusCode),
}

/// The app (already serving `hub` on `upstream`, its page open in a browser) goes away for
/// at least `down_for` and until the page gave up and reopened `reopens` times, events being
/// published before, during and after; returns what the page received, and how long
/// the page was without a stream.
pub async fn restart_while_followed(
    hub: &Hub,
    upstream: &mut Upstream,
    recorder: &mut Recorder,
    down: Down,
    down_for: Duration,
    reopens: usize,
) -> (Vec<String>, Duration) {
    recorder.wait_for("open", 1).await;
    let subscribed = |n| move || hub.stats().subscribers_of("room") == n;
    eventually(Duration::from_secs(30), "subscribed", subscribed(1)).await;
    publish(hub, ["a1", "a2", "a3"]).await;
    // The page has them (and a3's id) before the app goes away: a page without an id
    // starts afresh, as a new page would.
    recorder.wait_for("message", 3).await;
    upstream.stop().await;
    let stopped = tokio::time::Instant::now();
    if let Down::Answering(status) = down {
        upstream
            .restart(Router::new().fallback(move || async move { status }))
            .await;
    }
    publish(hub, ["b1", "b2", "b3"]).await;
    if reopens > 0 {
        recorder.wait_for("reopen", reopens).await;
    }
    // The outage itself lasts this long: the scenario, not a synchronisation.
    tokio::time::sleep_until(stopped + down_for).await;
    upstream.restart(page_app(hub, recorder.addr)).await;
    eventually(Duration::from_secs(30), "resubscribed", subscribed(1)).await;
    let outage = stopped.elapsed();
    publish(hub, ["c1", "c2", "c3", "done"]).await;
    let record = recorder.wait_for("record", 1).await;
    (serde_json::from_str(&record).unwrap(), outage)
}

async fn publish<const N: usize>(hub: &Hub, texts: [&str; N]) {
    for text in texts {
        hub.publish("room", Event::new().data(text)).await.unwrap();
    }
}

/// What the page must have received: every event once, in order.
pub const EVERY_EVENT_ONCE: [&str; 9] = ["a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"];
