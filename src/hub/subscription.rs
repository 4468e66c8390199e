//! [`Subscription`], the stream of a hub subscriber.

use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
};

use futures_core::Stream;
use tokio::time::Sleep;
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use crate::EncodedEvent;

use super::{
    LagPolicy, Shared, SubscriberChange,
    backend::{Delivery, Key},
};

/// How a subscription's start relates to the client's `Last-Event-ID`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::{Event, LastEventId, hub::{Hub, Replay}};
///
/// let hub = Hub::new();
/// hub.publish("t", Event::new().data("x")).await.unwrap();
/// let from = |id: &str| LastEventId::new(id).unwrap();
/// assert_eq!(hub.subscribe("t", None).await.unwrap().replay(), Replay::Live);
/// assert_eq!(hub.subscribe("t", from("1").as_ref()).await.unwrap().replay(), Replay::Exact(0));
/// assert_eq!(hub.subscribe("t", from("nope").as_ref()).await.unwrap().replay(), Replay::Reset);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// The client gave no id: the subscription starts with the next event published.
    Live,
    /// The client's id was found: every retained event after it is sent first (this many),
    /// then live events, none missing and none twice.
    Exact(usize),
    /// The client's id is unknown, or events after it have left the history. The
    /// subscription starts with the hub's reset event, then live events.
    Reset,
}

/// One topic's live feed, with the next event read from it but not yet sent.
struct Live {
    stream: BroadcastStream<Delivery>,
    head: Option<Delivery>,
    closed: bool,
}

/// A hub subscriber: a stream of encoded events that plugs straight into an
/// [`SseLayer`](crate::SseLayer) factory.
///
/// It yields, in order: the reset event (if [`replay`](Subscription::replay) is
/// [`Replay::Reset`]), the retained events after the client's `Last-Event-ID`, then every
/// event published to its topics, merged in publish order. Dropping it (the client left)
/// removes the subscriber from the hub's counts at once.
///
/// It ends when the hub shuts down (after the hub's shutdown event), when its maximum
/// lifetime is reached, or, under the default [`LagPolicy`], when the client falls too
/// far behind; over Redis, also when this instance finds that entries it had not read
/// were trimmed away (the `redis` feature's `HubBuilder::build_redis`).
/// In each case the client reconnects and resumes from its `Last-Event-ID`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio_stream::StreamExt;
/// use tower_sse::{Event, hub::Hub};
///
/// let hub = Hub::new();
/// let mut subscription = hub.subscribe("news", None).await.unwrap();
/// assert_eq!(&*subscription.topics()[0], "news");
/// hub.publish("news", Event::new().data("hi")).await.unwrap();
/// assert_eq!(subscription.next().await.unwrap().as_bytes(), &b"data: hi\nid: 1\n\n"[..]);
/// # }
/// ```
pub struct Subscription {
    pending: VecDeque<EncodedEvent>,
    live: Vec<Live>,
    /// Live events up to this key were replayed already.
    replayed_through: Option<Key>,
    /// Whether the shutdown event was sent.
    sent_last: bool,
    replay: Replay,
    lifetime: Option<Pin<Box<Sleep>>>,
    done: bool,
    topics: Arc<[Arc<str>]>,
    shared: Arc<Shared>,
}

impl Subscription {
    pub(super) fn new(
        shared: Arc<Shared>,
        topics: Arc<[Arc<str>]>,
        receivers: Vec<tokio::sync::broadcast::Receiver<Delivery>>,
        lifetime: Option<Pin<Box<Sleep>>>,
    ) -> Self {
        let live = receivers
            .into_iter()
            .map(|receiver| Live {
                stream: BroadcastStream::new(receiver),
                head: None,
                closed: false,
            })
            .collect();
        Self {
            pending: VecDeque::new(),
            live,
            replayed_through: None,
            sent_last: false,
            replay: Replay::Live,
            lifetime,
            done: false,
            topics,
            shared,
        }
    }

    /// Sets what is sent before the live events, and the key through which live events
    /// were already replayed.
    pub(super) fn start_with(
        &mut self,
        pending: VecDeque<EncodedEvent>,
        replayed_through: Key,
        replay: Replay,
    ) {
        self.pending = pending;
        self.replayed_through = Some(replayed_through);
        self.replay = replay;
    }

    /// How the subscription started: live, an exact replay, or a reset.
    pub fn replay(&self) -> Replay {
        self.replay
    }

    /// The topics subscribed to.
    pub fn topics(&self) -> &[Arc<str>] {
        &self.topics
    }

    fn finish(&mut self) -> Poll<Option<EncodedEvent>> {
        self.done = true;
        self.live.clear();
        self.pending.clear();
        self.lifetime = None;
        Poll::Ready(None)
    }
}

impl Stream for Subscription {
    type Item = EncodedEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EncodedEvent>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(lifetime) = &mut this.lifetime {
            if lifetime.as_mut().poll(cx).is_ready() {
                tracing::debug!(topics = ?this.topics, "hub subscription reached its maximum lifetime");
                return this.finish();
            }
        }
        if let Some(event) = this.pending.pop_front() {
            return Poll::Ready(Some(event));
        }

        // Read the next event of every topic, again and again until a pass finds nothing
        // new: deliveries happen in key order, so any event earlier than a head read
        // before that last pass was visible during it, and has been read.
        loop {
            let mut progressed = false;
            for live in &mut this.live {
                while live.head.is_none() && !live.closed {
                    match Pin::new(&mut live.stream).poll_next(cx) {
                        Poll::Ready(Some(Ok(delivery))) => {
                            let replayed = this.replayed_through.is_some_and(|r| delivery.key <= r);
                            // The shutdown event comes through every topic: send it once.
                            let repeat = delivery.key == Key::MAX && this.sent_last;
                            if !replayed && !repeat {
                                live.head = Some(delivery);
                                progressed = true;
                            }
                        }
                        Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                            match &this.shared.config.lag {
                                LagPolicy::Disconnect => {
                                    this.shared.lag_disconnects.fetch_add(1, Ordering::Relaxed);
                                    tracing::warn!(
                                        topics = ?this.topics, missed,
                                        "hub subscriber fell behind; disconnecting it so it resumes from its Last-Event-ID"
                                    );
                                    return this.finish();
                                }
                                LagPolicy::Skip(notice) => {
                                    this.shared.lag_skips.fetch_add(1, Ordering::Relaxed);
                                    tracing::warn!(
                                        topics = ?this.topics, missed,
                                        "hub subscriber fell behind; skipping the events it missed"
                                    );
                                    if let Some(notice) = notice {
                                        this.pending.push_back(notice.clone());
                                    }
                                    progressed = true;
                                }
                            }
                        }
                        Poll::Ready(None) => live.closed = true,
                        Poll::Pending => break,
                    }
                }
            }
            if let Some(event) = this.pending.pop_front() {
                return Poll::Ready(Some(event));
            }
            if !progressed {
                break;
            }
        }

        // A topic can answer "pending" while it holds an event, because the task's
        // cooperative budget ran out: it may hold one earlier than every head. Wait
        // for the runtime to poll again (the budget asked it to) instead of sending
        // a later event first.
        if this.live.len() > 1
            && !tokio::task::coop::has_budget_remaining()
            && this
                .live
                .iter()
                .any(|live| live.head.is_none() && !live.closed)
        {
            return Poll::Pending;
        }

        // Send the earliest head. Every topic without one has a waker registered.
        let earliest = this
            .live
            .iter_mut()
            .filter(|live| live.head.is_some())
            .min_by_key(|live| live.head.as_ref().map(|head| head.key))
            .and_then(|live| live.head.take());
        if let Some(delivery) = earliest {
            if delivery.key == Key::MAX {
                // The other topics' copies of the shutdown event are dropped; their
                // channels are closed, so they end without another wake-up.
                this.sent_last = true;
                for live in &mut this.live {
                    live.head.take_if(|head| head.key == Key::MAX);
                }
            }
            return Poll::Ready(Some(delivery.event));
        }
        if this.live.iter().all(|live| live.closed) {
            return this.finish();
        }
        Poll::Pending
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.fanout.leave(&self.topics);
        tracing::debug!(topics = ?self.topics, "hub subscriber left");
        if let Some(hook) = &self.shared.config.on_subscriber {
            hook(SubscriberChange::Left {
                topics: &self.topics,
            });
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topics", &self.topics)
            .field("replay", &self.replay)
            .field("done", &self.done)
            .finish()
    }
}
