//! [`Subscription`], the stream of a hub subscriber.

use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context as TaskContext, Poll},
};

use bytes::BytesMut;
use futures_core::Stream;
use tokio::time::Sleep;
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use crate::{EncodedEvent, metrics::EndReason};

use super::super::{
    backend::{BoxFuture, Delivery, Position},
    config::{LagPolicy, SubscriberChange},
    cursor,
    error::SubscribeError,
    state::State,
};

/// How a subscription's start relates to the client's `Last-Event-ID`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_sse::{Event, EventId, hub::{Hub, Replay}};
///
/// let hub = Hub::new();
/// let id = hub.publish("t", Event::new().data("x")).await.unwrap();
/// let from = |id: &str| EventId::new(id).unwrap();
/// assert_eq!(hub.subscribe("t").await.unwrap().replay(), Replay::Live);
/// assert_eq!(hub.subscribe("t").after(Some(&id)).await.unwrap().replay(), Replay::Exact(0));
/// assert_eq!(hub.subscribe("t").after(from("nope").as_ref()).await.unwrap().replay(), Replay::Reset);
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
    /// Live events up to here were replayed already, or came before the start.
    through: Position,
    /// Whether the backend was asked to watch the topic for this subscription (it is
    /// told to stop, once, whatever the answer was).
    watched: bool,
}

/// An event waiting to be sent, and the topic it belongs to (none for the reset event).
struct Pending {
    topic: Option<usize>,
    delivery: Delivery,
}

/// The per-topic positions a stream of several topics sends as its ids.
struct Cursor {
    hash: u32,
    positions: Vec<Position>,
}

/// A hub subscriber: a stream of encoded events that plugs straight into an
/// [`SseLayer`](crate::SseLayer) factory.
///
/// It yields, in order: the reset event (if [`replay`](Subscription::replay) is
/// [`Replay::Reset`]), the retained events after the client's `Last-Event-ID`, then every
/// event published to its topics, merged in publish order. Dropping it (the client left)
/// removes the subscriber from the hub's counts at once.
///
/// It ends when the hub shuts down (after its
/// [shutdown signal](super::super::HubBuilder::graceful_shutdown)'s last event), when its maximum
/// duration is reached, or, under the default [`LagPolicy`], when the client falls too
/// far behind; over Redis, also when this instance finds that entries it had not read
/// were trimmed away (the `redis` engine).
/// In each case the client reconnects and resumes from its `Last-Event-ID`.
/// Its last item, when it ends by itself, is an empty [`EncodedEvent`] (no bytes,
/// [`len`](EncodedEvent::len) 0): the body sends nothing for it and, if the stream ends
/// right after it, counts the end for its reason in `sse_streams_closed_total`. Pass it
/// on if you wrap the stream.
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
/// let mut subscription = hub.subscribe("news").await.unwrap();
/// assert_eq!(&*subscription.topics()[0], "news");
/// let id = hub.publish("news", Event::new().data("hi")).await.unwrap();
/// let expected = format!("data: hi\nid: {id}\n\n");
/// assert_eq!(subscription.next().await.unwrap().as_bytes(), expected.as_bytes());
/// # }
/// ```
pub struct Subscription {
    pending: VecDeque<Pending>,
    live: Vec<Live>,
    cursor: Option<Cursor>,
    /// Whether the shutdown event was sent.
    sent_last: bool,
    replay: Replay,
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
    topics: Arc<[Arc<str>]>,
    /// This subscription's name in its watches.
    watcher: u64,
    state: Arc<State>,
}

/// What reading the live feeds found.
enum Found {
    /// Nothing more to read now.
    Settled,
    /// The subscription must end: lag under [`LagPolicy::Disconnect`], or a topic ended
    /// by its backend.
    End(EndReason),
}

impl Subscription {
    /// A subscriber of `topics` that has joined the fan-out (one receiver per topic, in
    /// order) and watched each topic from `starts`. With `cursor`, ids are cursors.
    pub(crate) fn new(
        state: Arc<State>,
        topics: Arc<[Arc<str>]>,
        receivers: Vec<tokio::sync::broadcast::Receiver<Delivery>>,
        deadline: Option<Pin<Box<Sleep>>>,
    ) -> Self {
        let live = receivers
            .into_iter()
            .map(|receiver| Live {
                stream: BroadcastStream::new(receiver),
                head: None,
                closed: false,
                through: Position::END,
                watched: false,
            })
            .collect();
        Self {
            pending: VecDeque::new(),
            live,
            cursor: None,
            sent_last: false,
            replay: Replay::Live,
            deadline,
            done: false,
            topics,
            watcher: state.next_watcher.fetch_add(1, Ordering::Relaxed),
            state,
        }
    }

    /// Asks the backend to watch topic `index` for this subscription; from now on, the
    /// subscription unwatches it when it ends, whatever the answer.
    pub(crate) fn watch(
        &mut self,
        index: usize,
    ) -> BoxFuture<'_, Result<Position, SubscribeError>> {
        self.live[index].watched = true;
        self.state.backend.watch(&self.topics[index], self.watcher)
    }

    /// Starts topic `index` after `through`: live events up to it are not sent.
    pub(crate) fn start_after(&mut self, index: usize, through: Position) {
        self.live[index].through = through;
    }

    /// Sends cursors of per-topic positions as ids, starting from each topic's start.
    pub(crate) fn use_cursor(&mut self) {
        self.cursor = Some(Cursor {
            hash: cursor::topics_hash(&self.topics),
            positions: self.live.iter().map(|live| live.through).collect(),
        });
    }

    /// Sends `replayed` (each with its topic's index) first, then the live events.
    pub(crate) fn start_with(&mut self, replayed: Vec<(usize, Delivery)>, replay: Replay) {
        for (topic, delivery) in replayed {
            let live = &mut self.live[topic];
            live.through = live.through.max(delivery.position());
            self.pending.push_back(Pending {
                topic: Some(topic),
                delivery,
            });
        }
        self.replay = replay;
    }

    /// Sends the reset event first, then the live events.
    pub(crate) fn start_with_reset(&mut self, reset: EncodedEvent) {
        self.pending.push_back(Pending {
            topic: None,
            delivery: Delivery::without_id(Position::START, reset),
        });
        self.replay = Replay::Reset;
    }

    /// How the subscription started: live, an exact replay, or a reset.
    pub fn replay(&self) -> Replay {
        self.replay
    }

    /// The topics subscribed to.
    pub fn topics(&self) -> &[Arc<str>] {
        &self.topics
    }

    /// Ends the subscription: its last item tells the body that polls it why.
    fn finish(&mut self, reason: EndReason) -> Poll<Option<EncodedEvent>> {
        self.done = true;
        self.unwatch();
        self.live.clear();
        self.pending.clear();
        self.deadline = None;
        Poll::Ready(Some(EncodedEvent::end(reason)))
    }

    /// Tells the backend that this subscription no longer follows the topics it watched.
    fn unwatch(&mut self) {
        for (live, topic) in self.live.iter_mut().zip(self.topics.iter()) {
            if std::mem::take(&mut live.watched) {
                self.state.backend.unwatch(topic, self.watcher);
            }
        }
    }

    /// The bytes to send for `pending`: as delivered, or with the cursor as its id.
    fn encode(&mut self, pending: Pending) -> EncodedEvent {
        let Some(cursor) = &mut self.cursor else {
            return pending.delivery.into_event();
        };
        if pending.delivery.position() == Position::END {
            return pending.delivery.into_event();
        }
        if let Some(topic) = pending.topic {
            cursor.positions[topic] = pending.delivery.position();
        }
        let id = cursor::encode(cursor.hash, &cursor.positions);
        let fields = pending.delivery.fields_before_id();
        let mut bytes = BytesMut::with_capacity(fields.len() + id.len() + 6);
        bytes.extend_from_slice(&fields);
        bytes.extend_from_slice(b"id: ");
        bytes.extend_from_slice(id.as_bytes());
        bytes.extend_from_slice(b"\n\n");
        EncodedEvent::from_bytes(bytes.freeze())
    }

    fn send(&mut self, pending: Pending) -> Poll<Option<EncodedEvent>> {
        Poll::Ready(Some(self.encode(pending)))
    }

    /// Applies the lag policy to a subscriber that missed `missed` events.
    fn lagged(&mut self, missed: u64) -> Result<(), EndReason> {
        match &self.state.config.lag {
            LagPolicy::Disconnect => {
                self.state.lag_disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    topics = ?self.topics, missed,
                    "hub subscriber fell behind; disconnecting it so it resumes from its Last-Event-ID"
                );
                Err(EndReason::Lag)
            }
            LagPolicy::Skip(notice) => {
                self.state.lag_skips.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    topics = ?self.topics, missed,
                    "hub subscriber fell behind; skipping the events it missed"
                );
                if let Some(notice) = notice {
                    self.pending.push_back(Pending {
                        topic: None,
                        delivery: Delivery::without_id(Position::START, notice.clone()),
                    });
                }
                Ok(())
            }
        }
    }

    /// Reads topic `index` until it has a head, is closed or has nothing now; whether
    /// anything new was read.
    fn fill_head(&mut self, index: usize, cx: &mut TaskContext<'_>) -> Result<bool, EndReason> {
        let mut progressed = false;
        loop {
            let live = &mut self.live[index];
            if live.head.is_some() || live.closed {
                return Ok(progressed);
            }
            match Pin::new(&mut live.stream).poll_next(cx) {
                Poll::Ready(Some(Ok(delivery))) => {
                    let position = delivery.position();
                    // The shutdown event comes through every topic: send it once.
                    let repeat = position == Position::END && self.sent_last;
                    if position > live.through && !repeat {
                        live.head = Some(delivery);
                        progressed = true;
                    }
                }
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                    self.lagged(missed)?;
                    progressed = true;
                }
                Poll::Ready(None) => {
                    live.closed = true;
                    // Closed while the hub is open: the backend ended the topic.
                    if !self.state.fanout.is_closed() {
                        return Err(EndReason::Backend);
                    }
                }
                Poll::Pending => return Ok(progressed),
            }
        }
    }

    /// Reads the next event of every topic, again and again until a pass finds nothing
    /// new: deliveries happen in position order, so any event earlier than a head read
    /// before that last pass was visible during it, and has been read.
    fn fill_heads(&mut self, cx: &mut TaskContext<'_>) -> Found {
        loop {
            let mut progressed = false;
            for index in 0..self.live.len() {
                match self.fill_head(index, cx) {
                    Ok(read) => progressed |= read,
                    Err(reason) => return Found::End(reason),
                }
            }
            if !progressed || !self.pending.is_empty() {
                return Found::Settled;
            }
        }
    }

    /// Whether a topic may hold an event it could not show because the task's
    /// cooperative budget ran out: it may be earlier than every head, so wait for the
    /// runtime to poll again (the budget asked it to) instead of sending a later one.
    fn out_of_budget(&self) -> bool {
        self.live.len() > 1
            && !tokio::task::coop::has_budget_remaining()
            && self
                .live
                .iter()
                .any(|live| live.head.is_none() && !live.closed)
    }

    /// Takes the earliest head. Every topic without one has a waker registered.
    fn take_earliest(&mut self) -> Option<Pending> {
        let (index, _) = self
            .live
            .iter()
            .enumerate()
            .filter_map(|(index, live)| live.head.as_ref().map(|head| (index, head.position())))
            .min_by_key(|&(_, position)| position)?;
        let delivery = self.live[index].head.take()?;
        if delivery.position() == Position::END {
            // The other topics' copies of the shutdown event are dropped; their
            // channels are closed, so they end without another wake-up.
            self.sent_last = true;
            for live in &mut self.live {
                live.head.take_if(|head| head.position() == Position::END);
            }
        }
        Some(Pending {
            topic: Some(index),
            delivery,
        })
    }
}

impl Stream for Subscription {
    type Item = EncodedEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<EncodedEvent>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                tracing::debug!(topics = ?this.topics, "hub subscription reached its maximum duration");
                return this.finish(EndReason::MaxDuration);
            }
        }
        if let Some(pending) = this.pending.pop_front() {
            return this.send(pending);
        }
        if let Found::End(reason) = this.fill_heads(cx) {
            return this.finish(reason);
        }
        if let Some(pending) = this.pending.pop_front() {
            return this.send(pending);
        }
        if this.out_of_budget() {
            return Poll::Pending;
        }
        if let Some(pending) = this.take_earliest() {
            return this.send(pending);
        }
        if this.live.iter().all(|live| live.closed) {
            // Every topic closed, and none by its backend: the hub shut down.
            return this.finish(EndReason::Shutdown);
        }
        Poll::Pending
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.unwatch();
        self.state.fanout.leave(&self.topics);
        tracing::debug!(topics = ?self.topics, "hub subscriber left");
        if let Some(hook) = &self.state.config.on_subscriber {
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
