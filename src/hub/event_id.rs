//! [`EventId`], the id a hub gives a published event.

use std::{fmt, sync::Arc};

/// The id the hub gave a published event: what the client sends back as `Last-Event-ID`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::{Event, hub::Hub};
///
/// let hub = Hub::new();
/// let id = hub.publish("news", Event::new().data("x")).await.unwrap();
/// assert_eq!(id.as_str(), "1");
/// assert_eq!(id.to_string(), "1");
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventId(Arc<str>);

impl EventId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Arc<str>> for EventId {
    fn from(id: Arc<str>) -> Self {
        Self(id)
    }
}

impl From<String> for EventId {
    fn from(id: String) -> Self {
        Self(id.into())
    }
}

impl From<&str> for EventId {
    fn from(id: &str) -> Self {
        Self(id.into())
    }
}
