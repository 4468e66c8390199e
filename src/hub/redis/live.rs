//! The live feed: one RESP3 connection a node, subscribed (`SSUBSCRIBE`) to the shard
//! channels of the followed topics that node serves; its messages become the driver's
//! notices. A node's connection lost, or silent on the heartbeat, drops only that
//! node's topics ([`Notice::Dropped`]): the driver follows them again and catches up.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use redis::{
    AsyncConnectionConfig, Client, ConnectionInfo, ErrorKind, PushInfo, PushKind, RedisError,
    RedisResult, Value, aio::MultiplexedConnection,
};
use tokio::sync::mpsc;

use super::{
    Keys, RedisConfig,
    commands::Commands,
    scripts::message_entry,
    topology::{self, Addr, Topology, addr_of, info_for},
};
use crate::{
    BoxError,
    hub::remote::{Notice, Topics},
};

/// The live connections.
pub(super) struct Feeds {
    shared: Arc<Shared>,
    seed: ConnectionInfo,
    cluster: bool,
    connect_timeout: Duration,
    command_timeout: Duration,
}

/// What the connections' push messages are read with, and the connections.
struct Shared {
    keys: Keys,
    state: Mutex<State>,
}

/// The connections of the driver's current generation.
#[derive(Default)]
struct State {
    generation: u64,
    notices: Option<mpsc::UnboundedSender<Notice>>,
    topology: Topology,
    /// Each node's connection, with its serial number.
    nodes: HashMap<Addr, (u64, MultiplexedConnection)>,
    serial: u64,
    /// The node each followed topic's channel is subscribed on.
    topics: HashMap<Arc<str>, Addr>,
    /// Channels we unsubscribed from whose confirmation has not come back: any other
    /// unsubscription is Redis dropping a channel (its slot moved).
    unsubscribing: HashMap<Vec<u8>, usize>,
}

/// A connection: its generation, node and serial number.
type Tag = (u64, Addr, u64);

impl Feeds {
    pub(super) fn new(config: &RedisConfig, seed: ConnectionInfo, topology: Topology) -> Self {
        let state = State {
            topology,
            ..State::default()
        };
        let (keys, state) = (Keys::new(&config.prefix), Mutex::new(state));
        Self {
            shared: Arc::new(Shared { keys, state }),
            seed,
            cluster: config.cluster,
            connect_timeout: config.timing.connect,
            command_timeout: config.timing.command,
        }
    }

    /// Drops every connection and starts generation `generation`: on a cluster, reads
    /// the slots' map again; on one server, connects to it (so that a server away is
    /// told now).
    pub(super) async fn connect(
        &self,
        commands: &Commands,
        generation: u64,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Result<(), BoxError> {
        {
            let mut state = self.shared.lock();
            state.nodes.clear();
            state.topics.clear();
            state.unsubscribing.clear();
            state.generation = generation;
            state.notices = Some(notices);
        }
        if self.cluster {
            self.refresh(commands).await?;
        } else {
            self.node(&addr_of(&self.seed)).await?;
        }
        Ok(())
    }

    async fn refresh(&self, commands: &Commands) -> RedisResult<()> {
        let topology = topology::refresh(&mut commands.clone(), &self.seed).await?;
        self.shared.lock().topology = topology;
        Ok(())
    }

    /// Subscribes to `topic`'s channel on the node that serves it.
    pub(super) async fn open(&self, commands: &Commands, topic: &str) -> Result<(), BoxError> {
        let (stream, channel) = (
            self.shared.keys.stream(topic),
            self.shared.keys.channel(topic),
        );
        let mut refreshed = false;
        loop {
            let node = (self
                .shared
                .lock()
                .topology
                .node_of(stream.as_bytes())
                .cloned())
            .ok_or("no Redis node serves the topic's slot")?;
            let subscribed = match self.node(&node).await {
                Ok((serial, mut conn)) => {
                    let mut subscribe = redis::cmd("SSUBSCRIBE");
                    let subscribed = subscribe.arg(&channel).exec_async(&mut conn).await;
                    if subscribed.as_ref().is_err_and(is_lost) {
                        // The node's other topics are on this connection too.
                        self.shared.drop_node(&node, serial);
                    }
                    subscribed
                }
                Err(err) => Err(err),
            };
            let err = match subscribed {
                Ok(()) => {
                    self.shared.lock().topics.insert(topic.into(), node);
                    return Ok(());
                }
                Err(err) => err,
            };
            if refreshed || !self.cluster || !(is_moved(&err) || is_lost(&err)) {
                return Err(err.into());
            }
            // The slot may have another master now.
            refreshed = true;
            self.refresh(commands).await?;
        }
    }

    /// Unsubscribes from `topic`'s channel.
    pub(super) async fn close(&self, topic: &str) -> Result<(), BoxError> {
        let channel = self.shared.keys.channel(topic).into_bytes();
        let mut conn = {
            let mut state = self.shared.lock();
            let Some(node) = state.topics.remove(topic) else {
                return Ok(());
            };
            let Some((_, conn)) = state.nodes.get(&node).cloned() else {
                return Ok(());
            };
            *state.unsubscribing.entry(channel.clone()).or_default() += 1;
            conn
        };
        let unsubscribed = redis::cmd("SUNSUBSCRIBE")
            .arg(&channel)
            .exec_async(&mut conn)
            .await;
        if unsubscribed.is_err() {
            // No confirmation will come.
            self.shared.lock().confirmed(&channel);
        }
        Ok(unsubscribed?)
    }

    /// Pings every node's connection in the background: one that does not answer
    /// within the command timeout (it died without closing: a NAT forgot it, a
    /// partition) drops its topics.
    pub(super) fn ping(&self) {
        let nodes: Vec<_> = self.shared.lock().nodes.clone().into_iter().collect();
        for (node, (serial, mut conn)) in nodes {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                if redis::cmd("PING").exec_async(&mut conn).await.is_err() {
                    tracing::warn!(%node, "a Redis node stopped answering on a live connection");
                    shared.drop_node(&node, serial);
                }
            });
        }
    }

    /// The connection to `node`, made if there is none.
    async fn node(&self, node: &Addr) -> RedisResult<(u64, MultiplexedConnection)> {
        let (generation, serial, notices) = {
            let mut state = self.shared.lock();
            if let Some(conn) = state.nodes.get(node) {
                return Ok(conn.clone());
            }
            state.serial += 1;
            (state.generation, state.serial, state.notices.clone())
        };
        let info = info_for(&self.seed, node).ok_or_else(|| {
            RedisError::from((ErrorKind::InvalidClientConfig, "not a host:port address"))
        })?;
        let notices = notices.ok_or_else(|| {
            RedisError::from((ErrorKind::ClientError, "the live feed is not connected"))
        })?;
        let (shared, tag) = (self.shared.clone(), (generation, node.clone(), serial));
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.command_timeout)
            .set_push_sender(move |push: PushInfo| match shared.notice(&tag, push) {
                Some(notice) => notices.send(notice),
                None => Ok(()),
            });
        let conn = Client::open(info)?
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut state = self.shared.lock();
        if state.generation != generation {
            return Err(RedisError::from((
                ErrorKind::ClientError,
                "the live feed was reconnected",
            )));
        }
        state.nodes.insert(node.clone(), (serial, conn.clone()));
        Ok((serial, conn))
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection `serial` to `node` is lost: tells the driver its topics dropped.
    fn drop_node(&self, node: &Addr, serial: u64) {
        let mut state = self.lock();
        if let Some(notice) = state.drop_node(node, serial) {
            if let Some(notices) = &state.notices {
                let _ = notices.send(notice);
            }
        }
    }

    /// The notice of a push message on the connection `tag`, if it makes one.
    fn notice(&self, (generation, node, serial): &Tag, push: PushInfo) -> Option<Notice> {
        let mut state = self.lock();
        if *generation != state.generation {
            return None;
        }
        match (push.kind, &push.data[..]) {
            (PushKind::SMessage, [Value::BulkString(channel), Value::BulkString(payload)]) => {
                let topic = self.keys.topic_of(channel)?;
                let Some(entry) = message_entry(payload) else {
                    tracing::error!(%topic, "skipping a Redis message that is not a tower-sse event");
                    return None;
                };
                let position = entry.position;
                let (topic, entry) = (topic.into(), Some(entry));
                Some(Notice::Event {
                    topic,
                    position,
                    entry,
                })
            }
            (PushKind::Disconnection, _) => state.drop_node(node, *serial),
            (PushKind::SUnsubscribe, [Value::BulkString(channel), ..]) => {
                if state.confirmed(channel) {
                    return None;
                }
                // Redis dropped the channel (its slot moved): the topic's streams end,
                // and their clients resume on the node that serves it now.
                let topic = self.keys.topic_of(channel)?;
                state.topics.remove(topic);
                tracing::warn!(%topic, "Redis dropped the topic's channel (its slot moved); ending its streams");
                Some(Notice::Ended(Topics::Only(vec![topic.into()])))
            }
            _ => None,
        }
    }
}

impl State {
    /// Forgets the connection `serial` to `node`, if it is the one in use, and its
    /// topics: the notice that drops them.
    fn drop_node(&mut self, node: &Addr, serial: u64) -> Option<Notice> {
        if self
            .nodes
            .get(node)
            .is_none_or(|(current, _)| *current != serial)
        {
            return None;
        }
        self.nodes.remove(node);
        let mut dropped = Vec::new();
        self.topics.retain(|topic, on| {
            let kept = on != node;
            if !kept {
                dropped.push(topic.clone());
            }
            kept
        });
        tracing::warn!(%node, topics = dropped.len(), "lost the connection to a Redis node; following its topics again");
        Some(Notice::Dropped(Topics::Only(dropped)))
    }

    /// Counts a confirmation of one of our unsubscriptions; `false` if none was awaited.
    fn confirmed(&mut self, channel: &[u8]) -> bool {
        let Some(count) = self.unsubscribing.get_mut(channel) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            self.unsubscribing.remove(channel);
        }
        true
    }
}

fn is_moved(err: &RedisError) -> bool {
    matches!(err.kind(), ErrorKind::Moved | ErrorKind::Ask)
}

/// Whether a failure is the connection's: it broke or timed out.
pub(super) fn is_lost(err: &RedisError) -> bool {
    err.is_io_error() || err.is_timeout() || err.is_connection_dropped()
}
