//! Headless Chromium's native `EventSource` against a real server on 127.0.0.1:0: the
//! page records every event it receives (type, data, last event id) and posts the record
//! back when the server's `204` has stopped it reconnecting.
//!
//! Needs Debian's `chromium` (or the browser named by `CHROMIUM`); `.ci/run` installs it.
//! Without it the test says so on one line and passes, except under `.ci/run`.
//! Without it this test fails: it never skips.

use crate::common;

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::StatusCode,
    response::{Html, IntoResponse},
    routing::{get, post},
};
use common::serve;
use http::{HeaderMap, Method, Request, Uri};
use tower_sse::{Event, EventId, SseLayer};

/// What the browser sent with each connection: Last-Event-ID, Accept, Cache-Control.
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>, Option<String>)>>>;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>EventSource probe</title>
<script>
  const record = [];
  const source = new EventSource("/events");
  const keep = (e) => record.push({ type: e.type, data: e.data, id: e.lastEventId });
  source.addEventListener("message", keep);
  source.addEventListener("custom", keep);
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      fetch("/record", { method: "POST", body: JSON.stringify(record) });
    }
  };
</script>
"#;

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_owned())
}

fn app(seen: Seen, records: tokio::sync::mpsc::UnboundedSender<Bytes>) -> Router {
    let factory = move |request: Request<Body>, last_event_id: Option<EventId>| {
        let seen = seen.clone();
        async move {
            let headers = request.headers();
            seen.lock().unwrap().push((
                last_event_id.as_ref().map(|id| id.to_string()),
                header(headers, "accept"),
                header(headers, "cache-control"),
            ));
            let id = |n: &str| Event::new().id(n).unwrap();
            let events = match last_event_id.as_deref() {
                None => vec![
                    id("1").data("line feed\nsplit"),
                    id("2").data("carriage return\rsplit"),
                    id("3").data("crlf\r\nsplit"),
                    id("4").data(""),
                    id("5").data("  two leading spaces"),
                    id("6").data("unicode é 🦀 ✓"),
                    id("7").event_static("custom").data("named event"),
                    id("8").data("trailing newline\n"),
                    // Comments and data-less events dispatch nothing.
                    Event::new().comment("a comment"),
                    id("8b"),
                ],
                Some("8b") => vec![id("9").data("after reconnect")],
                // Tell the browser to stop reconnecting.
                Some(_) => return Err(StatusCode::NO_CONTENT),
            };
            // The stream ends after these: the browser reconnects with its last id.
            Ok(tokio_stream::iter(events))
        }
    };
    let only_events = |method: &Method, uri: &Uri, headers: &HeaderMap| {
        method == Method::GET && uri.path() == "/events" && tower_sse::accepts_event_stream(headers)
    };
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/record",
            post(move |body: Bytes| async move {
                records.send(body).unwrap();
                StatusCode::NO_CONTENT.into_response()
            }),
        )
        .layer(
            SseLayer::new(factory)
                .predicate(only_events)
                .reconnection_time(Duration::from_millis(50)),
        )
}

/// Kills the browser when the test ends, however it ends.
pub(crate) struct Browser(Child, std::path::PathBuf);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Whether Chromium can run here (`CHROMIUM` names another browser); says so on one line
/// when it cannot.
pub(crate) fn have_chromium() -> bool {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    common::have(&binary, "apt-get install chromium, or set CHROMIUM")
}

/// Starts headless Chromium on `url`, with a fresh profile of its own (tests run in
/// parallel, each with its browser).
pub(crate) fn launch(url: &str) -> Browser {
    static LAUNCHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let n = LAUNCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile =
        std::env::temp_dir().join(format!("tower-sse-chromium-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot start `{binary}` ({err}): install Debian's chromium, or set CHROMIUM")
        });
    Browser(child, profile)
}

#[tokio::test]
async fn chromium_event_source_receives_exactly_what_was_sent() {
    if !have_chromium() {
        return;
    }
    let seen = Seen::default();
    let (records_tx, mut records) = tokio::sync::mpsc::unbounded_channel();
    let addr = serve(app(seen.clone(), records_tx)).await;
    let _browser = launch(&format!("http://{addr}/"));

    let record = tokio::time::timeout(Duration::from_secs(60), records.recv())
        .await
        .expect("the page posted its record within 60 s")
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    let expected = serde_json::json!([
        { "type": "message", "data": "line feed\nsplit", "id": "1" },
        { "type": "message", "data": "carriage return\nsplit", "id": "2" },
        { "type": "message", "data": "crlf\nsplit", "id": "3" },
        { "type": "message", "data": "", "id": "4" },
        { "type": "message", "data": "  two leading spaces", "id": "5" },
        { "type": "message", "data": "unicode é 🦀 ✓", "id": "6" },
        { "type": "custom", "data": "named event", "id": "7" },
        { "type": "message", "data": "trailing newline\n", "id": "8" },
        { "type": "message", "data": "after reconnect", "id": "9" },
    ]);
    assert_eq!(record, expected);

    let seen = seen.lock().unwrap().clone();
    let sse = (
        Some("text/event-stream".to_owned()),
        Some("no-cache".to_owned()),
    );
    assert_eq!(
        seen,
        [
            (None, sse.0.clone(), sse.1.clone()),
            (Some("8b".into()), sse.0.clone(), sse.1.clone()),
            (Some("9".into()), sse.0.clone(), sse.1.clone()),
        ],
        "the browser reconnected with its last id each time, and stopped after the 204"
    );
}

/// The handoff page: rendered from the hub's recent events with the position right
/// after them, it asks the server to publish (after the page response, before the
/// EventSource connects), then connects with the position from the page, and posts
/// back what it rendered and every event it got once `done` comes.
#[cfg(feature = "hub")]
fn handoff_page(url: &str, rendered: &[String]) -> String {
    let items: String = rendered
        .iter()
        .map(|data| format!("<li>{data}</li>"))
        .collect();
    format!(
        r##"<!doctype html>
<meta charset="utf-8">
<ul id=news>{items}</ul>
<script>
  const record = [...document.querySelectorAll("#news li")].map((li) => li.textContent);
  fetch("/between", {{ method: "POST" }}).then(() => {{
    const source = new EventSource('{url}');
    source.onmessage = (e) => {{
      if (e.data === "done") {{
        source.close();
        fetch("/record", {{ method: "POST", body: JSON.stringify(record) }});
      }} else {{
        record.push(e.data);
      }}
    }};
  }});
</script>
"##
    )
}

#[cfg(feature = "hub")]
#[tokio::test]
async fn chromium_gets_the_events_published_between_the_page_and_its_event_source_once() {
    use tower_sse::hub::Hub;

    if !have_chromium() {
        return;
    }
    let hub = Hub::new();
    for n in 1..=3 {
        hub.publish("news", Event::new().data(format!("already {n}")))
            .await
            .unwrap();
    }
    let (records_tx, mut records) = tokio::sync::mpsc::unbounded_channel();
    let events = {
        let hub = hub.clone();
        move |_: Request<Body>, last: Option<EventId>| {
            let hub = hub.clone();
            async move { hub.subscribe("news", last.as_ref()).await }
        }
    };
    let (page_hub, between_hub) = (hub.clone(), hub.clone());
    let app = Router::new()
        .route(
            "/",
            get(move || async move {
                // The page renders the two most recent events from the hub itself.
                let handoff = page_hub.recent("news", 2).await.unwrap();
                let rendered: Vec<String> =
                    handoff.events().iter().filter_map(|e| e.data()).collect();
                let page = handoff_page(&handoff.event_source_url("/events"), &rendered);
                (handoff, Html(page))
            }),
        )
        .route(
            "/between",
            post(move || async move {
                for n in 1..=3 {
                    between_hub
                        .publish("news", Event::new().data(format!("between {n}")))
                        .await
                        .unwrap();
                }
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/record",
            post(move |body: Bytes| async move {
                records_tx.send(body).unwrap();
                StatusCode::NO_CONTENT
            }),
        )
        .layer(SseLayer::new(events).last_event_id_query(true));
    let addr = serve(app).await;
    let _browser = launch(&format!("http://{addr}/"));

    common::eventually(
        Duration::from_secs(60),
        "the page's EventSource subscribed",
        || hub.subscribers("news") == 1,
    )
    .await;
    for data in ["live", "done"] {
        hub.publish("news", Event::new().data(data)).await.unwrap();
    }
    let record = tokio::time::timeout(Duration::from_secs(60), records.recv())
        .await
        .expect("the page posted its record within 60 s")
        .unwrap();
    let record: Vec<String> = serde_json::from_slice(&record).unwrap();
    assert_eq!(
        record,
        [
            "already 2",
            "already 3",
            "between 1",
            "between 2",
            "between 3",
            "live"
        ]
    );
}
