//! Headless Chromium's native `EventSource` against a real server on 127.0.0.1:0: the
//! page records every event it receives (type, data, last event id) and posts the record
//! back when the server's `204` has stopped it reconnecting.
//!
//! Needs Debian's `chromium` (or the browser named by `CHROMIUM`); `.ci/run` installs it.
//! Without it the test says so on one line and passes, except under `.ci/run`.
//! Without it this test fails: it never skips.

use crate::common;

use std::{
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
        .route("/wrapped", get(|| async { Html(WRAPPED_PAGE) }))
        .route("/sse.js", tower_sse::routing::reconnecting_event_source())
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

use common::browser::{have_chromium, launch};

/// `PAGE` with the crate's `ReconnectingEventSource` instead: the same record, posted
/// when the `204` closes the browser's `EventSource` and the script would reopen it.
const WRAPPED_PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<script src="/sse.js"></script>
<script>
  const record = [];
  const source = new ReconnectingEventSource("/events");
  const keep = (e) => record.push({ type: e.type, data: e.data, id: e.lastEventId });
  source.addEventListener("message", keep);
  source.addEventListener("custom", keep);
  source.addEventListener("reopen", () => {
    source.close();
    fetch("/record", { method: "POST", body: JSON.stringify(record) });
  });
</script>
"#;

#[tokio::test]
async fn chromium_event_source_receives_exactly_what_was_sent() {
    exactly_what_was_sent("/").await;
}

#[tokio::test]
async fn chromium_reconnecting_event_source_receives_exactly_what_was_sent() {
    exactly_what_was_sent("/wrapped").await;
}

/// Opens `page` (`/`: the browser's `EventSource`, `/wrapped`: the crate's script) and
/// checks every event it recorded and every request its stream made.
async fn exactly_what_was_sent(page: &str) {
    if !have_chromium() {
        return;
    }
    let seen = Seen::default();
    let (records_tx, mut records) = tokio::sync::mpsc::unbounded_channel();
    let addr = serve(app(seen.clone(), records_tx)).await;
    let _browser = launch(&format!("http://{addr}{page}"));

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
            async move { hub.subscribe("news").after(last.as_ref()).await }
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
        .layer(SseLayer::new(events));
    let addr = serve(app).await;
    let _browser = launch(&format!("http://{addr}/"));

    common::eventually(
        Duration::from_secs(60),
        "the page's EventSource subscribed",
        || hub.stats().subscribers_of("news") == 1,
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

/// The app answers 503 for a few seconds, as a server that is starting or overloaded
/// does: a bare `EventSource` stops for good at the first one; the page's
/// `ReconnectingEventSource` reopens with `?lastEventId=` and gets every later event once.
#[cfg(feature = "hub")]
#[tokio::test]
async fn chromium_reconnecting_event_source_survives_a_restart_answered_with_503() {
    use common::upstream::{
        Down, EVERY_EVENT_ONCE, Recorder, Upstream, page_app, restart_while_followed,
    };
    use tower_sse::hub::Hub;

    if !have_chromium() {
        return;
    }
    let hub = Hub::new();
    let mut recorder = Recorder::start().await;
    let mut upstream = Upstream::start(page_app(&hub, recorder.addr)).await;
    let _browser = launch(&format!("http://127.0.0.1:{}/", upstream.port));
    let down = Down::Answering(StatusCode::SERVICE_UNAVAILABLE);
    let down_for = Duration::from_secs(3);
    let (got, _) =
        restart_while_followed(&hub, &mut upstream, &mut recorder, down, down_for, 2).await;
    assert_eq!(got, EVERY_EVENT_ONCE);
}

#[tokio::test]
async fn the_script_route_serves_the_script_with_an_etag() {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let app: Router =
        Router::new().route("/sse.js", tower_sse::routing::reconnecting_event_source());
    let get = |if_none_match: Option<&str>| {
        let mut request = Request::get("/sse.js");
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    let response = get(None).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        etag,
        concat!("\"tower-sse-", env!("CARGO_PKG_VERSION"), "\"")
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, tower_sse::RECONNECTING_EVENT_SOURCE_JS.as_bytes());

    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let response = get(Some(&tag)).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());
    }
    let response = get(Some("\"tower-sse-0.0.0\"")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Events the hub no longer holds were published while the app was down: the page's
/// `ReconnectingEventSource` reopens after the last id it has, and the hub's `reset`
/// reaches the page's `onreset` before the events that follow.
#[cfg(feature = "hub")]
#[tokio::test]
async fn chromium_reconnecting_event_source_surfaces_the_hubs_reset() {
    use common::upstream::{Down, Recorder, Upstream, page_app, restart_while_followed};
    use tower_sse::hub::{History, Hub};

    if !have_chromium() {
        return;
    }
    // Two events a topic: the three published during the outage push the page's last
    // one out of the history.
    let hub = Hub::builder().history(History::new().events(2)).build();
    let mut recorder = Recorder::start().await;
    let mut upstream = Upstream::start(page_app(&hub, recorder.addr)).await;
    let _browser = launch(&format!("http://127.0.0.1:{}/", upstream.port));
    let down = Down::Answering(StatusCode::BAD_GATEWAY);
    let down_for = Duration::from_secs(1);
    let (got, _) =
        restart_while_followed(&hub, &mut upstream, &mut recorder, down, down_for, 1).await;
    assert_eq!(got, ["a1", "a2", "a3", "RESET", "c1", "c2", "c3"]);
}
