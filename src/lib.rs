//! Server-Sent Events for any [Tower](https://docs.rs/tower) service.
//!
//! [`SseLayer`] sits in front of a service. A request that asks for
//! `text/event-stream` (a browser's `EventSource`, for one) is answered with the event
//! stream a user-supplied factory makes; every other request goes to the inner service,
//! untouched. One line adds events to an existing axum app, and the same layer wraps a
//! tonic server or a bare hyper service.
//!
//! In axum, the events can also be an ordinary handler (with `State`, `Path`, your
//! authentication extractor and [`Option<EventId>`](EventId)) returning an
//! [`EventStream`]; `routing::page_or_events` (feature `axum`) serves a page and its
//! events on one route.
//!
//! What it does for you:
//!
//! - **Exact framing** ([`Event`]): multi-line data survives CR, LF and CRLF, empty data
//!   still dispatches, and no value can inject a field or an event: `event` and `id`
//!   values that would are refused with a typed [`EventError`], never a panic.
//! - **Careful negotiation** ([`accepts_event_stream`]): the `Accept` header is parsed
//!   (lists, parameters, quoted strings, q-values), so `*/*` and htmx's
//!   `text/html, text/event-stream` stay with the inner service. Both branches carry
//!   `Vary: Accept`.
//! - **Resumption**: the factory gets the client's [`EventId`]; a `retry:` hint and
//!   keep-alive comments ([`KeepAlive`]) are one setter away.
//! - **Clean lifecycle**: the stream is dropped as soon as the client goes away, even when
//!   it is idle; a failing stream is logged and ends the response after the last whole
//!   event; one [`Shutdown`] signal (the layer's, a handler's and the hub's) sends each
//!   stream its last event once and ends it, so graceful shutdown can finish.
//! - **Access ends streams**: [`Lifetime`] ends a stream at its token's expiry or on a
//!   revocation (across instances with the hub's `revoke`), with a typed last event.
//! - **Encode once**: an [`EncodedEvent`] is immutable bytes, so one encoding can be sent
//!   to many clients; events that are ready together go out in one body frame.
//!
//! # Example
//!
//! An axum app whose `/` serves a page to browsers and a clock to `EventSource`s:
//!
//! ```no_run
//! use std::{convert::Infallible, time::Duration};
//! use axum::{Router, body::Body, response::Html, routing::get};
//! use http::Request;
//! use tokio_stream::{StreamExt, wrappers::IntervalStream};
//! use tower_sse::{Event, EventId, SseLayer};
//!
//! async fn clock(
//!     _request: Request<Body>,
//!     last_event_id: Option<EventId>,
//! ) -> Result<impl tokio_stream::Stream<Item = Event>, Infallible> {
//!     // Resume the count where the client left off.
//!     let mut next = last_event_id.and_then(|id| id.parse::<u64>().ok()).map_or(0, |n| n + 1);
//!     let ticks = IntervalStream::new(tokio::time::interval(Duration::from_secs(1)));
//!     Ok(ticks.map(move |_| {
//!         let n = next;
//!         next += 1;
//!         Event::new().id_number(n).data(format!("tick {n}"))
//!     }))
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     let app = Router::new()
//!         .route("/", get(|| async { Html("<script>new EventSource('/')</script>") }))
//!         .layer(SseLayer::new(clock)); // the one line
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//!     axum::serve(listener, app).await.unwrap();
//! }
//! ```
//!
//! # Feature flags
//!
//! - `axum` (default): `EventStream`, `routing::page_or_events`, `Option<EventId>` as
//!   an extractor, and any axum `IntoResponse` as a factory's refusal ([`IntoRefusal`]).
//!   Without it the crate does not depend on axum or axum-core.
//! - `hub`: the broadcast `hub` (topics, exact replay, encode-once fan-out).
//! - `json`: [`Event::json_data`], with `serde_json`.
//! - `test-util`: `testing`, a test kit that drives your SSE endpoints in
//!   process and reads their events decoded.
//! - `metrics`: open streams, events and bytes sent, keep-alives, why streams closed,
//!   and the hub's subscribers per topic, replays and publishes, through the
//!   [`metrics`](https://docs.rs/metrics) facade, so Prometheus, OpenTelemetry and other
//!   recorders plug in (see the `metrics` module for the list). Without it nothing is
//!   recorded or compiled in.
//! - `redis`: `hub::redis::Redis`, the `hub` over one Redis server or a Redis
//!   Cluster, shared by several instances.
//! - `compression-zstd`, `compression-br`, `compression-gzip` (`compression-full` for
//!   all three): `SseLayer::compression`, event streams compressed by `Accept-Encoding`
//!   and flushed at every frame (`Compression`). Without them, nothing of it is
//!   compiled.
//! - `nats`: `hub::nats::Nats`, the `hub` over NATS JetStream, shared by several
//!   instances.
//! - `postgres`: `hub::postgres::Postgres`, the `hub` over PostgreSQL, shared by several
//!   instances, with a SQL function that publishes inside your own transaction.
//!
//! # Composing with other stacks
//!
//! - **axum**: `Router::layer` for the whole app; `MethodRouter::layer`
//!   (`get(page).layer(SseLayer::new(...))`) for one route and `Router::route_layer` for
//!   the routes added before it, where the route's path parameters are known. The
//!   factory's request carries axum's extensions, so state and authentication
//!   middleware placed outside the layer are seen, and `with_extractors` (feature
//!   `axum`) makes a factory of an `async fn` taking `State`, `Path` and your
//!   authentication extractor.
//! - **hyper**: wrap the service with `hyper_util::service::TowerToHyperService`; HTTP/1.1
//!   and HTTP/2 both work (no `Connection` header is ever set).
//! - **tonic**: wrap the server's routes; gRPC requests never ask for
//!   `text/event-stream`, so they pass through.
//! - **tower-http**: `CompressionLayer` leaves `text/event-stream` alone by default
//!   (and any response with `Content-Encoding`): for compressed events, use
//!   `SseLayer::compression`, which flushes every frame.
//!   A layer that bounds the whole response body's duration would cut streams: keep
//!   such layers inside `SseLayer`, or scope them to other routes.
//!
//! # Runtime
//!
//! Keep-alives use Tokio's timer: the server must run on a Tokio runtime with time
//! enabled (as `#[tokio::main]` and `axum::serve` do).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod body;
#[cfg(feature = "compression")]
mod compression;
mod event;
mod handler;
#[cfg(feature = "hub")]
#[cfg_attr(docsrs, doc(cfg(feature = "hub")))]
pub mod hub;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;
mod request;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;

pub use body::{
    ResponseBody,
    keep_alive::KeepAlive,
    lifetime::{Lifetime, Limited, LimitedItem},
    open_streams,
    shutdown::Shutdown,
};
#[cfg(feature = "compression")]
#[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
pub use compression::Compression;
pub use event::{
    EncodedEvent, Event, EventError,
    id::{EventId, MAX_LAST_EVENT_ID_LEN},
    item::EventItem,
};
pub use handler::script::RECONNECTING_EVENT_SOURCE_JS;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use handler::{event_stream::EventStream, routing};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use request::factory::{WithExtractors, with_extractors};
pub use request::{
    accept::accepts_event_stream,
    factory::MakeEventStream,
    future::ResponseFuture,
    layer::SseLayer,
    predicate::{DefaultPredicate, Predicate},
    response::IntoRefusal,
    service::Sse,
};

/// A type-erased error, as Tower uses.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's examples, compiled and run as doctests, so that each compiles as shown.
#[cfg(all(doctest, feature = "axum", feature = "hub", feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
