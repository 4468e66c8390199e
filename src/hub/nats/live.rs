//! The task that receives the live events of the topics this instance's clients follow
//! (one ordered JetStream consumer per topic, shared by its local subscribers), checks
//! each against its topic's chain, and recovers after a lost connection.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, push::OrderedConfig},
};
use futures_util::StreamExt;
use tokio::{
    sync::{mpsc, oneshot},
    task::AbortHandle,
};

use super::{
    history::{After, read_after},
    ids::position,
    store::Store,
    subjects::{delivery, previous_of},
};
use crate::hub::{Feed, Position, SubscribeError};

/// What the backend asks of the task.
pub(super) enum Request {
    /// A subscriber follows `topic`: answer with the position after which every event
    /// of the topic reaches the feed.
    Watch {
        topic: Arc<str>,
        watcher: u64,
        reply: oneshot::Sender<Result<Position, SubscribeError>>,
    },
    /// A subscriber of `topic` left (or gave up waiting).
    Unwatch { topic: Arc<str>, watcher: u64 },
    /// The client connected again: the server may have lost the stream.
    Reconnected,
}

/// A message of a topic's consumer, tagged with the consumer's generation.
type Incoming = (Arc<str>, u64, jetstream::Message);

/// A topic some local subscriber follows.
struct Topic {
    watchers: HashSet<u64>,
    subject: String,
    /// The sequence of the last event delivered (or the topic's, when watched).
    last: u64,
    generation: u64,
    consumer: AbortHandle,
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.consumer.abort();
    }
}

/// The task's state.
pub(super) struct Live {
    store: Arc<Store>,
    feed: Feed,
    topics: HashMap<Arc<str>, Topic>,
    /// The epoch the topics' positions are in.
    epoch: u64,
    /// The connection count the epoch was checked at.
    connects: u64,
    next_generation: u64,
    messages: mpsc::UnboundedSender<Incoming>,
}

impl Live {
    pub(super) fn new(store: Arc<Store>, feed: Feed) -> Self {
        let (messages, _) = mpsc::unbounded_channel();
        Self {
            epoch: store.current_epoch(),
            connects: store.connects(),
            store,
            feed,
            topics: HashMap::new(),
            next_generation: 0,
            messages,
        }
    }

    /// Serves requests and messages until the backend is dropped.
    pub(super) async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        let (messages, mut incoming) = mpsc::unbounded_channel();
        self.messages = messages;
        loop {
            tokio::select! {
                Some((topic, generation, message)) = incoming.recv() => {
                    self.on_message(&topic, generation, &message).await;
                }
                request = requests.recv() => match request {
                    Some(Request::Watch { topic, watcher, reply }) => {
                        let result = self.watch(topic, watcher).await;
                        let _ = reply.send(result);
                    }
                    Some(Request::Unwatch { topic, watcher }) => self.unwatch(&topic, watcher),
                    Some(Request::Reconnected) => self.check_epoch().await,
                    None => return,
                },
            }
        }
    }

    async fn watch(&mut self, topic: Arc<str>, watcher: u64) -> Result<Position, SubscribeError> {
        self.check_epoch().await;
        if let Some(state) = self.topics.get_mut(&topic) {
            state.watchers.insert(watcher);
            return Ok(position(state.last, self.epoch));
        }
        let subject = self.store.subjects.of(&topic);
        let last = self
            .store
            .last_of(&subject)
            .await
            .map_err(|err| backend_error("reading the topic's last sequence", &*err))?;
        let generation = self.generation();
        let consumer = self
            .follow(topic.clone(), &subject, last, generation)
            .await
            .map_err(|err| backend_error("creating the topic's consumer", &*err))?;
        self.topics.insert(
            topic,
            Topic {
                watchers: HashSet::from([watcher]),
                subject,
                last,
                generation,
                consumer,
            },
        );
        Ok(position(last, self.epoch))
    }

    fn unwatch(&mut self, topic: &Arc<str>, watcher: u64) {
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        // An unwatch for a watch that failed, or for a topic dropped and watched again
        // since, names no one here.
        if state.watchers.remove(&watcher) && state.watchers.is_empty() {
            self.topics.remove(topic);
        }
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// An ordered consumer of `subject` from after `last`, its messages forwarded to the
    /// task by a task of its own. The consumer recreates itself after a lost connection
    /// or a missed message, from the last one it handed over.
    async fn follow(
        &self,
        topic: Arc<str>,
        subject: &str,
        last: u64,
        generation: u64,
    ) -> Result<AbortHandle, crate::BoxError> {
        let consumer = self
            .store
            .stream
            .create_consumer(OrderedConfig {
                deliver_subject: self.store.client.new_inbox(),
                filter_subject: subject.to_owned(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: last + 1,
                },
                ..OrderedConfig::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        let forward = self.messages.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                match message {
                    Ok(message) => {
                        if forward.send((topic.clone(), generation, message)).is_err() {
                            return;
                        }
                    }
                    Err(err) => {
                        tracing::debug!(%topic, error = %err, "a NATS consumer is recovering");
                    }
                }
            }
        });
        Ok(task.abort_handle())
    }

    /// Delivers a live message if it follows on from the topic's last event; catches
    /// up from the stream if events came between; ends the topic's streams if they
    /// cannot be had.
    async fn on_message(
        &mut self,
        topic: &Arc<str>,
        generation: u64,
        message: &jetstream::Message,
    ) {
        if self.store.connects() != self.connects {
            // The message may come from a server that lost the stream: check first.
            self.check_epoch().await;
        }
        let Ok(info) = message.info() else {
            return;
        };
        let sequence = info.stream_sequence;
        let epoch = self.epoch;
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        if state.generation != generation || sequence <= state.last {
            // An old consumer's, or one delivered already.
            return;
        }
        let previous = previous_of(message.headers.as_ref());
        if previous == Some(state.last) {
            if let Some(delivery) = delivery(sequence, epoch, &message.payload) {
                state.last = sequence;
                self.feed.deliver(topic, delivery);
                return;
            }
        }
        self.catch_up(topic, sequence).await;
    }

    /// Reads `topic`'s events after the last one delivered from the stream and delivers
    /// them, if they follow on; otherwise ends the topic's streams, and goes on from
    /// `seen`, the message that showed the gap.
    async fn catch_up(&mut self, topic: &Arc<str>, seen: u64) {
        let Some(state) = self.topics.get(topic) else {
            return;
        };
        let (subject, last) = (state.subject.clone(), state.last);
        let read = match self.store.refresh().await {
            Ok(now) if now.epoch == self.epoch => {
                read_after(&self.store, &subject, last, now, true).await
            }
            Ok(_) => {
                self.epoch_changed();
                return;
            }
            Err(err) => Err(err),
        };
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        match read {
            Ok(After::Events(events)) => {
                let count = events.len();
                for delivery in events {
                    state.last = delivery.position().parts().0;
                    self.feed.deliver(topic, delivery);
                }
                tracing::info!(%topic, events = count, "caught up a topic from the NATS stream");
                if state.last >= seen {
                    return;
                }
            }
            Ok(After::Broken(_)) => {}
            Err(err) => {
                tracing::warn!(%topic, error = %err, "cannot read a topic's history from NATS");
            }
        }
        state.last = state.last.max(seen);
        let ended = self.feed.end_topics(std::slice::from_ref(topic));
        tracing::warn!(
            %topic, subscribers = ended,
            "events after the last one this instance delivered are gone from NATS; ending the topic's streams so they resume from their Last-Event-ID"
        );
    }

    /// After a reconnection, reads the stream's epoch: a server that lost the stream
    /// has a new one, and every topic's streams end.
    async fn check_epoch(&mut self) {
        let connects = self.store.connects();
        if connects == self.connects && self.store.current_epoch() == self.epoch {
            return;
        }
        match self.store.epoch().await {
            Ok(epoch) => {
                self.connects = connects;
                if epoch != self.epoch {
                    self.epoch = epoch;
                    self.epoch_changed();
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "cannot read the NATS stream's epoch yet");
            }
        }
    }

    /// The stream was created anew: nothing of the old one can be resumed from. Every
    /// stream of this instance ends, and its topics are watched afresh by the clients'
    /// next subscriptions.
    fn epoch_changed(&mut self) {
        self.epoch = self.store.current_epoch();
        self.topics.clear();
        let ended = self.feed.end_all();
        tracing::warn!(
            subscribers = ended,
            "the NATS stream was created anew; ending every stream so clients resume with the reset event"
        );
    }
}

fn backend_error(what: &str, err: &(dyn std::error::Error + Send + Sync)) -> SubscribeError {
    SubscribeError::Backend(format!("{what} on NATS failed: {err}").into())
}
