//! [`Handoff`]: a page rendered from the hub's state, and the event stream that picks
//! up exactly where the page left off.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{
    backend::{Delivery, EventId, Position, Retained},
    cursor,
    error::SubscribeError,
    handle::Hub,
    topics::{IntoTopics, topic_set},
};
use crate::EncodedEvent;

/// The response header that carries a [`Handoff`]'s id: `sse-position`.
pub const POSITION_HEADER: HeaderName = HeaderName::from_static("sse-position");

/// Everything but what a query value may carry as it is.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where some topics stood when a page (or a JSON document) was rendered, from
/// [`Hub::handoff`](super::Hub::handoff).
///
/// A page is rendered from the state at one moment, and its `EventSource` connects a
/// moment later: events published in between would be lost, or would have to be
/// deduplicated by hand. Take the handoff *before* reading the state you render, put it
/// in the page ([`event_source_url`](Handoff::event_source_url)) or in the response
/// ([`header`](Handoff::header), or as axum response parts), and let the layer read it
/// back (the layer reads the `lastEventId` query parameter by default: see
/// [`SseLayer::last_event_id_query`](crate::SseLayer::last_event_id_query)): the
/// stream starts with exactly the events published after the handoff, in order, once
/// each. Events published between the handoff and the read of the state may be in
/// both; render from state that carries event ids, or take the handoff inside the same
/// lock or transaction as the read.
///
/// The id is a cursor (`~` and one position per topic), valid for a stream of the same
/// topics; if the history no longer holds what followed it, the stream starts with the
/// hub's reset event, as any resume does.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_sse::{Event, hub::Hub};
///
/// let hub = Hub::new();
/// let handoff = hub.handoff("scores").await?;
/// // The URL's query is percent-encoded: safe inside a quoted attribute or string.
/// let page = format!(
///     "<ul id=scores>...</ul><script>new EventSource('{}')</script>",
///     handoff.event_source_url("/scores"),
/// );
/// assert!(page.contains("/scores?lastEventId=~"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    id: EventId,
    events: Vec<EncodedEvent>,
}

impl Hub {
    /// Where `topics` stand now, as an id a stream of the same topics resumes from
    /// exactly: the snapshot-to-stream handoff. See [`Handoff`].
    ///
    /// # Errors
    ///
    /// A [`SubscribeError`] for bad topics, a hub that is shutting down, or the
    /// backend's error.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, hub::Hub};
    ///
    /// let hub = Hub::new();
    /// hub.publish("prices", Event::new().data("rendered into the page")).await?;
    /// let handoff = hub.handoff("prices").await?; // at render time
    /// let id = hub.publish("prices", Event::new().data("published in between")).await?;
    ///
    /// // The page's EventSource connects with the handoff's id.
    /// let mut events = hub.subscribe("prices").after(Some(handoff.id())).await?;
    /// let expected = format!("data: published in between\nid: {id}\n\n");
    /// assert_eq!(events.next().await.unwrap().as_bytes(), expected.as_bytes());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn handoff(&self, topics: impl IntoTopics) -> Result<Handoff, SubscribeError> {
        self.recent(topics, 0).await
    }

    /// The `last` most recent events of `topics` from the hub's shared history, oldest
    /// first, in a [`Handoff`] that a stream resumes from right after them: a page
    /// renders from [`events`](Handoff::events), and its `EventSource` starts exactly
    /// after. Every instance sharing an engine renders the same page from the same
    /// history, with no copy of its own. Events of several topics are merged in
    /// position order (publication order on the memory and NATS engines; per topic,
    /// then by time, on Redis).
    ///
    /// # Errors
    ///
    /// As [`handoff`](Hub::handoff).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, hub::Hub};
    ///
    /// let hub = Hub::new();
    /// for text in ["one", "two", "three"] {
    ///     hub.publish("chat", Event::new().data(text)).await?;
    /// }
    /// let page = hub.recent("chat", 2).await?;
    /// let shown: Vec<_> = page.events().iter().map(|e| e.data().unwrap()).collect();
    /// assert_eq!(shown, ["two", "three"]);
    ///
    /// let four = hub.publish("chat", Event::new().data("four")).await?;
    /// let mut stream = hub.subscribe("chat").after(Some(page.id())).await?;
    /// assert_eq!(stream.next().await.unwrap().id(), Some(four.as_str()));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn recent(
        &self,
        topics: impl IntoTopics,
        last: usize,
    ) -> Result<Handoff, SubscribeError> {
        self.check_open()?;
        let topics = topic_set(topics.topic_names())?;
        let mut heads = Vec::with_capacity(topics.len());
        for topic in topics.iter() {
            heads.push(self.backend().head(topic).await?);
        }
        let events = if last == 0 {
            Vec::new()
        } else {
            self.last_events(&topics, &heads, last).await?
        };
        let cursor = cursor::encode(cursor::topics_hash(&topics), &heads);
        let id =
            EventId::try_from(cursor).map_err(|error| SubscribeError::Backend(error.into()))?;
        Ok(Handoff { id, events })
    }

    /// The `last` retained events of `topics` up to each topic's head, oldest first.
    async fn last_events(
        &self,
        topics: &[Arc<str>],
        heads: &[Position],
        last: usize,
    ) -> Result<Vec<EncodedEvent>, SubscribeError> {
        let mut events: Vec<Delivery> = Vec::new();
        for (topic, head) in topics.iter().zip(heads) {
            if let Retained::Events(retained) =
                self.backend().replay(topic, Position::START, false).await?
            {
                let upto = retained.partition_point(|d| d.position() <= *head);
                let from = upto.saturating_sub(last);
                events.extend_from_slice(&retained[from..upto]);
            }
        }
        events.sort_by_key(Delivery::position);
        let from = events.len().saturating_sub(last);
        Ok(events.drain(from..).map(|d| d.event().clone()).collect())
    }
}

impl Handoff {
    /// The events [`Hub::recent`] read, oldest first, for the page to render; empty
    /// from [`Hub::handoff`].
    pub fn events(&self) -> &[EncodedEvent] {
        &self.events
    }

    /// The id to resume from, as a client sends it in `Last-Event-ID`.
    pub fn id(&self) -> &EventId {
        &self.id
    }

    /// `path` with the id as its `lastEventId` query parameter (added to a query `path`
    /// may already have), for `new EventSource(...)`. The layer reads it unless
    /// [`SseLayer::last_event_id_query`](crate::SseLayer::last_event_id_query) is off. After
    /// a reconnection the browser's `Last-Event-ID` header wins over the parameter.
    pub fn event_source_url(&self, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        let value = utf8_percent_encode(self.id.as_str(), QUERY_VALUE);
        format!("{path}{separator}lastEventId={value}")
    }

    /// The `sse-position` response header with the id, for a page or a JSON document
    /// whose script opens the stream itself (and sends it back as `Last-Event-ID`).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_sse::hub::{Hub, POSITION_HEADER};
    ///
    /// let handoff = Hub::new().handoff(["a", "b"]).await?;
    /// let (name, value) = handoff.header();
    /// assert_eq!((name, value.to_str()?), (POSITION_HEADER, handoff.id().as_str()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn header(&self) -> (HeaderName, HeaderValue) {
        // An `EventId` holds no CR, LF or NUL, and a cursor is ASCII: always valid.
        let value = HeaderValue::from_str(self.id.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("~"));
        (POSITION_HEADER, value)
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl axum_core::response::IntoResponseParts for Handoff {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut res: axum_core::response::ResponseParts,
    ) -> Result<axum_core::response::ResponseParts, Self::Error> {
        let (name, value) = self.header();
        res.headers_mut().insert(name, value);
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keeps_an_existing_query_and_encodes_the_id() {
        let handoff = Handoff {
            id: EventId::new("~ab c.1").unwrap().unwrap(),
            events: Vec::new(),
        };
        assert_eq!(handoff.event_source_url("/e"), "/e?lastEventId=~ab%20c.1");
        assert_eq!(
            handoff.event_source_url("/e?room=1"),
            "/e?room=1&lastEventId=~ab%20c.1"
        );
        assert_eq!(handoff.header().1, "~ab c.1");
    }
}
