//! The hub's errors.

use std::{fmt, time::Duration};

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header::RETRY_AFTER};

use crate::{BoxError, EventError};

/// Why [`Hub::publish`](super::Hub::publish) refused an event. Nothing was stored or sent.
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
    /// An event with this id is still in the history, so resuming from it would be
    /// ambiguous.
    DuplicateId,
    /// The topic name is empty or longer than 256 bytes.
    InvalidTopic,
    /// The hub has been shut down.
    ShuttingDown,
    /// The backend failed to store the event.
    Backend(BoxError),
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
            Self::DuplicateId => {
                f.write_str("cannot publish: an event with this id is still in the history")
            }
            Self::InvalidTopic => f.write_str("topic names are 1 to 256 bytes"),
            Self::ShuttingDown => f.write_str("the hub is shutting down"),
            Self::Backend(err) => write!(f, "the hub's backend failed to store the event: {err}"),
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidId(err) => Some(err),
            Self::Backend(err) => Some(&**err),
            _ => None,
        }
    }
}

/// Why [`Hub::subscribe`](super::Hub::subscribe) refused a subscriber.
///
/// It converts into a response, so a factory can return it as it is: `503 Service
/// Unavailable` with `Retry-After` for the limits and for shutdown, `400 Bad Request` for
/// a bad topic.
///
/// # Example
///
/// ```
/// use axum_core::response::IntoResponse;
/// use tower_sse::hub::Hub;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let hub = Hub::builder().max_subscribers(0).build();
/// let err = hub.subscribe("news", None).await.unwrap_err();
/// let response = err.into_response();
/// assert_eq!(response.status(), 503);
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
    /// No topic was given, or a topic name is empty or longer than 256 bytes.
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
            Self::InvalidTopic => f.write_str("subscribe to 1 or more topics of 1 to 256 bytes"),
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

impl IntoResponse for SubscribeError {
    fn into_response(self) -> Response {
        let (status, retry_after) = match &self {
            Self::HubFull { retry_after, .. }
            | Self::TopicFull { retry_after, .. }
            | Self::ShuttingDown { retry_after } => {
                (StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after))
            }
            Self::InvalidTopic => (StatusCode::BAD_REQUEST, None),
            Self::Backend(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
        };
        let mut response = (status, self.to_string()).into_response();
        if let Some(after) = retry_after {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
