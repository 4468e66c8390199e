//! Publishing: one event appended to its topic's subject, recording the sequence of the
//! topic's event before it, never stored twice.

use std::{
    hash::{BuildHasher, Hasher},
    time::Duration,
};

use async_nats::jetstream::{context::PublishErrorKind, message::PublishMessage};

use crate::{
    BoxError, Event,
    hub::{EventId, PublishError},
};

use super::{
    ids::{id_of, position},
    store::Store,
    subjects::PREVIOUS,
};

/// How many times a publish that failed on the connection is tried again (after 50,
/// 100 and 200 ms).
const RETRIES: u32 = 3;

/// How many times a publish is tried again because another instance published to the
/// same topic between reading the topic's last sequence and appending.
const RACES: u32 = 1000;

/// Appends `event` to `topic`'s subject, expecting the topic's last sequence to be the
/// one it records as the previous: a concurrent publish to the topic makes it read and
/// try again. Every try carries the same `Nats-Msg-Id`, so JetStream stores the event
/// once even when an acknowledgement was lost and the publish is retried.
pub(super) async fn publish(
    store: &Store,
    topic: &str,
    event: &Event,
) -> Result<EventId, PublishError> {
    let subject = store.subjects.of(topic);
    let payload = bytes::Bytes::copy_from_slice(event.field_bytes());
    let token = token();
    let mut sent = false;
    let mut failures = 0;
    let mut races = 0;
    let mut backoff = Duration::from_millis(50);
    loop {
        let err = match try_once(store, &subject, &payload, &token).await {
            Ok(id) => return Ok(id),
            Err(Try::Raced) if races < RACES => {
                races += 1;
                continue;
            }
            Err(Try::Raced) => Failure {
                sent: false,
                err: "the topic is published to too fast to append in order".into(),
            },
            Err(Try::Failed(failure)) => failure,
        };
        sent |= err.sent;
        failures += 1;
        if failures > RETRIES {
            let err = format!("publish to NATS at `{}` failed: {}", store.url, err.err).into();
            return Err(if sent {
                PublishError::Uncertain(err)
            } else {
                PublishError::Backend(err)
            });
        }
        tracing::debug!(error = %err.err, failures, "publishing to NATS failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

/// Why one try did not store the event.
enum Try {
    /// Another event of the topic was appended first.
    Raced,
    Failed(Failure),
}

struct Failure {
    /// Whether the event may have reached the stream.
    sent: bool,
    err: BoxError,
}

fn not_sent(err: impl Into<BoxError>) -> Try {
    Try::Failed(Failure {
        sent: false,
        err: err.into(),
    })
}

async fn try_once(
    store: &Store,
    subject: &str,
    payload: &bytes::Bytes,
    token: &str,
) -> Result<EventId, Try> {
    let epoch = store.epoch().await.map_err(not_sent)?;
    let last = store.last_of(subject).await.map_err(not_sent)?;
    let message = PublishMessage::build()
        .payload(payload.clone())
        .message_id(token)
        .expected_last_subject_sequence(last)
        .header(PREVIOUS, last.to_string().as_str());
    let ack = store
        .context
        .send_publish(subject.to_owned(), message)
        .await
        .map_err(not_sent)?;
    match ack.await {
        Ok(ack) => Ok(EventId::trusted(
            id_of(position(ack.sequence, epoch)).into(),
        )),
        Err(err) => match err.kind() {
            PublishErrorKind::WrongLastSequence => Err(Try::Raced),
            PublishErrorKind::StreamNotFound => {
                // No stream took it (the server lost the stream): create it again.
                if let Err(recreate) = store.recreate().await {
                    tracing::debug!(error = %recreate, "cannot create the NATS stream again yet");
                }
                Err(not_sent(err))
            }
            _ => Err(Try::Failed(Failure {
                sent: true,
                err: err.into(),
            })),
        },
    }
}

/// A token unique to one publish: its `Nats-Msg-Id`.
fn token() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    let first = hasher.finish();
    hasher.write_u64(first);
    format!("tower-sse-{first:016x}{:016x}", hasher.finish())
}
