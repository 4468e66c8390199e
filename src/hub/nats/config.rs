//! [`NatsConfig`] and [`NatsSetupError`]: where the hub keeps its topics in NATS, and why
//! it could not start.

use std::{fmt, time::Duration};

/// Where and how the hub keeps its topics in NATS JetStream; every setting but the
/// server has a default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::hub::NatsConfig;
///
/// let config = NatsConfig::new("nats://127.0.0.1:4222")
///     .stream("CHAT")
///     .prefix("chat")
///     .max_per_topic(1_000)
///     .max_bytes(256 << 20)
///     .max_age(Duration::from_secs(3600))
///     .request_timeout(Duration::from_secs(2));
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct NatsConfig {
    pub(super) servers: Vec<String>,
    pub(super) stream: String,
    pub(super) prefix: String,
    pub(super) max_per_topic: i64,
    pub(super) max_bytes: Option<i64>,
    pub(super) max_age: Option<Duration>,
    pub(super) connect_timeout: Duration,
    pub(super) request_timeout: Duration,
    pub(super) heartbeat: Duration,
}

impl NatsConfig {
    /// Settings for the NATS server at `url` (`nats://[user:password@]host:port`).
    pub fn new(url: impl Into<String>) -> Self {
        Self::servers([url.into()])
    }

    /// Settings for a NATS cluster, reached through any of `urls`.
    pub fn servers<I>(urls: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            servers: urls.into_iter().map(Into::into).collect(),
            stream: "TOWER_SSE".into(),
            prefix: "tower-sse".into(),
            max_per_topic: 1000,
            max_bytes: None,
            max_age: None,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(3),
            heartbeat: Duration::from_secs(5),
        }
    }

    /// The JetStream stream that keeps the history of every topic. Hubs that share it
    /// (and the [prefix](NatsConfig::prefix)) share their topics. It is created if
    /// missing; an existing one is used as it is.
    ///
    /// Default: `TOWER_SSE`.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// The start of every subject: topic `t` is published on `<prefix>.t.<t in hex>`.
    /// One or more NATS tokens, without wildcards or spaces.
    ///
    /// Default: `tower-sse`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The history bound of each topic: JetStream keeps the newest this many events of
    /// each subject (`max_messages_per_subject`).
    ///
    /// Default: 1,000.
    pub fn max_per_topic(mut self, events: usize) -> Self {
        self.max_per_topic = i64::try_from(events.max(1)).unwrap_or(i64::MAX);
        self
    }

    /// A bound on the whole stream's size, oldest events of any topic leaving first.
    /// With it (or [`max_age`](NatsConfig::max_age)), a client that resumes from before
    /// the stream's first event, and whose topic has nothing left after its position,
    /// gets the reset event: it cannot be told whether it missed anything.
    ///
    /// Default: none.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(i64::try_from(bytes.max(1)).unwrap_or(i64::MAX));
        self
    }

    /// How long events stay in the stream (JetStream's `max_age`); see
    /// [`max_bytes`](NatsConfig::max_bytes) for what it does to resuming.
    ///
    /// Default: no age bound.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age.max(Duration::from_millis(1)));
        self
    }

    /// How long connecting to NATS may take.
    ///
    /// Default: 3 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request (a publish's acknowledgement, a history read) may take
    /// before it fails.
    ///
    /// Default: 3 seconds.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often the connection is pinged. After two pings without an answer (it died
    /// without closing: a NAT forgot it, a network partition) it is replaced, and what
    /// the watched topics missed is read from the stream.
    ///
    /// Default: 5 seconds.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// Checks the settings that NATS would refuse later, or read wrongly.
    pub(super) fn check(&self) -> Result<(), NatsSetupError> {
        if self.servers.is_empty() {
            return Err(NatsSetupError::InvalidConfig("no NATS server given"));
        }
        let token_ok = |token: &str| {
            !token.is_empty()
                && !token
                    .bytes()
                    .any(|b| b <= b' ' || b == b'*' || b == b'>' || b == 0x7f)
        };
        if !self.prefix.split('.').all(token_ok) {
            return Err(NatsSetupError::InvalidConfig(
                "the prefix must be NATS tokens without wildcards or spaces",
            ));
        }
        if !token_ok(&self.stream) || self.stream.contains(['.', '/', '\\']) {
            return Err(NatsSetupError::InvalidConfig(
                "the stream name must not be empty or contain `.`, `*`, `>`, `/` or spaces",
            ));
        }
        Ok(())
    }
}

/// Why [`HubBuilder::build_nats`](crate::hub::HubBuilder::build_nats) could not start
/// the hub.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::hub::{Hub, NatsConfig, NatsSetupError};
///
/// let err = Hub::builder()
///     .build_nats(NatsConfig::new("nats://127.0.0.1:4222").prefix("a b"))
///     .await
///     .unwrap_err();
/// assert!(matches!(err, NatsSetupError::InvalidConfig(_)));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum NatsSetupError {
    /// NATS did not answer at the URLs, or a URL is not one.
    Unreachable {
        /// The URLs given, without passwords.
        url: String,
        /// What the client said.
        source: crate::BoxError,
    },
    /// NATS answered but refused the stream: JetStream is not enabled (`-js`), or the
    /// account may not create streams.
    Refused {
        /// The URLs given, without passwords.
        url: String,
        /// What NATS said.
        source: crate::BoxError,
    },
    /// The settings cannot work: no server, or a prefix or stream name NATS would
    /// refuse.
    InvalidConfig(&'static str),
}

impl fmt::Display for NatsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { url, source } => {
                write!(f, "cannot reach NATS at `{url}`: {source}")
            }
            Self::Refused { url, source } => {
                write!(f, "NATS at `{url}` refused the hub's stream: {source}")
            }
            Self::InvalidConfig(why) => write!(f, "invalid NATS settings: {why}"),
        }
    }
}

impl std::error::Error for NatsSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unreachable { source, .. } | Self::Refused { source, .. } => Some(&**source),
            Self::InvalidConfig(_) => None,
        }
    }
}

/// `urls` without user names and passwords, for messages and logs.
pub(super) fn redacted(urls: &[String]) -> String {
    let urls: Vec<String> = urls
        .iter()
        .map(|url| super::super::backend::redacted(url))
        .collect();
    urls.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_redaction() {
        assert!(NatsConfig::new("nats://h:1").check().is_ok());
        assert!(NatsConfig::new("nats://h:1").prefix("a.b").check().is_ok());
        for bad in ["", "a..b", "a.*", "a b", "a.>"] {
            assert!(NatsConfig::new("x").prefix(bad).check().is_err(), "{bad:?}");
        }
        assert!(NatsConfig::new("x").stream("A.B").check().is_err());
        assert!(NatsConfig::servers(Vec::<String>::new()).check().is_err());
        assert_eq!(
            redacted(&["nats://u:p@h:1".into(), "h:2".into()]),
            "nats://h:1,h:2"
        );
    }
}
