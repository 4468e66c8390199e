//! A test kit for your own SSE endpoints (feature `test-util`).
//!
//! [`TestClient`] drives any Tower service in process, with no socket: it sends what an
//! `EventSource` sends and reads the answer as a browser does, so a test asserts on
//! decoded events instead of bytes. With it a test can:
//!
//! - read events, comments (keep-alives) and `retry` hints decoded by a spec-exact
//!   [`Parser`] ([`TestStream::next_event`], [`TestStream::next_item`]);
//! - reconnect with the last id it read, as a browser does
//!   ([`TestClient::reconnect`]);
//! - see keep-alives without waiting: under `#[tokio::test(start_paused = true)]`,
//!   waiting for the next item lets Tokio's clock jump to the next timer, and
//!   [`TestStream::ready_items`] tells what is there *now*, before
//!   `tokio::time::advance`;
//! - leave mid-stream: drop the [`TestStream`], and the server's stream is dropped.
//! - send any other request, a `POST` that publishes say, and read the event it makes
//!   on a stream opened before ([`TestClient::request`]).
//!
//! # Example
//!
//! An axum app under test, its keep-alive seen with a paused clock:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_sse::BoxError> {
//! use std::{convert::Infallible, time::Duration};
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tower_sse::{Event, EventId, SseLayer, testing::{Item, TestClient}};
//!
//! let app = Router::new().route("/", get(|| async { "page" })).layer(SseLayer::new(
//!     |_: Request<Body>, _: Option<EventId>| async {
//!         let hello = Event::new().id_number(1).data("hello");
//!         let then_quiet = tokio_stream::pending::<Event>();
//!         Ok::<_, Infallible>(tokio_stream::StreamExt::chain(
//!             tokio_stream::once(hello),
//!             then_quiet,
//!         ))
//!     },
//! ));
//!
//! let mut client = TestClient::new(app);
//! let mut stream = client.events("/").await?;
//! assert_eq!(stream.headers()["content-type"], "text/event-stream");
//! assert_eq!(stream.next_event().await?.unwrap().data, "hello");
//!
//! // Nothing more yet; 15 s later, a keep-alive.
//! assert!(stream.ready_items()?.is_empty());
//! tokio::time::advance(Duration::from_secs(15)).await;
//! assert_eq!(stream.ready_items()?, [Item::Comment(String::new())]);
//!
//! // The client leaves: dropping the stream drops the server's.
//! drop(stream);
//! # Ok(())
//! # }
//! ```

mod client;
mod parser;

pub use client::{TestClient, TestStream};
pub use parser::{Item, Parser, ReceivedEvent};
