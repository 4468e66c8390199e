//! The hub over NATS JetStream, so that several server instances share topics and
//! replay, and each receives only the topics its clients follow.
//!
//! # How it works
//!
//! - **History: one JetStream stream** ([`NatsConfig::stream`], file storage) captures
//!   every topic's subject, `<prefix>.t.<topic in hex>`. It keeps the hub's
//!   [`History`](super::History) of each topic (its event count as the stream's
//!   per-subject limit, its age bound as the stream's `max_age`; a byte bound per topic
//!   is refused) and, if set, is bounded in all by [`NatsConfig::max_bytes`]. A stream
//!   that exists already is used as it is.
//! - **Ids** are `<stream sequence>-<epoch>` (`1042-k3x9q2a`). The sequence orders
//!   events across every topic, so one id places a client in all the topics it follows
//!   and a stream of several topics sends each event's own id (no cursor). The epoch
//!   names the stream's incarnation (from when it was created): an id from a stream
//!   since created anew is never read as one of the new stream's.
//! - **The chain.** Each message records, in a header, the sequence of its topic's
//!   event before it. A publish expects the topic's last sequence to be the instance's
//!   last append's (`Nats-Expected-Last-Subject-Sequence`): when another publish came
//!   between, the server refuses it, and it reads the head and tries again (no fork).
//! - **Live delivery by interest**: an instance follows a topic with an ordered
//!   JetStream consumer, filtered on the topic's subject, while it has at least one
//!   client of that topic, and drops it when the last one leaves. Each event is decoded
//!   and encoded once per instance and shared by its clients.
//!
//! # Guarantees
//!
//! - **Subscribing.** The instance reads the topic's last sequence, then follows the
//!   topic from the event after it, then reads the client's history: an event published
//!   meanwhile is sent once, whether it came live, from the history, or both.
//! - **Replay.** A client that resumes from an id gets exactly its topic's events after
//!   it, none missing and none twice: the first one read must record a previous event
//!   at or before the id, and each next one the one before it. Otherwise (the per-topic
//!   bound removed some), or if the id is ahead of the stream or from another epoch (the
//!   server lost the stream), it gets the hub's reset event first. With an age or byte
//!   bound, events may leave a topic entirely; a client whose position is before the
//!   stream's first event and whose topic has nothing after it, or whose topic's next
//!   event records none before it, then gets the reset event too, since nothing proves
//!   it missed nothing. A stream found behind a sequence an instance saw (restored
//!   from an older snapshot, or it lost writes) keeps its creation time, so the
//!   instance writes the stream's break record (`<prefix>.t.break`), and the epoch is
//!   from the record's time from then on: new events get new ids, every stream of
//!   the instance ends, and a resume from an id of before gets the reset event.
//! - **Live delivery** checks every event against the chain: one that does not follow
//!   the last one delivered makes the instance read the missed events from the stream
//!   and deliver them, once, in order; if they are gone, the topic's streams end, and
//!   their clients resume from their `Last-Event-ID`: exactly, or with the reset event.
//! - **A connection lost** (the server restarted, was killed, or the instance was cut
//!   off). The client reconnects by itself; the hub's driver for remote engines then
//!   recreates each followed topic's consumer and reads what the topic missed from the
//!   stream: clients get the events they missed, once, in order, and stay connected.
//!   After every reconnection the stream's epoch is read again before a live event is
//!   delivered: a server that came back without the stream (it lost its store) gets
//!   the stream created anew, and every stream of the instance ends, so its clients
//!   resume with the reset event. A connection that dies without closing is found by
//!   the [heartbeat](NatsConfig::heartbeat), a round trip to the server that replaces
//!   a connection which does not answer. While the connection is being recovered,
//!   clients of followed topics stay connected, and a subscriber of a topic new to the
//!   instance is served if the server answers, and refused otherwise (the hub answers
//!   it with `retry:`).
//! - **Publishing while NATS is away** fails with
//!   [`PublishError::Backend`](super::PublishError::Backend) when nothing was sent, or
//!   [`PublishError::Uncertain`](super::PublishError::Uncertain) when a try may have
//!   been stored (its acknowledgement was lost). Tries carry one `Nats-Msg-Id`, so JetStream's
//!   duplicate window (two minutes) stores the event once however often it is retried.
//! - **Shutdown.** The [shutdown signal](super::HubBuilder::graceful_shutdown) stops the live task at once.
//! - **Ids** are the backend's: [`Hub::publish_with_id`](super::Hub::publish_with_id)
//!   is refused.
//!
//! A stream deleted and created again by hand while every instance stays connected is
//! noticed at the next subscription's replay or the next gap in a topic's chain.
//!
//! Needs nats-server 2.9 or newer, with JetStream (`-js`).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_sse::hub::{History, Hub, nats::{Nats, NatsConfig}};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::builder()
//!     .history(History::new().events(500).max_age(Some(Duration::from_secs(24 * 3600))))
//!     .build_with(Nats::new(NatsConfig::new("nats://127.0.0.1:4222").prefix("chat")))
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod engine;
mod ids;
mod store;
mod subjects;

pub use self::config::NatsConfig;
use super::remote;

remote::engine_value! {
/// The NATS JetStream engine, as a value to build a hub over with
/// [`HubBuilder::build_with`](super::HubBuilder::build_with). See the module for what it
/// guarantees.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::hub::{Hub, SetupError, nats::{Nats, NatsConfig}};
///
/// let err = Hub::builder()
///     .build_with(Nats::new(NatsConfig::new("nats://127.0.0.1:4222").prefix("a b")))
///     .await
///     .unwrap_err();
/// assert!(matches!(err, SetupError::Invalid { engine: "nats", .. }));
/// # }
/// ```
Nats(NatsConfig) => engine::Engine::connect
}
