//! A broadcast hub: topics, exact replay from `Last-Event-ID`, encode-once fan-out and
//! bounded slow clients.
//!
//! Most event streams are fan-out: one event, many clients. A [`Hub`] takes events with
//! [`publish`](Hub::publish) and hands them to every [`Subscription`] of the topic;
//! a subscription is a stream that plugs straight into an [`SseLayer`](crate::SseLayer)
//! factory.
//!
//! ```
//! use std::convert::Infallible;
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tower_sse::{Event, EventId, SseLayer, hub::Hub};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! let subscribe = {
//!     let hub = hub.clone();
//!     move |_: Request<Body>, last_event_id: Option<EventId>| {
//!         let hub = hub.clone();
//!         // A refused subscriber is told to come back later (`retry:`).
//!         async move { hub.subscribe("news").after(last_event_id.as_ref()).await }
//!     }
//! };
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "page" }))
//!     .layer(SseLayer::new(subscribe));
//!
//! let id = hub.publish("news", Event::new().event_static("headline").data("SSE hub lands")).await?;
//! assert!(id.as_str().starts_with("1-")); // the hub's sequence, then its epoch
//! # Ok(())
//! # }
//! ```
//!
//! # Ids and replay
//!
//! Every event gets an id when it is published: by default the hub's sequence number and
//! its epoch (`1-k3x9q2a0`, `2-k3x9q2a0`, ..., increasing across all topics, so one
//! `Last-Event-ID` places a client in every topic it follows; the epoch is drawn when
//! the hub is built, so an id from before a restart is recognised as unknown), or one
//! of your own with [`Hub::publish_with_id`]. The id is
//! part of the encoded event, so the browser sends it back when it reconnects. A backend
//! whose topics have sequences of their own (Redis) sends a stream of several topics a
//! cursor as its ids instead: one position per topic (see [`Subscribe::after`]).
//!
//! Each topic keeps a bounded history ([`HubBuilder::history`]: by count, bytes and age,
//! on every engine).
//! A subscriber that comes with a `Last-Event-ID` gets:
//!
//! - **every retained event after that id, then the live ones**, with none missing and
//!   none twice, if the id is in the history, or is the newest event that left it
//!   ([`Replay::Exact`]). The subscriber joins the live feed *before* it reads the history
//!   and skips live events it already replayed, so an event published meanwhile is sent
//!   exactly once;
//! - otherwise, when the id is unknown or events after it have left the history, **the
//!   reset event** ([`HubBuilder::reset_event`], by default an event of type `reset` with
//!   empty data) and then live events ([`Replay::Reset`]). The page should reload its
//!   state when it sees it. Nothing is lost silently.
//!
//! # Slow clients
//!
//! An event is encoded once, when it is published, and every subscriber is sent the same
//! bytes. Each topic's live feed is a ring of [`HubBuilder::lag_bound`] events shared by
//! its subscribers: a subscriber may fall that many events behind, and costs no memory of
//! its own to do so. Publishing never waits for a subscriber, so a client that stops
//! reading does not delay the others. When a subscriber falls further behind, the
//! [`LagPolicy`] applies: by default it is disconnected (its stream ends), and the
//! client reconnects and replays exactly what it missed from the history, as long as the
//! history holds it (keep the history longer than the lag bound); or it skips ahead,
//! optionally with a notice event.
//!
//! # Limits, duration and shutdown
//!
//! [`HubBuilder::max_subscribers`] and [`HubBuilder::max_subscribers_per_topic`] refuse
//! subscribers past a limit with a [`SubscribeError`] that answers `200` with only
//! `retry:` (and `Retry-After`), so that browsers come back later. [`HubBuilder::max_duration`] ends each subscription after a time with
//! random jitter, so that clients reconnect (and, after a deploy, reconnect elsewhere) a
//! few at a time. [`HubBuilder::graceful_shutdown`] takes the server's
//! [`Shutdown`](crate::Shutdown) signal: when it is triggered, every subscription gets
//! its last event and ends, so the server's graceful shutdown can finish.
//!
//! # Backends
//!
//! Storage and delivery sit behind an engine. The in-process one, the default
//! ([`HubBuilder::build`]), keeps the history in memory; its ids carry an epoch drawn
//! when the hub is built, so a client that resumes with an id from before a restart gets
//! the reset event. Other engines are values handed to [`HubBuilder::build_with`]: with
//! the `redis` feature, `redis::Redis` keeps each topic's history in a Redis stream on
//! one server or spread over a Redis Cluster, shared by several server instances, each
//! of which receives only the topics its clients follow; with the `nats` feature,
//! `nats::Nats` keeps every topic's history in one NATS JetStream stream; with the
//! `postgres` feature, `postgres::Postgres` keeps it in a PostgreSQL table, and events
//! can be published from SQL inside your own transaction. The hub's API is the same. An engine of your own implements [`Engine`] and
//! [`backend::Backend`]: see the [`backend`] module.

pub mod backend;
mod builder;
mod config;
mod cursor;
mod error;
mod handle;
mod handoff;
mod history;
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(any(feature = "redis", feature = "postgres", feature = "nats"))]
mod remote;
mod revocation;
mod state;
mod stats;
mod subscribe;
mod topics;

pub use backend::Engine;
pub use builder::HubBuilder;
pub use config::{LagPolicy, SubscriberChange};
pub use error::{PublishError, SetupError, SubscribeError};
pub use handle::Hub;
pub use handoff::{Handoff, POSITION_HEADER};
pub use history::History;
pub use revocation::{MAX_REVOCATION_KEY_LEN, Revocation};
pub use stats::HubStats;
pub use subscribe::{Replay, Subscribe, Subscription};
pub use topics::{IntoTopics, MAX_TOPIC_LEN, MAX_TOPICS_PER_SUBSCRIPTION};

/// The engine API under the names the crate's engines use.
#[allow(unused_imports)]
pub(crate) use backend::{
    Backend, BoxFuture, Delivery, EventId, Feed, IdScope, Position, Replayed,
};
