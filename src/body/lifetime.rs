//! [`Lifetime`]: a stream that ends when the access that opened it ends.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures_core::Stream;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::{
    BoxError, Event, EventItem,
    event::item::{Piece, sealed::Sealed},
    metrics::EndReason,
};

type Revoked = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// When a stream must end: at an expiry (the token's), on a revocation (a logout), or
/// both. The stream then sends a typed last event the client can act on, and ends.
///
/// - At expiry it sends `event: expired` (change it with
///   [`expired_event`](Lifetime::expired_event)).
/// - On revocation it sends `event: revoked`, with the revocation's reason as its data
///   (change it with [`revoked_event`](Lifetime::revoked_event)).
///
/// Either way nothing more of the stream is sent, not even events it had ready, and the
/// stream the factory made is dropped at once, with what it holds. A
/// browser's `EventSource` reconnects after a stream ends; let the factory refuse the
/// old token then (a `401` closes the `EventSource` for good), or close it from the
/// page when the last event comes:
///
/// ```js
/// source.addEventListener("revoked", () => { source.close(); location = "/login"; });
/// ```
///
/// With a hub, [`Hub::revocation`](crate::hub::Hub::revocation) is the revocation to
/// wait for, and [`Hub::revoke`](crate::hub::Hub::revoke) reaches every instance
/// sharing the hub's backend.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tokio_stream::StreamExt;
/// use tower_sse::{Event, Lifetime};
///
/// // The token that opened the stream is good for one more minute.
/// let ticks = tokio_stream::iter(vec![Event::new().data("tick")]).chain(tokio_stream::pending());
/// let mut stream = Lifetime::new().expires_in(Duration::from_secs(60)).wrap(ticks);
/// assert!(stream.next().await.is_some()); // the tick
/// assert!(stream.next().await.is_some()); // a minute later: `event: expired`
/// assert!(stream.next().await.is_none());
/// # }
/// ```
#[must_use]
pub struct Lifetime {
    expires_at: Option<Instant>,
    revoked: Option<Revoked>,
    expired_event: Bytes,
    revoked_event: Event,
}

impl Default for Lifetime {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifetime {
    /// No expiry and no revocation yet; add them with the setters.
    pub fn new() -> Self {
        Self {
            expires_at: None,
            revoked: None,
            expired_event: Event::new()
                .event_static("expired")
                .data("")
                .encode()
                .into_bytes(),
            revoked_event: Event::new().event_static("revoked"),
        }
    }

    /// The stream ends at `deadline`, a wall-clock time such as a token's expiry,
    /// with the expired event: at once if it has passed. The time left is measured when
    /// this is called and then counted on Tokio's clock (so a test with the clock
    /// paused sees it come as [`expires_in`](Lifetime::expires_in) would).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::{Duration, SystemTime};
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, Lifetime};
    ///
    /// let token_expiry = SystemTime::now() + Duration::from_secs(60);
    /// let lifetime = Lifetime::new().expires_at(token_expiry);
    /// let mut stream = lifetime.wrap(tokio_stream::pending::<Event>());
    /// let start = tokio::time::Instant::now();
    /// let expired = stream.next().await.unwrap(); // `event: expired`, a minute later
    /// assert!(start.elapsed() <= Duration::from_secs(60));
    /// assert!(start.elapsed() > Duration::from_secs(59));
    /// # drop(expired);
    /// # }
    /// ```
    pub fn expires_at(self, deadline: SystemTime) -> Self {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        self.expires_in(left)
    }

    /// The stream ends at `seconds` after the Unix epoch (a JWT's `exp`), with the
    /// expired event: see [`expires_at`](Lifetime::expires_at).
    pub fn expires_at_unix(self, seconds: u64) -> Self {
        match UNIX_EPOCH.checked_add(Duration::from_secs(seconds)) {
            Some(deadline) => self.expires_at(deadline),
            // Past what the clock can tell: it never comes.
            None => self.expires_in(Duration::MAX),
        }
    }

    /// The stream ends `after` from now, with the expired event (never, for a duration
    /// past the clock's end).
    pub fn expires_in(mut self, after: Duration) -> Self {
        // Too far to reach on the clock: it never comes.
        self.expires_at = Instant::now().checked_add(after);
        self
    }

    /// The stream ends when `revoked` completes: with the revoked event and the reason
    /// as its data for `Some(reason)`; with no last event for `None` (the revocation
    /// can no longer be told, so the stream ends rather than outlive it).
    pub fn revoked_by(
        mut self,
        revoked: impl Future<Output = Option<String>> + Send + 'static,
    ) -> Self {
        self.revoked = Some(Box::pin(revoked));
        self
    }

    /// The last event at expiry. Default: `event: expired` with empty data.
    pub fn expired_event(mut self, event: Event) -> Self {
        self.expired_event = event.encode().into_bytes();
        self
    }

    /// The last event on revocation, whose data becomes the reason. Default:
    /// `event: revoked`.
    pub fn revoked_event(mut self, event: Event) -> Self {
        self.revoked_event = event;
        self
    }

    /// `stream`, ending with this lifetime. Its items are what the layer sends.
    pub fn wrap<S>(self, stream: S) -> Limited<S>
    where
        S: Stream,
        S::Item: EventItem,
    {
        Limited {
            stream: Some(stream),
            timer: self
                .expires_at
                .map(|at| Box::pin(tokio::time::sleep_until(at))),
            lifetime: self,
            last: None,
            reason: Some(EndReason::Lifetime),
        }
    }
}

impl fmt::Debug for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifetime")
            .field("expires_at", &self.expires_at)
            .field("revocable", &self.revoked.is_some())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A stream with a [`Lifetime`], from [`Lifetime::wrap`]: a factory returns it as it
    /// would the stream it wraps.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Event, Lifetime};
    ///
    /// // Revoked before anything was read: only the revoked event goes out.
    /// let ticks = tokio_stream::iter(vec![Event::new().data("tick")]);
    /// let revoked = async { Some("logged out".to_owned()) };
    /// let stream = Lifetime::new().revoked_by(revoked).wrap(ticks);
    /// let sent: Vec<_> = stream.collect().await;
    /// assert_eq!(sent.len(), 1);
    /// assert!(format!("{:?}", sent[0]).contains("event: revoked"));
    /// # }
    /// ```
    pub struct Limited<S> {
        #[pin]
        stream: Option<S>,
        timer: Option<Pin<Box<Sleep>>>,
        lifetime: Lifetime,
        // The last event, once the lifetime has ended; sent, then the stream ends.
        last: Option<Option<Bytes>>,
        // Why the lifetime ended, for the metrics; taken when the end is yielded.
        reason: Option<EndReason>,
    }
}

/// An item of a [`Limited`] stream: the inner stream's, or the last event.
#[derive(Debug)]
pub struct LimitedItem<I>(Inner<I>);

#[derive(Debug)]
enum Inner<I> {
    Item(I),
    // The last event, if there is one, and why the lifetime ended.
    Last(Option<Bytes>, EndReason),
}

impl<I: EventItem> EventItem for LimitedItem<I> {}
#[allow(private_interfaces)] // sealed: no other crate can name the trait
impl<I: EventItem> Sealed for LimitedItem<I> {
    fn into_piece(self) -> Result<Piece, BoxError> {
        match self.0 {
            Inner::Item(item) => Sealed::into_piece(item),
            Inner::Last(last, reason) => Ok(Piece::End(last, reason)),
        }
    }
}

impl<S> Limited<S> {
    /// Whether the lifetime ended (expired or revoked) rather than the stream.
    fn ended_by_lifetime(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let mut this = self.project();
        let expired = this
            .timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        let last = if expired {
            tracing::debug!("event stream expired");
            Some(this.lifetime.expired_event.clone())
        } else {
            let Some(revoked) = this.lifetime.revoked.as_mut() else {
                return false;
            };
            let Poll::Ready(reason) = revoked.as_mut().poll(cx) else {
                return false;
            };
            tracing::debug!(?reason, "event stream revoked");
            *this.reason = Some(EndReason::Revoked);
            reason.map(|reason| {
                this.lifetime
                    .revoked_event
                    .clone()
                    .data(reason)
                    .encode()
                    .into_bytes()
            })
        };
        // Release what the stream, the timer and the revocation hold, now.
        this.stream.set(None);
        *this.timer = None;
        this.lifetime.revoked = None;
        *this.last = Some(last);
        true
    }
}

impl<S> Stream for Limited<S>
where
    S: Stream,
    S::Item: EventItem,
{
    type Item = LimitedItem<S::Item>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.last.is_none() && !self.as_mut().ended_by_lifetime(cx) {
            let this = self.as_mut().project();
            let Some(stream) = this.stream.as_pin_mut() else {
                return Poll::Ready(None);
            };
            return stream
                .poll_next(cx)
                .map(|item| item.map(|item| LimitedItem(Inner::Item(item))));
        }
        let this = self.project();
        let last = this.last.as_mut().and_then(Option::take);
        Poll::Ready(
            this.reason
                .take()
                .map(|reason| LimitedItem(Inner::Last(last, reason))),
        )
    }
}

impl<S> fmt::Debug for Limited<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limited")
            .field("lifetime", &self.lifetime)
            .field("ended", &self.last.is_some())
            .finish_non_exhaustive()
    }
}
