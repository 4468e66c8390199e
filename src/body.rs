//! [`ResponseBody`], and the body that writes an event stream.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
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
    config::Config,
    metrics::{self, EndReason, StreamMetrics},
    response::OwnBody,
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

/// One item of an event stream on its way into a body frame.
///
/// Public only so that the sealed [`EventItem`] can name it; not reachable from outside
/// the crate.
#[derive(Debug)]
pub enum Piece {
    /// An event not encoded yet: copied straight into a batch, or encoded to be sent
    /// alone.
    Event(crate::Event),
    /// Encoded bytes, possibly shared with other streams.
    Encoded(Bytes),
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Self::Event(event) => event.encoded_len(),
            Self::Encoded(bytes) => bytes.len(),
        }
    }

    fn write_to(&self, dst: &mut BytesMut) {
        match self {
            Self::Event(event) => event.encode_into(dst),
            Self::Encoded(bytes) => dst.extend_from_slice(bytes),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Event(event) => event.encode().into_bytes(),
            Self::Encoded(bytes) => bytes,
        }
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
        // Made on the first idle poll, then reset; never made without a keep-alive.
        #[pin]
        timer: Option<Sleep>,
        // An event read but not sent yet: it did not fit in the last frame.
        held: Option<Bytes>,
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

/// What one read of the stream gave.
struct Gathered {
    /// The bytes of one frame, if anything was ready.
    data: Option<Bytes>,
    /// How many events `data` holds.
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

    /// Gathers what the stream has ready, up to the frame bound. Small events are copied
    /// into one batch; a large one is sent as a frame of its own, without copying it.
    fn gather(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Gathered {
        let this = self.project();
        let Some(mut stream) = this.stream.as_pin_mut() else {
            let data = this.held.take();
            return Gathered {
                events: usize::from(data.is_some()),
                data,
                end: Some(EndReason::Ended),
            };
        };
        *this.running = true;
        let max = this.config.max_frame_size;
        let mut first: Option<Piece> = this.held.take().map(Piece::Encoded);
        let mut events = usize::from(first.is_some());
        let mut batch: Option<BytesMut> = None;
        let mut end = None;
        while first.as_ref().is_none_or(|first| first.len() < COPY_LIMIT) {
            // A reason noted by a stream is read right after its `Ready(None)`, in this
            // poll: one noted earlier (by a stream that went on) is forgotten first.
            metrics::forget_end();
            let item = stream.as_mut().poll_next(cx);
            match item.map(|item| item.map(EventItem::into_piece)) {
                Poll::Ready(Some(Ok(piece))) => {
                    let Some(head) = first.as_ref() else {
                        first = Some(piece);
                        events = 1;
                        continue;
                    };
                    let size = batch.as_ref().map_or(head.len(), BytesMut::len);
                    let len = piece.len();
                    if len >= COPY_LIMIT || size + len > max {
                        *this.held = Some(piece.into_bytes());
                        break;
                    }
                    let joined = batch.get_or_insert_with(|| {
                        new_batch(head, *this.batch_hint as usize, size + len, max)
                    });
                    piece.write_to(joined);
                    events += 1;
                }
                Poll::Ready(Some(Err(error))) => {
                    tracing::error!(
                        %error,
                        "event stream failed; ending the response after the last complete event"
                    );
                    end = Some(EndReason::Error);
                    break;
                }
                Poll::Ready(None) => {
                    end = Some(metrics::take_end().unwrap_or(EndReason::Ended));
                    break;
                }
                Poll::Pending => break,
            }
        }
        let data = match batch {
            Some(joined) => {
                // The next batch starts with room for as much as this one held.
                *this.batch_hint = u32::try_from(joined.len()).unwrap_or(u32::MAX);
                Some(joined.freeze())
            }
            None => first.map(Piece::into_bytes),
        };
        Gathered { data, events, end }
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
    /// (up to one frame: an event it yielded but did not send, and events already
    /// waiting, such as a hub's own shutdown event), then the shutdown event; the stream
    /// ends. A stream opened after the signal sends only the shutdown event.
    /// What it had not made ready yet is left for the client to resume from its
    /// `Last-Event-ID`.
    fn shut_down(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<(Bytes, usize)> {
        let Gathered { data, events, end } = if self.running {
            self.as_mut().gather(cx)
        } else {
            Gathered {
                data: None,
                events: 0,
                end: None,
            }
        };
        let held = self.as_mut().project().held.take();
        // A stream that ended by itself in this last read is counted for its own reason.
        self.as_mut().end_stream(end.unwrap_or(EndReason::Shutdown));
        let last = self.config.shutdown_event.clone();
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
                // An event was sent since the timer was set.
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
        let Gathered { data, events, end } = self.as_mut().gather(cx);
        if let Some(reason) = end {
            self.as_mut().end_stream(reason);
        }
        if let Some(data) = data {
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
