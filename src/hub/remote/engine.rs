//! [`RemoteEngine`]: what an engine that keeps the history outside the process supplies
//! to the driver, and the values it hands back.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::ids::Marks;
use crate::{
    BoxError,
    hub::{BoxFuture, History, IdScope, Position, SetupError},
};

/// What the driver knows of an engine from the start, the same for its whole life: its
/// name and server, how its ids read, and how it reads and pings.
#[derive(Clone, Debug)]
pub(crate) struct Profile {
    /// The engine's name, as metrics label it.
    pub(crate) name: &'static str,
    /// Where the engine's server is, without credentials: for messages.
    pub(crate) url: String,
    /// Whether ids order events across topics or within a topic only.
    pub(crate) scope: IdScope,
    /// How a position is written as an id.
    pub(crate) marks: Marks,
    /// How often the driver pings the live connection, and how long it waits for the
    /// answer.
    pub(crate) heartbeat: Duration,
    /// How many events one [`read`](RemoteEngine::read) asks for.
    pub(crate) page_size: usize,
}

/// The profile of the driver's tests' engines.
#[cfg(test)]
pub(crate) static TEST_PROFILE: Profile = Profile {
    name: "test",
    url: String::new(),
    scope: IdScope::Topic,
    marks: Marks::new(10, u64::MAX),
    heartbeat: Duration::from_secs(5),
    page_size: 256,
};

impl Profile {
    /// The setup error for `source`: [`SetupError::Refused`] if the server was
    /// `reached` and answered with it, [`SetupError::Unreachable`] if not.
    pub(crate) fn setup_error(&self, reached: bool, source: impl Into<BoxError>) -> SetupError {
        let (engine, url, source) = (self.name, self.url.clone(), source.into());
        if reached {
            SetupError::Refused {
                engine,
                url,
                source,
            }
        } else {
            SetupError::Unreachable {
                engine,
                url,
                source,
            }
        }
    }
}

/// One stored event, as an engine reads it back.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Its place in its topic.
    pub(crate) position: Position,
    /// The position of the topic's event before it when it was appended
    /// ([`Position::START`] for the topic's first): the chain the driver checks.
    pub(crate) previous: Position,
    /// The event's fields (`Event::field_bytes`), without an id.
    pub(crate) fields: Bytes,
}

/// A page of a topic's history, read in one step with the topic's head.
#[derive(Debug)]
pub(crate) struct Page {
    /// The position of the topic's last event now ([`Position::START`] for none).
    pub(crate) head: Position,
    /// Retained events after the position asked for, in order, at most the limit asked.
    pub(crate) entries: Vec<Entry>,
    /// The topic's break record, if it has one: no position up to it can be resumed.
    pub(crate) broken_at: Option<Position>,
    /// Whether events after the position asked for may have left the store without a
    /// trace (a bound on the whole store, by age or size, that can empty a topic): an
    /// empty page then proves nothing, and an exact read of it is expired.
    pub(crate) unproven: bool,
}

/// What an engine's live feed tells the driver.
#[derive(Debug)]
pub(crate) enum Notice {
    /// `topic` has an event at `position`; with `entry`, the event itself (an engine
    /// whose feed carries events), without, only the notice (the driver reads it).
    Event {
        topic: Arc<str>,
        position: Position,
        entry: Option<Entry>,
    },
    /// The live connection made by [`RemoteEngine::connect_live`] with this generation
    /// is gone: notices may have been missed.
    #[cfg_attr(
        not(any(feature = "nats", feature = "postgres")),
        allow(dead_code, reason = "sent by the NATS and Postgres engines")
    )]
    Lost { generation: u64 },
    /// The live feed of these topics is gone while the rest of it goes on (an engine
    /// with a live connection per node: that node's was lost): the driver follows them
    /// again with backoff and catches each up. [`Topics::All`] is [`Notice::Lost`].
    #[cfg_attr(
        not(feature = "redis"),
        allow(dead_code, reason = "sent by the Redis engine")
    )]
    Dropped(Topics),
    /// The engine's connection is back (a client that reconnects by itself, such as
    /// NATS's): a lost live feed is connected again now, not after the backoff.
    #[cfg_attr(
        not(feature = "nats"),
        allow(dead_code, reason = "sent by the NATS engine")
    )]
    Ready,
    /// The history of these followed topics broke as a whole (NATS: the stream was
    /// created anew, so every topic's positions name another store): their streams
    /// end, their clients resume from their `Last-Event-ID`, and the topics are
    /// followed afresh by the next subscriber.
    #[cfg_attr(
        not(any(feature = "nats", feature = "redis")),
        allow(dead_code, reason = "sent by the NATS and Redis engines")
    )]
    Ended(Topics),
}

/// Which followed topics a [`Notice`] concerns: every one (a store created anew), or
/// some (an engine with one live connection per node, such as Redis Cluster, whose
/// node's connection carries only that node's topics).
#[derive(Debug)]
pub(crate) enum Topics {
    /// Every topic the instance follows.
    #[cfg_attr(
        not(feature = "nats"),
        allow(dead_code, reason = "sent by the NATS engine")
    )]
    All,
    /// These topics; those the instance does not follow are passed over.
    #[cfg_attr(
        not(feature = "redis"),
        allow(dead_code, reason = "sent by the Redis engine")
    )]
    Only(Vec<Arc<str>>),
}

/// One append the driver asks of [`RemoteEngine::append`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Append<'a> {
    /// The topic appended to.
    pub(crate) topic: &'a str,
    /// The topic's last event as the driver expects it (its own last append to the
    /// topic, [`Position::START`] for none, or the head read after a race), which the
    /// engine must check; `None` for an engine that
    /// [orders appends](RemoteEngine::orders_appends) itself.
    #[cfg_attr(
        not(feature = "nats"),
        allow(dead_code, reason = "read by the NATS engine")
    )]
    pub(crate) previous: Option<Position>,
    /// The publish's token: the event is stored once per token.
    pub(crate) token: &'a str,
    /// The event's fields (`Event::field_bytes`), without an id.
    pub(crate) fields: &'a [u8],
}

/// What [`RemoteEngine::append`] returns: the stored event's position.
pub(crate) type Appended<'a> = BoxFuture<'a, Result<Position, AppendError>>;

/// What [`RemoteEngine::find`] returns: the position of the event stored with a token.
pub(crate) type Found<'a> = BoxFuture<'a, Result<Option<Position>, BoxError>>;

/// What [`RemoteEngine::read`] returns: a page of a topic's history.
pub(crate) type Paged<'a> = BoxFuture<'a, Result<Page, BoxError>>;

/// Why one append did not store the event.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The topic's last event is not the `previous` given (the engine checked it, and
    /// stored nothing): read the head and try again.
    #[cfg_attr(
        not(feature = "nats"),
        allow(
            dead_code,
            reason = "for engines that do not order appends themselves (NATS)"
        )
    )]
    Raced,
    /// The append failed; `sent` says whether it may have been stored all the same.
    Failed { sent: bool, err: BoxError },
}

/// What an engine that keeps topics outside the process (a database, a broker)
/// supplies to the [driver](super::Remote): storage, reading and a live feed. The driver
/// does everything else: watchers and interest, the chain check, catch-up, breaks,
/// recovery with backoff and a heartbeat, and publish retries.
///
/// Every method may fail with a [`BoxError`]; the driver retries or reports it. Messages
/// must not hold secrets (name the server by [`url`](RemoteEngine::url)).
///
/// The contract:
///
/// - positions of one topic increase with each append, and each stored event records
///   the position of the topic's event before it (its `previous`);
/// - [`read`](RemoteEngine::read) returns a topic's retained events after a position in
///   order, with the topic's head read in the same step;
/// - once [`open`](RemoteEngine::open) has returned, every event of the topic appended
///   later is notified on the live feed (or the feed reports itself
///   [lost](Notice::Lost));
/// - an append given a token stores the event at most once, however often it is tried
///   with that token, and [`find`](RemoteEngine::find) finds it by that token.
pub(crate) trait RemoteEngine: Send + Sync + 'static {
    /// What the engine is: the source of [`name`](RemoteEngine::name) and the other
    /// facts below, and of the ids unless the engine writes its own.
    fn profile(&self) -> &Profile;

    /// The engine's name, as metrics label it.
    fn name(&self) -> &'static str {
        self.profile().name
    }

    /// Whether ids order events across topics or within a topic only.
    fn ids(&self) -> IdScope {
        self.profile().scope
    }

    /// Where the engine's server is, without credentials: for messages.
    fn url(&self) -> &str {
        &self.profile().url
    }

    /// Connects and creates the storage if it is missing, for a history bounded by
    /// `history` (or says which bound it cannot honour); idempotent, and safe when
    /// several instances do it at the same moment. The default does nothing: for an
    /// engine set up when it is made, with the history.
    fn setup(&mut self, history: History) -> BoxFuture<'_, Result<(), SetupError>> {
        let _ = history;
        Box::pin(async { Ok(()) })
    }

    /// The id sent to clients for `position`.
    fn id_of(&self, position: Position) -> String {
        self.profile().marks.id_of(position)
    }

    /// The position of an id made by [`id_of`](RemoteEngine::id_of); `None` for any
    /// other string.
    fn locate(&self, id: &str) -> Option<Position> {
        self.profile().marks.parse(id)
    }

    /// Whether [`append`](RemoteEngine::append) orders concurrent appends to a topic
    /// itself (a script or a row lock): then the driver gives no `previous`. Otherwise
    /// it appends after the head it expects, and reads the head and tries again when
    /// [raced](AppendError::Raced).
    fn orders_appends(&self) -> bool {
        false
    }

    /// Appends the event's `fields` to its `topic`, recording the topic's last event as
    /// its previous: with `Some(previous)`, only if the topic's last event is `previous` (else
    /// [`AppendError::Raced`]). Stores it once per `token`: a second append with the
    /// same token returns the first one's position.
    fn append<'a>(&'a self, append: Append<'a>) -> Appended<'a>;

    /// The position of the event appended with `token`, if it was stored.
    fn find<'a>(&'a self, topic: &'a str, token: &'a str) -> Found<'a>;

    /// The position of `topic`'s last event ([`Position::START`] for none). The default
    /// reads an empty page, which holds the head.
    fn head<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Position, BoxError>> {
        Box::pin(async move { Ok(self.read(topic, Position::START, 0).await?.head) })
    }

    /// Up to `limit` retained events of `topic` after `after`, with the head.
    fn read<'a>(&'a self, topic: &'a str, after: Position, limit: usize) -> Paged<'a>;

    /// How many events one [`read`](RemoteEngine::read) asks for.
    fn page_size(&self) -> usize {
        self.profile().page_size
    }

    /// (Re)connects the live feed, dropping the previous one, and sends its notices to
    /// `notices`, ending with [`Notice::Lost`] of this `generation` when it breaks.
    /// Topics opened on an earlier connection are opened again by the driver.
    fn connect_live(
        &self,
        generation: u64,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> BoxFuture<'_, Result<(), BoxError>>;

    /// Starts notifying `topic`'s events on the live feed.
    fn open<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>>;

    /// Stops notifying `topic`'s events.
    fn close<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>>;

    /// A round trip on the live connection: the heartbeat.
    fn ping(&self) -> BoxFuture<'_, Result<(), BoxError>>;

    /// Records that `topic`'s history broke after `through`, the last position this
    /// instance delivered, so no client resumes across the break as if nothing were
    /// missing ([`Page::broken_at`] reads it back). An engine whose positions can never
    /// be given to another event (its ids carry something a restored store cannot make
    /// again) needs none: the default records nothing.
    fn record_break<'a>(
        &'a self,
        topic: &'a str,
        through: Position,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = (topic, through);
        Box::pin(async { Ok(()) })
    }

    /// How often the driver pings the live connection, and how long it waits for the
    /// answer.
    fn heartbeat(&self) -> Duration {
        self.profile().heartbeat
    }
}
