//! [`RECONNECTING_EVENT_SOURCE_JS`]: the browser script that reopens an `EventSource`
//! the browser gave up on.

/// A dependency-free browser script defining `ReconnectingEventSource`, an `EventSource`
/// that comes back after the browser gives up on it.
///
/// A browser reconnects by itself when a stream ends, but an answer other than
/// `200 text/event-stream` (a proxy's `502` or `503` while the server restarts) closes
/// its `EventSource` for good. `ReconnectingEventSource` then opens a new one after a
/// backoff (1 s doubling to 30 s, jittered), with the last event id it received as the
/// `lastEventId` query parameter, which [`SseLayer`](crate::SseLayer) and the
/// [`EventId`](crate::EventId) extractor read, so the stream resumes after it. It
/// dispatches the events listened for, `open`, `error`, `reset` (the hub's event for
/// "events were lost") and `reopen`. A `204` does not stop it: call `close()`.
///
/// Serve it with [`routing::reconnecting_event_source`](crate::handler::routing::reconnecting_event_source)
/// (feature `axum`) or from this constant with `Content-Type: text/javascript`, or
/// inline it in a page. The same text is `src/reconnecting.js` in the crate's sources.
///
/// # Example
///
/// ```
/// let page = format!(
///     "<script>{}</script><script>
///        const source = new ReconnectingEventSource('/events');
///        source.onmessage = (e) => console.log(e.data);
///        source.onreset = () => location.reload();
///      </script>",
///     tower_sse::RECONNECTING_EVENT_SOURCE_JS
/// );
/// assert!(page.contains("class ReconnectingEventSource"));
/// ```
pub const RECONNECTING_EVENT_SOURCE_JS: &str = include_str!("reconnecting.js");
