//! [`Shutdown`], a signal that ends every open event stream, after one last event.

use std::{
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use bytes::Bytes;
use tokio::sync::{Notify, futures::OwnedNotified};

use crate::Event;

/// What the signal runs when it is triggered: a hub's own shutdown.
type Hook = Box<dyn FnOnce() + Send>;

/// A signal that ends every open event stream, after an optional last event, so that a
/// server's graceful shutdown can finish.
///
/// Event streams never end on their own, so a server that waits for its connections to
/// close (axum's `with_graceful_shutdown`, hyper-util's `GracefulShutdown`) would wait
/// forever. Make one `Shutdown` (with [`with_last_event`](Shutdown::with_last_event)
/// for a last event), give clones of it to what serves streams
/// ([`SseLayer::graceful_shutdown`](crate::SseLayer::graceful_shutdown),
/// `EventStream::graceful_shutdown` (feature `axum`), `HubBuilder::graceful_shutdown`
/// (feature `hub`)), and [`trigger`](Shutdown::trigger) it when the server shuts down:
/// every stream then sends the last event once and ends, and streams opened afterwards
/// send it and end at once. Clients reconnect (to another instance, or to this one once
/// it is back) with their `Last-Event-ID`.
///
/// Giving the same signal to a layer and to the hub its streams come from is what a
/// server does, and each client still gets the last event once: the stream that holds
/// the signal sends it, and a hub subscription's copy is not sent again.
///
/// Clones share the signal.
///
/// # Example
///
/// ```
/// use std::{convert::Infallible, time::Duration};
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use tower_sse::{Event, EventId, Shutdown, SseLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Spread the reconnections: each client waits 2 seconds before it comes back.
/// let shutdown = Shutdown::with_last_event(Event::new().retry(Duration::from_secs(2)));
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
    last_event: Option<Bytes>,
    hooks: Mutex<Vec<Hook>>,
}

impl Shutdown {
    /// A new signal, not yet triggered, whose streams end with no last event.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new signal, not yet triggered, whose streams end after `event`: a `retry:`
    /// that spreads the clients' reconnections, or a named event the page shows.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::{Event, Shutdown};
    ///
    /// let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data("restarting"));
    /// # drop(shutdown);
    /// ```
    pub fn with_last_event(event: Event) -> Self {
        Self {
            inner: Arc::new(Inner {
                last_event: Some(event.encode().into_bytes()),
                ..Inner::default()
            }),
        }
    }

    /// Ends every open stream, and every stream opened from now on. Calling it again
    /// does nothing more.
    pub fn trigger(&self) {
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.notify.notify_waiters();
        let hooks = std::mem::take(&mut *lock(&self.inner.hooks));
        for hook in hooks {
            hook();
        }
    }

    /// Whether [`trigger`](Shutdown::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// The encoded last event, if any.
    pub(crate) fn last_event(&self) -> Option<&Bytes> {
        self.inner.last_event.as_ref()
    }

    /// A future that completes when the signal is triggered (at once if it already was),
    /// when it is polled after [`Shutdown::is_triggered`] said `false`.
    pub(crate) fn notified(&self) -> OwnedNotified {
        self.inner.notify.clone().notified_owned()
    }

    /// Runs `hook` once when the signal is triggered, after the streams holding it were
    /// woken; at once if it already was.
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub(crate) fn on_trigger(&self, hook: impl FnOnce() + Send + 'static) {
        {
            let mut hooks = lock(&self.inner.hooks);
            if !self.is_triggered() {
                hooks.push(Box::new(hook));
                return;
            }
        }
        hook();
    }
}

/// The hooks, even if a hook's owner panicked while registering.
fn lock(hooks: &Mutex<Vec<Hook>>) -> std::sync::MutexGuard<'_, Vec<Hook>> {
    hooks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .field("last_event", &self.inner.last_event)
            .finish()
    }
}
