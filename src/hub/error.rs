//! The hub's errors.

use std::{fmt, time::Duration};

use http::{HeaderValue, Response, StatusCode, header::RETRY_AFTER};

use crate::{
    BoxError, EventError,
    body::own::{OwnBody, bytes_body},
    request::response::text_response,
};

/// Why [`Hub::publish`](super::Hub::publish) refused an event. Nothing was stored or sent,
/// except after [`Uncertain`](PublishError::Uncertain).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::{Event, hub::{Hub, PublishError}};
///
/// let hub = Hub::new();
/// let err = hub.publish("", Event::new()).await.unwrap_err();
/// assert!(matches!(err, PublishError::InvalidTopic));
/// assert_eq!(err.to_string(), "topic names are 1 to 256 bytes");
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PublishError {
    /// The id given to [`Hub::publish_with_id`](super::Hub::publish_with_id) contains CR, LF
    /// or NUL.
    InvalidId(EventError),
    /// The id is empty or longer than [`MAX_LAST_EVENT_ID_LEN`](crate::MAX_LAST_EVENT_ID_LEN)
    /// bytes, so a client could not send it back.
    IdLength(usize),
    /// The id is all ASCII digits: such ids are the ones the hub assigns.
    ReservedId,
    /// The id has control characters, or a space or tab at either end, which the
    /// `Last-Event-ID` header cannot bring back as they are.
    IdNotHeaderSafe,
    /// An event with this id is still in the history, so resuming from it would be
    /// ambiguous.
    DuplicateId,
    /// The topic name is empty or longer than 256 bytes.
    InvalidTopic,
    /// The hub has been shut down.
    ShuttingDown,
    /// The backend failed to store the event.
    Backend(BoxError),
    /// The backend did not confirm the event, and may have stored it: it may reach
    /// subscribers. Publishing it again may send it twice.
    Uncertain(BoxError),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidId(err) => write!(f, "cannot publish with this id: {err}"),
            Self::IdLength(len) => write!(
                f,
                "cannot publish with an id of {len} bytes: ids are 1 to {} bytes",
                crate::MAX_LAST_EVENT_ID_LEN
            ),
            Self::ReservedId => {
                f.write_str("cannot publish with an all-digit id: the hub assigns those itself")
            }
            Self::IdNotHeaderSafe => f.write_str(
                "cannot publish with this id: control characters, or spaces at either end, \
                 cannot come back in a Last-Event-ID header",
            ),
            Self::DuplicateId => {
                f.write_str("cannot publish: an event with this id is still in the history")
            }
            Self::InvalidTopic => f.write_str("topic names are 1 to 256 bytes"),
            Self::ShuttingDown => f.write_str("the hub is shutting down"),
            Self::Backend(err) => write!(f, "the hub's backend failed to store the event: {err}"),
            Self::Uncertain(err) => write!(
                f,
                "the hub's backend did not confirm the event, which may have been stored: {err}"
            ),
        }
    }
}

impl PublishError {
    /// The `error` label of the hub's publish errors metric.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::InvalidId(_) => "invalid_id",
            Self::IdLength(_) => "id_length",
            Self::ReservedId => "reserved_id",
            Self::IdNotHeaderSafe => "id_not_header_safe",
            Self::DuplicateId => "duplicate_id",
            Self::InvalidTopic => "invalid_topic",
            Self::ShuttingDown => "shutting_down",
            Self::Backend(_) => "backend",
            Self::Uncertain(_) => "uncertain",
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidId(err) => Some(err),
            Self::Backend(err) | Self::Uncertain(err) => Some(&**err),
            _ => None,
        }
    }
}

/// Why [`Hub::subscribe`](super::Hub::subscribe) refused a subscriber.
///
/// It converts into a response, so a factory (or an axum handler) returns it as it is.
/// Browsers' `EventSource` gives up for good after any answer but `200`, so the errors
/// that pass (the limits, shutdown, a backend's failure) answer `200 text/event-stream`
/// with only a comment (the reason) and `retry:` ([`retry_after`](SubscribeError::retry_after)),
/// which ends at once: the browser reconnects after that delay with its `Last-Event-ID`.
/// `Retry-After` says the same to other clients. A bad topic answers `400 Bad Request`.
///
/// # Example
///
#[cfg_attr(feature = "axum", doc = "```")]
#[cfg_attr(not(feature = "axum"), doc = "```ignore")]
/// use axum_core::response::IntoResponse;
/// use tower_sse::hub::Hub;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let hub = Hub::builder().max_subscribers(0).build();
/// let err = hub.subscribe("news").await.unwrap_err();
/// let response = err.into_response();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// assert_eq!(response.headers()["retry-after"], "5");
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The hub has as many subscribers as [`max_subscribers`](super::HubBuilder::max_subscribers)
    /// allows.
    HubFull {
        /// The limit.
        limit: usize,
        /// How long the client should wait before it tries again.
        retry_after: Duration,
    },
    /// A topic has as many subscribers as
    /// [`max_subscribers_per_topic`](super::HubBuilder::max_subscribers_per_topic) allows.
    TopicFull {
        /// The limit.
        limit: usize,
        /// How long the client should wait before it tries again.
        retry_after: Duration,
    },
    /// No topic, more than [`MAX_TOPICS_PER_SUBSCRIPTION`](super::MAX_TOPICS_PER_SUBSCRIPTION)
    /// topics, or a topic name that is empty or longer than 256 bytes.
    InvalidTopic,
    /// The hub has been shut down.
    ShuttingDown {
        /// How long the client should wait before it tries again.
        retry_after: Duration,
    },
    /// The backend failed to read the history.
    Backend(BoxError),
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HubFull { limit, .. } => {
                write!(f, "the hub has reached its limit of {limit} subscribers")
            }
            Self::TopicFull { limit, .. } => {
                write!(f, "a topic has reached its limit of {limit} subscribers")
            }
            Self::InvalidTopic => {
                f.write_str("subscribe to 1 to 64 topics, each named with 1 to 256 bytes")
            }
            Self::ShuttingDown { .. } => f.write_str("the hub is shutting down"),
            Self::Backend(err) => write!(f, "the hub's backend failed to read the history: {err}"),
        }
    }
}

impl std::error::Error for SubscribeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Backend(err) => Some(&**err),
            _ => None,
        }
    }
}

/// How long a client refused for a backend's failure waits before it tries again.
const BACKEND_RETRY: Duration = Duration::from_secs(5);

impl SubscribeError {
    /// How long the client should wait before it tries again, for the errors that pass
    /// (all but [`InvalidTopic`](SubscribeError::InvalidTopic)): the hub's
    /// [`retry_after`](super::HubBuilder::retry_after), or 5 seconds after a backend's
    /// failure.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::HubFull { retry_after, .. }
            | Self::TopicFull { retry_after, .. }
            | Self::ShuttingDown { retry_after } => Some(*retry_after),
            Self::Backend(_) => Some(BACKEND_RETRY),
            Self::InvalidTopic => None,
        }
    }
}

/// Without axum, the layer's factories may still refuse with a `SubscribeError`.
#[cfg(not(feature = "axum"))]
impl crate::IntoRefusal for SubscribeError {}

#[cfg(not(feature = "axum"))]
#[allow(private_interfaces)] // sealed: no other crate can name the trait
impl crate::request::response::sealed::Sealed for SubscribeError {
    fn into_refusal(self) -> Response<OwnBody> {
        self.refusal()
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for SubscribeError {
    fn into_response(self) -> axum_core::response::Response {
        self.refusal()
    }
}

impl SubscribeError {
    /// The response. A browser's `EventSource` gives up for good on any answer but
    /// `200`, so an error that passes (a limit, shutdown, a backend's failure) answers
    /// `200 text/event-stream` holding a comment with the reason and `retry: <ms>`,
    /// which ends at once: the client comes back after that delay, with its
    /// `Last-Event-ID`. `Retry-After` says the same to other clients. Topics that can
    /// never be subscribed answer `400` with the reason. A backend's details stay in
    /// the logs.
    pub(crate) fn refusal(self) -> Response<OwnBody> {
        let Some(after) = self.retry_after() else {
            return text_response(StatusCode::BAD_REQUEST, self.to_string());
        };
        let reason = match &self {
            Self::Backend(err) => {
                tracing::error!(error = %err, "hub backend failed while subscribing");
                "the event history is unavailable; try again later".to_owned()
            }
            _ => self.to_string(),
        };
        let retry = crate::Event::new().retry(after).encode();
        let mut body = Vec::with_capacity(reason.len() + retry.len() + 3);
        body.extend_from_slice(b": ");
        body.extend_from_slice(reason.as_bytes());
        body.push(b'\n');
        body.extend_from_slice(retry.as_bytes());
        let mut response = Response::new(bytes_body(body.into()));
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-transform"),
        );
        let seconds = after
            .as_secs()
            .saturating_add(u64::from(after.subsec_nanos() > 0));
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

/// Why a hub could not be built over an engine: the one setup error of every engine.
///
/// # Example
///
/// ```
/// use tower_sse::hub::SetupError;
///
/// let err = SetupError::Unsupported { engine: "redis", what: "a byte bound on the history" };
/// assert_eq!(
///     err.to_string(),
///     "the redis engine cannot honour a byte bound on the history"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// The settings cannot work: no server, a prefix with characters the engine
    /// reserves, a URL that is not one.
    Invalid {
        /// The engine (`redis`, `nats`, ...).
        engine: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The engine's server did not answer.
    Unreachable {
        /// The engine.
        engine: &'static str,
        /// Where it was sought, without user name and password.
        url: String,
        /// What the client said.
        source: BoxError,
    },
    /// The server answered with an error: a wrong password, a server too old, storage
    /// it refused to create.
    Refused {
        /// The engine.
        engine: &'static str,
        /// The server, without user name and password.
        url: String,
        /// What the server said.
        source: BoxError,
    },
    /// The engine cannot honour a bound of the hub's [`History`](super::History).
    Unsupported {
        /// The engine.
        engine: &'static str,
        /// The bound.
        what: &'static str,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { engine, reason } => write!(f, "invalid {engine} settings: {reason}"),
            Self::Unreachable {
                engine,
                url,
                source,
            } => {
                write!(f, "cannot reach {engine} at `{url}`: {source}")
            }
            Self::Refused {
                engine,
                url,
                source,
            } => {
                write!(f, "{engine} at `{url}` refused the hub's setup: {source}")
            }
            Self::Unsupported { engine, what } => {
                write!(f, "the {engine} engine cannot honour {what}")
            }
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unreachable { source, .. } | Self::Refused { source, .. } => Some(&**source),
            Self::Invalid { .. } | Self::Unsupported { .. } => None,
        }
    }
}
