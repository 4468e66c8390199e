//! The hub over Redis Streams, so that several server instances share topics and replay.
//!
//! Every instance of the hub (each server process) publishes with `XADD` to one Redis
//! stream, and one task per instance reads it with a blocking `XREAD` and fans each entry
//! out to that instance's subscribers, encoded once per instance. An event's SSE id is
//! its Redis stream id (`1700000000000-0`), so a `Last-Event-ID` given by one instance is
//! understood by every other, and a reconnecting client resumes with `XRANGE` after it.
//!
//! # Guarantees
//!
//! - **Order.** Redis orders the entries of a stream, so every instance delivers every
//!   event in the same order, topics included: a stream of several topics resumes exactly
//!   from one id, as with the in-process hub. This is why the hub uses one Redis stream
//!   for all its topics rather than one per topic, whose ids would not be comparable.
//! - **Replay.** A client that resumes from an id still in the stream gets exactly the
//!   entries after it, none missing and none twice. If the id has been trimmed away (or
//!   never existed), the client gets the hub's reset event first, as with the in-process
//!   hub. The history bound, [`RedisConfig::max_len`], is an approximate `MAXLEN` on the
//!   whole stream, all topics together.
//! - **Faults.** If Redis is down when the hub is built, [`HubBuilder::build_redis`]
//!   fails with an error naming the URL. If it goes away later, subscribers stay
//!   connected; publishing fails with [`PublishError::Backend`](super::PublishError)
//!   (never a silent loss); and the reader reconnects with backoff and resumes after the
//!   last entry it delivered, so nothing published after Redis is back is missed or sent
//!   twice. Events published while Redis was down were refused, so there is nothing to
//!   recover. If Redis lost its data in the restart, clients resuming from older ids get
//!   the reset event, and the reader starts again from the new stream's beginning.
//! - **Cut off while others publish.** If this instance was cut off from Redis (or fell
//!   behind) while other instances published more than [`RedisConfig::max_len`], the
//!   entries it had not read are trimmed away. It then ends its subscriptions (logged as
//!   a warning) instead of going on without them: their clients reconnect with their
//!   `Last-Event-ID` and get an exact replay, or the reset event. The same happens if the
//!   stream is deleted or rewritten below what the instance read (without a restart).
//!   Every read checks this, in the same pipeline. An instance reading from the stream's
//!   beginning (it was empty when the hub was built) has nothing to check against until
//!   its first entry.
//! - **Ambiguous failures.** A publish that times out (after
//!   [`RedisConfig::command_timeout`]) may still have been stored by Redis: the error
//!   says it failed to hear back, not that the event was refused. Retrying may publish the
//!   event twice, under two ids. On [`Hub::shutdown`](super::Hub::shutdown) the reader
//!   stops at once: an event published elsewhere at that moment reaches this instance's
//!   clients when they reconnect (to any instance), not before.
//! - **Secrets.** Errors and logs name Redis by its URL without user name and password,
//!   and a failed history read answers clients `503` without Redis's details.
//! - **Ids.** Ids are Redis's: [`Hub::publish_with_id`](super::Hub::publish_with_id) is
//!   refused.
//!
//! # Example
//!
//! ```no_run
//! use tower_sse::hub::{Hub, RedisConfig};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::builder()
//!     .build_redis(RedisConfig::new("redis://127.0.0.1:6379").key("chat:events"))
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod reader;

use std::{fmt, sync::Arc, time::Duration};

use redis::{
    Client, RedisError, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
    streams::{StreamId, StreamRangeReply},
};

use crate::{EncodedEvent, Event};

use super::{
    HubBuilder, PublishError, SubscribeError,
    backend::{Backend, BoxFuture, Delivery, Gap, Key, Replayed},
    fanout::Fanout,
};

/// Where and how the hub keeps its events in Redis; every setting but the URL has a
/// default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::hub::RedisConfig;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379/0")
///     .key("myapp:sse")
///     .max_len(100_000)
///     .read_batch(512)
///     .command_timeout(Duration::from_secs(2));
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RedisConfig {
    url: String,
    key: String,
    max_len: usize,
    read_batch: usize,
    block: Duration,
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl RedisConfig {
    /// Settings for the Redis at `url` (`redis://[user:password@]host:port[/db]`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key: "tower-sse:events".into(),
            max_len: 10_000,
            read_batch: 256,
            block: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(3),
        }
    }

    /// The key of the Redis stream. Hubs that share it share their topics.
    ///
    /// Default: `tower-sse:events`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// The history bound: the stream is trimmed to about this many entries (`XADD` with
    /// `MAXLEN ~`), all topics together.
    ///
    /// Default: 10,000.
    pub fn max_len(mut self, entries: usize) -> Self {
        self.max_len = entries.max(1);
        self
    }

    /// How many entries one `XREAD` or `XRANGE` reads at most.
    ///
    /// Default: 256.
    pub fn read_batch(mut self, entries: usize) -> Self {
        self.read_batch = entries.max(1);
        self
    }

    /// How long connecting to Redis may take.
    ///
    /// Default: 3 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a command may take before it fails (the blocking read waits this long
    /// on top of its block time).
    ///
    /// Default: 3 seconds.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }
}

/// Why [`HubBuilder::build_redis`] could not start the hub.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::hub::{Hub, RedisConfig, RedisSetupError};
///
/// let err = Hub::builder()
///     .build_redis(RedisConfig::new("not a url"))
///     .await
///     .unwrap_err();
/// assert!(matches!(err, RedisSetupError::InvalidUrl { .. }));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisSetupError {
    /// The URL is not a Redis URL.
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What the client said.
        source: RedisError,
    },
    /// Redis did not answer at the URL.
    Unreachable {
        /// The URL given.
        url: String,
        /// What the client said.
        source: RedisError,
    },
    /// Redis answered with an error: a wrong password, or a key that is not a stream.
    Refused {
        /// The URL given.
        url: String,
        /// What Redis said.
        source: RedisError,
    },
}

impl fmt::Display for RedisSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { url, source } => {
                write!(f, "`{}` is not a valid Redis URL: {source}", redacted(url))
            }
            Self::Unreachable { url, source } => {
                write!(f, "cannot reach Redis at `{}`: {source}", redacted(url))
            }
            Self::Refused { url, source } => {
                write!(
                    f,
                    "Redis at `{}` refused the hub's setup: {source}",
                    redacted(url)
                )
            }
        }
    }
}

impl std::error::Error for RedisSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidUrl { source, .. }
            | Self::Unreachable { source, .. }
            | Self::Refused { source, .. } => Some(source),
        }
    }
}

impl HubBuilder {
    /// Builds the hub over Redis Streams, so that every hub built with the same URL and
    /// [`key`](RedisConfig::key) shares its topics and history. See the
    /// [`redis`](super::redis) module for what it guarantees.
    ///
    /// [`history`](HubBuilder::history) does not apply: the history is the Redis stream,
    /// bounded by [`RedisConfig::max_len`].
    ///
    /// # Errors
    ///
    /// A [`RedisSetupError`] naming the URL if it is invalid or Redis does not answer.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn build_redis(self, config: RedisConfig) -> Result<super::Hub, RedisSetupError> {
        let client =
            Client::open(config.url.as_str()).map_err(|source| RedisSetupError::InvalidUrl {
                url: config.url.clone(),
                source,
            })?;
        let unreachable = |source: RedisError| {
            let url = config.url.clone();
            if source.is_io_error() || source.is_timeout() || source.is_connection_refusal() {
                RedisSetupError::Unreachable { url, source }
            } else {
                RedisSetupError::Refused { url, source }
            }
        };
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.command_timeout)
            .set_number_of_retries(2)
            .set_max_delay(1000);
        let mut conn = ConnectionManager::new_with_config(client.clone(), manager_config)
            .await
            .map_err(unreachable)?;
        // Read from the newest entry on: earlier ones are history, for replay.
        let newest: StreamRangeReply = newest(&config.key)
            .query_async(&mut conn)
            .await
            .map_err(unreachable)?;
        let start = newest
            .ids
            .first()
            .map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone());

        Ok(self.build_with(|fanout| {
            let reader = tokio::spawn(reader::run(client, config.clone(), fanout.clone(), start));
            Box::new(RedisBackend {
                conn,
                url: redacted(&config.url).into(),
                key: config.key.into(),
                max_len: config.max_len,
                read_batch: config.read_batch,
                fanout,
                reader: reader.abort_handle(),
            })
        }))
    }
}

struct RedisBackend {
    conn: ConnectionManager,
    url: Arc<str>,
    key: Arc<str>,
    max_len: usize,
    read_batch: usize,
    fanout: Arc<Fanout>,
    reader: tokio::task::AbortHandle,
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// `url` without its user name and password, for messages and logs.
pub(super) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// A Redis stream id, `<ms>-<seq>`, as a key.
pub(super) fn parse_key(id: &str) -> Option<Key> {
    let (ms, seq) = id.split_once('-')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(ms) || !all_digits(seq) {
        return None;
    }
    let key = Key(ms.parse().ok()?, seq.parse().ok()?);
    // Redis cannot give the greatest id to an entry, and `(` after it is an error.
    (key != Key::MAX).then_some(key)
}

/// Reads the stream's oldest entry.
pub(super) fn oldest(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(key).arg("-").arg("+").arg("COUNT").arg(1);
    cmd
}

/// Reads the stream's newest entry.
pub(super) fn newest(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("XREVRANGE");
    cmd.arg(key).arg("+").arg("-").arg("COUNT").arg(1);
    cmd
}

/// The key of the first entry of a range.
pub(super) fn first_key(range: &StreamRangeReply) -> Option<Key> {
    range.ids.first().and_then(|entry| parse_key(&entry.id))
}

/// An entry read back from the stream, encoded with its id, and its topic; `None` (and
/// logged) for an entry this crate did not write.
pub(super) fn decode(entry: &StreamId) -> Option<(Arc<str>, Delivery)> {
    let key = parse_key(&entry.id);
    let topic = match entry.map.get("t") {
        Some(Value::BulkString(bytes)) => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    let event = match entry.map.get("e") {
        Some(Value::BulkString(bytes)) => Event::from_field_bytes(bytes),
        _ => None,
    };
    match (key, topic, event) {
        (Some(key), Some(topic), Some(event)) => {
            let event: EncodedEvent = event.id(&entry.id).ok()?.encode();
            Some((topic.into(), Delivery { key, event }))
        }
        _ => {
            tracing::error!(id = %entry.id, "skipping a Redis stream entry that is not a tower-sse event");
            None
        }
    }
}

impl RedisBackend {
    fn error(&self, command: &str, err: RedisError) -> crate::BoxError {
        format!(
            "{command} on `{}` at `{}` failed: {err}",
            self.key, self.url
        )
        .into()
    }

    async fn replay_after(
        &self,
        topics: &[Arc<str>],
        after: Option<&str>,
    ) -> Result<Replayed, SubscribeError> {
        let mut conn = self.conn.clone();
        let wanted = |entry: &StreamId| -> Option<Delivery> {
            // Check the topic before decoding: most entries may be other topics'.
            if let Some(Value::BulkString(topic)) = entry.map.get("t") {
                if !topics.iter().any(|t| t.as_bytes() == topic.as_slice()) {
                    return None;
                }
            }
            decode(entry).map(|(_, delivery)| delivery)
        };
        let after_key = match after {
            // Everything retained.
            None => Key(0, 0),
            Some(after) => match parse_key(after) {
                Some(key) => key,
                None => return Ok(Replayed::Gap(Gap::UnknownId)),
            },
        };
        let mut events = Vec::new();
        let mut from = after.map(str::to_owned);
        loop {
            // After a client's id, every batch checks that the entry it continues from is
            // still there; replaying everything retained, no entry is owed to the client.
            let Some(batch) = self
                .range_after(&mut conn, from.as_deref(), after.is_some())
                .await?
            else {
                // Trimmed away: the client's id, or the last entry read.
                let gap = self.gap_kind(&mut conn, after_key).await?;
                return Ok(Replayed::Gap(gap));
            };
            events.extend(batch.iter().filter_map(wanted));
            match batch.last() {
                Some(last) if batch.len() == self.read_batch => from = Some(last.id.clone()),
                _ => break,
            }
        }
        Ok(Replayed::Events {
            after: after_key,
            events,
        })
    }

    /// Up to `read_batch` entries after `from`, or from the oldest when it is `None`.
    ///
    /// With `check`, `None` if `from` is no longer in the stream. That is asked in the
    /// same `MULTI`/`EXEC` as what follows it: trimming removes the oldest entries first,
    /// so if `from` is there, nothing after it has gone.
    async fn range_after(
        &self,
        conn: &mut ConnectionManager,
        from: Option<&str>,
        check: bool,
    ) -> Result<Option<Vec<StreamId>>, SubscribeError> {
        let failed = |err| SubscribeError::Backend(self.error("XRANGE", err));
        let start = from.map_or_else(|| "-".to_owned(), |from| format!("({from}"));
        let mut range = redis::cmd("XRANGE");
        range
            .arg(&*self.key)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(self.read_batch);
        let Some(from) = from.filter(|_| check) else {
            let batch: StreamRangeReply = range.query_async(conn).await.map_err(failed)?;
            return Ok(Some(batch.ids));
        };
        let (present, batch): (StreamRangeReply, StreamRangeReply) = redis::pipe()
            .atomic()
            .cmd("XRANGE")
            .arg(&*self.key)
            .arg(from)
            .arg(from)
            .add_command(range)
            .query_async(conn)
            .await
            .map_err(failed)?;
        Ok((!present.ids.is_empty()).then_some(batch.ids))
    }

    /// Why the client's id is not in the stream: trimmed away, or never there.
    async fn gap_kind(
        &self,
        conn: &mut ConnectionManager,
        after: Key,
    ) -> Result<Gap, SubscribeError> {
        let oldest: StreamRangeReply = oldest(&self.key)
            .query_async(conn)
            .await
            .map_err(|err| SubscribeError::Backend(self.error("XRANGE", err)))?;
        Ok(match first_key(&oldest) {
            Some(oldest) if after < oldest => Gap::Expired,
            _ => Gap::UnknownId,
        })
    }
}

impl Backend for RedisBackend {
    fn publish<'a>(
        &'a self,
        topic: Arc<str>,
        id: Option<Arc<str>>,
        event: Event,
    ) -> BoxFuture<'a, Result<Arc<str>, PublishError>> {
        Box::pin(async move {
            if id.is_some() {
                return Err(PublishError::Backend(
                    "the Redis backend uses Redis stream ids; publish without an id of your own"
                        .into(),
                ));
            }
            if self.fanout.is_closed() {
                return Err(PublishError::ShuttingDown);
            }
            let mut conn = self.conn.clone();
            let id: String = redis::cmd("XADD")
                .arg(&*self.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg("t")
                .arg(&*topic)
                .arg("e")
                .arg(event.field_bytes())
                .query_async(&mut conn)
                .await
                .map_err(|err| PublishError::Backend(self.error("XADD", err)))?;
            Ok(id.into())
        })
    }

    fn shutdown(&self, last: Option<Delivery>) {
        self.reader.abort();
        self.fanout.close(last);
    }

    fn replay<'a>(
        &'a self,
        topics: &'a [Arc<str>],
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Replayed, SubscribeError>> {
        Box::pin(self.replay_after(topics, after))
    }
}
