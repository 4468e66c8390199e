//! The task that reads new entries from the Redis stream and fans them out locally.

use std::{sync::Arc, time::Duration};

use redis::{AsyncConnectionConfig, Client, aio::MultiplexedConnection, streams::StreamReadReply};

use super::{RedisConfig, decode};
use crate::hub::fanout::Fanout;

/// Reads the stream after `last_id` for as long as the hub lives, reconnecting with
/// backoff when Redis goes away, and hands every entry to `fanout` in stream order.
pub(super) async fn run(
    client: Client,
    config: RedisConfig,
    fanout: Arc<Fanout>,
    mut last_id: String,
) {
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(config.connect_timeout)
        .set_response_timeout(config.block + config.command_timeout);
    let block_ms = u64::try_from(config.block.as_millis()).unwrap_or(u64::MAX);
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let mut failing = false;
    while !fanout.is_closed() {
        let connection = match &mut conn {
            Some(connection) => connection,
            None => match client
                .get_multiplexed_async_connection_with_config(&connection_config)
                .await
            {
                Ok(connection) => conn.insert(connection),
                Err(err) => {
                    if !failing {
                        tracing::warn!(url = %config.url, error = %err, "cannot reach Redis; retrying");
                        failing = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            },
        };
        let reply: Result<Option<StreamReadReply>, _> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(config.read_batch)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&config.key)
            .arg(&last_id)
            .query_async(connection)
            .await;
        match reply {
            Ok(reply) => {
                if failing {
                    tracing::info!(url = %config.url, "reading from Redis again");
                    failing = false;
                }
                backoff = Duration::from_millis(50);
                for stream in reply.map(|r| r.keys).unwrap_or_default() {
                    for entry in &stream.ids {
                        if let Some((topic, delivery)) = decode(entry) {
                            fanout.deliver(&topic, delivery);
                        }
                        last_id.clone_from(&entry.id);
                    }
                }
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(url = %config.url, error = %err, "reading from Redis failed; reconnecting");
                    failing = true;
                }
                conn = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
