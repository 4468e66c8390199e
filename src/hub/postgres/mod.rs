//! The hub over PostgreSQL: several server instances share topics and replay, each
//! receives only the topics its clients follow, and an event can be published **inside
//! your own transaction**, reaching subscribers only if and when it commits.
//!
//! # How it works
//!
//! - **History: one table per hub prefix**, `<prefix>events`, one row an event, with
//!   the topic's sequence number, the sequence and mark of the topic's event before it
//!   (the chain), and the event's fields. `<prefix>topics` holds each topic's last
//!   event; its row is locked by every publish to the topic until that transaction
//!   ends, so publishers of one topic are put in one order, and their events commit in
//!   that order. Each publish deletes at most 64 events past the count bound and 16
//!   past the age bound; a read never returns an event older than the age bound.
//! - **Publishing**: `hub.publish` runs `<prefix>append` over the hub's own connection.
//!   From SQL, call **`<prefix>publish(topic text, data text, event text DEFAULT NULL)
//!   RETURNS text`** (`tower_sse_publish` by default) from any client, inside any
//!   transaction: it stores the event with `data` split into `data:` lines as
//!   [`Event::data`](crate::Event::data) does and the optional event type, and returns
//!   the event's id. The event's notice is sent at commit, and a rolled-back
//!   transaction leaves neither event nor notice.
//! - **Live delivery by interest**: an instance listens (`LISTEN`) on the channel of a
//!   topic (`<prefix>` and the topic's MD5) while it has at least one client of that
//!   topic. A notice carries only the topic and the event's position: the instance
//!   reads the events from the table (no payload limit), once per notice batch, and
//!   hands each to its clients. A channel per topic, rather than one channel filtered
//!   here, spares every instance the notices of topics it has no client of.
//! - **Ids** are `<sequence>-<mark in hex>` (`42-3fa9c01b2e`): the topic's sequence and
//!   a random mark drawn for each event. A client of one topic resumes from its id on
//!   any instance; a client of several gets a cursor (see
//!   [`Hub::subscribe`](crate::hub::Hub::subscribe)).
//!
//! # Guarantees
//!
//! - **Replay** is exact (every event after the id, none twice) while the history
//!   holds the events after it: each read checks that the first event records the
//!   client's id as its previous, and each next the one before it. Otherwise the client
//!   gets the hub's reset event first.
//! - **A restore from an older dump** (or a database created anew) numbers events
//!   again from where the dump stood, but never with the marks given before: an id
//!   from before the restore is unknown and answered with the reset event, and an
//!   instance that delivered past the dump ends its streams so their clients do the
//!   same. No client receives an event it should not have, or an old one again.
//!   A restore made in place while the instances stay connected (tables dropped and
//!   loaded again, no connection closed) is noticed by a connected instance when a
//!   topic's sequence reaches the last event it delivered; until then its clients of
//!   that topic receive nothing new, then their streams end and they resume with the
//!   reset event.
//! - **A lost connection** (the server restarted or was killed, or the network cut):
//!   the instance reconnects with backoff, listens again, and reads each followed
//!   topic's events after the last one it delivered: clients get what they missed,
//!   once, in order, and stay connected. A connection that dies without closing is
//!   found by the [heartbeat](PostgresConfig::heartbeat).
//! - **Publishing while the server is away** fails with
//!   [`PublishError::Backend`](crate::hub::PublishError::Backend) when nothing was sent.
//!   A publish whose connection broke is tried again (three times) with the token it
//!   stores with the event; the append looks the token up under the topic's row lock,
//!   so the event is stored once, and if no try can tell, the error is
//!   [`PublishError::Uncertain`](crate::hub::PublishError::Uncertain).
//! - **Setup** creates the tables and functions if they are missing, in one
//!   transaction under an advisory lock: instances started at the same moment against
//!   a fresh database all come up. The history bounds of the instance started last
//!   apply to everyone's publishes, the SQL function's included.
//!
//! Needs PostgreSQL 13 or newer, and a role that may create tables and functions in
//! the schema the connection uses (once; publishing from SQL needs `EXECUTE` on the
//! function and write access to its tables, or make it `SECURITY DEFINER` yourself).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_sse::hub::{History, Hub, postgres::{Postgres, PostgresConfig}};
//!
//! # async fn f() -> Result<(), tower_sse::hub::SetupError> {
//! let hub = Hub::builder()
//!     .history(History::new().events(500).max_age(Some(Duration::from_secs(3600))))
//!     .build_with(Postgres::new(PostgresConfig::new("postgres://app@127.0.0.1/app")))
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! And from SQL, in the transaction that makes the change:
//!
//! ```sql
//! BEGIN;
//! UPDATE orders SET state = 'shipped' WHERE id = 42;
//! SELECT tower_sse_publish('orders', '{"id":42,"state":"shipped"}', 'order');
//! COMMIT;
//! ```

mod config;
mod engine;
mod ids;
mod schema;
mod session;

pub use self::config::PostgresConfig;

use super::{
    History, SetupError,
    backend::{Backend, BoxFuture, Engine, Feed},
    remote::Remote,
};

/// The PostgreSQL engine, as a value to build a hub over with
/// [`HubBuilder::build_with`](super::HubBuilder::build_with). See the [module](self)
/// for what it guarantees.
///
/// The hub's [`History`] bounds each topic by count (at least one event is kept) and
/// age; a byte bound is refused with [`SetupError::Unsupported`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::hub::{Hub, SetupError, postgres::{Postgres, PostgresConfig}};
///
/// let err = Hub::builder()
///     .build_with(Postgres::new(PostgresConfig::new("postgres://127.0.0.1/app").prefix("A-B")))
///     .await
///     .unwrap_err();
/// assert!(matches!(err, SetupError::Invalid { engine: "postgres", .. }));
/// # }
/// ```
#[derive(Debug)]
pub struct Postgres {
    config: PostgresConfig,
}

impl Postgres {
    /// The engine with these settings; nothing is connected until the hub is built.
    pub fn new(config: PostgresConfig) -> Self {
        Self { config }
    }
}

impl Engine for Postgres {
    fn start(
        self,
        feed: Feed,
        history: History,
    ) -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>> {
        Box::pin(async move {
            let engine = engine::Engine::new(&self.config)?;
            let remote = Remote::start(engine, feed, history).await?;
            Ok(Box::new(remote) as Box<dyn Backend>)
        })
    }
}
