//! The live task: the topics this instance's clients follow (interest), each checked
//! against its chain on every notice, caught up after a lost connection, ended when
//! their history broke; the heartbeat; reconnection with backoff.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use crate::hub::{Feed, Position, SubscribeError};

use super::{
    chain::{After, delivery, read_after},
    engine::{Notice, RemoteEngine, Topics},
};

/// What the backend asks of the task.
pub(crate) enum Request {
    /// A subscriber follows `topic`: answer with the position after which every event
    /// of the topic reaches the feed.
    Watch {
        topic: Arc<str>,
        watcher: u64,
        reply: oneshot::Sender<Result<Position, SubscribeError>>,
    },
    /// A subscriber of `topic` left (or gave up waiting).
    Unwatch { topic: Arc<str>, watcher: u64 },
}

/// A topic some local subscriber follows.
struct Topic {
    watchers: HashSet<u64>,
    /// The position of the last event delivered (or the topic's head when watched).
    last: Position,
    /// Its live feed was dropped ([`Notice::Dropped`]): it is followed again and
    /// caught up by [`Live::reopen`].
    stalled: bool,
}

/// The live connection (or some topics' feed) is gone: when to try again.
struct Retry {
    at: Instant,
    backoff: Duration,
    /// Whether a head read for a new subscriber went unanswered since the last try.
    unanswered: bool,
}

impl Retry {
    fn now() -> Self {
        Self {
            at: Instant::now(),
            backoff: FIRST_BACKOFF,
            unanswered: false,
        }
    }

    /// The try after one that failed.
    fn after(failed: Option<&Self>) -> Self {
        let backoff = failed.map_or(FIRST_BACKOFF, |retry| retry.backoff);
        Self {
            at: Instant::now() + backoff,
            backoff: (backoff * 2).min(MAX_BACKOFF),
            unanswered: false,
        }
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The task's state.
pub(crate) struct Live<E: ?Sized> {
    engine: Arc<E>,
    feed: Feed,
    topics: HashMap<Arc<str>, Topic>,
    /// The generation of the live connection in use.
    generation: u64,
    lost: Option<Retry>,
    /// Set while some topics are [stalled](Topic::stalled).
    stalled: Option<Retry>,
    notices: mpsc::UnboundedSender<Notice>,
}

impl<E: RemoteEngine + ?Sized> Live<E> {
    /// A task whose live connection `generation` is up, sending to `notices`.
    pub(crate) fn new(
        engine: Arc<E>,
        feed: Feed,
        generation: u64,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Self {
        Self {
            engine,
            feed,
            topics: HashMap::new(),
            generation,
            lost: None,
            stalled: None,
            notices,
        }
    }

    /// Serves requests and notices until the backend is dropped.
    pub(crate) async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
    ) {
        let every = self.engine.heartbeat();
        let mut heartbeat = tokio::time::interval_at(Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let retry_at = self.lost.as_ref().map(|retry| retry.at);
            let reopen_at = self
                .stalled
                .as_ref()
                .map(|retry| retry.at)
                .filter(|_| retry_at.is_none());
            tokio::select! {
                request = requests.recv() => match request {
                    Some(Request::Watch { topic, watcher, reply }) => {
                        let result = self.watch(topic, watcher).await;
                        let _ = reply.send(result);
                    }
                    Some(Request::Unwatch { topic, watcher }) => self.unwatch(&topic, watcher).await,
                    None => return,
                },
                Some(notice) = notices.recv() => self.on_notice(notice).await,
                _ = heartbeat.tick() => self.beat().await,
                () = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    self.reconnect().await;
                }
                () = tokio::time::sleep_until(reopen_at.unwrap_or_else(Instant::now)), if reopen_at.is_some() => {
                    self.reopen().await;
                }
            }
        }
    }

    async fn watch(&mut self, topic: Arc<str>, watcher: u64) -> Result<Position, SubscribeError> {
        if let Some(state) = self.topics.get_mut(&topic) {
            state.watchers.insert(watcher);
            return Ok(state.last);
        }
        if self.lost.is_some() {
            return self.watch_while_lost(topic, watcher).await;
        }
        let opened = async {
            self.engine.open(&topic).await?;
            self.engine.head(&topic).await
        };
        match opened.await {
            Ok(last) => {
                let watchers = HashSet::from([watcher]);
                let stalled = false;
                self.topics.insert(
                    topic,
                    Topic {
                        watchers,
                        last,
                        stalled,
                    },
                );
                Ok(last)
            }
            Err(err) => {
                let _ = self.engine.close(&topic).await;
                Err(self.error("following a topic", &err))
            }
        }
    }

    /// A topic new to the instance while the live feed is being recovered: followed
    /// from its head if the store answers within the heartbeat (the reconnection opens
    /// it and catches it up, as every followed topic), refused otherwise. One head
    /// that was not answered refuses the next ones at once until the next try to
    /// reconnect, so a storm of subscribers does not hold the task.
    async fn watch_while_lost(
        &mut self,
        topic: Arc<str>,
        watcher: u64,
    ) -> Result<Position, SubscribeError> {
        if self.lost.as_ref().is_some_and(|retry| retry.unanswered) {
            return Err(self.error("reconnecting", &"the live connection is down"));
        }
        let head = tokio::time::timeout(self.engine.heartbeat(), self.engine.head(&topic)).await;
        match head {
            Ok(Ok(last)) => {
                let watchers = HashSet::from([watcher]);
                self.topics.insert(
                    topic,
                    Topic {
                        watchers,
                        last,
                        stalled: false,
                    },
                );
                Ok(last)
            }
            failed => {
                if let Some(retry) = &mut self.lost {
                    retry.unanswered = true;
                }
                let err = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => "the store did not answer in time".to_owned(),
                };
                Err(self.error("reconnecting", &err))
            }
        }
    }

    async fn unwatch(&mut self, topic: &Arc<str>, watcher: u64) {
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        // An unwatch for a watch that failed, or for a topic dropped and watched again
        // since, names no one here.
        if state.watchers.remove(&watcher) && state.watchers.is_empty() {
            self.topics.remove(topic);
            if self.lost.is_none() {
                if let Err(err) = self.engine.close(topic).await {
                    tracing::debug!(%topic, error = %err, "cannot stop following a topic");
                }
            }
        }
    }

    async fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Lost { generation } if generation == self.generation => self.lose(),
            Notice::Lost { .. } => {}
            Notice::Ended(topics) => self.end(topics).await,
            Notice::Dropped(Topics::All) => self.lose(),
            Notice::Dropped(Topics::Only(topics)) => self.stall(topics),
            Notice::Ready => {
                if let Some(retry) = &mut self.lost {
                    retry.at = Instant::now();
                }
            }
            Notice::Event { .. } if self.lost.is_some() => {}
            Notice::Event {
                topic,
                position,
                entry,
            } => {
                let Some(state) = self.topics.get_mut(&topic) else {
                    return;
                };
                if position <= state.last || state.stalled {
                    return; // delivered already, by a read, or to be caught up
                }
                if let Some(entry) = entry.filter(|entry| entry.previous == state.last) {
                    state.last = entry.position;
                    if let Some(delivery) = delivery(&*self.engine, entry) {
                        self.feed.deliver(&topic, delivery);
                    }
                    return;
                }
                self.catch_up_or_lose(&topic).await;
            }
        }
    }

    /// [`catch_up`](Live::catch_up); a read that fails loses the live connection.
    async fn catch_up_or_lose(&mut self, topic: &Arc<str>) {
        if let Err(err) = self.catch_up(topic).await {
            tracing::warn!(engine = self.engine.name(), %topic, error = %err, "cannot read a topic's history; reconnecting");
            self.lose();
        }
    }

    /// Reads `topic`'s events after the last one delivered and delivers them, if they
    /// follow on; otherwise ends the topic's streams.
    async fn catch_up(&mut self, topic: &Arc<str>) -> Result<(), crate::BoxError> {
        let Some(last) = self.topics.get(topic).map(|state| state.last) else {
            return Ok(());
        };
        let read = read_after(&*self.engine, topic, last, true).await;
        let Some(state) = self.topics.get_mut(topic) else {
            return Ok(());
        };
        match read? {
            After::Events(events, through) => {
                state.last = through;
                for delivery in events {
                    self.feed.deliver(topic, delivery);
                }
            }
            After::Broken(_, head) => {
                state.last = head;
                self.broken(topic, last).await;
            }
        }
        Ok(())
    }

    /// The live feed of `topics` was dropped: they are followed again and caught up.
    fn stall(&mut self, topics: Vec<Arc<str>>) {
        for topic in topics {
            if let Some(state) = self.topics.get_mut(&topic) {
                state.stalled = true;
                self.stalled.get_or_insert_with(Retry::now);
            }
        }
    }

    fn set_stalled(&mut self, topic: &str, stalled: bool) {
        if let Some(state) = self.topics.get_mut(topic) {
            state.stalled = stalled;
        }
    }

    /// Follows the stalled topics again and catches each up; those that fail are tried
    /// again after a backoff.
    async fn reopen(&mut self) {
        let stalled: Vec<Arc<str>> = (self.topics.iter())
            .filter(|(_, state)| state.stalled)
            .map(|(topic, _)| topic.clone())
            .collect();
        let mut failed = false;
        for topic in &stalled {
            let reopened = match self.engine.open(topic).await {
                Ok(()) => {
                    self.set_stalled(topic, false);
                    self.catch_up(topic).await
                }
                Err(err) => Err(err),
            };
            if let Err(err) = reopened {
                tracing::debug!(engine = self.engine.name(), %topic, error = %err, "cannot follow a topic again yet");
                self.set_stalled(topic, true);
                failed = true;
            }
        }
        self.stalled = failed.then(|| Retry::after(self.stalled.as_ref()));
    }

    /// Events after `through`, the last position delivered, are gone: records the
    /// break, so no client resumes across it as if nothing were missing, and ends the
    /// topic's streams; their clients resume from their `Last-Event-ID`.
    async fn broken(&mut self, topic: &Arc<str>, through: Position) {
        if let Err(err) = self.engine.record_break(topic, through).await {
            tracing::error!(%topic, error = %err, "could not record where the topic's history broke");
        }
        let ended = self.feed.end_topics(std::slice::from_ref(topic));
        tracing::warn!(
            engine = self.engine.name(), %topic, subscribers = ended,
            "events after the last one this instance delivered are gone; ending the topic's streams so they resume from their Last-Event-ID"
        );
    }

    /// The history of `topics` broke as a whole: stops following them, and ends their
    /// streams (every stream, for [`Topics::All`]: a client of several topics too);
    /// their clients resume from their `Last-Event-ID`, and the next subscriber follows
    /// a topic afresh.
    async fn end(&mut self, topics: Topics) {
        let all = matches!(topics, Topics::All);
        let ended: Vec<Arc<str>> = match topics {
            Topics::All => self.topics.drain().map(|(topic, _)| topic).collect(),
            Topics::Only(only) => only
                .into_iter()
                .filter(|topic| self.topics.remove(topic).is_some())
                .collect(),
        };
        if self.lost.is_none() {
            for topic in &ended {
                if let Err(err) = self.engine.close(topic).await {
                    tracing::debug!(%topic, error = %err, "cannot stop following a topic");
                }
            }
        }
        let subscribers = if all {
            self.feed.end_all()
        } else {
            self.feed.end_topics(&ended)
        };
        tracing::warn!(
            engine = self.engine.name(),
            topics = ended.len(),
            subscribers,
            "the store's history broke as a whole; ending the streams so they resume from their Last-Event-ID"
        );
    }

    /// The heartbeat: a live connection that does not answer in time is lost.
    async fn beat(&mut self) {
        if self.lost.is_some() {
            return;
        }
        let answered = tokio::time::timeout(self.engine.heartbeat(), self.engine.ping()).await;
        if !matches!(answered, Ok(Ok(()))) {
            tracing::warn!(
                engine = self.engine.name(),
                "the live connection does not answer; reconnecting"
            );
            self.lose();
        }
    }

    fn lose(&mut self) {
        self.lost.get_or_insert_with(Retry::now);
    }

    /// Connects the live feed again, follows every topic again, and catches each up.
    async fn reconnect(&mut self) {
        self.generation += 1;
        let topics: Vec<Arc<str>> = self.topics.keys().cloned().collect();
        let connected = async {
            self.engine
                .connect_live(self.generation, self.notices.clone())
                .await?;
            for topic in &topics {
                self.engine.open(topic).await?;
            }
            Ok::<_, crate::BoxError>(())
        };
        if let Err(err) = connected.await {
            tracing::debug!(engine = self.engine.name(), error = %err, "cannot reconnect yet");
            self.lost = Some(Retry::after(self.lost.as_ref()));
            return;
        }
        self.lost = None;
        self.stalled = None;
        for state in self.topics.values_mut() {
            state.stalled = false;
        }
        tracing::info!(
            engine = self.engine.name(),
            topics = topics.len(),
            "reconnected; catching up"
        );
        for topic in &topics {
            self.catch_up_or_lose(topic).await;
        }
    }

    fn error(&self, what: &str, err: &dyn std::fmt::Display) -> SubscribeError {
        SubscribeError::Backend(
            format!(
                "{what} on {} at `{}` failed: {err}",
                self.engine.name(),
                self.engine.url()
            )
            .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    };

    use super::*;
    use crate::{
        BoxError,
        hub::{
            BoxFuture,
            backend::fanout::Fanout,
            remote::{Append, Appended, Found, Paged, Profile, engine::TEST_PROFILE},
        },
    };

    /// An engine whose live feed never connects, and whose head reads answer while
    /// `answers` is set.
    #[derive(Default)]
    struct Down {
        answers: AtomicBool,
        calls: Mutex<Vec<&'static str>>,
    }

    impl Down {
        fn called(&self, what: &'static str) {
            self.calls.lock().unwrap().push(what);
        }
    }

    impl RemoteEngine for Down {
        fn profile(&self) -> &Profile {
            &TEST_PROFILE
        }
        fn append<'a>(&'a self, _: Append<'a>) -> Appended<'a> {
            unreachable!("no publishing here")
        }
        fn find<'a>(&'a self, _: &'a str, _: &'a str) -> Found<'a> {
            Box::pin(async { Ok(None) })
        }
        fn head<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Position, BoxError>> {
            self.called("head");
            let answers = self.answers.load(Ordering::SeqCst);
            Box::pin(async move {
                if answers {
                    Ok(Position::new(7, 0))
                } else {
                    std::future::pending().await
                }
            })
        }
        fn read<'a>(&'a self, _: &'a str, _: Position, _: usize) -> Paged<'a> {
            Box::pin(async { Err("no reads here".into()) })
        }
        fn connect_live(
            &self,
            _: u64,
            _: mpsc::UnboundedSender<Notice>,
        ) -> BoxFuture<'_, Result<(), BoxError>> {
            self.called("connect");
            Box::pin(async { Err("down".into()) })
        }
        fn open<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            self.called("open");
            Box::pin(async { Ok(()) })
        }
        fn close<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn ping(&self) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn lost_task(engine: &Arc<Down>) -> Live<Down> {
        let (notices, _) = mpsc::unbounded_channel();
        let feed = Feed::new(Arc::new(Fanout::new(16, 0)));
        let mut live = Live::new(engine.clone(), feed, 1, notices);
        live.lose();
        live
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_topic_is_followed_while_reconnecting_if_the_store_answers() {
        let engine = Arc::new(Down::default());
        engine.answers.store(true, Ordering::SeqCst);
        let mut live = lost_task(&engine);
        assert_eq!(
            live.watch("t".into(), 1).await.unwrap(),
            Position::new(7, 0)
        );
        assert_eq!(
            live.watch("t".into(), 2).await.unwrap(),
            Position::new(7, 0)
        );
        assert_eq!(
            *engine.calls.lock().unwrap(),
            ["head"],
            "opened at reconnection"
        );
        live.reconnect().await;
        assert!(live.lost.is_some(), "still down");
        assert_eq!(live.topics["t"].watchers.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_topic_is_refused_while_reconnecting_if_the_store_is_silent() {
        let engine = Arc::new(Down::default());
        let mut live = lost_task(&engine);
        assert!(live.watch("t".into(), 1).await.is_err());
        assert!(live.watch("u".into(), 2).await.is_err());
        assert_eq!(
            *engine.calls.lock().unwrap(),
            ["head"],
            "one unanswered head refuses the next at once"
        );
        live.reconnect().await;
        engine.answers.store(true, Ordering::SeqCst);
        assert!(
            live.watch("u".into(), 3).await.is_ok(),
            "tried again after a try to reconnect"
        );
        assert!(!live.topics.contains_key("t"));
    }
}
