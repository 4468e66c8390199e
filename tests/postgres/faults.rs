//! Faults only Postgres has: a restore made in place while every connection stays
//! open, and a database whose tables are gone. The faults every engine has (restart,
//! kill, cut, silence, restore from a dump, the seeded fault run) are in
//! `tests/engines`.

use crate::common::connect_events;
use crate::common::engine::{
    instance, next_is_reset, publish_all, subscribed_to, take, until_the_end,
};
use crate::{hub, texts, until_published};

/// A restore from an older dump made in place, every connection staying open: the instance that
/// delivered past the dump ends its client's stream once the topic's sequence reaches
/// what it delivered, before any new event; resuming gives the reset event, never an
/// old event.
#[tokio::test]
async fn a_restore_in_place_gives_reset_and_no_old_event() {
    let Some(pg) = crate::started().await else {
        return;
    };
    let (a, b) = (hub(&pg).await, hub(&pg).await);
    let (server_b, mut events) = subscribed_to(&b, "/", "room").await;
    let dumped = publish_all(&a, "room", texts("d", 3)).await;
    let dump = pg.dump();
    let lost = publish_all(&a, "room", texts("lost", 3)).await;
    let seen: Vec<_> = dumped.iter().chain(&lost).cloned().collect();
    assert_eq!(take(&mut events, 6).await, seen);
    pg.restore_in_place(&dump);
    until_published(&a).await;
    publish_all(&a, "room", texts("new", 4)).await;
    let rest = until_the_end(&mut events).await;
    assert!(rest.is_empty(), "no event before the end: {rest:?}");
    let mut resumed = connect_events(server_b, "/", Some(&seen[5].0)).await;
    next_is_reset(&mut resumed).await;
    let next = publish_all(&a, "room", texts("next", 1)).await;
    assert_eq!(
        take(&mut resumed, 1).await,
        next,
        "then live events, no old one"
    );
}

/// The database comes back empty (its tables gone, as on a server set up anew): an
/// instance that lived through it creates the tables again at its next connection and
/// publishes, with no restart of its own; an id from before gets the reset event.
#[tokio::test]
async fn an_instance_creates_its_tables_again_when_they_are_gone() {
    let Some(mut pg) = crate::started().await else {
        return;
    };
    let hub = hub(&pg).await;
    let before = publish_all(&hub, "room", texts("b", 2)).await;
    pg.restart_empty().await;
    until_published(&hub).await;
    let after = publish_all(&hub, "room", texts("a", 1)).await;
    assert!(after[0].0.starts_with("1-"), "numbered anew: {after:?}");
    let count = pg.psql(
        "app",
        "SELECT count(*) FROM test_events WHERE topic = 'room'",
    );
    assert_eq!(count.trim(), "1");
    let mut resumed = connect_events(instance(&hub).await, "/", Some(&before[1].0)).await;
    next_is_reset(&mut resumed).await;
}
