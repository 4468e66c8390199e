//! The task that reads new entries from the Redis stream and fans them out locally.

use std::{sync::Arc, time::Duration};

use redis::{AsyncConnectionConfig, Client, aio::MultiplexedConnection, streams::StreamReadReply};

use super::{RedisConfig, decode, parse_key, redacted};
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
    let url = redacted(&config.url);
    // After a reconnection, check that the stream did not restart below `last_id`.
    let mut check_stream = false;
    while !fanout.is_closed() {
        let connection = match &mut conn {
            Some(connection) => connection,
            None => match client
                .get_multiplexed_async_connection_with_config(&connection_config)
                .await
            {
                Ok(connection) => {
                    check_stream = true;
                    conn.insert(connection)
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(%url, error = %err, "cannot reach Redis; retrying");
                        failing = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            },
        };
        if check_stream {
            // A Redis that lost its data (or a deleted key) gives new entries ids that
            // may be below `last_id`: reading after `last_id` would then miss them.
            let newest: Result<redis::streams::StreamRangeReply, _> = redis::cmd("XREVRANGE")
                .arg(&config.key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(connection)
                .await;
            if let Ok(newest) = newest {
                check_stream = false;
                let newest = newest.ids.first().and_then(|entry| parse_key(&entry.id));
                if newest.is_none_or(|newest| Some(newest) < parse_key(&last_id)) {
                    tracing::warn!(%url, "the Redis stream restarted below the last entry read; reading it from its beginning");
                    last_id = "0-0".to_owned();
                }
            }
        }
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
                    tracing::info!(%url, "reading from Redis again");
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
                if !(err.is_io_error() || err.is_timeout() || err.is_connection_dropped()) {
                    // Not a connection problem (a key that is not a stream...): say so
                    // every time, loudly, since no event gets through.
                    tracing::error!(%url, key = %config.key, error = %err, "Redis refuses to read the hub's stream");
                } else if !failing {
                    tracing::warn!(%url, error = %err, "reading from Redis failed; reconnecting");
                }
                failing = true;
                conn = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
