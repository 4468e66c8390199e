//! Publishing: an append tried again after a failure, under one token, so the event is
//! stored once, and a failure is reported as [`PublishError::Uncertain`] whenever a try
//! may have been stored.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use crate::{
    BoxError, Event,
    hub::{EventId, Position, PublishError},
};

use super::engine::{Append, AppendError, RemoteEngine};

/// How many times a publish that failed is tried again (after 50, 100 and 200 ms).
const RETRIES: u32 = 3;

/// How many times a publish is tried again because another one appended to the topic
/// after the head it expected (engines that do not order appends).
const RACES: u32 = 1000;

/// How many topics [`Heads`] remembers; past it, it forgets them all.
const HEADS_KEPT: usize = 4096;

/// For an engine that does not order appends: the position of each topic's last
/// append by this instance, which its next append expects as the topic's head (a topic
/// forgotten or never appended to is expected empty). The engine refuses a wrong
/// expectation ([`AppendError::Raced`]); only then is the head read, so a publish is
/// one round trip while no other instance appends to the topic.
#[derive(Debug, Default)]
pub(crate) struct Heads(Mutex<HashMap<Box<str>, Position>>);

impl Heads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Position>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn expected(&self, topic: &str) -> Position {
        self.lock().get(topic).copied().unwrap_or(Position::START)
    }

    fn appended(&self, topic: &str, position: Position) {
        let mut heads = self.lock();
        if heads.len() >= HEADS_KEPT && !heads.contains_key(topic) {
            heads.clear();
        }
        heads.insert(topic.into(), position);
    }
}

/// Appends `event` to `topic`, trying again after a failure with the same token; a try
/// after one that may have been stored first looks the token up.
pub(crate) async fn publish<E: RemoteEngine + ?Sized>(
    engine: &E,
    heads: &Heads,
    topic: &str,
    event: &Event,
) -> Result<EventId, PublishError> {
    let token = token();
    let fields = event.field_bytes();
    let mut sent = false;
    let mut failures = 0;
    let mut races = 0;
    let mut backoff = Duration::from_millis(50);
    // The head the next try expects; `None`: read it first (after a race).
    let mut expected = (!engine.orders_appends()).then(|| heads.expected(topic));
    loop {
        let err = match try_once(engine, topic, &token, fields, sent, &mut expected).await {
            Ok(position) => {
                if !engine.orders_appends() {
                    heads.appended(topic, position);
                }
                return Ok(EventId::trusted(engine.id_of(position).into()));
            }
            Err(AppendError::Raced) if races < RACES => {
                races += 1;
                expected = None;
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

/// One try: after a try that may have been stored, looks for it by its token first. An
/// engine that does not order appends is given the `expected` head, read first if
/// there is none (and kept for the next try).
async fn try_once<E: RemoteEngine + ?Sized>(
    engine: &E,
    topic: &str,
    token: &str,
    fields: &[u8],
    look_first: bool,
    expected: &mut Option<Position>,
) -> Result<Position, AppendError> {
    let not_sent = |err| AppendError::Failed { sent: false, err };
    if look_first {
        if let Some(position) = engine.find(topic, token).await.map_err(not_sent)? {
            return Ok(position);
        }
    }
    let previous = match (engine.orders_appends(), *expected) {
        (true, _) => None,
        (false, Some(head)) => Some(head),
        (false, None) => Some(engine.head(topic).await.map_err(not_sent)?),
    };
    *expected = previous;
    let append = Append {
        topic,
        previous,
        token,
        fields,
    };
    engine.append(append).await
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::mpsc;

    use super::*;
    use crate::hub::{
        BoxFuture, Position,
        remote::{Appended, Found, Notice, Paged, Profile, engine::TEST_PROFILE},
    };

    /// An engine whose appends answer from a script, as an engine that does not order
    /// appends itself (NATS) would; its head is 7.
    struct Scripted {
        appends: Mutex<Vec<Result<Position, AppendError>>>,
        found: Option<Position>,
        calls: Mutex<Vec<&'static str>>,
        expected: Mutex<Vec<u64>>,
    }

    impl Scripted {
        fn new(mut appends: Vec<Result<Position, AppendError>>, found: Option<Position>) -> Self {
            appends.reverse();
            Self {
                appends: Mutex::new(appends),
                found,
                calls: Mutex::new(Vec::new()),
                expected: Mutex::new(Vec::new()),
            }
        }

        fn called(&self, what: &'static str) {
            self.calls.lock().unwrap().push(what);
        }
    }

    fn failed(sent: bool) -> Result<Position, AppendError> {
        Err(AppendError::Failed {
            sent,
            err: "lost".into(),
        })
    }

    impl RemoteEngine for Scripted {
        fn profile(&self) -> &Profile {
            &TEST_PROFILE
        }
        fn id_of(&self, position: Position) -> String {
            format!("{}", position.parts().0)
        }
        fn append<'a>(&'a self, append: Append<'a>) -> Appended<'a> {
            let previous = append.previous.expect("a head expected").parts().0;
            self.expected.lock().unwrap().push(previous);
            self.called("append");
            let next = self.appends.lock().unwrap().pop();
            Box::pin(async move { next.unwrap_or_else(|| failed(false)) })
        }
        fn find<'a>(&'a self, _: &'a str, _: &'a str) -> Found<'a> {
            self.called("find");
            let found = self.found;
            Box::pin(async move { Ok(found) })
        }
        fn head<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Position, BoxError>> {
            self.called("head");
            Box::pin(async { Ok(Position::new(7, 0)) })
        }
        fn read<'a>(&'a self, _: &'a str, _: Position, _: usize) -> Paged<'a> {
            Box::pin(async { Err("no reads here".into()) })
        }
        fn connect_live(
            &self,
            _: u64,
            _: mpsc::UnboundedSender<Notice>,
        ) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn open<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn close<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn ping(&self) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
    }

    async fn publish_on(engine: &Scripted) -> Result<EventId, PublishError> {
        publish(engine, &Heads::default(), "t", &Event::new().data("x")).await
    }

    #[tokio::test(start_paused = true)]
    async fn an_append_expects_the_last_one_and_reads_the_head_only_when_raced() {
        let engine = Scripted::new(
            vec![
                Err(AppendError::Raced),
                Err(AppendError::Raced),
                Ok(Position::new(8, 0)),
                Ok(Position::new(9, 0)),
                Ok(Position::new(1, 0)),
            ],
            None,
        );
        let heads = Heads::default();
        for (topic, id) in [("t", "8"), ("t", "9"), ("u", "1")] {
            let published = publish(&engine, &heads, topic, &Event::new().data("x")).await;
            assert_eq!(published.unwrap().as_str(), id);
        }
        let calls = engine.calls.lock().unwrap().clone();
        let raced = ["append", "head", "append", "head", "append"];
        assert_eq!(calls, [&raced[..], &["append"; 2]].concat());
        // Empty, then the head read twice, then its own last append; another topic empty.
        assert_eq!(*engine.expected.lock().unwrap(), [0, 7, 7, 8, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_try_that_may_have_been_stored_is_looked_up_before_the_next() {
        let engine = Scripted::new(vec![failed(true)], Some(Position::new(8, 0)));
        assert_eq!(publish_on(&engine).await.unwrap().as_str(), "8");
        let calls = engine.calls.lock().unwrap().clone();
        assert_eq!(calls, ["append", "find"], "not appended twice");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_uncertain_once_a_try_may_have_been_stored() {
        let engine = Scripted::new(
            vec![failed(false), failed(true), failed(false), failed(false)],
            None,
        );
        let err = publish_on(&engine).await.unwrap_err();
        assert!(matches!(err, PublishError::Uncertain(_)), "{err:?}");
        let engine = Scripted::new(Vec::new(), None);
        let err = publish_on(&engine).await.unwrap_err();
        assert!(matches!(err, PublishError::Backend(_)), "{err:?}");
        assert_eq!(
            *engine.calls.lock().unwrap(),
            ["append"; 4],
            "four tries, each an append without a head read"
        );
    }
}
