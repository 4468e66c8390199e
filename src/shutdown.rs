//! [`Shutdown`], a signal that ends every open event stream.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::{Notify, futures::OwnedNotified};

/// A signal that ends every open event stream, so that a server's graceful shutdown
/// can finish.
///
/// Event streams never end on their own, so a server that waits for its connections to
/// close (axum's `with_graceful_shutdown`, hyper-util's `GracefulShutdown`) would wait
/// forever. Give the layer a `Shutdown` with
/// [`SseLayer::graceful_shutdown`](crate::SseLayer::graceful_shutdown) and
/// [`trigger`](Shutdown::trigger) it when the server shuts down: every stream then sends
/// the optional final event ([`SseLayer::shutdown_event`](crate::SseLayer::shutdown_event))
/// and ends, and streams opened afterwards end at once. Clients reconnect (to another
/// instance, or to this one once it is back) with their `Last-Event-ID`.
///
/// Clones share the signal.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use tower_sse::{Event, EventId, Shutdown, SseLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shutdown = Shutdown::new();
/// let events = |_: Request<Body>, _: Option<EventId>| async {
///     Ok::<_, Infallible>(tokio_stream::pending::<Event>())
/// };
/// let app: Router = Router::new()
///     .route("/", get(|| async { "page" }))
///     .layer(SseLayer::new(events).graceful_shutdown(shutdown.clone()));
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let server = axum::serve(listener, app).with_graceful_shutdown(async move {
///     # let ctrl_c = std::future::ready(());
///     ctrl_c.await; // tokio::signal::ctrl_c() in a real server
///     shutdown.trigger();
/// });
/// server.await.unwrap();
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    notify: Arc<Notify>,
}

impl Shutdown {
    /// A new signal, not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends every open stream, and every stream opened from now on. Calling it again
    /// does nothing more.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`trigger`](Shutdown::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// A future that completes when the signal is triggered (at once if it already was),
    /// when it is polled after [`Shutdown::is_triggered`] said `false`.
    pub(crate) fn notified(&self) -> OwnedNotified {
        self.inner.notify.clone().notified_owned()
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}
