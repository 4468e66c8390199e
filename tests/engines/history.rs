//! The history: its count and age bounds, and the server restarting with its data,
//! without it, or from an older snapshot. Whatever cannot be resumed exactly gets the
//! reset event; no event is ever sent twice or after a gap.

use std::time::Duration;

use tower_sse::hub::Replay;

use crate::{
    harness::{Data, Engine, Settings},
    support::{
        connect_events, instance, next_is_reset, publish_all, replay_from, stored, subscribed,
        take, texts, until_published, until_the_end, within,
    },
};

/// A topic keeps about as many events as its bound (Redis trims approximately): a
/// resume from before what it kept, or from an id it never gave, gets the reset event;
/// one from the event before the oldest kept, or later, resumes exactly.
pub async fn history_count_bound_gives_reset<E: Engine>(engine: E) {
    let hub = engine.hub(Settings::events(100)).await;
    let server = instance(&hub).await;
    let sent = publish_all(&hub, "room", texts("m", 0..400)).await;
    publish_all(&hub, "other", texts("o", 0..50)).await;
    assert_eq!(
        stored(&hub, "other").await,
        50,
        "each topic's history is its own"
    );
    let kept = stored(&hub, "room").await;
    assert!((100..=200).contains(&kept), "kept {kept}");

    let mut events = connect_events(server, "/", Some(&sent[0].0)).await;
    next_is_reset(&mut events).await;
    let mut events = connect_events(server, "/", Some("99999999999999-0")).await;
    next_is_reset(&mut events).await;

    assert_eq!(
        replay_from(&hub, "room", &sent[350].0).await,
        Replay::Exact(49)
    );
    let mut events = connect_events(server, "/", Some(&sent[300].0)).await;
    assert_eq!(take(&mut events, 99).await, sent[301..]);
    // The event before the oldest kept one: the replay is whole.
    let before_oldest = &sent[400 - kept - 1].0;
    let mut events = connect_events(server, "/", Some(before_oldest)).await;
    assert_eq!(take(&mut events, kept).await, sent[400 - kept..]);
}

/// With an age bound, events older than it leave the history: a resume from before one
/// that left gets the reset event; a live client is not cut off by the quiet time, and
/// a resume from the last event before it misses nothing.
pub async fn age_bound_gives_reset<E: Engine>(engine: E) {
    let age = Duration::from_millis(300);
    let hub = engine.hub(Settings::max_age(age)).await;
    let (server, mut events) = subscribed(&hub, "/", "room").await;
    let old = publish_all(&hub, "room", ["old".to_owned(), "older".to_owned()]).await;
    assert_eq!(take(&mut events, 2).await, old);
    let published = tokio::time::Instant::now();
    within(Duration::from_secs(5), async {
        while published.elapsed() < age + Duration::from_millis(200) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let new = publish_all(&hub, "room", ["new".to_owned()]).await;
    assert_eq!(take(&mut events, 1).await, new, "the same stream goes on");
    assert_eq!(hub.stats().subscribers_of("room"), 1);
    within(Duration::from_secs(20), async {
        while stored(&hub, "room").await != 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let mut resumed = connect_events(server, "/", Some(&old[0].0)).await;
    next_is_reset(&mut resumed).await;
    let mut resumed = connect_events(server, "/", Some(&old[1].0)).await;
    assert_eq!(take(&mut resumed, 1).await, new);
}

/// The server is killed and comes back with what it stored: the client's stream stays
/// open and gets every event once, in order.
pub async fn restart_with_data_loses_nothing<E: Engine>(mut engine: E) {
    let hub = engine.hub(Settings::default()).await;
    let other = engine.hub(Settings::patient()).await;
    let (_server, mut events) = subscribed(&hub, "/", "room").await;
    let before = publish_all(&other, "room", texts("before ", 0..20)).await;
    assert_eq!(take(&mut events, 20).await, before);
    engine.restart(Data::Kept).await;
    until_published(&other).await;
    let after = publish_all(&other, "room", texts("after ", 0..20)).await;
    assert_eq!(take(&mut events, 20).await, after);
    assert_eq!(
        hub.stats().subscribers_of("room"),
        1,
        "the stream stayed open"
    );
}

/// The server (for memory: the process) comes back empty: a live client's stream ends
/// rather than going on as if nothing were lost, an id from before gets the reset event
/// on a new instance, no id is given twice, and new ids resume exactly.
pub async fn restart_without_data_gives_reset<E: Engine>(mut engine: E) {
    let hub = engine.hub(Settings::default()).await;
    let (old_server, mut events) = subscribed(&hub, "/", "room").await;
    let before = publish_all(&hub, "room", texts("before ", 0..30)).await;
    assert_eq!(take(&mut events, 30).await, before);

    engine.restart(Data::Lost).await;
    let fresh = engine.hub(Settings::default()).await;
    until_published(&fresh).await;
    // As many new events as old ones, and more: new positions reach the old numbers.
    let after = publish_all(&fresh, "room", texts("after ", 0..40)).await;
    assert_eq!(
        until_the_end(&mut events).await,
        [],
        "nothing new under old ids"
    );

    let server = instance(&fresh).await;
    let mut resumed = connect_events(server, "/", Some(&before[29].0)).await;
    next_is_reset(&mut resumed).await;
    let more = publish_all(&fresh, "room", ["more".to_owned()]).await;
    assert_eq!(take(&mut resumed, 1).await, more);
    for (id, _) in &before {
        assert!(
            after.iter().all(|(new, _)| new != id),
            "id {id} given twice"
        );
    }
    let mut exact = connect_events(server, "/", Some(&after[35].0)).await;
    let expected: Vec<_> = after[36..].iter().chain(&more).cloned().collect();
    assert_eq!(take(&mut exact, 5).await, expected);
    if E::INSTANCES_OUTLIVE_THE_SERVER {
        // The instance that lived through it: the same, reset then live events.
        let mut resumed = connect_events(old_server, "/", Some(&before[29].0)).await;
        next_is_reset(&mut resumed).await;
        let live = publish_all(&fresh, "room", ["live".to_owned()]).await;
        assert_eq!(
            take(&mut resumed, 1).await,
            live,
            "the old instance delivers"
        );
    }
}

/// The server comes back from an older snapshot: its history goes back in time.
/// Connected clients get no old event again (their streams end), and resuming from any
/// id of the lost timeline gets the reset event, then new events once, under ids never
/// given before the restore. An id the
/// snapshot holds gets the reset event too, or, on an engine whose ids the restore
/// brings back ([`Engine::RESTORED_IDS_RESUME`]), exactly the events after it.
pub async fn restore_from_an_older_snapshot_gives_reset<E: Engine>(mut engine: E) {
    let hub = engine.hub(Settings::default()).await;
    let other = engine.hub(Settings::patient()).await;
    let (server, mut events) = subscribed(&hub, "/", "room").await;
    let saved = publish_all(&other, "room", texts("saved ", 0..100)).await;
    engine.snapshot().await;
    until_published(&other).await;
    let unsaved = publish_all(&other, "room", texts("unsaved ", 0..20)).await;
    let mut received = take(&mut events, 120).await;
    assert_eq!(received[..100], saved);
    assert_eq!(received[100..], unsaved);

    engine.restore().await;
    until_published(&other).await;
    assert_eq!(stored(&other, "room").await, 100, "the snapshot came back");
    let new = publish_all(&other, "room", texts("new ", 0..5)).await;
    let given: Vec<&String> = received.iter().map(|(id, _)| id).collect();
    assert!(
        new.iter().all(|(id, _)| !given.contains(&id)),
        "a new event gets an id never given before the restore: {new:?}"
    );
    received.extend(until_the_end(&mut events).await);
    assert_eq!(
        received.len(),
        120,
        "no event again, no event past the break"
    );

    let mut resumed = connect_events(server, "/", Some(&unsaved[19].0)).await;
    next_is_reset(&mut resumed).await;
    let live = publish_all(&other, "room", ["live".to_owned()]).await;
    assert_eq!(take(&mut resumed, 1).await, live);
    let mut old = connect_events(server, "/", Some(&saved[99].0)).await;
    if E::RESTORED_IDS_RESUME {
        let owed: Vec<_> = new.iter().chain(&live).cloned().collect();
        assert_eq!(
            take(&mut old, 6).await,
            owed,
            "the restored id resumes exactly"
        );
    } else {
        next_is_reset(&mut old).await;
    }
}
