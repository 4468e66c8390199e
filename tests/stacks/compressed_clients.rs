//! Compressed event streams read by decoders nobody here wrote: `curl --compressed -N`
//! and headless Chromium's native `EventSource`, against a real server on 127.0.0.1:0.
//! Needs `curl` and Debian's `chromium` (`.ci/run` installs them); without one, its test
//! says so on one line and passes, except under `.ci/run`.
#![cfg(all(
    feature = "compression-gzip",
    feature = "compression-br",
    feature = "compression-zstd"
))]

use crate::common;

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use tokio::process::Command;
use tower_sse::{Compression, Event, EventId, SseLayer};

/// A market tick as JSON: repeating keys, varying values.
fn tick(n: u64) -> Event {
    Event::new().id_number(n).data(format!(
        r#"{{"symbol":"ACME","price":{}.{:02},"volume":{},"side":"{}"}}"#,
        100 + n,
        n * 7 % 100,
        n * 1000,
        if n % 2 == 0 { "buy" } else { "sell" }
    ))
}

fn ticks() -> Vec<Event> {
    (1..=20).map(tick).collect()
}

fn encoded(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| String::from_utf8(e.clone().encode().into_bytes().to_vec()).unwrap())
        .collect()
}

async fn curl(url: &str, extra: &[&str]) -> (String, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new("curl")
            .args(["-sS", "-N", "--compressed", "--max-time", "15", "-D", "-"])
            .args(["-H", "accept: text/event-stream"])
            .args(extra)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("curl finished")
    .expect("curl runs: install it (apt-get install curl)");
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    (head.to_lowercase(), body.to_owned())
}

#[tokio::test]
async fn curl_compressed_reads_every_coding() {
    if !common::have("curl", "apt-get install curl") {
        return;
    }
    let events = |_: axum::http::Request<Body>, _: Option<EventId>| async {
        Ok::<_, Infallible>(tokio_stream::iter(ticks()))
    };
    let app = Router::new().route("/", get(|| async { "page" })).layer(
        SseLayer::new(events)
            .without_keep_alive()
            .compression(Compression::default()),
    );
    let addr = common::serve(app).await;
    let url = format!("http://{addr}/");

    // curl's own Accept-Encoding (all it can decode), then one coding at a time.
    let (head, body) = curl(&url, &[]).await;
    println!(
        "curl --compressed: {}",
        head.lines()
            .find(|l| l.starts_with("content-encoding"))
            .unwrap_or("no content-encoding")
    );
    assert!(head.contains("content-encoding: "), "{head}");
    assert_eq!(body, encoded(&ticks()));
    for coding in ["gzip", "br", "zstd"] {
        let (head, body) = curl(&url, &["-H", &format!("accept-encoding: {coding}")]).await;
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        assert!(
            head.contains(&format!("content-encoding: {coding}\r\n")),
            "{head}"
        );
        assert!(head.contains("vary: accept, accept-encoding\r\n"), "{head}");
        assert_eq!(body, encoded(&ticks()), "{coding}");
    }
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>compressed EventSource probe</title>
<script>
  const record = [];
  const source = new EventSource("/events");
  source.onmessage = (e) => {
    record.push({ data: e.data, id: e.lastEventId });
    // The stream stays open: these arrived because each frame was flushed.
    if (record.length === 20) {
      source.close();
      fetch("/record", { method: "POST", body: JSON.stringify(record) });
    }
  };
</script>
"#;

/// What each event stream's request sent as Accept-Encoding, and what its response
/// answered as Content-Encoding.
type Codings = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

#[tokio::test]
async fn chromium_event_source_reads_zstd() {
    chromium_reads(Compression::default(), "zstd").await;
}

#[tokio::test]
async fn chromium_event_source_reads_brotli() {
    chromium_reads(Compression::default().zstd(false), "br").await;
}

#[tokio::test]
async fn chromium_event_source_reads_gzip() {
    chromium_reads(Compression::default().zstd(false).br(false), "gzip").await;
}

/// Chromium's `EventSource` reads the events of a stream that stays open, compressed
/// with what `compression` offers, and the server answered with `coding`.
async fn chromium_reads(compression: Compression, coding: &str) {
    if !common::browser::have_chromium() {
        return;
    }
    let codings = Codings::default();
    let (records_tx, mut records) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let events = |_: axum::http::Request<Body>, _: Option<EventId>| async {
        // The events, then an open stream: nothing ends the compressed stream for the
        // browser, so it decodes the events only if they were flushed.
        let open =
            tokio_stream::StreamExt::chain(tokio_stream::iter(ticks()), tokio_stream::pending());
        Ok::<_, Infallible>(open)
    };
    let seen = codings.clone();
    let record_coding = move |request: axum::extract::Request, next: axum::middleware::Next| {
        let seen = seen.clone();
        async move {
            let header = |headers: &axum::http::HeaderMap, name: &str| {
                headers.get(name).map(|v| v.to_str().unwrap().to_owned())
            };
            let accept_encoding = header(request.headers(), "accept-encoding");
            let response: Response = next.run(request).await;
            if response.status() == StatusCode::OK
                && response
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v == "text/event-stream")
            {
                let content_encoding = header(response.headers(), "content-encoding");
                seen.lock()
                    .unwrap()
                    .push((accept_encoding, content_encoding));
            }
            response
        }
    };
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/events", get(|| async { "not events" }))
        .route(
            "/record",
            post(move |body: Bytes| async move {
                records_tx.send(body).unwrap();
                StatusCode::NO_CONTENT.into_response()
            }),
        )
        .layer(
            SseLayer::new(events)
                .without_keep_alive()
                .compression(compression),
        )
        .layer(axum::middleware::from_fn(record_coding));
    let addr = common::serve(app).await;
    let _browser = common::browser::launch(&format!("http://{addr}/"));

    let record = tokio::time::timeout(Duration::from_secs(60), records.recv())
        .await
        .expect("the page posted its record within 60 s")
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    let expected: Vec<serde_json::Value> = (1..=20u64)
        .map(|n| {
            let data = tick(n).encode();
            let data = std::str::from_utf8(&data.into_bytes()).unwrap().to_owned();
            let data = data
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap()
                .to_owned();
            serde_json::json!({ "data": data, "id": n.to_string() })
        })
        .collect();
    assert_eq!(record, serde_json::Value::Array(expected));

    let codings = codings.lock().unwrap().clone();
    let (accept_encoding, content_encoding) =
        codings.first().cloned().expect("a stream was served");
    println!("Chromium's Accept-Encoding: {accept_encoding:?}; answered with {content_encoding:?}");
    assert_eq!(
        content_encoding.as_deref(),
        Some(coding),
        "the stream was compressed: {codings:?}"
    );
}
