//! The hub over Redis, on one server or a Redis Cluster, so that several server
//! instances share topics and replay, and each receives only the topics its clients
//! follow.
//!
//! # How it works
//!
//! - **History: one Redis stream per topic**, `<prefix>{<topic>}:h`, bounded by the
//!   hub's [`History`](crate::hub::History): its count as an approximate `MAXLEN` (Redis
//!   may keep up to a hundred more), its age as a `MINID` trim on publish (a byte bound
//!   is refused). The braces are a cluster hash tag: a topic's stream and channel sit
//!   on one node, and topics spread over every master.
//! - **Publishing is one round trip**: a script appends the event, trims the stream and
//!   announces the event on the topic's shard channel (`SPUBLISH`), all at once.
//! - **Live delivery by interest**: an instance subscribes (`SSUBSCRIBE`) to a topic's
//!   channel only while a client of its own follows the topic; each event is decoded
//!   once per instance and shared by its clients.
//! - **Ids** are Redis's stream ids (`1733390000123-0`); a client of several topics
//!   gets a cursor (see [`Hub::subscribe`](super::Hub::subscribe)).
//!
//! # Guarantees
//!
//! Redis runs on the hub's driver for engines outside the process, which gives it the
//! guarantees every such engine has:
//!
//! - **Subscribing and replay.** Each entry records the id its stream generated before
//!   it, and every read checks that chain: a client that resumes gets exactly the
//!   entries after its id, none missing and none twice, or the hub's reset event first
//!   (entries trimmed, the position ahead of the stream, or a recorded break).
//! - **A connection to a node lost** (restarted, failed over, cut off, or silent on the
//!   [heartbeat](RedisConfig::heartbeat)): that node's topics are subscribed again with
//!   backoff (on the node that serves their slot now) and each reads what it missed:
//!   clients get it once, in order, and stay connected; topics on other nodes are not
//!   touched. If what they missed is gone (trimmed, or the node came back from an older
//!   snapshot), the break is recorded (`<prefix>{<topic>}:b`) and the topic's streams
//!   end: their clients resume from their `Last-Event-ID`, with the reset event. A topic
//!   new to the instance whose node is away is refused (`retry:`).
//! - **Publishing while Redis is away** fails with
//!   [`PublishError::Backend`](super::PublishError::Backend) (nothing stored). A failed
//!   publish is retried up to three times, each retry first looking for the event by a
//!   token stored with it, so it is never stored twice; if a try may have reached Redis
//!   the error is [`PublishError::Uncertain`](super::PublishError::Uncertain).
//! - **Shutdown** stops the live task at once. Errors and logs name Redis without user
//!   name and password. The ids are Redis's: `Hub::publish_with_id` is refused.
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

use std::sync::Arc;

use redis::{ConnectionInfo, IntoConnectionInfo};

use super::{
    SetupError,
    backend::redacted,
    remote::{self, Timing},
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
    timing: Timing,
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
            timing: Timing::default(),
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
}

remote::timing_setters! {
    RedisConfig {
        /// How long connecting to a Redis node may take.
        ///
        /// Default: 3 seconds.
        connect_timeout;
        /// How long a command may take before it fails.
        ///
        /// Default: 3 seconds.
        command_timeout;
        /// How often each connection that receives live events is pinged. One that does
        /// not answer within the [command timeout](RedisConfig::command_timeout) (it died
        /// without closing: a NAT forgot it, a network partition) is replaced, and what its
        /// topics missed is read from their history.
        ///
        /// Default: 5 seconds.
        heartbeat;
    }
}

remote::engine_value! {
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
Redis(RedisConfig) => engine::Engine::connect
}

/// The names of a topic's stream and channel.
#[derive(Clone, Debug)]
struct Keys {
    prefix: Arc<str>,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        let prefix = prefix.into();
        Self { prefix }
    }

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
        let invalid = |reason: String| remote::invalid("redis", reason);
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
        let keys = Keys::new("p:");
        assert_eq!(keys.stream("user:42"), "p:{user:42}:h");
        assert_eq!(keys.channel("user:42"), "p:{user:42}:live");
        assert_eq!(keys.topic_of(b"p:{user:42}:live"), Some("user:42"));
        assert_eq!(keys.topic_of(b"p:{a}b}:live"), Some("a}b"));
        assert_eq!(keys.topic_of(b"q:{a}:live"), None);
        assert_eq!(keys.topic_of(b"p:{a}:h"), None);
    }
}
