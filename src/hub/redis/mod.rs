//! The hub over Redis, on one server or a Redis Cluster, so that several server
//! instances share topics and replay, and each receives only the topics its clients
//! follow.
//!
//! # How it works
//!
//! - **History: one Redis stream per topic**, `<prefix>{<topic>}:h`, bounded by the
//!   hub's [`History`](super::History): its event count as an approximate `MAXLEN`
//!   (Redis may keep up to a hundred more) and its age bound as a `MINID` trim when the
//!   topic is published to (a byte bound is refused). The braces are a Redis Cluster
//!   hash tag: each topic's stream
//!   and channel sit on one node, and topics spread over every master.
//! - **Publishing is one round trip**: a script appends the event to the topic's stream,
//!   trims it, and announces it on the topic's shard channel (`SPUBLISH`), all at once.
//! - **Live delivery by interest**: an instance subscribes (`SSUBSCRIBE`) to a topic's
//!   channel while it has at least one client of that topic, and unsubscribes when the
//!   last one leaves. It receives nothing of the other topics. Each event is decoded and
//!   encoded once per instance and shared by its clients.
//! - **Ids** are the stream ids Redis gives (`1733390000123-0`). A client of one topic
//!   resumes from its id on any instance. A client of several topics gets a cursor of
//!   one position per topic as its ids (see [`Hub::subscribe`](super::Hub::subscribe)).
//!
//! # Guarantees
//!
//! - **Subscribing.** The instance subscribes to the topic's channel, then reads the
//!   topic's position, then the client's history: an event published meanwhile is sent
//!   once, whether it came through the channel, the history, or both.
//! - **Replay.** A client that resumes from a position gets exactly the entries after it,
//!   none missing and none twice, if no entry after it has been trimmed (Redis records the
//!   greatest id it ever deleted from a stream, and the read checks it in the same step).
//!   Otherwise, or if the position is ahead of the stream (Redis lost data), it gets the
//!   hub's reset event first.
//! - **A connection to a node lost** (the node restarted, failed over, or was cut off).
//!   The instance reconnects with backoff (to the node that serves the topic's slot now,
//!   in a cluster), subscribes again, and reads each affected topic's history after the
//!   last event it delivered: clients get the events they missed, once, in order, and
//!   stay connected. If entries after that event were trimmed meanwhile, or the stream now
//!   ends below it (the node came back from an older snapshot, or a replica that had not
//!   received it took over), that topic's streams end with a warning instead, and their
//!   clients resume from their `Last-Event-ID`: exactly, or with the reset event. Topics
//!   on other nodes are not touched. A connection that dies without closing (behind a
//!   NAT, in a partition) is found by the [heartbeat](RedisConfig::heartbeat) and
//!   recovered the same way. New subscribers of a topic whose node is being
//!   reconnected to wait until it is back (those of a topic new to this instance are
//!   told to retry: `200` with only `retry:`).
//! - **Publishing while Redis is away** fails with [`PublishError::Backend`] (nothing
//!   stored). A publish whose connection broke is retried up to three times, after
//!   reconnecting; each retry first looks for the event by a token stored with it, so
//!   it never stores the event twice (the client itself never resends a publish). If
//!   every try fails and one may have reached Redis, the error is
//!   [`PublishError::Uncertain`], never a false "not stored".
//! - **Shutdown.** The [shutdown signal](super::HubBuilder::graceful_shutdown) stops the live task at once:
//!   an event published elsewhere at that moment reaches this instance's clients when
//!   they reconnect (to any instance).
//! - **Secrets.** Errors and logs name Redis by its address without user name and
//!   password, and a failed history read answers clients `retry:` without Redis's details.
//! - **Ids** are Redis's: [`Hub::publish_with_id`](super::Hub::publish_with_id) is refused.
//!
//! Needs Redis 7.0 or newer (sharded pub/sub and `XINFO STREAM`'s `max-deleted-entry-id`).
//!
//! # Example
//!
//! ```no_run
//! use tower_sse::hub::{Hub, redis::{Redis, RedisConfig}};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! // One server:
//! let hub = Hub::builder()
//!     .build_with(Redis::new(RedisConfig::new("redis://127.0.0.1:6379").prefix("chat:")))
//!     .await?;
//! // A cluster, from any of its nodes:
//! let nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"];
//! let hub = Hub::builder().build_with(Redis::new(RedisConfig::cluster(nodes))).await?;
//! # Ok(())
//! # }
//! ```

mod commands;
mod live;
mod scripts;
mod topology;

use std::{
    hash::{BuildHasher, Hasher},
    sync::Arc,
    time::Duration,
};

use redis::{ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisError, Value};
use tokio::sync::{mpsc, oneshot};

use crate::Event;

use self::{
    commands::Commands,
    live::Request,
    scripts::{BREAK, History, PUBLISH, READ, continuous, id_of, parse_id},
    topology::{Topology, addr_of},
};
use super::{
    Delivery, EventId, History as Bound, Position, PublishError, SetupError, SubscribeError,
    backend::{Backend, BoxFuture, Engine, Feed, IdScope, Replayed, redacted},
};

/// Where and how the hub keeps its topics in Redis; every setting but the nodes has a
/// default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::hub::redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379/0")
///     .prefix("myapp:sse:")
///     .read_batch(512)
///     .command_timeout(Duration::from_secs(2));
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RedisConfig {
    nodes: Vec<String>,
    cluster: bool,
    prefix: String,
    read_batch: usize,
    connect_timeout: Duration,
    command_timeout: Duration,
    heartbeat: Duration,
}

impl RedisConfig {
    /// Settings for the Redis server at `url` (`redis://[user:password@]host:port[/db]`).
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_nodes(vec![url.into()], false)
    }

    /// Settings for a Redis Cluster, reached through any of `nodes` (URLs as for
    /// [`new`](RedisConfig::new); the others are found from the first that answers).
    pub fn cluster<I>(nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::with_nodes(nodes.into_iter().map(Into::into).collect(), true)
    }

    fn with_nodes(nodes: Vec<String>, cluster: bool) -> Self {
        Self {
            nodes,
            cluster,
            prefix: "tower-sse:".into(),
            read_batch: 256,
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(3),
            heartbeat: Duration::from_secs(5),
        }
    }

    /// The start of every key and channel name. Hubs that share it share their topics.
    /// It must not contain `{` or `}`, which would change how a cluster places keys.
    ///
    /// Default: `tower-sse:`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many entries one history read returns at most.
    ///
    /// Default: 256.
    pub fn read_batch(mut self, entries: usize) -> Self {
        self.read_batch = entries.max(1);
        self
    }

    /// How long connecting to a Redis node may take.
    ///
    /// Default: 3 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a command may take before it fails.
    ///
    /// Default: 3 seconds.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How often each connection that receives live events is pinged. One that does
    /// not answer within the [command timeout](RedisConfig::command_timeout) (it died
    /// without closing: a NAT forgot it, a network partition) is replaced, and what its
    /// topics missed is read from their history.
    ///
    /// Default: 5 seconds.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }
}

/// The setup error for a Redis failure at `url`.
fn setup_error(url: &str, source: RedisError) -> SetupError {
    let url = redacted(url);
    let reached = !(source.is_io_error() || source.is_timeout() || source.is_connection_refusal());
    let source = Box::new(source);
    if reached {
        SetupError::Refused {
            engine: "redis",
            url,
            source,
        }
    } else {
        SetupError::Unreachable {
            engine: "redis",
            url,
            source,
        }
    }
}

fn invalid(reason: String) -> SetupError {
    SetupError::Invalid {
        engine: "redis",
        reason,
    }
}

/// The Redis engine (one server or a cluster), as a value to build a hub over with
/// [`HubBuilder::build_with`](super::HubBuilder::build_with). See the module for what it
/// guarantees.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::hub::{Hub, SetupError, redis::{Redis, RedisConfig}};
///
/// let err = Hub::builder()
///     .build_with(Redis::new(RedisConfig::new("not a url")))
///     .await
///     .unwrap_err();
/// assert!(matches!(err, SetupError::Invalid { engine: "redis", .. }));
/// # }
/// ```
#[derive(Debug)]
pub struct Redis {
    config: RedisConfig,
}

impl Redis {
    /// The engine with these settings; nothing is connected until the hub is built.
    pub fn new(config: RedisConfig) -> Self {
        Self { config }
    }
}

impl Engine for Redis {
    fn start(
        self,
        feed: Feed,
        history: Bound,
    ) -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>> {
        Box::pin(async move {
            let mut backend = RedisBackend::connect(self.config, history).await?;
            backend.run(feed);
            Ok(Box::new(backend) as Box<dyn Backend>)
        })
    }
}

/// The names of a topic's stream and channel.
#[derive(Clone, Debug)]
struct Keys {
    prefix: Arc<str>,
}

impl Keys {
    /// The topic's stream: its history.
    fn stream(&self, topic: &str) -> String {
        format!("{}{{{topic}}}:h", self.prefix)
    }

    /// The topic's shard channel: its live events.
    fn channel(&self, topic: &str) -> String {
        format!("{}{{{topic}}}:live", self.prefix)
    }

    /// The topic's break: the position up to which its history cannot be resumed.
    fn breaks(&self, topic: &str) -> String {
        format!("{}{{{topic}}}:b", self.prefix)
    }

    /// The topic a channel name belongs to.
    fn topic_of<'a>(&self, channel: &'a [u8]) -> Option<&'a str> {
        let rest = channel.strip_prefix(self.prefix.as_bytes())?;
        let topic = rest.strip_prefix(b"{")?.strip_suffix(b"}:live")?;
        std::str::from_utf8(topic).ok()
    }
}

/// What the live task and the history reads share.
#[derive(Debug)]
struct Settings {
    keys: Keys,
    /// The age bound, in ms; `0` for none.
    max_age_ms: u64,
    seed: ConnectionInfo,
    cluster: bool,
    read_batch: usize,
    connect_timeout: Duration,
    command_timeout: Duration,
    heartbeat: Duration,
}

/// The hub's backend over Redis, once [`Redis`] is set up.
pub(crate) struct RedisBackend {
    commands: Commands,
    /// The connection publishes go through: on a cluster, one that never resends a
    /// command by itself (a resend would skip the token check and could store the event
    /// twice); `publish_event` retries once, with the check.
    publishing: Commands,
    settings: Arc<Settings>,
    max_len: usize,
    topology: Topology,
    requests: mpsc::UnboundedSender<Request>,
    /// Taken by `start`, which runs the live task.
    receiver: Option<mpsc::UnboundedReceiver<Request>>,
    live: Option<tokio::task::AbortHandle>,
    closed: std::sync::atomic::AtomicBool,
}

impl RedisBackend {
    /// Connects to Redis (checking it answers, and is a cluster if asked to be one).
    pub(crate) async fn connect(config: RedisConfig, history: Bound) -> Result<Self, SetupError> {
        if history.byte_limit().is_some() {
            return Err(SetupError::Unsupported {
                engine: "redis",
                what: "a byte bound on each topic's history",
            });
        }
        let mut seeds = config.seeds()?;
        let setup = |err| setup_error(&config.nodes[0], err);
        let (commands, publishing, topology) =
            connect_commands(&config, &seeds).await.map_err(setup)?;
        load_scripts(&commands).await.map_err(setup)?;
        let settings = Arc::new(Settings {
            keys: Keys {
                prefix: config.prefix.into(),
            },
            max_age_ms: history
                .age_limit()
                .map_or(0, |age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            seed: seeds.swap_remove(0),
            cluster: config.cluster,
            read_batch: config.read_batch,
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
            heartbeat: config.heartbeat,
        });
        let (requests, receiver) = mpsc::unbounded_channel();
        Ok(Self {
            commands,
            publishing,
            settings,
            max_len: history.event_limit().max(1),
            topology,
            requests,
            receiver: Some(receiver),
            live: None,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    async fn publish_event(&self, topic: &str, event: Event) -> Result<EventId, PublishError> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PublishError::ShuttingDown);
        }
        let token = token();
        // Every retry looks for the token this far back, so none stores the event twice.
        let window = self
            .settings
            .command_timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(1));
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let mut sent = false;
        let mut backoff = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            let retry_window = if attempt == 0 { 0 } else { window_ms };
            let err = match self.publish_once(topic, &event, &token, retry_window).await {
                Ok(id) => return Ok(EventId::trusted(id.into())),
                Err(err) => err,
            };
            sent |= may_have_been_sent(&err);
            attempt += 1;
            if !retryable(&err) || attempt > PUBLISH_RETRIES {
                let err = self.error("publish", &err);
                return Err(if sent {
                    PublishError::Uncertain(err)
                } else {
                    PublishError::Backend(err)
                });
            }
            tracing::debug!(error = %err, attempt, "publishing to Redis failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    async fn publish_once(
        &self,
        topic: &str,
        event: &Event,
        token: &str,
        retry_window_ms: u64,
    ) -> Result<String, RedisError> {
        let mut conn = self.publishing.clone();
        PUBLISH
            .key(self.settings.keys.stream(topic))
            .arg(self.settings.keys.channel(topic))
            .arg(event.field_bytes())
            .arg(token)
            .arg(self.max_len)
            .arg(self.settings.max_age_ms)
            .arg(retry_window_ms)
            .invoke_async(&mut conn)
            .await
    }

    async fn replay_topic(
        &self,
        topic: &str,
        after: Position,
        exact: bool,
    ) -> Result<Replayed, SubscribeError> {
        let mut conn = self.commands.clone();
        let history = history_after(&mut conn, &self.settings, topic, after, exact)
            .await
            .map_err(|err| SubscribeError::Backend(self.error("history read", &err)))?;
        Ok(match history {
            After::Events(events) => Replayed::Events(events),
            After::Broken(gap, _) => gap,
        })
    }

    fn error(&self, what: &str, err: &RedisError) -> crate::BoxError {
        let node = addr_of(&self.settings.seed);
        format!("{what} on Redis at `{node}` failed: {err}").into()
    }
}

impl RedisConfig {
    /// The nodes' connection settings, once the settings are checked.
    fn seeds(&self) -> Result<Vec<ConnectionInfo>, SetupError> {
        if self.prefix.contains(['{', '}']) {
            return Err(invalid("the prefix must not contain `{` or `}`".into()));
        }
        if self.nodes.is_empty() {
            return Err(invalid("no Redis node given".into()));
        }
        self.nodes
            .iter()
            .map(|url| {
                url.as_str().into_connection_info().map_err(|source| {
                    invalid(format!("`{}` is not a Redis URL: {source}", redacted(url)))
                })
            })
            .collect()
    }
}

/// The connections commands and publishes go through, and which node serves which
/// topic.
async fn connect_commands(
    config: &RedisConfig,
    seeds: &[ConnectionInfo],
) -> Result<(Commands, Commands, Topology), RedisError> {
    let (connect, command) = (config.connect_timeout, config.command_timeout);
    if config.cluster {
        let mut commands = Commands::cluster(seeds.to_vec(), connect, command, 3).await?;
        let publishing = Commands::cluster(seeds.to_vec(), connect, command, 0).await?;
        let topology = topology::refresh(&mut commands, &seeds[0]).await?;
        return Ok((commands, publishing, topology));
    }
    // redis-rs's manager never resends a command by itself: one connection serves both.
    let commands = Commands::single(seeds[0].clone(), connect, command).await?;
    Ok((
        commands.clone(),
        commands,
        Topology::single(addr_of(&seeds[0])),
    ))
}

/// Loads the scripts (on every master), so that a publish is one `EVALSHA`, and checks
/// that the server runs them (Redis 7: sharded pub/sub, `XINFO STREAM`'s fields).
async fn load_scripts(commands: &Commands) -> Result<(), RedisError> {
    let mut probe = commands.clone();
    PUBLISH.prepare_invoke().load_async(&mut probe).await?;
    READ.prepare_invoke().load_async(&mut probe).await?;
    BREAK.prepare_invoke().load_async(&mut probe).await?;
    let keys = Keys {
        prefix: "tower-sse:probe:".into(),
    };
    read(&mut probe, &keys, "probe", Position::START, 0).await?;
    Ok(())
}

/// Why the history after `after` is not whole, if it is not: the stream is gone or
/// ends below `after` (Redis lost data, or the history expired), or the entries read
/// do not follow on from `after` one by one (trimmed, deleted, or written after a
/// restore from an older snapshot).
fn gap(history: &History, after: Position) -> Option<Replayed> {
    if history.broken_at.is_some_and(|broken| after <= broken) {
        return Some(Replayed::Unknown);
    }
    let Some(last) = history.last else {
        return (after != Position::START).then_some(Replayed::Unknown);
    };
    match history.entries.first() {
        _ if last < after => Some(Replayed::Unknown),
        None if last > after => Some(Replayed::Expired),
        None => None,
        Some(first) if first.previous < after => Some(Replayed::Unknown),
        Some(_) if !continuous(after, &history.entries) => Some(Replayed::Expired),
        Some(_) => None,
    }
}

/// What a topic's history holds after a position.
enum After {
    /// Every retained event after it, in order.
    Events(Vec<Delivery>),
    /// It cannot be read exactly ([`gap`] says why); the stream's last position now.
    Broken(Replayed, Position),
}

/// `topic`'s history after `after`, read page by page; with `exact`, every page is
/// checked to follow on from the one before (a client's replay, or an instance catching
/// up after a lost connection).
async fn history_after(
    conn: &mut Commands,
    settings: &Settings,
    topic: &str,
    after: Position,
    exact: bool,
) -> Result<After, RedisError> {
    let batch = settings.read_batch;
    let mut events = Vec::new();
    let mut from = after;
    loop {
        let history = read(conn, &settings.keys, topic, from, batch).await?;
        if let Some(gap) = gap(&history, from).filter(|_| exact) {
            return Ok(After::Broken(gap, history.last.unwrap_or(Position::START)));
        }
        let count = history.count;
        if let Some(last) = history.entries.last() {
            from = last.delivery.position();
        }
        // Entries this crate did not write break an exact read; otherwise they are
        // skipped.
        events.extend(
            history
                .entries
                .into_iter()
                .filter(|entry| entry.previous != Position::END)
                .map(|entry| entry.delivery),
        );
        if count < batch {
            return Ok(After::Events(events));
        }
    }
}

/// Runs [`READ`] on `topic` after `after`, reading up to `count` entries.
async fn read(
    conn: &mut Commands,
    keys: &Keys,
    topic: &str,
    after: Position,
    count: usize,
) -> Result<History, RedisError> {
    let reply: Value = READ
        .key(keys.stream(topic))
        .key(keys.breaks(topic))
        .arg(id_of(after))
        .arg(count)
        .invoke_async(conn)
        .await?;
    History::from_reply(reply).ok_or_else(|| {
        RedisError::from((
            ErrorKind::TypeError,
            "unexpected reply to the history read (is this Redis 7.0 or newer?)",
        ))
    })
}

/// Whether a failure is the connection's: it broke, was refused or timed out.
fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error() || err.is_timeout() || err.is_connection_dropped()
}

/// Whether a failed command may have reached Redis: the connection broke or timed out.
/// (The client reports a command it never wrote to a connection already closed as it
/// reports one whose reply was lost: both may have been stored.) A refused connection
/// means it was not sent.
fn may_have_been_sent(err: &RedisError) -> bool {
    is_connection_error(err) && !err.is_connection_refusal()
}

/// Whether a failure is one a reconnection or a failover may clear.
fn retryable(err: &RedisError) -> bool {
    is_connection_error(err)
        || err.is_cluster_error()
        || matches!(
            err.kind(),
            ErrorKind::BusyLoadingError
                | ErrorKind::TryAgain
                | ErrorKind::ClusterDown
                | ErrorKind::MasterDown
                | ErrorKind::ReadOnly
                | ErrorKind::ClusterConnectionNotFound
        )
}

/// How many times a publish that failed on the connection is tried again (after 50,
/// 100 and 200 ms: a reconnection, or a cluster's failover, takes that long).
const PUBLISH_RETRIES: u32 = 3;

/// A token unique to one publish, for its retry to find it.
fn token() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

impl RedisBackend {
    /// Starts the live task, which hands events to `feed`.
    fn run(&mut self, feed: Feed) {
        let Some(receiver) = self.receiver.take() else {
            return;
        };
        let task = live::Live::new(
            self.settings.clone(),
            self.commands.clone(),
            self.topology.clone(),
            feed,
        );
        self.live = Some(tokio::spawn(task.run(receiver)).abort_handle());
    }
}

impl Backend for RedisBackend {
    fn ids(&self) -> IdScope {
        IdScope::Topic
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        id: Option<&'a str>,
        event: Event,
    ) -> BoxFuture<'a, Result<EventId, PublishError>> {
        Box::pin(async move {
            if id.is_some() {
                return Err(PublishError::Backend(
                    "the Redis backend uses Redis stream ids; publish without an id of your own"
                        .into(),
                ));
            }
            self.publish_event(topic, event).await
        })
    }

    fn locate(&self, id: &str) -> Option<Position> {
        // Redis never gives the greatest id, and cannot read after it.
        parse_id(id).filter(|&position| position != Position::END)
    }

    fn watch<'a>(
        &'a self,
        topic: &'a str,
        watcher: u64,
    ) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.requests.send(Request::Watch {
            topic: topic.into(),
            watcher,
            reply,
        });
        Box::pin(async move {
            let gone = || SubscribeError::Backend("the hub's Redis task has stopped".into());
            sent.map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
        })
    }

    fn unwatch(&self, topic: &str, watcher: u64) {
        let _ = self.requests.send(Request::Unwatch {
            topic: topic.into(),
            watcher,
        });
    }

    fn head<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        Box::pin(async move {
            let mut conn = self.commands.clone();
            let history = read(&mut conn, &self.settings.keys, topic, Position::START, 0)
                .await
                .map_err(|err| SubscribeError::Backend(self.error("position read", &err)))?;
            Ok(history.last.unwrap_or(Position::START))
        })
    }

    fn replay<'a>(
        &'a self,
        topic: &'a str,
        after: Position,
        exact: bool,
    ) -> BoxFuture<'a, Result<Replayed, SubscribeError>> {
        Box::pin(self.replay_topic(topic, after, exact))
    }

    fn shutdown(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(live) = &self.live {
            live.abort();
        }
    }
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        if let Some(live) = &self.live {
            live.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        let keys = Keys {
            prefix: "p:".into(),
        };
        assert_eq!(keys.stream("user:42"), "p:{user:42}:h");
        assert_eq!(keys.channel("user:42"), "p:{user:42}:live");
        assert_eq!(keys.topic_of(b"p:{user:42}:live"), Some("user:42"));
        assert_eq!(keys.topic_of(b"p:{a}b}:live"), Some("a}b"));
        assert_eq!(keys.topic_of(b"q:{a}:live"), None);
        assert_eq!(keys.topic_of(b"p:{a}:h"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redacted("redis://u:secret@h:1/0"), "redis://h:1/0");
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn what_makes_a_history_incomplete() {
        use scripts::Entry;
        let at = |ms| Position::new(ms, 0);
        let entry = |previous, ms| Entry {
            previous: at(previous),
            delivery: crate::hub::Delivery::new(at(ms), "x", Event::new()).unwrap(),
        };
        let history = |last: Option<u64>, entries: Vec<Entry>| History {
            last: last.map(at),
            count: entries.len(),
            entries,
            broken_at: None,
        };
        // No stream: nothing owed to a client that had nothing.
        assert!(gap(&history(None, vec![]), Position::START).is_none());
        assert!(matches!(
            gap(&history(None, vec![]), at(5)),
            Some(Replayed::Unknown)
        ));
        // The stream ends below the client.
        assert!(matches!(
            gap(&history(Some(4), vec![]), at(5)),
            Some(Replayed::Unknown)
        ));
        // Nothing after the client, and nothing was generated after it.
        assert!(gap(&history(Some(5), vec![]), at(5)).is_none());
        // Generated after it, but gone.
        assert!(matches!(
            gap(&history(Some(9), vec![]), at(5)),
            Some(Replayed::Expired)
        ));
        // A chain from the client on.
        assert!(gap(&history(Some(9), vec![entry(5, 7), entry(7, 9)]), at(5)).is_none());
        // Trimmed between: the first entry left follows another.
        let trimmed = history(Some(9), vec![entry(6, 7), entry(7, 9)]);
        assert!(matches!(gap(&trimmed, at(5)), Some(Replayed::Expired)));
        // A hole in the middle.
        let hole = history(Some(9), vec![entry(5, 7), entry(8, 9)]);
        assert!(matches!(gap(&hole, at(5)), Some(Replayed::Expired)));
        // Written after a restore from an older snapshot: it follows an id below the
        // client's, which the client's own timeline went past.
        let restored = history(Some(9), vec![entry(3, 9)]);
        assert!(matches!(gap(&restored, at(5)), Some(Replayed::Unknown)));
        // A break recorded at 6: positions up to it cannot be resumed, later ones can.
        let mut broken = history(Some(9), vec![entry(5, 7), entry(7, 9)]);
        broken.broken_at = Some(at(6));
        assert!(matches!(gap(&broken, at(5)), Some(Replayed::Unknown)));
        assert!(matches!(gap(&broken, at(6)), Some(Replayed::Unknown)));
        let after_the_break = history(Some(9), vec![entry(7, 9)]);
        let mut after_the_break = after_the_break;
        after_the_break.broken_at = Some(at(6));
        assert!(gap(&after_the_break, at(7)).is_none());
    }
}
