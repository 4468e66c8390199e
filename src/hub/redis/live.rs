//! The task that receives the live events of the topics this instance's clients follow,
//! through Redis sharded pub/sub, and recovers them when a node's connection is lost.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use redis::{
    AsyncConnectionConfig, Client, PushInfo, PushKind, RedisError, RedisResult, Value,
    aio::MultiplexedConnection,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    After, Settings,
    commands::Commands,
    history_after, is_connection_error, read,
    scripts::{BREAK, delivery, id_of, parse_id},
    topology::{self, Addr, Topology, info_for},
};
use crate::hub::{Delivery, Feed, Position, SubscribeError};

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
}

/// A push message, with the connection it came on (its node and generation).
type Push = (u64, Addr, PushInfo);

/// A connection to one node, subscribed to the channels of its topics.
struct Node {
    conn: MultiplexedConnection,
    generation: u64,
}

/// A topic some local subscriber follows.
struct Topic {
    /// The local subscribers that follow it.
    watchers: HashSet<u64>,
    node: Addr,
    /// The position of the last event delivered (or the stream's, when watched).
    last: Position,
    /// Until the first live event after `last`: earlier ones, published while the topic
    /// was being watched, are in its history and are skipped.
    fresh: bool,
    /// Set while the topic's node is being reconnected to.
    recovering: Option<Recovering>,
}

#[derive(Default)]
struct Recovering {
    /// Live events received on the new connection before the history was read, with
    /// the id before each.
    buffered: Vec<(Position, Delivery)>,
    /// Subscribers waiting for the topic to be back.
    waiting: Vec<oneshot::Sender<Result<Position, SubscribeError>>>,
}

/// How a topic came back after its node's connection was lost.
enum Outcome {
    /// The events after the last one delivered, in order, each following on.
    Caught(Vec<Delivery>),
    /// Events after the last one delivered are gone; the stream's last position now.
    Lost(Position),
}

/// What a finished recovery hands back to the task.
struct Recovery {
    node: Addr,
    connections: Vec<(Addr, Node)>,
    topology: Option<Topology>,
    topics: Vec<(Arc<str>, Addr, Outcome)>,
}

/// The task's state.
pub(super) struct Live {
    settings: Arc<Settings>,
    commands: Commands,
    topology: Topology,
    feed: Feed,
    nodes: HashMap<Addr, Node>,
    recovering: HashSet<Addr>,
    topics: HashMap<Arc<str>, Topic>,
    /// Channels this task unsubscribed from whose confirmation has not come back.
    unsubscribing: HashMap<Vec<u8>, usize>,
    /// Connections that reported a disconnection before a recovery handed them over.
    dead: HashSet<u64>,
    next_generation: u64,
    pushes: mpsc::UnboundedSender<Push>,
    push_receiver: Option<mpsc::UnboundedReceiver<Push>>,
    recovered: mpsc::UnboundedSender<Recovery>,
    recovered_receiver: Option<mpsc::UnboundedReceiver<Recovery>>,
}

impl Live {
    pub(super) fn new(
        settings: Arc<Settings>,
        commands: Commands,
        topology: Topology,
        feed: Feed,
    ) -> Self {
        let (pushes, push_receiver) = mpsc::unbounded_channel();
        let (recovered, recovered_receiver) = mpsc::unbounded_channel();
        Self {
            settings,
            commands,
            topology,
            feed,
            nodes: HashMap::new(),
            recovering: HashSet::new(),
            topics: HashMap::new(),
            unsubscribing: HashMap::new(),
            dead: HashSet::new(),
            next_generation: 0,
            pushes,
            push_receiver: Some(push_receiver),
            recovered,
            recovered_receiver: Some(recovered_receiver),
        }
    }

    /// Serves requests, push messages and finished recoveries until the backend is
    /// dropped.
    pub(super) async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        let (Some(mut pushes), Some(mut recovered)) =
            (self.push_receiver.take(), self.recovered_receiver.take())
        else {
            return;
        };
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (silent_tx, mut silent) = mpsc::unbounded_channel();
        loop {
            tokio::select! {
                Some(recovery) = recovered.recv() => self.apply(recovery).await,
                _ = heartbeat.tick() => self.ping_nodes(&silent_tx),
                Some((node, generation)) = silent.recv() => {
                    if self.nodes.get(&node).is_some_and(|n| n.generation == generation) {
                        tracing::warn!(%node, "a Redis node stopped answering on a live connection");
                        self.start_recovery(&node);
                    }
                }
                Some((generation, node, push)) = pushes.recv() => {
                    if let Some((topic, through)) = self.on_push(generation, node, push) {
                        self.broken(&topic, through).await;
                    }
                }
                request = requests.recv() => match request {
                    Some(Request::Watch { topic, watcher, reply }) => {
                        self.watch(topic, watcher, reply).await;
                    }
                    Some(Request::Unwatch { topic, watcher }) => self.unwatch(&topic, watcher).await,
                    None => return,
                },
            }
        }
    }

    async fn watch(
        &mut self,
        topic: Arc<str>,
        watcher: u64,
        reply: oneshot::Sender<Result<Position, SubscribeError>>,
    ) {
        if let Some(state) = self.topics.get_mut(&topic) {
            state.watchers.insert(watcher);
            match &mut state.recovering {
                Some(recovering) => recovering.waiting.push(reply),
                None => {
                    let _ = reply.send(Ok(state.last));
                }
            }
            return;
        }
        let result = self.watch_new(&topic, watcher).await;
        let _ = reply.send(result);
    }

    /// Subscribes to a topic no local subscriber followed, then reads its position.
    async fn watch_new(
        &mut self,
        topic: &Arc<str>,
        watcher: u64,
    ) -> Result<Position, SubscribeError> {
        let stream = self.settings.keys.stream(topic);
        let channel = self.settings.keys.channel(topic);
        let mut refreshed = false;
        let node = loop {
            let node = self.node_of(&stream)?;
            match self.subscribe(&node, &channel).await {
                Ok(()) => break node,
                Err(err) if !refreshed && self.settings.cluster && is_moved(&err) => {
                    refreshed = true;
                    self.topology = topology::refresh(&mut self.commands, &self.settings.seed)
                        .await
                        .map_err(|err| backend_error("CLUSTER SLOTS", &err))?;
                }
                Err(err) => return Err(backend_error("SSUBSCRIBE", &err)),
            }
        };
        let position = read(
            &mut self.commands,
            &self.settings.keys,
            topic,
            Position::START,
            0,
        )
        .await
        .map(|history| history.last.unwrap_or(Position::START));
        let last = match position {
            Ok(last) => last,
            Err(err) => {
                self.unsubscribe(&node, &channel).await;
                return Err(backend_error("history read", &err));
            }
        };
        self.topics.insert(
            topic.clone(),
            Topic {
                watchers: HashSet::from([watcher]),
                node,
                last,
                fresh: true,
                recovering: None,
            },
        );
        Ok(last)
    }

    /// The node that serves `key`, unless it is being reconnected to.
    fn node_of(&self, key: &str) -> Result<Addr, SubscribeError> {
        let node = self
            .topology
            .node_of(key.as_bytes())
            .cloned()
            .ok_or_else(|| SubscribeError::Backend("no Redis node serves this topic".into()))?;
        if self.recovering.contains(&node) {
            return Err(SubscribeError::Backend(
                format!("the Redis node `{node}` is being reconnected to").into(),
            ));
        }
        Ok(node)
    }

    /// Subscribes to `channel` on `node`'s connection, connecting first if needed.
    async fn subscribe(&mut self, node: &Addr, channel: &str) -> RedisResult<()> {
        if !self.nodes.contains_key(node) {
            let generation = self.generation();
            let conn = connect(&self.settings, node, generation, &self.pushes).await?;
            self.nodes.insert(node.clone(), Node { conn, generation });
        }
        let Some(entry) = self.nodes.get_mut(node) else {
            return Ok(());
        };
        let result = redis::cmd("SSUBSCRIBE")
            .arg(channel)
            .exec_async(&mut entry.conn)
            .await;
        if let Err(err) = &result {
            if is_connection_error(err) {
                // The node's other topics are on this connection too: recover them all.
                self.start_recovery(node);
            }
        }
        result
    }

    async fn unsubscribe(&mut self, node: &Addr, channel: &str) {
        let Some(entry) = self.nodes.get_mut(node) else {
            return;
        };
        *self
            .unsubscribing
            .entry(channel.as_bytes().to_vec())
            .or_default() += 1;
        let mut unsubscribe = redis::cmd("SUNSUBSCRIBE");
        unsubscribe.arg(channel);
        if let Err(err) = unsubscribe.exec_async(&mut entry.conn).await {
            // No confirmation will come. The connection is broken: its recovery
            // subscribes only to watched topics.
            tracing::debug!(error = %err, "SUNSUBSCRIBE failed");
            let key = channel.as_bytes();
            if let Some(count) = self.unsubscribing.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    self.unsubscribing.remove(key);
                }
            }
        }
    }

    async fn unwatch(&mut self, topic: &Arc<str>, watcher: u64) {
        let Some(state) = self.topics.get_mut(topic) else {
            return;
        };
        // An unwatch for a watch that failed, or for a topic dropped and watched again
        // since, names no one here.
        if !state.watchers.remove(&watcher) || !state.watchers.is_empty() {
            return;
        }
        let node = state.node.clone();
        self.topics.remove(topic);
        // A topic being recovered is unsubscribed from when its recovery ends.
        if !self.recovering.contains(&node) {
            let channel = self.settings.keys.channel(topic);
            self.unsubscribe(&node, &channel).await;
        }
    }

    /// Pings every node's connection in the background: one that does not answer
    /// within the command timeout (a connection that died without closing, behind a
    /// NAT or a partition) is reported on `silent`, to be recovered.
    fn ping_nodes(&self, silent: &mpsc::UnboundedSender<(Addr, u64)>) {
        for (addr, node) in &self.nodes {
            let (mut conn, generation) = (node.conn.clone(), node.generation);
            let (addr, silent) = (addr.clone(), silent.clone());
            tokio::spawn(async move {
                if redis::cmd("PING").exec_async(&mut conn).await.is_err() {
                    let _ = silent.send((addr, generation));
                }
            });
        }
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// Handles a push message; returns a topic whose history broke, and the last
    /// position delivered before the break.
    fn on_push(
        &mut self,
        generation: u64,
        node: Addr,
        push: PushInfo,
    ) -> Option<(Arc<str>, Position)> {
        match push.kind {
            PushKind::SMessage => return self.on_message(push.data),
            PushKind::Disconnection => {
                if self
                    .nodes
                    .get(&node)
                    .is_some_and(|n| n.generation == generation)
                {
                    self.start_recovery(&node);
                } else {
                    self.dead.insert(generation);
                }
            }
            PushKind::SUnsubscribe => self.on_unsubscribed(push.data),
            _ => {}
        }
        None
    }

    /// A live event: deliver it, or keep it until its topic's history has been read.
    /// Returns the topic and the last position delivered if its history broke there.
    fn on_message(&mut self, data: Vec<Value>) -> Option<(Arc<str>, Position)> {
        let [Value::BulkString(channel), Value::BulkString(payload)] = &data[..] else {
            return None;
        };
        let topic = self.settings.keys.topic_of(channel)?;
        let state = self.topics.get_mut(topic)?;
        let Some((previous, delivery)) = decode_message(payload) else {
            tracing::error!(%topic, "skipping a Redis message that is not a tower-sse event");
            return None;
        };
        if let Some(recovering) = &mut state.recovering {
            recovering.buffered.push((previous, delivery));
        } else if state.fresh && delivery.position() <= state.last {
            // Published while the topic was being watched: in its history.
        } else {
            state.fresh = false;
            let through = state.last;
            if !follow(&self.feed, topic, state, previous, delivery) {
                return Some((topic.into(), through));
            }
        }
        None
    }

    /// The history of `topic` broke after `through`, the last position this instance
    /// delivered: records it in Redis, so that no client anywhere resumes across the
    /// break as if nothing were missing, then ends the topic's streams.
    async fn broken(&mut self, topic: &str, through: Position) {
        let recorded = BREAK
            .key(self.settings.keys.breaks(topic))
            .arg(id_of(through))
            .arg(self.settings.max_age_ms)
            .invoke_async::<i64>(&mut self.commands)
            .await;
        if let Err(err) = recorded {
            tracing::error!(%topic, error = %err, "could not record where the topic's history broke; clients resuming from before it elsewhere may miss what Redis lost");
        }
        let ended = self.feed.end_topics(&[topic.into()]);
        tracing::warn!(
            %topic, subscribers = ended,
            "events after the last one this instance delivered are gone from Redis (trimmed, or the node lost data); ending the topic's streams so they resume from their Last-Event-ID"
        );
    }

    /// An unsubscription: the confirmation of one of ours, or Redis dropping a channel
    /// (its slot moved to another node). Then the topic's streams end, and their clients
    /// resume, on the node that serves it now.
    fn on_unsubscribed(&mut self, data: Vec<Value>) {
        let Some(Value::BulkString(channel)) = data.first() else {
            return;
        };
        if let Some(count) = self.unsubscribing.get_mut(channel) {
            *count -= 1;
            if *count == 0 {
                self.unsubscribing.remove(channel);
            }
            return;
        }
        let Some(topic) = self.settings.keys.topic_of(channel) else {
            return;
        };
        let Some((topic, _)) = self.topics.remove_entry(topic) else {
            return;
        };
        let ended = self.feed.end_topics(std::slice::from_ref(&topic));
        tracing::warn!(%topic, subscribers = ended, "Redis dropped the topic's channel (its slot moved); ending its streams so they resume");
    }

    /// The connection to `node` is lost: keep its topics' live events aside and recover
    /// them in the background.
    fn start_recovery(&mut self, node: &Addr) {
        self.nodes.remove(node);
        if !self.recovering.insert(node.clone()) {
            return;
        }
        let mut topics = Vec::new();
        for (topic, state) in &mut self.topics {
            if state.node == *node {
                state.recovering.get_or_insert_with(Recovering::default);
                topics.push((topic.clone(), state.last));
            }
        }
        tracing::warn!(%node, topics = topics.len(), "lost the connection to a Redis node; reconnecting");
        let known = self
            .nodes
            .iter()
            .map(|(addr, n)| (addr.clone(), n.conn.clone()))
            .collect();
        let recover = Recover {
            settings: self.settings.clone(),
            commands: self.commands.clone(),
            topology: self.topology.clone(),
            node: node.clone(),
            topics,
            known,
            pushes: self.pushes.clone(),
            first_generation: self.next_generation + 1,
        };
        // Generations for the connections the recovery may make.
        self.next_generation += 1 << 20;
        let done = self.recovered.clone();
        tokio::spawn(async move {
            let _ = done.send(recover.run().await);
        });
    }

    async fn apply(&mut self, recovery: Recovery) {
        self.recovering.remove(&recovery.node);
        if let Some(topology) = recovery.topology {
            self.topology = topology;
        }
        let dead = self.adopt(recovery.connections);
        let mut recovered = 0;
        let mut broken = Vec::new();
        for (topic, node, outcome) in recovery.topics {
            let Some(state) = self.topics.get_mut(&topic) else {
                let channel = self.settings.keys.channel(&topic);
                self.unsubscribe(&node, &channel).await;
                continue;
            };
            state.node = node;
            let (delivered, gap) = catch_up(&self.feed, &topic, state, outcome);
            recovered += delivered;
            broken.extend(gap.map(|through| (topic.clone(), through)));
        }
        tracing::info!(node = %recovery.node, events = recovered, "reconnected to Redis; delivered what was missed");
        for (topic, through) in broken {
            self.broken(&topic, through).await;
        }
        for node in dead {
            self.start_recovery(&node);
        }
    }

    /// Keeps a recovery's connections; returns the nodes to recover again: those the
    /// task connected to meanwhile (the recovery's connection, where its topics are
    /// subscribed, cannot be kept beside it) and those that died since.
    fn adopt(&mut self, connections: Vec<(Addr, Node)>) -> Vec<Addr> {
        let mut dead = Vec::new();
        for (addr, node) in connections {
            if self.nodes.contains_key(&addr) {
                dead.push(addr);
                continue;
            }
            if self.dead.remove(&node.generation) {
                dead.push(addr.clone());
            }
            self.nodes.insert(addr, node);
        }
        dead
    }
}

/// A recovery of the topics of one lost node, run in its own task.
struct Recover {
    settings: Arc<Settings>,
    commands: Commands,
    topology: Topology,
    node: Addr,
    topics: Vec<(Arc<str>, Position)>,
    known: HashMap<Addr, MultiplexedConnection>,
    pushes: mpsc::UnboundedSender<Push>,
    first_generation: u64,
}

impl Recover {
    /// Tries until it succeeds, with backoff.
    async fn run(mut self) -> Recovery {
        let mut backoff = Duration::from_millis(50);
        let mut attempt = 0u64;
        loop {
            match self.attempt(attempt).await {
                Ok(recovery) => return recovery,
                Err(err) => {
                    if attempt == 0 {
                        tracing::warn!(node = %self.node, error = %err, "cannot recover from Redis yet; retrying");
                    }
                    // A connection borrowed from the task may be the one that failed (its
                    // node may be lost too): make new ones from now on.
                    self.known.clear();
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn attempt(&mut self, attempt: u64) -> RedisResult<Recovery> {
        let topology = if self.settings.cluster {
            let topology = topology::refresh(&mut self.commands, &self.settings.seed).await?;
            self.topology = topology.clone();
            Some(topology)
        } else {
            None
        };
        // Each topic's node now, and a connection to each, subscribed to its topics.
        let mut connections = Vec::new();
        let mut generation = self.first_generation + attempt * 64;
        let mut owners = vec![self.node.clone(); self.topics.len()];
        for (node, indices) in self.by_node()? {
            let mut conn = match self.known.get(&node) {
                Some(conn) => conn.clone(),
                None => {
                    generation += 1;
                    let conn = connect(&self.settings, &node, generation, &self.pushes).await?;
                    let made = Node {
                        conn: conn.clone(),
                        generation,
                    };
                    connections.push((node.clone(), made));
                    conn
                }
            };
            for chunk in indices.chunks(512) {
                let mut subscribe = redis::cmd("SSUBSCRIBE");
                for &index in chunk {
                    subscribe.arg(self.settings.keys.channel(&self.topics[index].0));
                    owners[index] = node.clone();
                }
                subscribe.exec_async(&mut conn).await?;
            }
        }
        // Then each topic's history after the last event delivered.
        let mut topics = Vec::with_capacity(self.topics.len());
        for (index, owner) in owners.into_iter().enumerate() {
            let (topic, last) = self.topics[index].clone();
            let outcome = self.catch_up(&topic, last).await?;
            topics.push((topic, owner, outcome));
        }
        Ok(Recovery {
            node: self.node.clone(),
            connections,
            topology,
            topics,
        })
    }

    /// The topics (their indices) that each node serves now.
    fn by_node(&self) -> RedisResult<HashMap<Addr, Vec<usize>>> {
        let mut by_node: HashMap<Addr, Vec<usize>> = HashMap::new();
        for (index, (topic, _)) in self.topics.iter().enumerate() {
            let stream = self.settings.keys.stream(topic);
            let node = self.topology.node_of(stream.as_bytes()).cloned();
            let node = node.ok_or_else(|| {
                RedisError::from((
                    redis::ErrorKind::ClusterDown,
                    "no node serves a topic's slot",
                ))
            })?;
            by_node.entry(node).or_default().push(index);
        }
        Ok(by_node)
    }

    /// The events of `topic` after `last`, or why they cannot be had.
    async fn catch_up(&mut self, topic: &str, last: Position) -> RedisResult<Outcome> {
        let history = history_after(&mut self.commands, &self.settings, topic, last, true);
        Ok(match history.await? {
            After::Events(events) => Outcome::Caught(events),
            After::Broken(_, now) => Outcome::Lost(now),
        })
    }
}

/// Delivers a live event of `topic` if it follows on from the last one delivered, and
/// says whether it did; if not, the topic's history is broken there (a restore from an
/// older snapshot, a failover that lost writes, a deletion).
/// Delivers what a recovered topic missed, then what came live meanwhile; returns how
/// many were read from the history, and the position the topic broke after, if it did.
/// Its waiting subscribers resume from where it now stands.
fn catch_up(
    feed: &Feed,
    topic: &Arc<str>,
    state: &mut Topic,
    outcome: Outcome,
) -> (usize, Option<Position>) {
    let recovering = state.recovering.take().unwrap_or_default();
    let mut delivered = 0;
    let mut broken = None;
    match outcome {
        Outcome::Caught(events) => {
            delivered = events.len();
            for delivery in events {
                state.last = delivery.position();
                feed.deliver(topic, delivery);
            }
            for (previous, delivery) in recovering.buffered {
                // Read from the history already, or follows on.
                let through = state.last;
                if delivery.position() > through && !follow(feed, topic, state, previous, delivery)
                {
                    broken = Some(through);
                    break;
                }
            }
        }
        Outcome::Lost(now) => {
            let newest = recovering.buffered.iter().map(|(_, d)| d.position()).max();
            broken = Some(state.last);
            state.last = now.max(newest.unwrap_or(Position::START));
        }
    }
    // Live copies of what the history gave may still come: skip them.
    state.fresh = true;
    for waiting in recovering.waiting {
        let _ = waiting.send(Ok(state.last));
    }
    (delivered, broken)
}

fn follow(
    feed: &Feed,
    topic: &str,
    state: &mut Topic,
    previous: Position,
    delivery: Delivery,
) -> bool {
    let follows = previous == state.last && delivery.position() > state.last;
    state.last = delivery.position();
    if follows {
        feed.deliver(topic, delivery);
    }
    follows
}

/// A RESP3 connection to `node` whose push messages (tagged with `generation`) go to
/// `pushes`.
async fn connect(
    settings: &Settings,
    node: &Addr,
    generation: u64,
    pushes: &mpsc::UnboundedSender<Push>,
) -> RedisResult<MultiplexedConnection> {
    let info = info_for(&settings.seed, node, true).ok_or_else(|| {
        RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "not a host:port address",
        ))
    })?;
    let client = Client::open(info)?;
    let pushes = pushes.clone();
    let tag = node.clone();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(settings.connect_timeout)
        .set_response_timeout(settings.command_timeout)
        .set_push_sender(move |info: PushInfo| pushes.send((generation, tag.clone(), info)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// A live message, `<id> <previous id> <fields>`, as the previous id and a delivery.
fn decode_message(payload: &[u8]) -> Option<(Position, Delivery)> {
    let mut parts = payload.splitn(3, |&b| b == b' ');
    let id = std::str::from_utf8(parts.next()?).ok()?;
    let previous = parse_id(std::str::from_utf8(parts.next()?).ok()?)?;
    Some((previous, delivery(parse_id(id)?, id, parts.next()?)?))
}

fn is_moved(err: &RedisError) -> bool {
    matches!(err.kind(), redis::ErrorKind::Moved | redis::ErrorKind::Ask)
}

fn backend_error(what: &str, err: &RedisError) -> SubscribeError {
    SubscribeError::Backend(format!("{what} failed: {err}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_messages() {
        let (previous, delivery) = decode_message(b"12-3 12-2 event: x\ndata: y\n").unwrap();
        assert_eq!(previous, Position::new(12, 2));
        assert_eq!(delivery.position(), Position::new(12, 3));
        assert_eq!(
            delivery.event().as_bytes(),
            &b"event: x\ndata: y\nid: 12-3\n\n"[..]
        );
        assert!(decode_message(b"12-3 0-0 ").is_some());
        assert!(decode_message(b"12-3 0-0").is_none());
        assert!(decode_message(b"12-3 data: y\n").is_none());
        assert!(decode_message(b"x 0-0 data: y\n").is_none());
        assert!(decode_message(b"1-0 0-0 data: a\n\ndata: b\n").is_none());
    }
}
