//! [`Store`]: the connection, the JetStream stream, and which incarnation of it the ids
//! name.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_nats::{
    Client,
    client::Statistics,
    jetstream::{
        self,
        message::StreamMessage,
        stream::{Config, DirectGetErrorKind, DiscardPolicy, StorageType},
    },
};
use bytes::Bytes;
use tokio::sync::{Mutex, mpsc};

use super::{
    NatsConfig,
    ids::{epoch_of, position},
    subjects::{Subjects, previous_of},
};
use crate::{
    BoxError,
    hub::{
        History, Position,
        remote::{Entry, Notice, Page, Topics},
    },
};

/// How long JetStream remembers a publish's `Nats-Msg-Id`, so that a retried publish is
/// stored once: two minutes, or the age bound if shorter.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// What the stream holds now, as one `STREAM.INFO` read it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Snapshot {
    pub(super) epoch: u64,
    /// The stream's first and last sequence (`first` is `last + 1` when it is empty).
    pub(super) first: u64,
    pub(super) last: u64,
}

/// The stream and the connection it is reached on, shared by publishing, history reads
/// and the live task.
pub(super) struct Store {
    pub(super) client: Client,
    pub(super) context: jetstream::Context,
    pub(super) stream: jetstream::stream::Stream,
    config: Config,
    pub(super) subjects: Subjects,
    /// Whether events can leave the stream other than by the per-topic bound (an age or
    /// a byte bound), so that a topic may have nothing left at all.
    pub(super) bounded_by_time_or_size: bool,
    /// The incarnation of the stream the ids name: from its creation time, or from the
    /// time of its last break record (see [`Store::refresh`]).
    epoch: AtomicU64,
    /// The highest sequence this instance has seen in the epoch: a stream whose last
    /// one is behind it was restored from an older snapshot.
    high: AtomicU64,
    /// The highest sequence seen in each earlier epoch: a snapshot of an earlier
    /// incarnation of the stream may be restored.
    past: std::sync::Mutex<std::collections::HashMap<u64, u64>>,
    /// The connection count when the epoch was last read: a reconnection may have met a
    /// server that lost the stream, and the epoch is read again before it is trusted.
    verified: AtomicU64,
    refreshing: Mutex<()>,
    stats: Arc<Statistics>,
    pub(super) url: String,
    pub(super) link: Link,
}

/// Where the live feed's notices go: set by the driver's (re)connection, used by the
/// consumers, the connection's events and an epoch found changed.
#[derive(Clone, Default)]
pub(super) struct Link(Arc<std::sync::Mutex<Option<Feed>>>);

/// The generation of the live feed in use, and where its notices go.
type Feed = (u64, mpsc::UnboundedSender<Notice>);

impl Link {
    fn current(&self) -> std::sync::MutexGuard<'_, Option<Feed>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live feed of `generation` sends to `notices`.
    pub(super) fn connect(&self, generation: u64, notices: mpsc::UnboundedSender<Notice>) {
        *self.current() = Some((generation, notices));
    }

    /// Where notices go now.
    pub(super) fn notices(&self) -> Option<mpsc::UnboundedSender<Notice>> {
        self.current().as_ref().map(|(_, notices)| notices.clone())
    }

    /// The connection dropped: the live feed in use is lost.
    pub(super) fn lost(&self) {
        if let Some((generation, notices)) = &*self.current() {
            let _ = notices.send(Notice::Lost {
                generation: *generation,
            });
        }
    }

    /// The client connected again: the driver need not wait out its backoff.
    pub(super) fn ready(&self) {
        if let Some(notices) = self.notices() {
            let _ = notices.send(Notice::Ready);
        }
    }

    fn ended(&self) {
        if let Some(notices) = self.notices() {
            let _ = notices.send(Notice::Ended(Topics::All));
        }
    }
}

impl Store {
    /// Creates the stream if it is missing, and reads its epoch.
    pub(super) async fn open(
        client: Client,
        config: &NatsConfig,
        history: History,
        url: String,
        link: Link,
    ) -> Result<Self, BoxError> {
        let mut context = jetstream::new(client.clone());
        context.set_timeout(config.timing.command);
        let subjects = Subjects {
            prefix: config.prefix.clone(),
        };
        let stream_config = Config {
            name: config.stream.clone(),
            subjects: vec![subjects.all()],
            max_messages_per_subject: i64::try_from(history.event_limit().max(1))
                .unwrap_or(i64::MAX),
            max_bytes: config.max_bytes.unwrap_or(-1),
            max_age: history.age_limit().unwrap_or(Duration::ZERO),
            discard: DiscardPolicy::Old,
            storage: StorageType::File,
            allow_direct: true,
            // JetStream wants it within the age bound.
            duplicate_window: history
                .age_limit()
                .map_or(DUPLICATE_WINDOW, |age| age.min(DUPLICATE_WINDOW)),
            ..Config::default()
        };
        let stats = client.statistics();
        let connects = stats.connects.load(Ordering::SeqCst);
        let stream = get_or_create(&context, &stream_config, true).await?;
        let created = stream.cached_info().created.unix_timestamp_nanos();
        let epoch = epoch_of(era_began(&stream, &subjects.breaks(), created).await?);
        let high = stream.cached_info().state.last_sequence;
        Ok(Self {
            client,
            context,
            stream,
            config: stream_config,
            subjects,
            bounded_by_time_or_size: config.max_bytes.is_some() || history.age_limit().is_some(),
            epoch: AtomicU64::new(epoch),
            high: AtomicU64::new(high),
            past: std::sync::Mutex::default(),
            verified: AtomicU64::new(connects),
            refreshing: Mutex::new(()),
            stats,
            url,
            link,
        })
    }

    /// How many times the client has connected (the first time included).
    pub(super) fn connects(&self) -> u64 {
        self.stats.connects.load(Ordering::SeqCst)
    }

    /// The epoch last read.
    pub(super) fn current_epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The stream's epoch, read again first if the client has reconnected since it was
    /// last read.
    pub(super) async fn epoch(&self) -> Result<u64, BoxError> {
        if self.connects() == self.verified.load(Ordering::SeqCst) {
            return Ok(self.current_epoch());
        }
        Ok(self.refresh().await?.epoch)
    }

    /// Reads the stream's state (creating the stream if the server lost it), and its
    /// epoch.
    ///
    /// A stream whose last sequence is behind one this instance saw in its epoch went
    /// back (restored from an older snapshot, or it lost writes), keeping its creation
    /// time: it would hand out the sequences of the lost events again, each with an
    /// id that named another event before. The instance then writes the stream's
    /// break record (`<prefix>.t.break`), and the epoch is from the record's time from
    /// then on, for every instance: ids of the new history are new, and an id from
    /// before is of another epoch, so it resumes with the reset event.
    pub(super) async fn refresh(&self) -> Result<Snapshot, BoxError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let connects = self.connects();
        // Read before the stream's state: a sequence seen meanwhile may be past it.
        let seen = self.high.load(Ordering::SeqCst);
        let stream = get_or_create(&self.context, &self.config, false).await?;
        let info = stream.cached_info();
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let created = info.created.unix_timestamp_nanos();
        let breaks = self.subjects.breaks();
        let mut epoch = epoch_of(era_began(&stream, &breaks, created).await?);
        let seen = self.switch_to(epoch, seen);
        if last < seen {
            tracing::warn!(stream = %self.config.name, last, seen, "the NATS stream went back (restored from an older snapshot, or it lost writes): recording the break; ids from before it resume with the reset event");
            let ack = self
                .context
                .publish(breaks.clone(), Bytes::from(seen.to_string()))
                .await?;
            ack.await?;
            epoch = epoch_of(era_began(&stream, &breaks, created).await?);
            self.switch_to(epoch, seen);
        }
        self.high.fetch_max(last, Ordering::SeqCst);
        self.verified.store(connects, Ordering::SeqCst);
        Ok(Snapshot { epoch, first, last })
    }

    /// This instance saw the stream of `epoch` reach `sequence`.
    pub(super) fn saw(&self, epoch: u64, sequence: u64) {
        if epoch == self.current_epoch() {
            self.high.fetch_max(sequence, Ordering::SeqCst);
        }
    }

    /// The stream is of `epoch` now, and this instance had seen its epoch until now up
    /// to `seen`: the highest sequence seen in `epoch`. A new epoch ends every followed
    /// topic (their ids name another history), remembering `seen` for the epoch before,
    /// whose snapshot may be restored later.
    fn switch_to(&self, epoch: u64, seen: u64) -> u64 {
        let before = self.epoch.swap(epoch, Ordering::SeqCst);
        if before == epoch {
            return seen;
        }
        tracing::warn!(stream = %self.config.name, "the NATS stream is of another epoch (created anew, or its history broke): ids of the old one resume with the reset event");
        self.link.ended();
        let mut past = self
            .past
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        past.insert(before, seen);
        let seen = past.remove(&epoch).unwrap_or(0);
        self.high.store(seen, Ordering::SeqCst);
        seen
    }

    /// The sequence of the last message on `subject`; `0` for none.
    pub(super) async fn last_of(&self, subject: &str) -> Result<u64, BoxError> {
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(message.sequence),
            Err(err) if matches!(err.kind(), DirectGetErrorKind::NotFound) => Ok(0),
            Err(err) => Err(err.into()),
        }
    }

    /// The first message on `subject` at or after `sequence`, if any.
    pub(super) async fn next_of(
        &self,
        subject: &str,
        sequence: u64,
    ) -> Result<Option<StreamMessage>, BoxError> {
        match self
            .stream
            .direct_get_next_for_subject(subject, Some(sequence.max(1)))
            .await
        {
            Ok(message) => Ok(Some(message)),
            Err(err) if matches!(err.kind(), DirectGetErrorKind::NotFound) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Up to `limit` messages of `topic` after `after`, as far as the topic's last one
    /// (read first, so a message published meanwhile is not taken for its head).
    ///
    /// An `after` of another epoch (the stream was created anew) or ahead of the stream
    /// (the server lost messages) is a break at it, and the page is read from the
    /// stream's start. With an age or byte bound, a topic may have lost every message
    /// after `after` without a trace: the page says it is unproven when the stream's
    /// first message is past the one after `after`, and a message recording no event
    /// before it then breaks the chain (its topic's earlier events may have aged out
    /// before it was appended): a resume across it gets the reset event.
    pub(super) async fn read(
        &self,
        topic: &str,
        after: Position,
        limit: usize,
    ) -> Result<Page, BoxError> {
        let now = self.refresh().await?;
        let subject = self.subjects.of(topic);
        let head = self.last_of(&subject).await?;
        let (mut from, epoch) = after.parts();
        let mut broken_at = None;
        if after != Position::START && epoch != now.epoch {
            (broken_at, from) = (Some(after), 0);
        } else if from > now.last {
            broken_at = Some(after);
        }
        let mut page = Page {
            head: position(head, now.epoch),
            entries: Vec::new(),
            broken_at,
            unproven: self.bounded_by_time_or_size && from + 1 < now.first,
        };
        while page.entries.len() < limit && from < head {
            let Some(message) = self.next_of(&subject, from + 1).await? else {
                break;
            };
            if message.sequence > head {
                break;
            }
            from = message.sequence;
            // A message this crate did not write breaks the chain. So does "no event
            // before" once events after `after` left the stream: the topic's last ones
            // may have aged out before this one was appended after nothing.
            let previous = match previous_of(Some(&message.headers)) {
                Some(0) if page.unproven && after.parts().0 > 0 => u64::MAX,
                previous => previous.unwrap_or(u64::MAX),
            };
            page.entries.push(Entry {
                position: position(message.sequence, now.epoch),
                previous: position(previous, now.epoch),
                fields: message.payload,
            });
        }
        Ok(page)
    }
}

/// When the stream's current history began, in Unix nanoseconds: the time of its last
/// break record, or else its creation time (`created`). The epoch is made of it.
async fn era_began(
    stream: &jetstream::stream::Stream,
    breaks: &str,
    created: i128,
) -> Result<i128, BoxError> {
    match stream.direct_get_last_for_subject(breaks).await {
        Ok(record) => Ok(record.time.unix_timestamp_nanos()),
        Err(err) if matches!(err.kind(), DirectGetErrorKind::NotFound) => Ok(created),
        Err(err) => Err(err.into()),
    }
}

/// The stream, created if missing. Replicas start at the same moment: when another
/// instance creates the stream between this one's look-up and its create (JetStream
/// then refuses the create: the name is taken, or the subjects overlap), look again.
/// A stream being created by another instance at that moment may be answered without
/// its creation time (Go's zero time): read again (for up to about 1.6 s), since the
/// epoch is made of it and every instance must agree on it. At `setup`, a request not
/// answered in time (a server busy setting up for several instances) is tried again.
async fn get_or_create(
    context: &jetstream::Context,
    config: &Config,
    setup: bool,
) -> Result<jetstream::stream::Stream, BoxError> {
    let mut tries = 0u32;
    loop {
        match context.get_or_create_stream(config.clone()).await {
            // A stream stored without one keeps it: every instance reads the same.
            Ok(stream) if created_is_set(&stream) || tries >= 8 => return Ok(stream),
            Ok(_) => {
                tracing::debug!(stream = %config.name, "the NATS stream has no creation time yet (another instance is creating it); reading it again");
            }
            Err(err) if tries < 5 && (lost_a_race(&err) || (setup && timed_out(&err))) => {
                tracing::debug!(stream = %config.name, error = %err, "the NATS stream was created meanwhile, or the server is busy; reading it again");
            }
            Err(err) => return Err(err.into()),
        }
        tries += 1;
        tokio::time::sleep(Duration::from_millis(10 << tries.min(5))).await;
    }
}

/// Whether the stream's creation time is a real one: a stream still being created by
/// another instance is answered with Go's zero time (year 1), which would give this
/// instance an epoch of its own.
fn created_is_set(stream: &jetstream::stream::Stream) -> bool {
    stream.cached_info().created.unix_timestamp_nanos() > 0
}

/// Whether a stream look-up or create was not answered in time.
fn timed_out(err: &jetstream::context::CreateStreamError) -> bool {
    matches!(
        err.kind(),
        jetstream::context::CreateStreamErrorKind::TimedOut
    )
}

/// Whether JetStream refused a create because the stream came to exist meanwhile:
/// error codes 10058 (name in use) and 10065 (subjects overlap).
fn lost_a_race(err: &jetstream::context::CreateStreamError) -> bool {
    use jetstream::{ErrorCode, context::CreateStreamErrorKind};
    matches!(
        err.kind(),
        CreateStreamErrorKind::JetStream(err)
            if err.error_code() == ErrorCode::STREAM_NAME_EXIST
                || err.error_code() == ErrorCode::STREAM_SUBJECT_OVERLAP
    )
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("stream", &self.config.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}
