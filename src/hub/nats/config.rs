//! [`NatsConfig`]: where the hub keeps its topics in NATS.

use crate::hub::{
    SetupError,
    remote::{self, Timing},
};

/// Where and how the hub keeps its topics in NATS JetStream; every setting but the
/// server has a default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_sse::hub::nats::NatsConfig;
///
/// let config = NatsConfig::new("nats://127.0.0.1:4222")
///     .stream("CHAT")
///     .prefix("chat")
///     .max_bytes(256 << 20)
///     .request_timeout(Duration::from_secs(2));
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct NatsConfig {
    pub(super) servers: Vec<String>,
    pub(super) stream: String,
    pub(super) prefix: String,
    pub(super) max_bytes: Option<i64>,
    pub(super) timing: Timing,
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
            max_bytes: None,
            timing: Timing::default(),
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

    /// A bound on the whole stream's storage (all topics together), oldest events of
    /// any topic leaving first: a cap on the server's disk, not a history bound of each
    /// topic (that is the hub's [`History`](crate::hub::History)). With it (or an age
    /// bound), a client that resumes from before
    /// the stream's first event, and whose topic has nothing left after its position,
    /// gets the reset event: it cannot be told whether it missed anything.
    ///
    /// Default: none.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(i64::try_from(bytes.max(1)).unwrap_or(i64::MAX));
        self
    }

    /// Checks the settings that NATS would refuse later, or read wrongly.
    pub(super) fn check(&self) -> Result<(), SetupError> {
        let invalid = |reason: &str| remote::invalid("nats", reason);
        if self.servers.is_empty() {
            return Err(invalid("no NATS server given"));
        }
        let token_ok = |token: &str| {
            !token.is_empty()
                && !token
                    .bytes()
                    .any(|b| b <= b' ' || b == b'*' || b == b'>' || b == 0x7f)
        };
        if !self.prefix.split('.').all(token_ok) {
            return Err(invalid(
                "the prefix must be NATS tokens without wildcards or spaces",
            ));
        }
        if !token_ok(&self.stream) || self.stream.contains(['.', '/', '\\']) {
            return Err(invalid(
                "the stream name must not be empty or contain `.`, `*`, `>`, `/` or spaces",
            ));
        }
        Ok(())
    }
}

remote::timing_setters! {
    NatsConfig {
        /// How long connecting to NATS may take.
        ///
        /// Default: 3 seconds.
        connect_timeout;
        /// How long a request (a publish's acknowledgement, a history read) may take
        /// before it fails.
        ///
        /// Default: 3 seconds.
        request_timeout;
        /// How often the connection is pinged. After two pings without an answer (it died
        /// without closing: a NAT forgot it, a network partition) it is replaced, and what
        /// the watched topics missed is read from the stream.
        ///
        /// Default: 5 seconds.
        heartbeat;
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
