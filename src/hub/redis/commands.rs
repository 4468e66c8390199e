//! The connection commands (publish, history reads) go through: one server or a cluster.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

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
    Single(Box<Single>),
    Cluster(ClusterConnection),
}

/// One server's connection, replaced when a command times out: the connection may have
/// died without closing (a NAT forgot it), which the client's own reconnection does
/// not notice.
#[derive(Clone)]
pub(super) struct Single {
    current: Arc<Mutex<ConnectionManager>>,
    client: Client,
    config: ConnectionManagerConfig,
}

impl Single {
    fn connection(&self) -> ConnectionManager {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// After `result`, replaces the connection if the command timed out.
    async fn check<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if result.as_ref().is_err_and(redis::RedisError::is_timeout) {
            let fresh =
                ConnectionManager::new_with_config(self.client.clone(), self.config.clone()).await;
            match fresh {
                Ok(fresh) => {
                    *self.current.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                    tracing::debug!("replaced a Redis connection after a command timed out");
                }
                Err(err) => {
                    tracing::debug!(error = %err, "could not replace a Redis connection yet")
                }
            }
        }
        result
    }
}

impl Commands {
    /// Connects to the server of `node`.
    pub(super) async fn single(
        node: ConnectionInfo,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> RedisResult<Self> {
        let client = Client::open(node)?;
        // One connection attempt a command: the client's own retries wait a second or
        // more each (its backoff starts at one second), so a publish to a server that is
        // down took over ten seconds to fail. The driver retries with its own backoff.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(connect_timeout)
            .set_response_timeout(command_timeout)
            .set_number_of_retries(0);
        let current = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
        Ok(Self::Single(Box::new(Single {
            current: Arc::new(Mutex::new(current)),
            client,
            config,
        })))
    }

    /// Connects to the cluster that `seeds` belong to; the client resends a failed
    /// command up to `retries` times by itself.
    pub(super) async fn cluster(
        seeds: Vec<ConnectionInfo>,
        connect_timeout: Duration,
        command_timeout: Duration,
        retries: u32,
    ) -> RedisResult<Self> {
        let client = ClusterClient::builder(seeds)
            .connection_timeout(connect_timeout)
            .response_timeout(command_timeout)
            .retries(retries)
            .build()?;
        Ok(Self::Cluster(client.get_async_connection().await?))
    }
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(single) => Box::pin(async move {
                let result = single.connection().req_packed_command(cmd).await;
                single.check(result).await
            }),
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
            Self::Single(single) => Box::pin(async move {
                let result = single
                    .connection()
                    .req_packed_commands(cmd, offset, count)
                    .await;
                single.check(result).await
            }),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(single) => single.connection().get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
