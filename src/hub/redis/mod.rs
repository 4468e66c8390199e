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
//! - **Shutdown.** [`Hub::shutdown`](super::Hub::shutdown) stops the live task at once:
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
mod engine;
mod live;
mod scripts;
mod topology;

use std::{sync::Arc, time::Duration};

use redis::{ConnectionInfo, IntoConnectionInfo};

use super::{
    History, SetupError,
    backend::{Backend, BoxFuture, Engine, Feed, redacted},
    remote::Remote,
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
        history: History,
    ) -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>> {
        Box::pin(async move {
            let engine = engine::Engine::connect(self.config, history).await?;
            let remote = Remote::start(engine, feed, history).await?;
            Ok(Box::new(remote) as Box<dyn Backend>)
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
}
