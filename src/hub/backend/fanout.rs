//! Local fan-out: one broadcast channel per topic, shared by this process's
//! subscribers.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::sync::broadcast;

use super::{
    super::{config::Limits, error::SubscribeError},
    Delivery,
};

struct Channel {
    sender: broadcast::Sender<Delivery>,
    subscribers: usize,
}

pub(crate) struct Fanout {
    channels: Mutex<HashMap<Arc<str>, Channel>>,
    /// How far a subscriber may fall behind before the lag policy applies.
    capacity: usize,
    subscribers: AtomicUsize,
    closed: AtomicBool,
    /// Deliveries handed over by the backend.
    received: AtomicU64,
    /// The `topic` labels of the subscribers gauge, bounded.
    #[cfg(feature = "metrics")]
    labels: Mutex<crate::metrics::TopicLabels>,
}

impl Fanout {
    /// A fan-out whose topics hold `capacity` events, and whose first `metrics_topics`
    /// topics get a label of their own in the subscribers gauge.
    pub(crate) fn new(capacity: usize, metrics_topics: usize) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = metrics_topics;
        Self {
            channels: Mutex::default(),
            capacity: capacity.max(1),
            subscribers: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            received: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            labels: Mutex::new(crate::metrics::TopicLabels::new(metrics_topics)),
        }
    }

    /// Counts a subscriber of `topics` in the subscribers gauge (`joined`), or no longer.
    #[cfg(feature = "metrics")]
    fn count_subscriber(&self, topics: &[Arc<str>], joined: bool) {
        // Every update is one call: a panic elsewhere cannot leave the set half-updated.
        let mut labels = self
            .labels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for topic in topics {
            if joined {
                labels.joined(topic);
            } else {
                labels.left(topic);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Channel>> {
        // A panic elsewhere cannot leave the map half-updated: every update is one call.
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends `delivery` to this process's subscribers of `topic`, if it has any.
    pub(crate) fn deliver(&self, topic: &str, delivery: Delivery) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if let Some(channel) = self.lock().get(topic) {
            // An error only means every receiver is gone; they leave on their own.
            let _ = channel.sender.send(delivery);
        }
    }

    /// Registers a subscriber of `topics`, returning one receiver per topic. Limits are
    /// checked and counted under the same lock, so they are never exceeded.
    pub(crate) fn join(
        &self,
        topics: &[Arc<str>],
        limits: Limits,
    ) -> Result<Vec<broadcast::Receiver<Delivery>>, SubscribeError> {
        let mut channels = self.lock();
        if self.closed.load(Ordering::SeqCst) {
            return Err(SubscribeError::ShuttingDown {
                retry_after: limits.retry_after,
            });
        }
        if self.subscribers.load(Ordering::SeqCst) >= limits.hub {
            return Err(SubscribeError::HubFull {
                limit: limits.hub,
                retry_after: limits.retry_after,
            });
        }
        for topic in topics {
            if channels.get(topic).map_or(0, |c| c.subscribers) >= limits.topic {
                return Err(SubscribeError::TopicFull {
                    limit: limits.topic,
                    retry_after: limits.retry_after,
                });
            }
        }
        let receivers = topics
            .iter()
            .map(|topic| {
                let channel = channels.entry(topic.clone()).or_insert_with(|| Channel {
                    sender: broadcast::channel(self.capacity).0,
                    subscribers: 0,
                });
                channel.subscribers += 1;
                channel.sender.subscribe()
            })
            .collect();
        self.subscribers.fetch_add(1, Ordering::SeqCst);
        drop(channels);
        #[cfg(feature = "metrics")]
        self.count_subscriber(topics, true);
        Ok(receivers)
    }

    /// Unregisters a subscriber that [`join`](Fanout::join) registered.
    pub(crate) fn leave(&self, topics: &[Arc<str>]) {
        let mut channels = self.lock();
        for topic in topics {
            if let Some(channel) = channels.get_mut(topic) {
                channel.subscribers -= 1;
                if channel.subscribers == 0 {
                    channels.remove(topic);
                }
            }
        }
        self.subscribers.fetch_sub(1, Ordering::SeqCst);
        drop(channels);
        #[cfg(feature = "metrics")]
        self.count_subscriber(topics, false);
    }

    /// Sends `last` (if any) to every subscriber, then closes every channel: each
    /// subscription ends after what it has queued. Later joins fail.
    pub(crate) fn close(&self, last: Option<Delivery>) {
        let mut channels = self.lock();
        self.closed.store(true, Ordering::SeqCst);
        if let Some(last) = &last {
            for channel in channels.values() {
                let _ = channel.sender.send(last.clone());
            }
        }
        // Nobody joins a closed hub: the new channels need no room.
        end_all(&mut channels, 1);
    }

    /// Ends the current subscriptions of `topics` after what they have queued, and
    /// returns how many subscribers those topics had. New subscribers join as usual.
    pub(crate) fn end_topics(&self, topics: &[Arc<str>]) -> usize {
        let mut channels = self.lock();
        let mut ended = 0;
        for topic in topics {
            if let Some(channel) = channels.get_mut(topic) {
                channel.sender = broadcast::channel(self.capacity).0;
                ended += channel.subscribers;
            }
        }
        ended
    }

    /// Ends every current subscription after what it has queued, whatever the lag
    /// policy, and returns how many there were. New subscribers join as usual.
    pub(crate) fn end_subscriptions(&self) -> usize {
        end_all(&mut self.lock(), self.capacity);
        self.subscribers.load(Ordering::SeqCst)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub(crate) fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::SeqCst)
    }

    /// The subscribers of each topic that has any now.
    pub(crate) fn topic_subscribers(&self) -> HashMap<Arc<str>, usize> {
        self.lock()
            .iter()
            .map(|(topic, channel)| (topic.clone(), channel.subscribers))
            .collect()
    }
}

/// Replaces every sender with one of a new channel of `capacity`, so current receivers
/// see their channel closed after what they have queued, while each entry keeps counting
/// its subscribers until they leave.
fn end_all(channels: &mut HashMap<Arc<str>, Channel>, capacity: usize) {
    for channel in channels.values_mut() {
        channel.sender = broadcast::channel(capacity).0;
    }
}
