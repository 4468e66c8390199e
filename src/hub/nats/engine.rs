//! The NATS JetStream engine under the [driver](crate::hub::remote): appends that
//! expect the topic's last sequence, Direct Get reads, and an ordered consumer per
//! followed topic as its live feed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::{
    ConnectOptions, Event as ConnectionEvent,
    connection::State,
    jetstream::{
        self,
        consumer::{DeliverPolicy, push::OrderedConfig},
        context::PublishErrorKind,
        message::PublishMessage,
    },
};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::{sync::mpsc, task::AbortHandle};

use super::{
    NatsConfig,
    config::redacted,
    ids::{IDS, position},
    store::{Link, Store},
    subjects::{PREVIOUS, previous_of},
};
use crate::{
    BoxError,
    hub::{
        BoxFuture, History, IdScope, Position, SetupError,
        remote::{
            self, Append, AppendError, Appended, Entry, Found, Notice, Paged, Profile, RemoteEngine,
        },
    },
};

/// The engine: the stream, and the consumers of the topics followed.
pub(super) struct Engine {
    profile: Profile,
    store: Arc<Store>,
    consumers: Mutex<HashMap<Arc<str>, AbortHandle>>,
}

impl Engine {
    /// Connects to NATS and creates the stream if it is missing.
    pub(super) async fn connect(config: NatsConfig, history: History) -> Result<Self, SetupError> {
        config.check()?;
        let what =
            "a byte bound on each topic's history (NatsConfig::max_bytes bounds the whole stream)";
        remote::refuse_byte_bound("nats", history, what)?;
        let profile = Profile {
            name: "nats",
            url: redacted(&config.servers),
            scope: IdScope::Hub,
            marks: IDS,
            heartbeat: config.timing.heartbeat,
            page_size: 256,
        };
        let link = Link::default();
        let client = options(&config, link.clone())
            .connect(config.servers.as_slice())
            .await
            .map_err(|source| profile.setup_error(false, source))?;
        let store = Store::open(client, &config, history, profile.url.clone(), link)
            .await
            .map_err(|source| profile.setup_error(true, source))?;
        Ok(Self {
            profile,
            store: Arc::new(store),
            consumers: Mutex::new(HashMap::new()),
        })
    }

    /// A request answered by the server (a Direct Get of a subject no topic has)
    /// within the heartbeat: a flush alone would not tell a silent connection.
    async fn round_trip(&self) -> Result<(), BoxError> {
        let probe = self.store.subjects.probe();
        match tokio::time::timeout(self.profile.heartbeat, self.store.last_of(&probe)).await {
            Ok(answered) => answered.map(drop),
            Err(_) => Err("the NATS server did not answer in time".into()),
        }
    }

    fn consumers(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, AbortHandle>> {
        self.consumers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The messages of `topic` after its last one, as notices, by an ordered consumer
    /// that recreates itself after a lost connection or a missed message.
    async fn follow(&self, topic: &str) -> Result<AbortHandle, BoxError> {
        let notices = self
            .store
            .link
            .notices()
            .ok_or("the live feed is not connected")?;
        let subject = self.store.subjects.of(topic);
        let last = self.store.last_of(&subject).await?;
        let consumer = self
            .store
            .stream
            .create_consumer(OrderedConfig {
                deliver_subject: self.store.client.new_inbox(),
                filter_subject: subject,
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: last + 1,
                },
                ..OrderedConfig::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        let (store, topic) = (self.store.clone(), Arc::<str>::from(topic));
        let task = tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                match message {
                    Ok(message) => {
                        let Some(notice) = notice_of(&store, &topic, &message).await else {
                            continue;
                        };
                        if notices.send(notice).is_err() {
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
}

/// The client's settings: the live feed is reported lost when the connection drops
/// (the client reconnects by itself; the driver then follows every topic again).
fn options(config: &NatsConfig, link: Link) -> ConnectOptions {
    ConnectOptions::new()
        .name("tower-sse hub")
        .connection_timeout(config.timing.connect)
        .request_timeout(Some(config.timing.command))
        .ping_interval(config.timing.heartbeat)
        .reconnect_delay_callback(|attempts| {
            let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
            Duration::from_millis(50)
                .saturating_mul(attempts.min(40))
                .min(Duration::from_secs(2))
        })
        .event_callback(move |event| {
            let link = link.clone();
            async move {
                match event {
                    ConnectionEvent::Disconnected => link.lost(),
                    ConnectionEvent::Connected => link.ready(),
                    _ => {}
                }
            }
        })
}

/// The notice of a live message: its event, in the stream's epoch (read again first
/// after a reconnection: the server may have lost the stream).
async fn notice_of(
    store: &Store,
    topic: &Arc<str>,
    message: &jetstream::Message,
) -> Option<Notice> {
    let sequence = message.info().ok()?.stream_sequence;
    let epoch = match store.epoch().await {
        Ok(epoch) => epoch,
        Err(err) => {
            tracing::debug!(error = %err, "cannot read the NATS stream's epoch yet");
            store.current_epoch()
        }
    };
    store.saw(epoch, sequence);
    let entry = previous_of(message.headers.as_ref()).map(|previous| Entry {
        position: position(sequence, epoch),
        previous: position(previous, epoch),
        fields: message.payload.clone(),
    });
    Some(Notice::Event {
        topic: topic.clone(),
        position: position(sequence, epoch),
        entry,
    })
}

fn not_sent(err: impl Into<BoxError>) -> AppendError {
    AppendError::Failed {
        sent: false,
        err: err.into(),
    }
}

impl RemoteEngine for Engine {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    /// A publish expecting the topic's last sequence to be `previous`
    /// (`Nats-Expected-Last-Subject-Sequence`), recording it in a header, with the
    /// token as its `Nats-Msg-Id`: JetStream's duplicate window answers a second
    /// append with the first one's sequence.
    fn append<'a>(&'a self, append: Append<'a>) -> Appended<'a> {
        Box::pin(async move {
            let last = append.previous.map_or(0, |previous| previous.parts().0);
            let epoch = self.store.epoch().await.map_err(not_sent)?;
            let message = PublishMessage::build()
                .payload(Bytes::copy_from_slice(append.fields))
                .message_id(append.token)
                .expected_last_subject_sequence(last)
                .header(PREVIOUS, last.to_string().as_str());
            let subject = self.store.subjects.of(append.topic);
            let ack =
                (self.store.context.send_publish(subject, message).await).map_err(not_sent)?;
            match ack.await {
                Ok(ack) => {
                    self.store.saw(epoch, ack.sequence);
                    Ok(position(ack.sequence, epoch))
                }
                Err(err) => match err.kind() {
                    PublishErrorKind::WrongLastSequence => Err(AppendError::Raced),
                    PublishErrorKind::StreamNotFound => {
                        // No stream took it (the server lost the stream): create it again.
                        if let Err(recreate) = self.store.refresh().await {
                            tracing::debug!(error = %recreate, "cannot create the NATS stream again yet");
                        }
                        Err(not_sent(err))
                    }
                    _ => Err(AppendError::Failed {
                        sent: true,
                        err: err.into(),
                    }),
                },
            }
        })
    }

    /// Nothing: a message id cannot be looked up without publishing, and
    /// [`append`](RemoteEngine::append) with the same token is the look-up (within the
    /// duplicate window, two minutes or the age bound).
    fn find<'a>(&'a self, _topic: &'a str, _token: &'a str) -> Found<'a> {
        Box::pin(async { Ok(None) })
    }

    fn head<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Position, BoxError>> {
        Box::pin(async move {
            let epoch = self.store.epoch().await?;
            let last = self.store.last_of(&self.store.subjects.of(topic)).await?;
            Ok(position(last, epoch))
        })
    }

    fn read<'a>(&'a self, topic: &'a str, after: Position, limit: usize) -> Paged<'a> {
        Box::pin(self.store.read(topic, after, limit))
    }

    /// Reports the connection down until the client has reconnected (it does so by
    /// itself). A connection that looks up but does not answer (the heartbeat found it
    /// silent) is replaced: the client's own pings cannot find it, as every request
    /// postpones them.
    fn connect_live(
        &self,
        generation: u64,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.store.link.connect(generation, notices);
            if self.store.client.connection_state() != State::Connected {
                return Err("not connected to NATS yet".into());
            }
            if let Err(err) = self.round_trip().await {
                if let Err(reconnect) = self.store.client.force_reconnect().await {
                    tracing::debug!(error = %reconnect, "cannot replace the NATS connection");
                }
                return Err(err);
            }
            // After a reconnection: a server that lost the stream has a new epoch, and
            // the store tells the driver every topic ended.
            self.store.epoch().await.map(drop)
        })
    }

    fn open<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let consumer = self.follow(topic).await?;
            if let Some(old) = self.consumers().insert(topic.into(), consumer) {
                old.abort();
            }
            Ok(())
        })
    }

    fn close<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        if let Some(consumer) = self.consumers().remove(topic) {
            consumer.abort();
        }
        Box::pin(async { Ok(()) })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.round_trip())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for consumer in self.consumers().values() {
            consumer.abort();
        }
    }
}
