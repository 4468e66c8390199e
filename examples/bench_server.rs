//! The benchmark server: the same endpoints served by tower-sse or by the peer that
//! axum users write today, so a load client can measure both in one run.
//!
//! `cargo run --release --features hub --example bench_server -- --impl tower-sse --addr 127.0.0.1:4000 --workers 1`
//!
//! - `--impl tower-sse` (default): `SseLayer` in front of an axum router (wrapping it
//!   from outside, as axum's docs do for middleware that runs before routing); the hub.
//! - `--impl tower-sse-layered`: the same, with the hub's layer added by `Router::layer`.
//! - `--impl axum`: axum's `Sse` with `KeepAlive`, a `tokio::sync::broadcast` channel and
//!   `BroadcastStream`, the way axum's docs and users do it.
//! - `--impl bare`: the same router without any SSE layer (for `/plain`).
//! - `--impl limit-layered`: the bare router with tower-http's `RequestBodyLimitLayer`
//!   added by `Router::layer`: what a tower-http layer that wraps the response body costs
//!   on `/plain` that way (a reference for `tower-sse-layered`).
//! - `--impl floor`: `/hub` holds a response that never sends anything, without SSE code:
//!   what hyper, tokio and axum alone keep per open response (for idle memory).
//! - `--write-window-ms N` (for `tower-sse` and `tower-sse-layered`): both SSE layers
//!   (`/hub` and `/events`) hold a small frame up to N ms for the events that follow
//!   ([`SseLayer::write_window`]); 0, the default, leaves the window off.
//! - `--redis URL` (with the `redis` feature, for `tower-sse`): the hub over Redis, so
//!   several servers share the topic (a publish on one reaches the clients of all).
//!
//! Endpoints (SSE ones need `Accept: text/event-stream`):
//! - `GET /events?n=N&size=S`: N events, `id:` the sequence number and `data:` S bytes,
//!   as fast as the client reads, then the end.
//! - `GET /hub`: a subscription to one topic.
//! - `POST /publish?n=N&size=S`: publishes N events of S bytes whose data starts with
//!   the publish time (ns since the UNIX epoch); answers the count once all are handed
//!   over.
//! - `GET /plain`: `ok` from the router.
//! - `GET /stats`: `{"subscribers": K}`.
//!
//! TCP settings are as `axum::serve` leaves them. Every variant is served through
//! `into_make_service()`, which clones the service for each connection: served as
//! `axum::serve(listener, router)`, a `Router` instead rebuilds its route table for every
//! connection (`Router::with_state`, about 3,500 bytes per connection with these routes),
//! which the outside-wrapped variant could not be made to pay alike.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router, ServiceExt,
    body::Body,
    extract::{Query, State},
    response::{
        IntoResponse,
        sse::{Event as AxumEvent, KeepAlive as AxumKeepAlive, Sse as AxumSse},
    },
    routing::{get, post},
};
use http::{Request, Response};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_stream::{StreamExt, wrappers::BroadcastStream};
use tower::ServiceBuilder;
use tower_sse::{
    Event, EventId, ResponseBody, SseLayer,
    hub::{History, Hub},
};

const TOPIC: &str = "bench";

#[derive(Deserialize)]
struct Shape {
    n: Option<usize>,
    size: Option<usize>,
}

impl Shape {
    fn get(&self) -> (usize, usize) {
        (self.n.unwrap_or(1000), self.size.unwrap_or(32))
    }
}

/// `size` bytes whose first ones are the time now in nanoseconds.
fn stamped(size: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut data = now.to_string();
    data.truncate(size);
    while data.len() < size {
        data.push('x');
    }
    data
}

/// The server's command line.
struct ServerArgs {
    implementation: String,
    addr: String,
    workers: usize,
    redis: Option<String>,
    window: Duration,
}

fn server_args() -> ServerArgs {
    let mut parsed = ServerArgs {
        implementation: "tower-sse".to_owned(),
        addr: "127.0.0.1:4000".to_owned(),
        workers: 1,
        redis: None,
        window: Duration::ZERO,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--impl" => parsed.implementation = args.next().expect("--impl NAME"),
            "--addr" => parsed.addr = args.next().expect("--addr HOST:PORT"),
            "--redis" => parsed.redis = Some(args.next().expect("--redis URL")),
            "--write-window-ms" => {
                parsed.window = args
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .map(Duration::from_millis)
                    .expect("--write-window-ms N")
            }
            "--workers" => {
                parsed.workers = args
                    .next()
                    .and_then(|w| w.parse().ok())
                    .expect("--workers N")
            }
            other => panic!("unknown argument {other}"),
        }
    }
    parsed
}

fn main() {
    let args = server_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(serve(args));
}

/// Serves the implementation `args` names.
async fn serve(args: ServerArgs) {
    let ServerArgs {
        implementation,
        addr,
        workers,
        redis,
        window,
    } = args;
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!(
        "{implementation} on http://{}/ with {workers} workers",
        listener.local_addr().unwrap()
    );
    let (router, hub) = match implementation.as_str() {
        "tower-sse" | "tower-sse-layered" => {
            let hub = match redis {
                Some(url) => redis_hub(url).await,
                None => hub(),
            };
            let (router, hub) = tower_sse_app(hub, window);
            (router, Some(hub))
        }
        "axum" => (axum_app(), None),
        "bare" => (bare_app(), None),
        "limit-layered" => (
            bare_app().layer(tower_http::limit::RequestBodyLimitLayer::new(1 << 20)),
            None,
        ),
        "floor" => return serve_floor(listener).await,
        other => {
            panic!(
                "--impl is tower-sse, tower-sse-layered, axum, bare, limit-layered or floor, not {other}"
            )
        }
    };
    let Some(hub) = hub else {
        return axum::serve(listener, router.into_make_service())
            .await
            .unwrap();
    };
    let layered = implementation == "tower-sse-layered";
    serve_hub(listener, router, hub, window, layered).await;
}

/// Serves `router` with the hub's SSE layer for `/hub`: added by `Router::layer` if
/// `layered`, else in front of the whole router.
async fn serve_hub(
    listener: tokio::net::TcpListener,
    router: Router,
    hub: Hub,
    window: Duration,
    layered: bool,
) {
    // `/hub`'s factory: a subscription to the topic, resumed from `Last-Event-ID`.
    let subscribe = move |_: Request<Body>, last: Option<EventId>| {
        let hub = hub.clone();
        async move { hub.subscribe(TOPIC).after(last.as_ref()).await }
    };
    let layer = SseLayer::new(subscribe)
        .predicate(hub_route)
        .write_window(window);
    if layered {
        // With `Router::layer`, which axum applies to every route.
        return axum::serve(listener, router.layer(layer).into_make_service())
            .await
            .unwrap();
    }
    // In front of the whole router, the way axum's docs wrap an app in a middleware
    // that runs before routing.
    let app = ServiceBuilder::new()
        .map_response(|response: Response<ResponseBody<Body>>| response.map(Body::from))
        .layer(layer)
        .service(router);
    axum::serve(
        listener,
        ServiceExt::<Request<Body>>::into_make_service(app),
    )
    .await
    .unwrap();
}

/// tower-sse's router without any SSE layer: the same routes and state, for measuring
/// what the layer costs on `/plain`.
fn bare_app() -> Router {
    Router::new()
        .route("/plain", get(|| async { "ok" }))
        .route("/events", get(not_acceptable))
        .route("/publish", post(publish_hub))
        .route("/stats", get(stats_hub))
        .with_state(hub())
}

/// The floor for idle memory: `/hub` answers with a streaming body that never yields,
/// from a plain service in front of everything (no router, no SSE code), so RSS per
/// connection is what hyper, tokio and `axum::serve` alone hold for an open response.
/// `/stats` counts the open ones.
async fn serve_floor(listener: tokio::net::TcpListener) {
    let open = Arc::new(AtomicUsize::new(0));
    let service = tower::service_fn(move |request: Request<Body>| {
        let open = open.clone();
        async move {
            if request.uri().path() == "/stats" {
                let count = open.load(Ordering::Relaxed);
                return Ok::<_, Infallible>(
                    format!("{{\"subscribers\": {count}}}").into_response(),
                );
            }
            open.fetch_add(1, Ordering::Relaxed);
            let counted = Counted(open);
            let never =
                tokio_stream::pending::<Result<bytes::Bytes, Infallible>>().map(move |item| {
                    let _alive = &counted;
                    item
                });
            Ok((
                [(http::header::CONTENT_TYPE, "text/event-stream")],
                Body::from_stream(never),
            )
                .into_response())
        }
    });
    axum::serve(
        listener,
        ServiceExt::<Request<Body>>::into_make_service(service),
    )
    .await
    .unwrap();
}

// ---- tower-sse -------------------------------------------------------------------

fn hub() -> Hub {
    Hub::builder()
        .history(History::new().events(1024))
        .lag_bound(4096)
        .build()
}

#[cfg(feature = "redis")]
async fn redis_hub(url: String) -> Hub {
    use tower_sse::hub::redis::{Redis, RedisConfig};
    let config = RedisConfig::new(url).prefix("bench:");
    Hub::builder()
        .lag_bound(4096)
        .build_with(Redis::new(config))
        .await
        .unwrap()
}

#[cfg(not(feature = "redis"))]
async fn redis_hub(_: String) -> Hub {
    panic!("--redis needs the redis feature")
}

fn tower_sse_app(hub: Hub, window: Duration) -> (Router, Hub) {
    // `/events` yields `Event`s built per request, as most applications do; `/hub`
    // yields the hub's encoded events: two layers, each with its own factory.
    let events = |request: Request<Body>, _: Option<EventId>| async move {
        let Query(shape) =
            Query::<Shape>::try_from_uri(request.uri()).map_err(IntoResponse::into_response)?;
        let (n, size) = shape.get();
        let payload = "x".repeat(size);
        let stream = tokio_stream::iter(1..=n).map(move |seq| {
            Event::new()
                .id(itoa::Buffer::new().format(seq))
                .expect("digits are a valid id")
                .data(&payload)
        });
        Ok::<_, axum::response::Response>(stream)
    };
    // The hub's layer goes in front of the whole router (see `main`), so `/plain` passes
    // through it.
    let router = Router::new()
        .route("/plain", get(|| async { "ok" }))
        .route(
            "/events",
            get(not_acceptable).layer(
                SseLayer::new(events)
                    .predicate(sse_get)
                    .write_window(window),
            ),
        )
        .route("/publish", post(publish_hub))
        .route("/stats", get(stats_hub))
        .with_state(hub.clone());
    (router, hub)
}

/// What `/events` answers a request that does not accept an event stream.
async fn not_acceptable() -> http::StatusCode {
    http::StatusCode::NOT_ACCEPTABLE
}

fn sse_get(method: &http::Method, _: &http::Uri, headers: &http::HeaderMap) -> bool {
    method == http::Method::GET && tower_sse::accepts_event_stream(headers)
}

fn hub_route(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    uri.path() == "/hub" && sse_get(method, uri, headers)
}

async fn publish_hub(State(hub): State<Hub>, Query(shape): Query<Shape>) -> String {
    let (n, size) = shape.get();
    for _ in 0..n {
        hub.publish(TOPIC, Event::new().data(stamped(size)))
            .await
            .unwrap();
    }
    n.to_string()
}

async fn stats_hub(State(hub): State<Hub>) -> String {
    format!("{{\"subscribers\": {}}}", hub.stats().subscribers_of(TOPIC))
}

// ---- the peer: axum's Sse with broadcast ------------------------------------------

#[derive(Clone)]
struct Peer {
    sender: broadcast::Sender<String>,
    subscribers: Arc<AtomicUsize>,
    next_id: Arc<AtomicUsize>,
}

/// Counts a subscriber while its stream lives.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn axum_app() -> Router {
    let peer = Peer {
        sender: broadcast::channel(4096).0,
        subscribers: Arc::default(),
        next_id: Arc::default(),
    };
    Router::new()
        .route("/plain", get(|| async { "ok" }))
        .route("/events", get(axum_events))
        .route("/hub", get(axum_hub))
        .route("/publish", post(axum_publish))
        .route("/stats", get(axum_stats))
        .with_state(peer)
}

async fn axum_events(Query(shape): Query<Shape>) -> impl IntoResponse {
    let (n, size) = shape.get();
    let payload = "x".repeat(size);
    let stream = tokio_stream::iter(1..=n).map(move |seq| {
        let mut id = itoa::Buffer::new();
        Ok::<_, Infallible>(AxumEvent::default().id(id.format(seq)).data(&payload))
    });
    AxumSse::new(stream).keep_alive(AxumKeepAlive::default())
}

async fn axum_hub(State(peer): State<Peer>) -> impl IntoResponse {
    peer.subscribers.fetch_add(1, Ordering::Relaxed);
    let counted = Counted(peer.subscribers.clone());
    let stream = BroadcastStream::new(peer.sender.subscribe()).filter_map(move |message| {
        let _alive = &counted;
        // A lagging receiver loses events silently: what users write today.
        let message = message.ok()?;
        let (id, data) = message.split_once(' ')?;
        Some(Ok::<_, Infallible>(AxumEvent::default().id(id).data(data)))
    });
    AxumSse::new(stream).keep_alive(AxumKeepAlive::default().interval(Duration::from_secs(15)))
}

async fn axum_publish(State(peer): State<Peer>, Query(shape): Query<Shape>) -> String {
    let (n, size) = shape.get();
    for _ in 0..n {
        let id = peer.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = peer.sender.send(format!("{id} {}", stamped(size)));
    }
    n.to_string()
}

async fn axum_stats(State(peer): State<Peer>) -> String {
    format!(
        "{{\"subscribers\": {}}}",
        peer.subscribers.load(Ordering::Relaxed)
    )
}
