//! [`PostgresConfig`]: where and how the hub keeps its topics in PostgreSQL.

use std::time::Duration;

use crate::BoxError;

/// Where and how the hub keeps its topics in PostgreSQL; every setting but the URL has
/// a default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::hub::postgres::PostgresConfig;
///
/// let config = PostgresConfig::new("postgres://app@127.0.0.1:5432/app")
///     .prefix("chat_")
///     .command_timeout(Duration::from_secs(2));
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct PostgresConfig {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) connect_timeout: Duration,
    pub(super) command_timeout: Duration,
    pub(super) heartbeat: Duration,
    pub(super) read_batch: usize,
}

impl PostgresConfig {
    /// Settings for the database at `url`
    /// (`postgres://[user[:password]@]host[:port]/database[?options]`, or the
    /// `key=value` form libpq takes). TLS is not supported: reach the server over a
    /// trusted network or a local socket.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "tower_sse_".into(),
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(3),
            heartbeat: Duration::from_secs(5),
            read_batch: 256,
        }
    }

    /// The start of the name of every table and function the hub creates: hubs that
    /// share it share their topics. Lowercase ASCII letters, digits and `_`, not
    /// starting with a digit, at most 24 characters.
    ///
    /// Default: `tower_sse_` (so the publish function is `tower_sse_publish`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long connecting may take.
    ///
    /// Default: 3 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one statement may take before its connection is given up.
    ///
    /// Default: 3 s.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How often the listening connection is checked, and how long its answer may
    /// take: a connection that died without closing is found within twice this.
    ///
    /// Default: 5 s.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// How many events one history read returns at most.
    ///
    /// Default: 256.
    pub fn read_batch(mut self, events: usize) -> Self {
        self.read_batch = events.max(1);
        self
    }

    /// Refuses settings that cannot work.
    pub(super) fn check(&self) -> Result<(), BoxError> {
        let prefix = self.prefix.as_bytes();
        let valid = !prefix.is_empty()
            && prefix.len() <= 24
            && !prefix[0].is_ascii_digit()
            && prefix
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(format!(
                "the prefix `{}` is not 1 to 24 lowercase ASCII letters, digits and `_`, starting with no digit",
                self.prefix
            )
            .into());
        }
        Ok(())
    }
}
