//! What only the Postgres engine does: publishing inside the caller's transaction (from
//! tokio-postgres and from `psql`), events past `NOTIFY`'s payload limit, and its setup
//! errors. What every engine does (delivery, resume, interest, order, bounds, lost
//! replies, several topics) is tested once for all in `tests/engines`.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio_postgres::NoTls;
use tower_sse::hub::{History, Hub, postgres::Postgres};

use crate::common::engine::{publish_all, subscribed_to, take};
use crate::common::within;
use crate::servers::{PgServer, available};
use crate::{config_at, hub, texts};

/// Publishing inside a transaction from another client (tokio-postgres): an event
/// reaches subscribers when the transaction commits, once, and never when it rolls
/// back.
#[tokio::test]
async fn publish_inside_a_transaction_commit_and_rollback() {
    let Some(pg) = crate::started().await else {
        return;
    };
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
    let Some(pg) = crate::started().await else {
        return;
    };
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
    let Some(pg) = crate::started().await else {
        return;
    };
    let (a, b) = (hub(&pg).await, hub(&pg).await);
    let (_, mut events) = subscribed_to(&b, "/", "room").await;
    let big = "x".repeat(100_000);
    let sent = publish_all(&a, "room", [big.clone()]).await;
    assert_eq!(take(&mut events, 1).await, sent);
    pg.psql("app", "SELECT test_publish('room', repeat('y', 50000))");
    let from_sql = take(&mut events, 1).await;
    assert_eq!(from_sql[0].1, "y".repeat(50_000));
}
