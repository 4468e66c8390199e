//! A subscribe, from the topics asked for to a running [`Subscription`]: [`Subscribe`]
//! (the options) checks the topics, joins the live feed, watches each topic, places the
//! client's `Last-Event-ID`, reads the history, and hands the result to the
//! subscription (`subscription.rs`), which then streams on its own.

mod subscription;

use std::{
    fmt,
    future::IntoFuture,
    hash::{BuildHasher, Hasher},
    sync::Arc,
    time::Duration,
};

use crate::metrics;

use super::{
    backend::{BoxFuture, Delivery, EventId, IdScope, Position, Retained},
    config::SubscriberChange,
    cursor,
    error::SubscribeError,
    state::State,
    topics::topic_set,
};
pub use subscription::{Replay, Subscription};

/// A subscribe to run: what [`Hub::subscribe`](super::Hub::subscribe) returns. Set where
/// the client resumes, then `.await` it for the [`Subscription`].
///
/// Without options, the stream starts with the next event published.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_sse::{Event, hub::{Hub, Replay}};
///
/// let hub = Hub::new();
/// let first = hub.publish("chat", Event::new().data("hello")).await?;
/// hub.publish("chat", Event::new().data("again")).await?;
///
/// // A client that saw `first` resumes after it.
/// let resumed = hub.subscribe("chat").after(Some(&first)).await?;
/// assert_eq!(resumed.replay(), Replay::Exact(1));
/// // A chat page that opens without an id gets the history first.
/// let opened = hub.subscribe("chat").after(None).with_history().await?;
/// assert_eq!(opened.replay(), Replay::Exact(2));
/// # Ok(())
/// # }
/// ```
#[must_use = "a subscribe does nothing until it is awaited"]
pub struct Subscribe<'a> {
    state: &'a Arc<State>,
    topics: Result<Arc<[Arc<str>]>, SubscribeError>,
    last_event_id: Option<&'a EventId>,
    history: bool,
}

/// Where a subscription resumes.
enum From {
    /// Everything retained.
    Start,
    /// After one position, in every topic.
    After(Position),
    /// After one position per topic.
    Each(Vec<Position>),
    /// The client's id cannot be placed.
    Unknown,
}

impl<'a> Subscribe<'a> {
    pub(crate) fn new(state: &'a Arc<State>, topics: Vec<&str>) -> Self {
        Self {
            state,
            topics: topic_set(topics),
            last_event_id: None,
            history: false,
        }
    }

    /// Resumes after `last_event_id`, the id the client sent (`Last-Event-ID`): every
    /// retained event after it is sent first, then the live ones, none missing and none
    /// twice ([`Replay::Exact`]); an id that cannot be placed starts the stream with the
    /// hub's reset event ([`Replay::Reset`]). `None` (the client sent no id) starts with
    /// the next event published, or with the whole history after
    /// [`with_history`](Subscribe::with_history).
    ///
    /// One id resumes every topic of the stream. With the in-process engine, ids are one
    /// sequence across topics, so each event's own id places the client in every topic.
    /// With an engine whose topics have their own sequences (Redis, NATS, PostgreSQL),
    /// each event of a stream of several topics is sent with a *cursor* as its id
    /// instead: `~`, a hash of the topic names, then one position per topic
    /// (`~1x3k9ab.lq2f8x3c.0`). It stays under 800 bytes for 64 topics. A cursor made for
    /// another set of topics, or one that cannot be read, resumes with the reset event.
    pub fn after(mut self, last_event_id: Option<&'a EventId>) -> Self {
        self.last_event_id = last_event_id;
        self
    }

    /// A client without a `Last-Event-ID` first gets every event still in the history
    /// (what a chat page shows when it opens), then live events. A client with one
    /// resumes after it all the same.
    pub fn with_history(mut self) -> Self {
        self.history = true;
        self
    }

    /// Runs the subscribe, running `between` after joining the live feed and before
    /// reading the history: tests publish there to hit the race.
    async fn run(self, between: impl Future<Output = ()>) -> Result<Subscription, SubscribeError> {
        let topics = self.topics?;
        let state = self.state;
        let mut subscription = join(state, &topics).await?;
        let cursor = topics.len() > 1 && state.backend.ids() == IdScope::Topic;
        between.await;
        let from = match self.last_event_id {
            None if !self.history => None,
            None => Some(From::Start),
            Some(id) => Some(resume_from(state, id.as_str(), &topics, cursor)),
        };
        let replayed = match from {
            None => Some(None),
            Some(From::Unknown) => None,
            Some(from) => retained(state, &topics, &from).await?.map(Some),
        };
        match replayed {
            Some(Some(events)) => {
                let count = events.len();
                subscription.start_with(events, Replay::Exact(count));
                metrics::replayed(true);
            }
            Some(None) => {}
            None => reset(state, &mut subscription, &topics, self.last_event_id),
        }
        if cursor {
            subscription.use_cursor();
        }
        Ok(subscription)
    }
}

impl<'a> IntoFuture for Subscribe<'a> {
    type Output = Result<Subscription, SubscribeError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run(async {}))
    }
}

impl fmt::Debug for Subscribe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribe")
            .field("topics", &self.topics)
            .field("last_event_id", &self.last_event_id)
            .field("history", &self.history)
            .finish()
    }
}

/// A subscriber of one of the hub's own topics, from now on.
pub(crate) async fn reserved(
    state: &Arc<State>,
    topic: String,
) -> Result<Subscription, SubscribeError> {
    let topics: Arc<[Arc<str>]> = Arc::new([Arc::from(topic)]);
    join(state, &topics).await
}

/// A subscriber of `topics` that has joined the live feed and watches every topic,
/// starting after the position each watch returned. Read the history after this: an
/// event published in between is in both, and the subscription skips the copy.
async fn join(
    state: &Arc<State>,
    topics: &Arc<[Arc<str>]>,
) -> Result<Subscription, SubscribeError> {
    let deadline = state.config.max_duration.map(|(duration, jitter)| {
        Box::pin(tokio::time::sleep(
            duration.saturating_add(random_part_of(jitter)),
        ))
    });
    let receivers = state.fanout.join(topics, state.config.limits)?;
    // From here, dropping `subscription` (on an error or a panic too) unregisters it and
    // unwatches its topics.
    let mut subscription = Subscription::new(state.clone(), topics.clone(), receivers, deadline);
    tracing::debug!(?topics, "hub subscriber joined");
    if let Some(hook) = &state.config.on_subscriber {
        hook(SubscriberChange::Joined { topics });
    }
    for index in 0..topics.len() {
        let start = subscription.watch(index).await?;
        subscription.start_after(index, start);
    }
    Ok(subscription)
}

/// Where a client's `Last-Event-ID` places it in each topic.
fn resume_from(state: &State, id: &str, topics: &[Arc<str>], cursor: bool) -> From {
    let from_cursor = || {
        cursor::decode(id, cursor::topics_hash(topics), topics.len())
            .map_or(From::Unknown, From::Each)
    };
    if cursor {
        return from_cursor();
    }
    // A handoff position is a cursor whatever the topics and the engine.
    match state.backend.locate(id) {
        Some(position) => From::After(position),
        None if id.starts_with('~') => from_cursor(),
        None => From::Unknown,
    }
}

/// The retained events of `topics` from `from`, merged in position order, each with its
/// topic's index; `None` if they cannot be replayed exactly.
async fn retained(
    state: &State,
    topics: &[Arc<str>],
    from: &From,
) -> Result<Option<Vec<(usize, Delivery)>>, SubscribeError> {
    let mut events = Vec::new();
    for (index, topic) in topics.iter().enumerate() {
        let (after, exact) = match from {
            From::Start => (Position::START, false),
            From::After(position) => (*position, true),
            From::Each(positions) => (positions[index], true),
            From::Unknown => return Ok(None),
        };
        let read = state
            .flights
            .replay(&*state.backend, topic, after, exact)
            .await?;
        match read {
            Retained::Events(read) => {
                events.extend(read.into_iter().map(|delivery| (index, delivery)));
            }
            gap => {
                tracing::debug!(?topic, ?after, ?gap, "cannot replay exactly");
                return Ok(None);
            }
        }
    }
    if topics.len() > 1 {
        events.sort_by_key(|(_, delivery)| delivery.position());
    }
    Ok(Some(events))
}

/// Starts `subscription` with the reset event: its client's id cannot be replayed.
fn reset(
    state: &State,
    subscription: &mut Subscription,
    topics: &[Arc<str>],
    last_event_id: Option<&EventId>,
) {
    tracing::debug!(
        ?topics,
        last_event_id = ?last_event_id.map(EventId::as_str),
        "Last-Event-ID cannot be replayed; sending the reset event"
    );
    subscription.start_with_reset(state.config.reset_event.clone());
    metrics::replayed(false);
}

/// A random duration in `0..=max`, for jitter.
fn random_part_of(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    // RandomState is seeded randomly per instance: enough for spreading reconnects.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use crate::{EncodedEvent, Event, hub::Hub};

    use super::*;

    fn id_of(event: &EncodedEvent) -> String {
        std::str::from_utf8(event.as_bytes())
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("id: "))
            .and_then(|id| id.split('-').next())
            .unwrap()
            .to_owned()
    }

    /// The ids a subscription sends until it ends, after checking that it ends with the
    /// empty item that says why.
    async fn ids_to_the_end(subscription: Subscription) -> Vec<String> {
        let mut events: Vec<EncodedEvent> = subscription.collect().await;
        assert_eq!(events.pop().map(|end| end.len()), Some(0));
        events.iter().map(id_of).collect()
    }

    /// A subscription of `t` resuming after event `first`, with an event published after
    /// it joined the live feed and before it read the history (so the event is in both).
    async fn resumed_after_one_while_publishing(hub: &Hub, first: EventId) -> Subscription {
        let publisher = hub.clone();
        hub.subscribe(["t"])
            .after(Some(&first))
            .run(async move {
                publisher
                    .publish("t", Event::new().data("between"))
                    .await
                    .unwrap();
            })
            .await
            .unwrap()
    }

    /// An event published after the subscriber joined the live feed but before it read
    /// the history is in both: it must be sent once.
    #[tokio::test]
    async fn an_event_published_while_subscribing_is_sent_once() {
        let shutdown = crate::Shutdown::new();
        let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
        let first = hub.publish("t", Event::new().data("before")).await.unwrap();
        for _ in 0..2 {
            hub.publish("t", Event::new().data("before")).await.unwrap();
        }
        let subscription = resumed_after_one_while_publishing(&hub, first).await;
        assert_eq!(subscription.replay(), Replay::Exact(3));
        hub.publish("t", Event::new().data("after")).await.unwrap();
        shutdown.trigger();
        let ids = ids_to_the_end(subscription).await;
        assert_eq!(ids, ["2", "3", "4", "5"]);
    }

    /// The same when nothing was replayed before the race.
    #[tokio::test]
    async fn an_event_published_while_subscribing_at_the_head_is_sent_once() {
        let shutdown = crate::Shutdown::new();
        let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
        let first = hub.publish("t", Event::new().data("seen")).await.unwrap();
        let subscription = resumed_after_one_while_publishing(&hub, first).await;
        shutdown.trigger();
        let ids = ids_to_the_end(subscription).await;
        assert_eq!(ids, ["2"]);
    }
}
