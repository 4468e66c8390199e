//! [`ResponseBody`], and the body that writes an event stream.
//!
//! Beside it, what shapes a running stream: its settings ([`config`]), [`keep_alive`],
//! [`shutdown`] and [`lifetime`].

pub(crate) mod config;
pub(crate) mod keep_alive;
pub(crate) mod lifetime;
pub(crate) mod own;
pub(crate) mod shutdown;

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::{
    sync::futures::OwnedNotified,
    time::{Instant, Sleep},
};

use crate::{
    BoxError, EventItem, Shutdown,
    body::{config::Config, own::OwnBody},
    event::item::{Piece, sealed::Sealed},
    metrics::{EndReason, StreamMetrics},
};

pin_project! {
    /// The response body of [`Sse`](crate::Sse): the inner service's body, an event
    /// stream, or a response of the factory's own.
    ///
    /// # Example
    ///
    /// ```
    /// use http::Request;
    /// use http_body_util::{BodyExt, Empty};
    /// use tower::ServiceExt;
    /// use tower_sse::{Event, EventId, ResponseBody, Sse};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let inner = tower::service_fn(|_: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<bytes::Bytes>::new()))
    /// });
    /// let events = |_: Request<()>, _: Option<EventId>| async {
    ///     Ok::<_, std::convert::Infallible>(tokio_stream::once(Event::new().data("hi")))
    /// };
    /// let request = Request::get("/").header("accept", "text/event-stream").body(()).unwrap();
    /// let body: ResponseBody<Empty<bytes::Bytes>> =
    ///     Sse::new(inner, events).oneshot(request).await.unwrap().into_body();
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "data: hi\n\n");
    /// # }
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    // An event stream is an `EventBody` in axum's `Body`: one allocation holding the
    // body's state and the user's stream, and nothing to box again for axum.
    enum Kind<B> {
        Inner { #[pin] body: B },
        Other { #[pin] body: OwnBody },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn other(body: OwnBody) -> Self {
        Self {
            kind: Kind::Other { body },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map_err(Into::into))),
            // axum's `Body` has an error of its own; the crate's boxed body has `BoxError`.
            #[allow(clippy::useless_conversion)]
            KindProj::Other { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Other { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Other { body } => body.size_hint(),
        }
    }
}

/// Hands an axum response body back without boxing it again: a passed-through body is
/// the inner router's own, and an event stream is already an axum `Body`.
///
/// This is what serving an axum [`Router`](https://docs.rs/axum/latest/axum/struct.Router.html)
/// wrapped in [`SseLayer`](crate::SseLayer) from the outside needs, since `axum::serve`
/// wants responses with axum's body.
///
/// # Example
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_sse::{Event, EventId, ResponseBody, SseLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let events = |_: Request<Body>, _: Option<EventId>| async {
///     Ok::<_, std::convert::Infallible>(tokio_stream::once(Event::new().data("hi")))
/// };
/// let app = ServiceBuilder::new()
///     .map_response(|response: Response<ResponseBody<Body>>| response.map(Body::from))
///     .layer(SseLayer::new(events))
///     .service(Router::new().route("/", get(|| async { "page" })));
/// // Serve it with `axum::serve(listener, axum::ServiceExt::<Request<Body>>::into_make_service(app))`.
/// let response = app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
/// let page = axum::body::to_bytes(response.into_body(), 64).await.unwrap();
/// assert_eq!(page, "page");
/// # }
/// ```
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl From<ResponseBody<axum_core::body::Body>> for axum_core::body::Body {
    fn from(body: ResponseBody<axum_core::body::Body>) -> Self {
        match body.kind {
            Kind::Inner { body } | Kind::Other { body } => body,
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Other { .. } => "Other",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

/// Events at least this large are sent as frames of their own rather than copied into a
/// batch: copying them would cost more than the write it saves.
const COPY_LIMIT: usize = 512;

static OPEN_STREAMS: AtomicUsize = AtomicUsize::new(0);

/// How many event streams are open in this process: responses made by an
/// [`Sse`](crate::Sse) service whose body has not been dropped yet.
///
/// A stream closes when it ends, fails, is shut down, or when the server drops its
/// response because the client left. A count that keeps growing under a steady load
/// means streams are leaking.
///
/// # Example
///
/// ```
/// let open = tower_sse::open_streams();
/// println!("{open} event streams open");
/// ```
pub fn open_streams() -> usize {
    OPEN_STREAMS.load(Ordering::Relaxed)
}

/// Counts one open stream for as long as it lives, and records its metrics.
struct OpenStream {
    metrics: StreamMetrics,
}

impl OpenStream {
    fn new() -> Self {
        OPEN_STREAMS.fetch_add(1, Ordering::Relaxed);
        Self {
            metrics: StreamMetrics::open(),
        }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        OPEN_STREAMS.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// Turns a stream of events into body frames: events that are ready together are
    /// sent in one frame, and a keep-alive is sent when nothing was sent for a while.
    /// With a write window, a small frame is held a moment for the events that follow.
    pub(crate) struct EventBody<St> {
        // The user's stream, `None` once it has ended or failed: dropping it then frees
        // what it owns.
        #[pin]
        stream: Option<St>,
        // The settings, shared with the layer rather than copied into every body (an
        // idle body is what a connection keeps).
        config: Arc<Config>,
        // Whether the `retry:` field is still to be sent, before the first event.
        retry_pending: bool,
        // When the body last went idle after sending; the keep-alive is due `interval`
        // after it. Read from the clock once per burst, not once per frame.
        last_sent: Instant,
        // Whether a frame was sent since `last_sent` was read.
        sent: bool,
        // Made on the first idle poll (with a keep-alive) or the first held frame (with
        // a write window), then reset: the keep-alive and the window share it.
        #[pin]
        timer: Option<Sleep>,
        // An event read but not sent yet: it did not fit in the last frame.
        held: Option<Bytes>,
        // Events the write window holds for more, and how many; `None` without one.
        pending: Option<BytesMut>,
        pending_events: usize,
        // Why the stream said it is ending (its end marker), until it ends or goes on.
        noted_end: Option<EndReason>,
        // When the held frame goes out at the latest: the window after its first event.
        hold_until: Option<Instant>,
        // The size of the last batch, to size the next one in one allocation.
        batch_hint: u32,
        // Whether the stream has been read: a stream opened after the shutdown signal
        // ends at once, one that was running sends what it has ready first.
        running: bool,
        // Registered when the body is made, so a trigger after that wakes it. Boxed: an
        // idle body is what a connection keeps, and most layers have no shutdown signal.
        shutdown_notified: Option<Pin<Box<OwnedNotified>>>,
        open: OpenStream,
    }
}

impl<St> EventBody<St> {
    pub(crate) fn new(stream: St, config: Arc<Config>) -> Self {
        Self {
            stream: Some(stream),
            retry_pending: config.retry.is_some(),
            last_sent: Instant::now(),
            sent: false,
            timer: None,
            held: None,
            pending: None,
            pending_events: 0,
            noted_end: None,
            hold_until: None,
            batch_hint: 0,
            running: false,
            shutdown_notified: config
                .shutdown
                .as_ref()
                .map(|shutdown| Box::pin(shutdown.notified())),
            config,
            open: OpenStream::new(),
        }
    }
}

/// The events gathered for one frame so far.
enum Batch {
    /// None yet.
    Empty,
    /// One, not copied.
    One(Piece),
    /// Several, copied into one buffer.
    Joined(BytesMut),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(piece) => piece.len(),
            Self::Joined(joined) => joined.len(),
        }
    }

    /// Whether more events may join: not after one event of `copy_limit` bytes or more,
    /// which goes out alone.
    fn open(&self, copy_limit: usize) -> bool {
        match self {
            Self::One(piece) => piece.len() < copy_limit,
            Self::Empty | Self::Joined(_) => true,
        }
    }

    /// Adds `piece`, or gives it back when it is `copy_limit` bytes or more or would
    /// take the batch past `max` bytes. `hint` sizes a new buffer.
    fn push(
        &mut self,
        piece: Piece,
        copy_limit: usize,
        max: usize,
        hint: usize,
    ) -> Result<(), Piece> {
        let len = piece.len();
        if !matches!(self, Self::Empty) && (len >= copy_limit || self.len() + len > max) {
            return Err(piece);
        }
        match self {
            Self::Empty => *self = Self::One(piece),
            Self::One(head) => {
                let mut joined = new_batch(head, hint, head.len() + len, max);
                piece.write_to(&mut joined);
                *self = Self::Joined(joined);
            }
            Self::Joined(joined) => piece.write_to(joined),
        }
        Ok(())
    }

    /// The batch a read starts from: what the write window held, or else the event
    /// read but not sent last time (counted in `events`).
    fn resume(pending: Option<BytesMut>, held: &mut Option<Bytes>, events: &mut usize) -> Self {
        if let Some(pending) = pending {
            return Self::Joined(pending);
        }
        match held.take() {
            Some(held) => {
                *events += 1;
                Self::One(Piece::Encoded(held))
            }
            None => Self::Empty,
        }
    }

    /// The batch as a buffer more events can join (copying a single event).
    fn into_joined(self, hint: usize, max: usize) -> BytesMut {
        match self {
            Self::Empty => BytesMut::new(),
            Self::One(head) => new_batch(&head, hint, head.len(), max),
            Self::Joined(joined) => joined,
        }
    }
}

/// What one read of the stream gave.
struct Gathered {
    /// The events of one frame, if anything was ready.
    batch: Batch,
    /// How many events `batch` holds.
    events: usize,
    /// Why the stream ended (or failed) while being read, if it did.
    end: Option<EndReason>,
}

impl<St> EventBody<St>
where
    St: Stream,
    St::Item: EventItem,
{
    /// The `retry:` field, before anything else.
    fn take_retry(self: Pin<&mut Self>) -> Option<Bytes> {
        let this = self.project();
        if std::mem::take(this.retry_pending) {
            this.config.retry.clone()
        } else {
            None
        }
    }

    /// Gathers what the stream has ready, up to the frame bound, after what the write
    /// window holds. Small events are copied into one batch; a large one is sent as a
    /// frame of its own, without copying it.
    fn gather(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Gathered {
        let this = self.project();
        let Some(mut stream) = this.stream.as_pin_mut() else {
            let batch = this
                .held
                .take()
                .map_or(Batch::Empty, |held| Batch::One(Piece::Encoded(held)));
            return Gathered {
                events: usize::from(matches!(batch, Batch::One(_))),
                batch,
                end: Some(EndReason::Ended),
            };
        };
        *this.running = true;
        let max = this.config.max_frame_size;
        // With a write window, events up to its bound are copied, so that a held frame
        // can take whatever follows.
        let copy_limit = this.config.window_bound().unwrap_or(COPY_LIMIT);
        let hint = *this.batch_hint as usize;
        let mut events = std::mem::take(this.pending_events);
        let mut batch = Batch::resume(this.pending.take(), this.held, &mut events);
        let mut end = None;
        while this.held.is_none() && batch.open(copy_limit) {
            let item = stream.as_mut().poll_next(cx);
            match item.map(|item| item.map(Sealed::into_piece)) {
                Poll::Ready(Some(Ok(piece))) => {
                    // An end marker (a hub's, a lifetime's) says why the stream ends, if
                    // it ends next; a stream that goes on (a chain) forgets it.
                    let (piece, reason) = piece.split_end();
                    *this.noted_end = reason;
                    if let Some(piece) = piece {
                        match batch.push(piece, copy_limit, max, hint) {
                            Ok(()) => events += 1,
                            Err(piece) => *this.held = Some(piece.into_bytes()),
                        }
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    tracing::error!(
                        %error,
                        "event stream failed; ending the response after the last complete event"
                    );
                    end = Some(EndReason::Error);
                }
                Poll::Ready(None) => end = Some(this.noted_end.unwrap_or(EndReason::Ended)),
                Poll::Pending => break,
            }
            if end.is_some() {
                break;
            }
        }
        Gathered { batch, events, end }
    }

    /// The bytes of a frame holding `batch`, if it holds anything.
    fn frame_bytes(self: Pin<&mut Self>, batch: Batch) -> Option<Bytes> {
        match batch {
            Batch::Empty => None,
            Batch::One(piece) => Some(piece.into_bytes()),
            Batch::Joined(joined) => {
                // The next batch starts with room for as much as this one held.
                *self.project().batch_hint = u32::try_from(joined.len()).unwrap_or(u32::MAX);
                Some(joined.freeze())
            }
        }
    }

    /// With a write window, holds a frame smaller than its bound for the events that
    /// follow, up to the window after its first event (and no later than the
    /// keep-alive is due). Gives the batch back when it must go out now; `None` when it
    /// is held, with the timer, the stream and the shutdown signal set to wake the body.
    fn hold(
        self: Pin<&mut Self>,
        batch: Batch,
        events: usize,
        cx: &mut Context<'_>,
    ) -> Option<(Batch, usize)> {
        let mut this = self.project();
        let Some(bound) = this.config.window_bound() else {
            return Some((batch, events));
        };
        if batch.len() >= bound || this.held.is_some() {
            *this.hold_until = None;
            return Some((batch, events));
        }
        let until = match *this.hold_until {
            Some(until) => until,
            None => {
                let now = Instant::now();
                if std::mem::take(this.sent) {
                    *this.last_sent = now;
                }
                // A window too long to add is as good as a year.
                let until = now
                    .checked_add(this.config.write_window)
                    .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 60 * 60));
                *this.hold_until = Some(until);
                until
            }
        };
        let wake = match &this.config.keep_alive {
            Some(keep_alive) => until.min(*this.last_sent + keep_alive.interval),
            None => until,
        };
        let ready = wake_at(this.timer.as_mut(), wake, cx);
        if ready {
            *this.hold_until = None;
            return Some((batch, events));
        }
        *this.pending =
            Some(batch.into_joined(*this.batch_hint as usize, this.config.max_frame_size));
        *this.pending_events = events;
        if let Some(notified) = this.shutdown_notified {
            if notified.as_mut().poll(cx).is_ready() {
                *this.shutdown_notified = None;
                cx.waker().wake_by_ref();
            }
        }
        None
    }

    /// Stops reading the stream and drops it, with its timer: it ended for `reason`.
    fn end_stream(self: Pin<&mut Self>, reason: EndReason) {
        let mut this = self.project();
        this.open.metrics.close(reason);
        this.stream.set(None);
        this.timer.set(None);
        *this.shutdown_notified = None;
    }

    /// The shutdown signal came: the last frame holds what a running stream had ready
    /// (up to one frame: what the write window held, an event it yielded but did not
    /// send, and events already waiting, such as the last event of a hub with another
    /// signal), then the signal's last event; the stream ends. A stream opened after the signal sends only the
    /// shutdown event.
    /// What it had not made ready yet is left for the client to resume from its
    /// `Last-Event-ID`.
    fn shut_down(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<(Bytes, usize)> {
        let Gathered { batch, events, end } = if self.running {
            self.as_mut().gather(cx)
        } else {
            Gathered {
                batch: Batch::Empty,
                events: 0,
                end: None,
            }
        };
        let data = self.as_mut().frame_bytes(batch);
        let held = self.as_mut().project().held.take();
        // A stream that ended by itself in this last read is counted for its own reason.
        self.as_mut().end_stream(end.unwrap_or(EndReason::Shutdown));
        let last = self.config.shutdown_event().cloned().filter(|last| {
            // A hub holding the same signal ended its subscription with the same last
            // event: it is sent once.
            let tail = held.as_ref().or(data.as_ref());
            !(end.is_some() && tail.is_some_and(|tail| tail.ends_with(last)))
        });
        let events = events + usize::from(held.is_some()) + usize::from(last.is_some());
        let parts: Vec<Bytes> = [data, held, last].into_iter().flatten().collect();
        let frame = match parts.len() {
            0 => None,
            1 => parts.into_iter().next(),
            _ => {
                let mut all = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for part in &parts {
                    all.extend_from_slice(part);
                }
                Some(all.freeze())
            }
        };
        frame.map(|frame| (frame, events))
    }

    /// Counts `data`, holding `events` events, as sent, and makes it a frame.
    fn send(self: Pin<&mut Self>, data: Bytes, events: usize) -> Frame<Bytes> {
        self.open.metrics.sent(data.len(), events);
        Frame::data(data)
    }

    /// Nothing to send: wait for the shutdown signal and for the keep-alive.
    fn poll_idle(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut this = self.project();
        if let Some(notified) = this.shutdown_notified {
            if notified.as_mut().poll(cx).is_ready() {
                *this.shutdown_notified = None;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let Some(keep_alive) = this.config.keep_alive.as_ref() else {
            return Poll::Pending;
        };
        if std::mem::take(this.sent) {
            // A frame went out since the last idle poll: count the quiet time from
            // now, when the body has nothing more to send (at most one poll late).
            *this.last_sent = Instant::now();
        }
        loop {
            let due = *this.last_sent + keep_alive.interval;
            let Some(mut timer) = this.timer.as_mut().as_pin_mut() else {
                this.timer.set(Some(tokio::time::sleep_until(due)));
                continue;
            };
            ready!(timer.as_mut().poll(cx));
            let now = Instant::now();
            if due > now {
                // An event was sent (or a frame held) since the timer was set.
                timer.reset(due);
                continue;
            }
            *this.last_sent = now;
            timer.reset(now + keep_alive.interval);
            this.open.metrics.kept_alive(keep_alive.message.len());
            return Poll::Ready(Some(keep_alive.message.clone()));
        }
    }
}

/// Sets `timer` (made if need be) to `wake` and polls it: whether that time has come.
fn wake_at(mut timer: Pin<&mut Option<Sleep>>, wake: Instant, cx: &mut Context<'_>) -> bool {
    match timer.as_mut().as_pin_mut() {
        Some(mut sleep) => {
            if sleep.deadline() != wake {
                sleep.as_mut().reset(wake);
            }
            return sleep.poll(cx).is_ready();
        }
        None => timer.set(Some(tokio::time::sleep_until(wake))),
    }
    timer
        .as_pin_mut()
        .is_some_and(|sleep| sleep.poll(cx).is_ready())
}

/// A batch that starts with `head`: a power of two at most the bound, so that it is
/// usually allocated once and never grows past the bound.
fn new_batch(head: &Piece, hint: usize, needed: usize, max: usize) -> BytesMut {
    let capacity = hint
        .max(needed)
        .checked_next_power_of_two()
        .map_or(max, |capacity| capacity.min(max));
    let mut joined = BytesMut::with_capacity(capacity);
    head.write_to(&mut joined);
    joined
}

impl<St> Body for EventBody<St>
where
    St: Stream,
    St::Item: EventItem,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(retry) = self.as_mut().take_retry() {
            return Poll::Ready(Some(Ok(self.send(retry, 0))));
        }
        if self.stream.is_none() {
            return Poll::Ready(None);
        }
        if self
            .config
            .shutdown
            .as_ref()
            .is_some_and(Shutdown::is_triggered)
        {
            let last = self.as_mut().shut_down(cx);
            return Poll::Ready(last.map(|(last, events)| Ok(self.send(last, events))));
        }
        let Gathered { batch, events, end } = self.as_mut().gather(cx);
        if let Some(reason) = end {
            self.as_mut().end_stream(reason);
        }
        let (batch, events) = if end.is_none() && !matches!(batch, Batch::Empty) {
            match self.as_mut().hold(batch, events, cx) {
                Some(release) => release,
                None => return Poll::Pending,
            }
        } else {
            (batch, events)
        };
        if let Some(data) = self.as_mut().frame_bytes(batch) {
            *self.as_mut().project().sent = true;
            return Poll::Ready(Some(Ok(self.send(data, events))));
        }
        if end.is_some() {
            return Poll::Ready(None);
        }
        self.poll_idle(cx)
            .map(|frame| frame.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        !self.retry_pending && self.stream.is_none()
    }
}
