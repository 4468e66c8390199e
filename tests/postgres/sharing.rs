//! Instances sharing topics through one database: delivery, resume, publishing inside
//! a transaction, order, bounds, setup and lost publish replies.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio_postgres::NoTls;
use tower_sse::{
    Event,
    hub::{History, Hub, PublishError, postgres::Postgres},
};

use crate::common::engine::{instance, next_is_reset, publish_all, subscribed_to, take};
use crate::common::{connect_events, eventually, within};
use crate::servers::{PgServer, Proxy, available};
use crate::{bounded, config_at, hub, hub_with, texts};

/// An event published on one instance reaches a client of another, once, with the
/// engine's id; the client resumes on a third instance from any id it saw.
#[tokio::test]
async fn delivery_across_instances_and_resume_on_another() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let (a, b, c) = (hub(&pg).await, hub(&pg).await, hub(&pg).await);
    let (_, mut events) = subscribed_to(&b, "/", "room").await;
    let sent = publish_all(&a, "room", texts("e", 5)).await;
    assert_eq!(take(&mut events, 5).await, sent);
    assert!(
        sent[0].0.starts_with("1-") && sent[4].0.starts_with("5-"),
        "{sent:?}"
    );

    let server_c = instance(&c).await;
    let mut resumed = connect_events(server_c, "/", Some(&sent[1].0)).await;
    assert_eq!(take(&mut resumed, 3).await, sent[2..]);
    let more = publish_all(&a, "room", texts("f", 2)).await;
    assert_eq!(take(&mut resumed, 2).await, more);
    assert_eq!(take(&mut events, 2).await, more);
}

/// Publishing inside a transaction from another client (tokio-postgres): an event
/// reaches subscribers when the transaction commits, once, and never when it rolls
/// back.
#[tokio::test]
async fn publish_inside_a_transaction_commit_and_rollback() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let hub = hub(&pg).await;
    let (_, mut events) = subscribed_to(&hub, "/", "room").await;
    let (mut client, connection) = tokio_postgres::connect(&pg.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE orders (id int, state text)")
        .await
        .unwrap();

    let rolled_back = client.transaction().await.unwrap();
    rolled_back
        .execute("INSERT INTO orders VALUES (1, 'new')", &[])
        .await
        .unwrap();
    rolled_back
        .query_one("SELECT test_publish('room', 'never')", &[])
        .await
        .unwrap();
    rolled_back.rollback().await.unwrap();

    let committed = client.transaction().await.unwrap();
    committed
        .execute("INSERT INTO orders VALUES (2, 'new')", &[])
        .await
        .unwrap();
    let id: String = committed
        .query_one("SELECT test_publish('room', E'two\\nlines', 'order')", &[])
        .await
        .unwrap()
        .get(0);
    let held = tokio::time::timeout(Duration::from_millis(300), events.next()).await;
    assert!(held.is_err(), "not before the commit: {held:?}");
    committed.commit().await.unwrap();
    let event = within(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.event.as_deref(), Some("order"));
    assert_eq!(event.data.as_deref(), Some("two\nlines"));
    assert_eq!(event.id.as_deref(), Some(id.as_str()));
    assert!(
        id.starts_with("1-"),
        "the rolled-back event took no place: {id}"
    );

    let next = publish_all(&hub, "room", texts("n", 1)).await;
    assert_eq!(
        take(&mut events, 1).await,
        next,
        "the commit's event came once"
    );
}

/// The same from `psql`, a client in another language: `BEGIN; SELECT
/// test_publish(...); COMMIT` delivers the event; a rolled-back one never comes.
#[tokio::test]
async fn publish_inside_a_transaction_from_psql() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let hub = hub(&pg).await;
    let (_, mut events) = subscribed_to(&hub, "/", "room").await;
    pg.psql(
        "app",
        "BEGIN; SELECT test_publish('room', 'rolled back'); ROLLBACK;",
    );
    let out = pg.psql("app", "BEGIN; SELECT test_publish('room', 'kept'); COMMIT;");
    let id = out
        .lines()
        .find(|line| line.contains('-'))
        .unwrap()
        .to_owned();
    assert_eq!(take(&mut events, 1).await, [(id, "kept".to_owned())]);
    let next = publish_all(&hub, "room", texts("n", 1)).await;
    assert_eq!(take(&mut events, 1).await, next);
}

/// Two instances and a SQL client publishing to one topic at once: every client sees
/// one order, the history's, each event once.
#[tokio::test]
async fn concurrent_publishers_keep_one_order() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let (a, b) = (hub(&pg).await, hub(&pg).await);
    let (_, mut on_a) = subscribed_to(&a, "/", "room").await;
    let (_, mut on_b) = subscribed_to(&b, "/", "room").await;
    let publish = |hub: Hub, name: &'static str| {
        tokio::spawn(async move { publish_all(&hub, "room", texts(name, 40)).await })
    };
    let (from_a, from_b) = (publish(a.clone(), "a"), publish(b.clone(), "b"));
    let (from_a, from_b) = (from_a.await.unwrap(), from_b.await.unwrap());
    let got_a = take(&mut on_a, 80).await;
    let got_b = take(&mut on_b, 80).await;
    assert_eq!(got_a, got_b, "one order on both instances");
    let sequences: Vec<u64> = got_a
        .iter()
        .map(|(id, _)| id.split('-').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(sequences, (1..=80).collect::<Vec<u64>>());
    let mut all: Vec<_> = from_a.into_iter().chain(from_b).collect();
    all.sort();
    let mut got = got_a.clone();
    got.sort();
    assert_eq!(
        got, all,
        "each event once, with the id its publish returned"
    );
    let replayed = take(
        &mut connect_events(instance(&a).await, "/", Some(&got_a[9].0)).await,
        70,
    )
    .await;
    assert_eq!(replayed, got_a[10..], "the history has the same order");
}

/// The count bound: a client whose next event left the history gets the reset event;
/// one whose next event is still there resumes exactly.
#[tokio::test]
async fn the_count_bound_gives_reset() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let hub = bounded(config_at(pg.url()), History::new().events(5)).await;
    let sent = publish_all(&hub, "room", texts("e", 12)).await;
    let server = instance(&hub).await;
    let mut exact = connect_events(server, "/", Some(&sent[6].0)).await;
    assert_eq!(take(&mut exact, 5).await, sent[7..]);
    let mut late = connect_events(server, "/", Some(&sent[2].0)).await;
    next_is_reset(&mut late).await;
    let count = pg.psql(
        "app",
        "SELECT count(*) FROM test_events WHERE topic = 'room'",
    );
    assert_eq!(count.trim(), "5");
}

/// The age bound: once the events after a client's id are older than the bound, it
/// gets the reset event, even though nothing was published since to trim them.
#[tokio::test]
async fn the_age_bound_gives_reset() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let hub = bounded(
        config_at(pg.url()),
        History::new().max_age(Some(Duration::from_millis(300))),
    )
    .await;
    let sent = publish_all(&hub, "room", texts("e", 3)).await;
    let server = instance(&hub).await;
    let mut fresh = connect_events(server, "/", Some(&sent[0].0)).await;
    assert_eq!(take(&mut fresh, 2).await, sent[1..]);
    let start = std::time::Instant::now();
    eventually(Duration::from_secs(5), "the events aged", || {
        start.elapsed() > Duration::from_millis(400)
    })
    .await;
    let mut stale = connect_events(server, "/", Some(&sent[0].0)).await;
    next_is_reset(&mut stale).await;
    let mut current = connect_events(server, "/", Some(&sent[2].0)).await;
    let next = publish_all(&hub, "room", texts("n", 1)).await;
    assert_eq!(
        take(&mut current, 1).await,
        next,
        "nothing missed: no reset"
    );
}

/// Instances started at the same moment against a fresh database all come up (the
/// schema is created once, under an advisory lock), and share topics.
#[tokio::test]
async fn instances_started_together_all_come_up() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let starts = (0..6).map(|_| {
        let config = config_at(pg.url());
        tokio::spawn(async move { Hub::builder().build_with(Postgres::new(config)).await })
    });
    let mut hubs = Vec::new();
    for start in starts.collect::<Vec<_>>() {
        hubs.push(start.await.unwrap().expect("every instance comes up"));
    }
    let (_, mut events) = subscribed_to(&hubs[5], "/", "room").await;
    let sent = publish_all(&hubs[0], "room", texts("e", 1)).await;
    assert_eq!(take(&mut events, 1).await, sent);
}

/// A publish whose reply is lost is tried again and found by its token: stored once,
/// delivered once, and the publish returns its id.
#[tokio::test]
async fn a_lost_publish_reply_is_stored_once() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let proxy = Proxy::start("postgres", pg.port).await;
    let publisher =
        hub_with(config_at(crate::via(&proxy)).heartbeat(Duration::from_secs(600))).await;
    let reader = hub(&pg).await;
    let (_, mut events) = subscribed_to(&reader, "/", "room").await;
    let warm = publish_all(&publisher, "room", texts("w", 1)).await;
    assert_eq!(take(&mut events, 1).await, warm);
    proxy.swallow_next_reply();
    let id = publisher
        .publish("room", Event::new().data("once"))
        .await
        .expect("the retry finds the stored event");
    assert_eq!(
        take(&mut events, 1).await,
        [(id.to_string(), "once".to_owned())]
    );
    let count = pg.psql(
        "app",
        "SELECT count(*) FROM test_events WHERE topic = 'room'",
    );
    assert_eq!(count.trim(), "2");
    let next = publish_all(&reader, "room", texts("n", 1)).await;
    assert_eq!(take(&mut events, 1).await, next, "and nothing twice");
}

/// When no reply comes back at all, the publish may have been stored: the error says
/// so (`Uncertain`). Here it was stored, once.
#[tokio::test]
async fn a_publish_that_cannot_be_confirmed_is_uncertain() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let proxy = Proxy::start("postgres", pg.port).await;
    let publisher =
        hub_with(config_at(crate::via(&proxy)).heartbeat(Duration::from_secs(600))).await;
    publish_all(&publisher, "warm", texts("w", 1)).await;
    proxy.swallow_every_reply(true);
    let err = within(
        Duration::from_secs(30),
        publisher.publish("room", Event::new().data("maybe")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PublishError::Uncertain(_)), "{err:?}");
    let count = pg.psql(
        "app",
        "SELECT count(*) FROM test_events WHERE topic = 'room'",
    );
    assert_eq!(count.trim(), "1", "it was stored, once");
}

/// An instance listens only on the channels of topics its clients follow, and stops
/// when the last client leaves: it receives nothing of other topics.
#[tokio::test]
async fn interest_is_per_topic() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let a = hub(&pg).await;
    let b = hub_with(config_at(pg.url()).heartbeat(Duration::from_secs(600))).await;
    let listener_query = || {
        pg.psql(
            "app",
            "SELECT query FROM pg_stat_activity \
             WHERE query LIKE 'SELECT test_%listen($1)' ORDER BY query",
        )
    };
    let (_, mut events) = subscribed_to(&b, "/?topic=one", "one").await;
    assert_eq!(listener_query().trim(), "SELECT test_listen($1)");
    publish_all(&a, "two", texts("x", 3)).await;
    let sent = publish_all(&a, "one", texts("y", 1)).await;
    assert_eq!(take(&mut events, 1).await, sent);
    assert_eq!(b.stats().received, 1, "nothing of the other topic");
    drop(events);
    eventually(Duration::from_secs(5), "the last client left", || {
        b.stats().subscribers_of("one") == 0
    })
    .await;
    let stopped = within(Duration::from_secs(10), async {
        loop {
            let query = listener_query();
            if query.trim() == "SELECT test_unlisten($1)" {
                return query;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(stopped.trim(), "SELECT test_unlisten($1)");
}

/// A stream of several topics gets a cursor as its ids, and resumes from it on
/// another instance, each topic exactly.
#[tokio::test]
async fn several_topics_resume_together_on_another_instance() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let (a, b) = (hub(&pg).await, hub(&pg).await);
    let (_, mut events) = subscribed_to(&a, "/?topic=x&topic=y", "x").await;
    publish_all(&b, "x", texts("x", 2)).await;
    publish_all(&b, "y", texts("y", 2)).await;
    let got = take(&mut events, 4).await;
    let texts_got: Vec<_> = got.iter().map(|(_, text)| text.clone()).collect();
    assert_eq!(texts_got, ["x0", "x1", "y0", "y1"]);
    assert!(
        got.iter().all(|(id, _)| id.starts_with('~')),
        "cursors: {got:?}"
    );
    let mut resumed =
        connect_events(instance(&b).await, "/?topic=x&topic=y", Some(&got[1].0)).await;
    let rest: Vec<_> = take(&mut resumed, 2)
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(rest, ["y0", "y1"]);
    let later = publish_all(&b, "x", texts("z", 1)).await;
    assert_eq!(take(&mut resumed, 1).await[0].1, later[0].1);
}

/// Setup errors: nothing listening is `Unreachable` (without the password), a byte
/// bound is `Unsupported`.
#[tokio::test]
async fn setup_errors_say_what_is_wrong() {
    use tower_sse::hub::SetupError;
    if !available() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://user:secret@127.0.0.1:{port}/app");
    let err = Hub::builder()
        .build_with(Postgres::new(config_at(url)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SetupError::Unreachable { engine: "postgres", url, .. } if !url.contains("secret")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
    let pg = PgServer::start().await;
    let err = Hub::builder()
        .history(History::new().bytes(Some(1 << 20)))
        .build_with(Postgres::new(config_at(pg.url())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SetupError::Unsupported {
                engine: "postgres",
                ..
            }
        ),
        "{err:?}"
    );
}

/// No payload limit: an event far past `NOTIFY`'s 8,000 bytes, from the hub and from
/// SQL, reaches another instance whole (the notice carries only its position).
#[tokio::test]
async fn events_past_the_notify_limit_arrive_whole() {
    if !available() {
        return;
    }
    let pg = PgServer::start().await;
    let (a, b) = (hub(&pg).await, hub(&pg).await);
    let (_, mut events) = subscribed_to(&b, "/", "room").await;
    let big = "x".repeat(100_000);
    let sent = publish_all(&a, "room", [big.clone()]).await;
    assert_eq!(take(&mut events, 1).await, sent);
    pg.psql("app", "SELECT test_publish('room', repeat('y', 50000))");
    let from_sql = take(&mut events, 1).await;
    assert_eq!(from_sql[0].1, "y".repeat(50_000));
}
