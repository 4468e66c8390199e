//! The connection commands (publish, history reads) go through: one server or a cluster.

use std::time::Duration;

use redis::{
    Client, Cmd, ConnectionInfo, Pipeline, RedisFuture, RedisResult, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};

/// Commands to one Redis server, or to the master of each key's slot in a cluster;
/// either reconnects by itself after a failure.
#[derive(Clone)]
pub(super) enum Commands {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Commands {
    /// Connects to the server of `node`.
    pub(super) async fn single(
        node: ConnectionInfo,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> RedisResult<Self> {
        let client = Client::open(node)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(connect_timeout)
            .set_response_timeout(command_timeout)
            .set_number_of_retries(2)
            .set_max_delay(1000);
        Ok(Self::Single(
            ConnectionManager::new_with_config(client, config).await?,
        ))
    }

    /// Connects to the cluster that `seeds` belong to.
    pub(super) async fn cluster(
        seeds: Vec<ConnectionInfo>,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> RedisResult<Self> {
        let client = ClusterClient::builder(seeds)
            .connection_timeout(connect_timeout)
            .response_timeout(command_timeout)
            .retries(3)
            .build()?;
        Ok(Self::Cluster(client.get_async_connection().await?))
    }
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
