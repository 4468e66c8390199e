//! The task that reads new entries from the Redis stream and fans them out locally.

use std::{sync::Arc, time::Duration};

use redis::{
    AsyncConnectionConfig, Client, RedisResult, Value,
    aio::MultiplexedConnection,
    streams::{StreamId, StreamRangeReply, StreamReadReply},
};

use super::{RedisConfig, decode, first_key, newest, oldest, parse_key, redacted};
use crate::hub::{backend::Key, fanout::Fanout};

/// Reads the stream after `last_id` for as long as the hub lives, reconnecting with
/// backoff when Redis goes away, and hands every entry to `fanout` in stream order.
///
/// Every read also asks whether the stream still follows on from `last_id`. When entries
/// after it were trimmed before the reader got to them (it was cut off from Redis, or
/// fell that far behind), or the stream was deleted or rewritten below it, the reader
/// ends the local subscriptions rather than go on without them or send them entries
/// twice: their clients reconnect with their `Last-Event-ID` and get an exact replay or
/// the reset event. After a Redis restart (a new `run_id`) it does not: what Redis lost
/// cannot be told, the subscriptions stay, and clients that resume from older ids get
/// the reset event. A reader reading from the stream's beginning (`0-0`: the stream was
/// empty when the hub was built, or went below it) has no entry to check against, so
/// entries trimmed before its first read there go unnoticed.
pub(super) async fn run(
    client: Client,
    config: RedisConfig,
    fanout: Arc<Fanout>,
    mut last_id: String,
) {
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(config.connect_timeout)
        .set_response_timeout(config.block.saturating_add(config.command_timeout));
    let block_ms = u64::try_from(config.block.as_millis()).unwrap_or(u64::MAX);
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let mut failing = false;
    let url = redacted(&config.url);
    // The server's run id: a different one after a reconnection means Redis restarted,
    // and whatever it lost cannot be told from what was trimmed.
    let mut run_id: Option<String> = None;
    // Set when a reconnection finds a new run id, until a read succeeds.
    let mut restarted = false;
    // The first read on a connection does not wait: a stream that restarted below
    // `last_id` would keep it waiting for the whole block time before it is noticed.
    let mut wait = false;
    while !fanout.is_closed() {
        let connection = match &mut conn {
            Some(connection) => connection,
            None => match connect(&client, &connection_config).await {
                Ok((connection, id)) => {
                    restarted |= matches!((&run_id, &id), (Some(old), Some(new)) if old != new);
                    if id.is_some() {
                        run_id = id;
                    }
                    wait = false;
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
        let read = read(connection, &config, &last_id, wait.then_some(block_ms)).await;
        match read {
            Ok(Read {
                continuity,
                entries,
            }) => {
                if failing {
                    tracing::info!(%url, "reading from Redis again");
                    failing = false;
                }
                backoff = Duration::from_millis(50);
                wait = true;
                // After a restart, what Redis lost cannot be told: the subscriptions
                // stay, and clients resuming from old ids get the reset event.
                if continuity != Continuity::Continuous && !restarted {
                    let ended = fanout.end_subscriptions();
                    tracing::warn!(
                        %url, after = %last_id, subscribers = ended, ?continuity,
                        "entries after the last one this instance read may be gone (trimmed before it read them, or the stream deleted or rewritten); ending its subscriptions so they resume from their Last-Event-ID"
                    );
                }
                restarted = false;
                if continuity == Continuity::RestartedBelow {
                    tracing::warn!(%url, "the Redis stream now ends below the last entry read; reading it from its beginning");
                    last_id = "0-0".to_owned();
                    continue;
                }
                for entry in &entries {
                    if let Some((topic, delivery)) = decode(entry) {
                        fanout.deliver(&topic, delivery);
                    }
                    last_id.clone_from(&entry.id);
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

/// Entries read, and whether they follow on from the last one read before.
struct Read {
    continuity: Continuity,
    entries: Vec<StreamId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continuity {
    /// Nothing after the last entry read has gone.
    Continuous,
    /// The stream now ends below the last entry read: it was deleted or Redis lost its
    /// data, and new entries may have lower ids.
    RestartedBelow,
    /// The last entry read is gone and the oldest one left is newer: entries between
    /// them may have been trimmed before they were read. (If only the last entry read was
    /// trimmed, nothing was lost, but that cannot be told apart: the subscriptions end
    /// needlessly, and resume exactly or with the reset event.)
    Gap,
}

/// The last entry read, if entries after it may have gone: not when reading from the
/// stream's beginning (nothing was owed before it), nor while it is still `present`
/// (trimming removes the oldest entries first, so nothing after it has gone).
fn at_risk(last: &str, present: bool) -> Option<Key> {
    parse_key(last).filter(|&last| last != Key(0, 0) && !present)
}

/// Whether the stream still follows on from `last`, which has gone; `oldest` and
/// `newest` are the stream's ends now.
fn continuity(last: Key, oldest: Option<Key>, newest: Option<Key>) -> Continuity {
    match (oldest, newest) {
        (_, None) => Continuity::RestartedBelow,
        (_, Some(newest)) if newest < last => Continuity::RestartedBelow,
        (Some(oldest), _) if oldest > last => Continuity::Gap,
        // `last` alone was deleted (`XDEL`): what follows it is still there.
        _ => Continuity::Continuous,
    }
}

/// The entries after `last_id` (waiting up to `block_ms` for some, if given), and
/// whether they follow on from it.
///
/// Whether `last_id` is still there is asked in the same pipeline as the read, which
/// Redis runs back to back, so it describes the stream as the read found it; a read
/// that had to wait is served at the first new entry, before anything after `last_id`
/// can be trimmed. Only when it has gone (rarely) are the stream's ends looked up, just
/// after.
async fn read(
    connection: &mut MultiplexedConnection,
    config: &RedisConfig,
    last_id: &str,
    block_ms: Option<u64>,
) -> RedisResult<Read> {
    let mut xread = redis::cmd("XREAD");
    xread.arg("COUNT").arg(config.read_batch);
    if let Some(block_ms) = block_ms {
        xread.arg("BLOCK").arg(block_ms);
    }
    xread.arg("STREAMS").arg(&config.key).arg(last_id);
    // The entry itself is not wanted: only whether the reply is empty.
    let (present, reply): (Value, Option<StreamReadReply>) = redis::pipe()
        .cmd("XRANGE")
        .arg(&config.key)
        .arg(last_id)
        .arg(last_id)
        .add_command(xread)
        .query_async(connection)
        .await?;
    let present = matches!(present, Value::Array(entries) if !entries.is_empty());
    let continuity = match at_risk(last_id, present) {
        None => Continuity::Continuous,
        Some(last) => {
            let (start, end): (StreamRangeReply, StreamRangeReply) = redis::pipe()
                .add_command(oldest(&config.key))
                .add_command(newest(&config.key))
                .query_async(connection)
                .await?;
            continuity(last, first_key(&start), first_key(&end))
        }
    };
    Ok(Read {
        continuity,
        entries: entries(reply),
    })
}

fn entries(reply: Option<StreamReadReply>) -> Vec<StreamId> {
    reply
        .map(|reply| reply.keys)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|stream| stream.ids)
        .collect()
}

/// A connection, and the server's `run_id` (see [`server_run_id`]).
async fn connect(
    client: &Client,
    config: &AsyncConnectionConfig,
) -> RedisResult<(MultiplexedConnection, Option<String>)> {
    let mut connection = client
        .get_multiplexed_async_connection_with_config(config)
        .await?;
    let id = server_run_id(&mut connection).await?;
    Ok((connection, id))
}

/// The server's `run_id`, which changes when Redis restarts; `None` where `INFO` is
/// not allowed (some managed services rename it), and then a restart is not told apart.
async fn server_run_id(connection: &mut MultiplexedConnection) -> RedisResult<Option<String>> {
    let info: String = match redis::cmd("INFO")
        .arg("server")
        .query_async(connection)
        .await
    {
        Ok(info) => info,
        Err(err) if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() => {
            return Err(err);
        }
        Err(err) => {
            tracing::debug!(error = %err, "INFO server refused; Redis restarts are not told apart from trimming");
            return Ok(None);
        }
    };
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix("run_id:"))
        .map(|id| id.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuity_of_the_stream_after_the_last_entry_read() {
        use Continuity::*;
        let k = |ms| Some(Key(ms, 0));
        let last = Key(5, 0);
        // Still there: whatever else was trimmed came before it.
        assert_eq!(at_risk("5-0", true), None);
        // Reading from the beginning, or an id this crate never reads after.
        assert_eq!(at_risk("0-0", false), None);
        assert_eq!(at_risk("5-0", false), Some(last));
        // Gone, and the oldest entry left is newer: trimmed past it.
        assert_eq!(continuity(last, k(7), k(9)), Gap);
        // Gone, but entries before and after it are there: deleted alone.
        assert_eq!(continuity(last, k(3), k(9)), Continuous);
        // The stream is empty, or ends below it: restarted.
        assert_eq!(continuity(last, None, None), RestartedBelow);
        assert_eq!(continuity(last, k(1), k(2)), RestartedBelow);
    }
}
