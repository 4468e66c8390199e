//! Faults: the server restarted or killed, the connection cut, the database restored
//! from an older dump.

use crate::common::connect_events;
use crate::common::engine::{
    instance, next_is_reset, publish_all, subscribed_to, take, until_the_end,
};
use crate::servers::{PgServer, Proxy, available};
use crate::{config_at, hub, hub_with, texts, until_published, via};

/// A client of instance B while the server goes away and comes back: it stays
/// connected and gets what was published meanwhile and after, once, in order.
async fn stays_and_catches_up(pg: &mut PgServer, crash: bool) {
    let (a, b) = (hub(pg).await, hub(pg).await);
    let (_, mut events) = subscribed_to(&b, "/", "room").await;
    let before = publish_all(&a, "room", texts("before", 3)).await;
    assert_eq!(take(&mut events, 3).await, before);
    if crash {
        pg.kill();
    } else {
        pg.stop_gracefully();
    }
    pg.restart().await;
    until_published(&a).await;
    let after = publish_all(&a, "room", texts("after", 3)).await;
    assert_eq!(take(&mut events, 3).await, after, "once, in order");
    let more = publish_all(&a, "room", texts("more", 2)).await;
    assert_eq!(take(&mut events, 2).await, more, "and nothing twice");
    assert_eq!(b.stats().subscribers_of("room"), 1, "the client stayed");
}

#[tokio::test]
async fn a_server_restart_keeps_clients_and_catches_up() {
    if !available() {
        return;
    }
    let mut pg = PgServer::start().await;
    stays_and_catches_up(&mut pg, false).await;
}

#[tokio::test]
async fn a_server_killed_mid_stream_keeps_clients_and_catches_up() {
    if !available() {
        return;
    }
    let mut pg = PgServer::start().await;
    stays_and_catches_up(&mut pg, true).await;
}

/// An instance cut off from the server while others publish: when it is back, its
/// clients get the events published meanwhile, once, in order, and stay connected.
#[tokio::test]
async fn a_cut_connection_catches_up_once_in_order() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let proxy = Proxy::start("postgres", pg.port).await;
    let cut_off = hub_with(config_at(via(&proxy))).await;
    let publisher = hub(&pg).await;
    let (_, mut events) = subscribed_to(&cut_off, "/", "room").await;
    let before = publish_all(&publisher, "room", texts("b", 2)).await;
    assert_eq!(take(&mut events, 2).await, before);
    proxy.cut().await;
    let meanwhile = publish_all(&publisher, "room", texts("m", 4)).await;
    proxy.restore();
    assert_eq!(take(&mut events, 4).await, meanwhile);
    let after = publish_all(&publisher, "room", texts("a", 2)).await;
    assert_eq!(take(&mut events, 2).await, after, "nothing twice");
}

/// A connection that goes silent without closing is found by the heartbeat and
/// replaced; the client catches up.
#[tokio::test]
async fn a_silent_connection_is_found_by_the_heartbeat() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let proxy = Proxy::start("postgres", pg.port).await;
    let frozen = hub_with(config_at(via(&proxy))).await;
    let publisher = hub(&pg).await;
    let (_, mut events) = subscribed_to(&frozen, "/", "room").await;
    proxy.freeze_open_connections();
    let meanwhile = publish_all(&publisher, "room", texts("m", 3)).await;
    assert_eq!(take(&mut events, 3).await, meanwhile);
}

/// The database restored from an older dump: a client that saw events past the dump
/// gets the reset event, on the instance it was on and on another, and never an old
/// event again; new events flow.
#[tokio::test]
async fn a_restore_from_an_older_dump_gives_reset_and_no_old_event() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let (a, b) = (hub(&pg).await, hub(&pg).await);
    let (server_b, mut events) = subscribed_to(&b, "/", "room").await;
    let dumped = publish_all(&a, "room", texts("d", 3)).await;
    let dump = pg.dump();
    let lost = publish_all(&a, "room", texts("lost", 3)).await;
    let seen: Vec<_> = dumped.iter().chain(&lost).cloned().collect();
    assert_eq!(take(&mut events, 6).await, seen);
    pg.restore(&dump);
    // The instance that delivered past the dump ends its client's stream.
    let rest = until_the_end(&mut events).await;
    assert!(rest.is_empty(), "no event before the end: {rest:?}");
    until_published(&a).await;
    let new = publish_all(&a, "room", texts("new", 3)).await;
    let last_seen = &seen[5].0;
    for server in [server_b, instance(&a).await] {
        let mut resumed = connect_events(server, "/", Some(last_seen)).await;
        next_is_reset(&mut resumed).await;
        let next = publish_all(&a, "room", texts("next", 1)).await;
        assert_eq!(
            take(&mut resumed, 1).await,
            next,
            "then live events, no old one"
        );
    }
    // A client that saw only what the dump holds resumes exactly, onto the new events.
    let mut early = connect_events(instance(&b).await, "/", Some(&dumped[2].0)).await;
    let got = take(&mut early, 3).await;
    assert_eq!(got, new);
}

/// Sanity for the test's own restore: the restored database holds what the dump held.
#[tokio::test]
async fn the_restore_brings_back_the_dump() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let a = hub(&pg).await;
    publish_all(&a, "room", texts("d", 2)).await;
    let dump = pg.dump();
    publish_all(&a, "room", texts("x", 2)).await;
    pg.restore(&dump);
    let count = pg.psql("app", "SELECT count(*) FROM test_events");
    assert_eq!(count.trim(), "2");
}

/// What a publisher that never pauses saw: (id, n) of each stored event, n of each
/// publish that failed.
#[derive(Default)]
struct Published {
    stored: Vec<(String, usize)>,
    failed: Vec<usize>,
}

type Shared = std::sync::Arc<std::sync::Mutex<Published>>;

/// Publishes `0`, `1`, ... to `room` on `hub` until `done`, recording each outcome.
fn publish_without_pause(
    hub: tower_sse::hub::Hub,
    log: Shared,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for n in 0.. {
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let event = tower_sse::Event::new().data(n.to_string());
            match hub.publish("room", event).await {
                Ok(id) => log.lock().unwrap().stored.push((id.to_string(), n)),
                Err(_) => log.lock().unwrap().failed.push(n),
            }
        }
    })
}

/// The server killed while an instance publishes without pause: a client on another
/// instance gets every event whose publish succeeded, once, in publish order, with the
/// id its publish returned, and of those whose publish failed, none or one (an
/// `Uncertain` one may have been stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_publishing_delivers_each_stored_event_once_in_order() {
    use std::time::Duration;
    if !available() {
        return;
    }
    let mut pg = PgServer::start().await;
    let (a, b) = (hub(&pg).await, hub(&pg).await);
    let (_, mut events) = subscribed_to(&b, "/", "room").await;
    let log = Shared::default();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = publish_without_pause(a, log.clone(), done.clone());
    let count = || log.lock().unwrap().stored.len();
    crate::common::eventually(Duration::from_secs(10), "publishing", || count() >= 20).await;
    pg.kill();
    pg.restart().await;
    let before = count();
    let again = || count() >= before + 20;
    crate::common::eventually(Duration::from_secs(30), "publishing again", again).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    publisher.await.unwrap();
    let Published { stored, failed } = std::mem::take(&mut *log.lock().unwrap());
    let last = stored.last().unwrap().0.clone();
    let mut got: Vec<(String, String)> = Vec::new();
    while got.last().is_none_or(|(id, _)| *id != last) {
        got.extend(take(&mut events, 1).await);
    }
    let numbers: Vec<usize> = got.iter().map(|(_, text)| text.parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order, once: {numbers:?}"
    );
    let of_stored: Vec<(String, usize)> = got
        .iter()
        .zip(&numbers)
        .filter(|(_, n)| !failed.contains(n))
        .map(|((id, _), n)| (id.clone(), *n))
        .collect();
    assert_eq!(
        of_stored, stored,
        "every stored event, with its id, and nothing else"
    );
}

/// The same restore made in place, every connection staying open: the instance that
/// delivered past the dump ends its client's stream once the topic's sequence reaches
/// what it delivered, before any new event; resuming gives the reset event, never an
/// old event.
#[tokio::test]
async fn a_restore_in_place_gives_reset_and_no_old_event() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
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
