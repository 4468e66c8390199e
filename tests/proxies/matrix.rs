//! Per proxy and configuration: promptness, headers, compression and idle streams,
//! through the proxy with a client that reads each event before the next is published.

use std::time::Duration;

use axum::{Router, body::Body};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use tower_sse::{Event, EventId, KeepAlive, SseLayer, hub::Hub};

use crate::{
    client::{Events, Next},
    common::{eventually, upstream::Upstream},
    report,
    servers::{Kind, ProxyServer, Setup, TIMEOUT_SECS},
};

/// The app: `/NAME` streams the hub's topic NAME (its history first, as a chat room
/// does) with a keep-alive every 500 ms (below the proxies' 2 s timeout), except
/// `/silent`, which sends no keep-alive.
fn app(hub: &Hub) -> Router {
    let factory = {
        let hub = hub.clone();
        move |request: Request<Body>, last: Option<EventId>| {
            let hub = hub.clone();
            async move {
                let topic = request.uri().path().trim_start_matches('/').to_owned();
                hub.subscribe(topic)
                    .after(last.as_ref())
                    .with_history()
                    .await
            }
        }
    };
    let silent = |_: &Method, uri: &Uri, headers: &HeaderMap| {
        uri.path() == "/silent" && tower_sse::accepts_event_stream(headers)
    };
    Router::new()
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(
            SseLayer::new(factory.clone())
                .keep_alive(KeepAlive::new().interval(Duration::from_millis(500))),
        )
        .layer(
            SseLayer::new(factory)
                .without_keep_alive()
                .predicate(silent),
        )
}

/// The events published one at a time through the proxy, after the history.
const EVENTS: usize = 20;

/// What the prompt check saw.
#[derive(Debug)]
struct Prompt {
    headers: [Option<String>; 5],
    /// Publish-to-read time of each event read, in order.
    latencies: Vec<Duration>,
    /// The event that did not arrive within 1 s, and what came instead.
    stuck: Option<(usize, Next)>,
}

/// Publishes event `i`, reads it through the proxy (1 s at most), then publishes the
/// next: an event that waits for a later one is stuck.
async fn prompt(hub: &Hub, port: u16) -> Prompt {
    // The stream starts with 1 KiB of history: Caddy's `encode` compresses a response
    // whose first write is 512 bytes or more, and passes smaller ones as they are.
    let history = "h".repeat(1024);
    hub.publish("prompt", Event::new().data(&history))
        .await
        .unwrap();
    let open = tokio::time::timeout(Duration::from_secs(2), Events::open(port, "/prompt"));
    let Ok(mut events) = open.await else {
        let headers = Default::default();
        let stuck = Some((0, Next::Late)); // not even the response's head came through
        return Prompt {
            headers,
            latencies: Vec::new(),
            stuck,
        };
    };
    assert_eq!(events.head.status, StatusCode::OK);
    let names = [
        "content-type",
        "cache-control",
        "content-encoding",
        "vary",
        "content-length",
    ];
    let headers = names.map(|name| events.header(name));
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.stats().subscribers_of("prompt") == 1
    })
    .await;
    let (mut latencies, mut stuck) = (Vec::new(), None);
    match events.next(Duration::from_secs(1)).await {
        Next::Data(got) if got == history => {}
        other => stuck = Some((0, other)),
    }
    for i in (1..=EVENTS).take_while(|_| stuck.is_none()) {
        let start = tokio::time::Instant::now();
        let data = format!("event {i}");
        hub.publish("prompt", Event::new().data(&data))
            .await
            .unwrap();
        match events.next(Duration::from_secs(1)).await {
            Next::Data(got) if got == data => latencies.push(start.elapsed()),
            other => {
                stuck = Some((i, other));
                break;
            }
        }
    }
    Prompt {
        headers,
        latencies,
        stuck,
    }
}

/// What the idle check saw.
#[derive(Debug)]
struct Idle {
    /// The stream with keep-alives was open after three proxy timeouts and then got an
    /// event: the keep-alives it read.
    kept: Result<usize, String>,
    /// When the proxy cut the stream without keep-alives (the control), if it did.
    silent_cut_after: Option<Duration>,
}

/// Two streams idle through the proxy for three of its timeouts: one with keep-alives
/// every 500 ms, one without.
async fn idle(hub: &Hub, port: u16) -> Idle {
    let mut live = Events::open(port, "/idle").await;
    let mut silent = Events::open(port, "/silent").await;
    eventually(Duration::from_secs(5), "subscribed", || {
        hub.stats().subscribers_of("idle") == 1 && hub.stats().subscribers_of("silent") == 1
    })
    .await;
    let idle_for = Duration::from_secs(3 * TIMEOUT_SECS);
    let start = tokio::time::Instant::now();
    let silent_cut = async {
        match silent.next(idle_for + Duration::from_secs(1)).await {
            Next::End => Some(start.elapsed()),
            _ => None,
        }
    };
    let kept = async {
        match live.next(idle_for).await {
            Next::Late => {}
            other => return Err(format!("during the idle time: {other:?}")),
        }
        hub.publish("idle", Event::new().data("after idle"))
            .await
            .unwrap();
        match live.next(Duration::from_secs(1)).await {
            Next::Data(data) if data == "after idle" => Ok(live.keep_alives),
            other => Err(format!("after the idle time: {other:?}")),
        }
    };
    let (silent_cut_after, kept) = tokio::join!(silent_cut, kept);
    Idle {
        kept,
        silent_cut_after,
    }
}

/// The median and largest of `latencies`, in ms.
fn summary(latencies: &[Duration]) -> (f64, f64) {
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let p50 = ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN);
    (p50, ms.last().copied().unwrap_or(f64::NAN))
}

/// Runs the checks through `kind` in `setup`, prints the row, and returns what it saw.
/// The idle check is left out with compression on: it is about timeouts, not codings.
async fn run(kind: Kind, setup: Setup) -> Option<(Prompt, Idle)> {
    run_app(kind, setup, app).await
}

/// As [`run`], with the app `app` makes.
async fn run_app(kind: Kind, setup: Setup, app: fn(&Hub) -> Router) -> Option<(Prompt, Idle)> {
    if !kind.available() {
        return None;
    }
    let hub = Hub::new();
    let upstream = Upstream::start(app(&hub)).await;
    let proxy = ProxyServer::start(kind, setup, upstream.port).await;
    let idle_check = async {
        if setup == Setup::PlainCompressed {
            Idle {
                kept: Err("not checked".into()),
                silent_cut_after: None,
            }
        } else {
            idle(&hub, proxy.port).await
        }
    };
    let (prompt, idle) = tokio::join!(prompt(&hub, proxy.port), idle_check);
    let (p50, max) = summary(&prompt.latencies);
    report(&format!(
        "{kind:?} {setup:?}: prompt {}/{EVENTS} (p50 {p50:.1} ms, max {max:.1} ms, stuck {:?}); \
         headers {:?}; idle {:?}, control cut after {:?}",
        prompt.latencies.len(),
        prompt.stuck,
        prompt.headers,
        idle.kept,
        idle.silent_cut_after,
    ));
    Some((prompt, idle))
}

/// Every event arrived within `max_ms`, before the next was published.
fn assert_prompt(prompt: &Prompt, max_ms: f64) {
    assert_eq!(prompt.stuck, None, "{prompt:?}");
    assert_eq!(prompt.latencies.len(), EVENTS);
    let (_, max) = summary(&prompt.latencies);
    assert!(max < max_ms, "an event took {max:.1} ms: {prompt:?}");
}

/// The event stream's headers came through (`cache-control` as the layer sends it),
/// with `encoding` as its `Content-Encoding`.
fn assert_headers(prompt: &Prompt, encoding: Option<&str>) {
    let [content_type, cache_control, content_encoding, vary, length] = &prompt.headers;
    assert_eq!(content_type.as_deref(), Some("text/event-stream"));
    assert_eq!(cache_control.as_deref(), Some(CACHE_CONTROL));
    assert_eq!(content_encoding.as_deref(), encoding);
    assert!(
        vary.as_deref()
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept")),
        "{vary:?}"
    );
    assert_eq!(length, &None);
}

/// What the layer sends by default.
const CACHE_CONTROL: &str = "no-cache, no-transform";

/// The stream with keep-alives outlived three proxy timeouts; the one without was cut.
fn assert_idle(idle: &Idle) {
    let kept = idle
        .kept
        .as_ref()
        .expect("the stream with keep-alives lived");
    assert!(*kept >= 6, "keep-alives read: {kept}");
    let cut = idle
        .silent_cut_after
        .expect("the proxy cut the silent stream");
    let timeout = Duration::from_secs(TIMEOUT_SECS);
    // The proxy's clock starts at the last byte, a moment before the test's.
    assert!(cut >= timeout - Duration::from_millis(500), "{cut:?}");
}

/// An event that loopback and the proxy pass at once takes far less than this; one that
/// waits for a timer or a later event takes more.
const PROMPT_MS: f64 = 100.0;

#[tokio::test]
async fn nginx_plain() {
    let Some((prompt, idle)) = run(Kind::Nginx, Setup::Plain).await else {
        return;
    };
    assert_prompt(&prompt, PROMPT_MS);
    assert_headers(&prompt, None);
    assert_idle(&idle);
}

#[tokio::test]
async fn nginx_plain_gzip() {
    let Some((prompt, _)) = run(Kind::Nginx, Setup::PlainCompressed).await else {
        return;
    };
    // gzip_types text/event-stream: compressed in spite of the layer's `no-transform`,
    // and flushed after every event.
    assert_prompt(&prompt, PROMPT_MS);
    assert_headers(&prompt, Some("gzip"));
}

#[tokio::test]
async fn nginx_recommended() {
    let Some((prompt, idle)) = run(Kind::Nginx, Setup::Recommended).await else {
        return;
    };
    assert_prompt(&prompt, PROMPT_MS);
    assert_headers(&prompt, Some("gzip"));
    assert_idle(&idle);
}

#[tokio::test]
async fn caddy_plain() {
    let Some((prompt, idle)) = run(Kind::Caddy, Setup::Plain).await else {
        return;
    };
    assert_prompt(&prompt, PROMPT_MS);
    assert_headers(&prompt, None);
    assert_idle(&idle);
}

#[tokio::test]
async fn caddy_plain_encode_holds_every_event() {
    let Some((prompt, _)) = run(Kind::Caddy, Setup::PlainCompressed).await else {
        return;
    };
    // `encode gzip zstd` compresses the stream in spite of the layer's `no-transform`,
    // and buffers it: not even the first event comes through.
    assert_eq!(prompt.headers[1].as_deref(), Some(CACHE_CONTROL));
    assert!(matches!(prompt.stuck, Some((0, Next::Late))), "{prompt:?}");
}

#[tokio::test]
async fn caddy_recommended() {
    let Some((prompt, idle)) = run(Kind::Caddy, Setup::Recommended).await else {
        return;
    };
    assert_prompt(&prompt, PROMPT_MS);
    assert_headers(&prompt, None);
    assert_idle(&idle);
}

#[tokio::test]
async fn haproxy_plain() {
    let Some((prompt, idle)) = run(Kind::Haproxy, Setup::Plain).await else {
        return;
    };
    // Without `option http-no-delay`, HAProxy sends with MSG_MORE and most events wait
    // about 200 ms (the peer's delayed acknowledgement) before they leave.
    assert_eq!(prompt.stuck, None, "{prompt:?}");
    let held = prompt
        .latencies
        .iter()
        .filter(|d| d.as_millis() >= 100)
        .count();
    assert!(held >= EVENTS / 2, "{held} of {EVENTS} held: {prompt:?}");
    assert_headers(&prompt, None);
    assert_idle(&idle);
}

#[tokio::test]
async fn haproxy_plain_compression() {
    let Some((prompt, _)) = run(Kind::Haproxy, Setup::PlainCompressed).await else {
        return;
    };
    // The layer's `no-transform` keeps HAProxy's `compression` off the stream: nothing
    // waits for a later event (each still waits ~200 ms: see `haproxy_plain`).
    assert_headers(&prompt, None);
    assert_eq!(prompt.stuck, None, "{prompt:?}");
}

#[tokio::test]
async fn haproxy_compression_holds_events_without_no_transform() {
    let setup = Setup::PlainCompressed;
    let Some((prompt, _)) = run_app(Kind::Haproxy, setup, no_cache_app).await else {
        return;
    };
    // `compression` holds events back until later ones (or a timer) push them out.
    assert_eq!(prompt.headers[1].as_deref(), Some("no-cache"));
    assert_eq!(prompt.headers[2].as_deref(), Some("gzip"));
    assert!(prompt.stuck.is_some(), "{prompt:?}");
}

#[tokio::test]
async fn haproxy_recommended() {
    let Some((prompt, idle)) = run(Kind::Haproxy, Setup::Recommended).await else {
        return;
    };
    assert_prompt(&prompt, PROMPT_MS);
    assert_headers(&prompt, None);
    assert_idle(&idle);
}

/// The app with its streams' `Cache-Control` replaced by `no-cache`, as an app that sets
/// its own without `no-transform` sends it.
fn no_cache_app(hub: &Hub) -> Router {
    app(hub).layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            let value = http::HeaderValue::from_static("no-cache");
            if response.headers().contains_key(http::header::CACHE_CONTROL) {
                response
                    .headers_mut()
                    .insert(http::header::CACHE_CONTROL, value);
            }
            response
        },
    ))
}
