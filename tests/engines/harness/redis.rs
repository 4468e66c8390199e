//! Redis: one server, and a cluster of three masters.

use std::time::Duration;

use tower_sse::hub::{
    Hub,
    redis::{Redis as RedisEngine, RedisConfig},
};

use super::{Data, Engine, Fault, Settings, timeout, url};
use crate::{
    common::proxy::Proxy,
    redis_servers::{RedisCluster, RedisServer, available, by_hand},
};

/// The one place that builds a hub over Redis.
async fn build(config: RedisConfig, settings: Settings) -> Hub {
    let config = config
        .prefix("test:")
        .connect_timeout(Duration::from_millis(500))
        .command_timeout(timeout(settings))
        .heartbeat(Duration::from_millis(300));
    super::build(RedisEngine::new(config), settings).await
}

/// The channel an instance listens to while a client follows `topic`.
fn channel(topic: &str) -> String {
    format!("test:{{{topic}}}:live")
}

/// How many connections listen to `topic`'s channel on the server at `port`.
async fn listeners(port: u16, topic: &str) -> usize {
    let reply = by_hand(port, &["PUBSUB", "SHARDNUMSUB", &channel(topic)]).await;
    let pairs: Vec<(String, usize)> = redis::from_redis_value(&reply).unwrap();
    pairs[0].1
}

/// One `redis-server`, with a proxy in front of it.
pub struct Redis {
    server: RedisServer,
    proxy: Proxy,
}

impl Engine for Redis {
    const NAME: &'static str = "redis";
    const CURSORS: bool = true;
    const FAULTS: &'static [Fault] = Fault::ALL;

    async fn start() -> Option<Self> {
        if !available() {
            return None;
        }
        let server = RedisServer::start().await;
        let proxy = Proxy::start("redis", server.port).await;
        Some(Self { server, proxy })
    }

    async fn hub(&self, settings: Settings) -> Hub {
        let url = url(settings, &self.proxy, self.server.url());
        build(RedisConfig::new(url), settings).await
    }

    async fn kill(&mut self) {
        self.server.stop();
    }

    /// With `Data::Kept`, Redis saves first: without persistence, a kill keeps nothing.
    async fn restart(&mut self, data: Data) {
        if data == Data::Kept && self.server.running() {
            self.server.by_hand(&["SAVE"]).await;
        }
        self.server.stop();
        match data {
            Data::Kept => self.server.restart().await,
            Data::Lost => self.server.restart_empty().await,
        }
    }

    fn freeze(&self, frozen: bool) {
        self.server.signal(if frozen { "STOP" } else { "CONT" });
    }

    async fn snapshot(&mut self) {
        self.server.by_hand(&["SAVE"]).await;
    }

    async fn restore(&mut self) {
        self.server.stop();
        self.server.restart().await;
    }

    fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    async fn followers(&self, topic: &str) -> usize {
        listeners(self.server.port, topic).await
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }
}

/// A Redis Cluster of three masters. Its faults strike every node at once.
pub struct Cluster {
    cluster: RedisCluster,
}

impl Engine for Cluster {
    const NAME: &'static str = "cluster";
    const CURSORS: bool = true;
    const FAULTS: &'static [Fault] = &[
        Fault::Kill,
        Fault::RestartEmpty,
        Fault::Freeze,
        Fault::Snapshot,
        Fault::Restore,
    ];

    async fn start() -> Option<Self> {
        if !available() {
            return None;
        }
        Some(Self {
            cluster: RedisCluster::start().await,
        })
    }

    async fn hub(&self, settings: Settings) -> Hub {
        build(RedisConfig::cluster(self.cluster.urls()), settings).await
    }

    async fn kill(&mut self) {
        for node in &mut self.cluster.nodes {
            node.stop();
        }
    }

    async fn restart(&mut self, data: Data) {
        for node in &mut self.cluster.nodes {
            if data == Data::Kept && node.running() {
                node.by_hand(&["SAVE"]).await;
            }
            node.stop();
        }
        for node in &mut self.cluster.nodes {
            match data {
                Data::Kept => node.restart().await,
                Data::Lost => node.restart_empty().await,
            }
        }
        self.cluster.wait_until_ok().await;
    }

    fn freeze(&self, frozen: bool) {
        for node in &self.cluster.nodes {
            node.signal(if frozen { "STOP" } else { "CONT" });
        }
    }

    async fn snapshot(&mut self) {
        for node in &self.cluster.nodes {
            node.by_hand(&["SAVE"]).await;
        }
    }

    async fn restore(&mut self) {
        for node in &mut self.cluster.nodes {
            node.stop();
        }
        for node in &mut self.cluster.nodes {
            node.restart().await;
        }
        self.cluster.wait_until_ok().await;
    }

    async fn followers(&self, topic: &str) -> usize {
        let node = self.cluster.node_of(&channel(topic)).await;
        listeners(self.cluster.nodes[node].port, topic).await
    }
}
