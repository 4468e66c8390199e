//! Publishing: an append tried again after a failure, under one token, so the event is
//! stored once, and a failure is reported as [`PublishError::Uncertain`] whenever a try
//! may have been stored.

use std::time::Duration;

use crate::{
    BoxError, Event,
    hub::{EventId, PublishError},
};

use super::engine::{AppendError, RemoteEngine};

/// How many times a publish that failed is tried again (after 50, 100 and 200 ms).
const RETRIES: u32 = 3;

/// How many times a publish is tried again because another one appended to the topic
/// between reading its head and appending (engines that do not order appends).
const RACES: u32 = 1000;

/// Appends `event` to `topic`, trying again after a failure with the same token; a try
/// after one that may have been stored first looks the token up.
pub(crate) async fn publish<E: RemoteEngine + ?Sized>(
    engine: &E,
    topic: &str,
    event: &Event,
) -> Result<EventId, PublishError> {
    let token = token();
    let fields = event.field_bytes();
    let mut sent = false;
    let mut failures = 0;
    let mut races = 0;
    let mut backoff = Duration::from_millis(50);
    loop {
        let err = match try_once(engine, topic, &token, fields, sent).await {
            Ok(position) => return Ok(EventId::trusted(engine.id_of(position).into())),
            Err(AppendError::Raced) if races < RACES => {
                races += 1;
                continue;
            }
            Err(AppendError::Raced) => {
                "the topic is published to too fast to append in order".into()
            }
            Err(AppendError::Failed { sent: maybe, err }) => {
                sent |= maybe;
                err
            }
        };
        failures += 1;
        if failures > RETRIES {
            let err: BoxError = format!(
                "publish to {} at `{}` failed: {err}",
                engine.name(),
                engine.url()
            )
            .into();
            return Err(if sent {
                PublishError::Uncertain(err)
            } else {
                PublishError::Backend(err)
            });
        }
        tracing::debug!(engine = engine.name(), error = %err, failures, "publishing failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

/// One try: after a try that may have been stored, looks for it by its token first.
async fn try_once<E: RemoteEngine + ?Sized>(
    engine: &E,
    topic: &str,
    token: &str,
    fields: &[u8],
    look_first: bool,
) -> Result<crate::hub::Position, AppendError> {
    let not_sent = |err| AppendError::Failed { sent: false, err };
    if look_first {
        if let Some(position) = engine.find(topic, token).await.map_err(not_sent)? {
            return Ok(position);
        }
    }
    let previous = if engine.orders_appends() {
        None
    } else {
        Some(engine.head(topic).await.map_err(not_sent)?)
    };
    engine.append(topic, previous, token, fields).await
}

/// A token unique to one publish, stored with the event.
fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    let first = hasher.finish();
    hasher.write_u64(first);
    format!("{first:016x}{:016x}", hasher.finish())
}
