//! Publishing inside a transaction from sqlx: `SELECT test_publish(...)` run on the
//! application's own `sqlx::Transaction`, beside its own writes. The event reaches
//! subscribers when that transaction commits, never before, and never when it rolls
//! back. "Not before" and "never" are each proved by an event published later that
//! arrives first, not by waiting.

use std::time::Duration;

use sqlx::{Connection as _, PgConnection};

use crate::common::engine::{Events, publish_all, subscribed_to, take};
use crate::common::{eventually, within};
use crate::servers::PgServer;
use crate::{hub, texts};

/// The application's connection, with its own table `orders`.
async fn app_connection(pg: &PgServer) -> PgConnection {
    let mut conn = PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::query("CREATE TABLE orders (id int, state text)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// In the application's transaction on `conn`: an order stored, and an event
/// published to `room` with `data` and the type `order`. Returns the transaction, open,
/// and the event's id.
async fn order_and_event<'c>(
    conn: &'c mut PgConnection,
    order: i32,
    data: &str,
) -> (sqlx::Transaction<'c, sqlx::Postgres>, String) {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("INSERT INTO orders VALUES ($1, 'new')")
        .bind(order)
        .execute(&mut *tx)
        .await
        .unwrap();
    let id: String = sqlx::query_scalar("SELECT test_publish($1, $2, $3)")
        .bind("room")
        .bind(data)
        .bind("order")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    (tx, id)
}

/// The next event on `events` is `room`'s order event with `data`, and with `id` if
/// given (a stream of several topics has cursors for ids).
async fn next_is_order(events: &mut Events, id: Option<&str>, data: &str) {
    use futures_util::StreamExt as _;
    let event = within(Duration::from_secs(10), events.next())
        .await
        .expect("the stream is open")
        .unwrap();
    assert_eq!(event.event.as_deref(), Some("order"), "{event:?}");
    assert_eq!(event.data.as_deref(), Some(data));
    if let Some(id) = id {
        assert_eq!(event.id.as_deref(), Some(id));
    }
}

/// The data of the next `n` events.
async fn data_of(events: &mut Events, n: usize) -> Vec<String> {
    take(events, n)
        .await
        .into_iter()
        .map(|(_, data)| data)
        .collect()
}

/// An event published from sqlx inside a transaction is not delivered while the
/// transaction is open (an event of another topic, published after it, arrives
/// first), and is delivered at commit, once, with its data, type and id.
#[tokio::test]
async fn sqlx_publish_inside_a_transaction_arrives_at_commit() {
    let Some(pg) = crate::started().await else {
        return;
    };
    let hub = hub(&pg).await;
    let (_, mut room) = subscribed_to(&hub, "/", "room").await;
    // One stream of both topics yields the earlier position first when both have an
    // event waiting; `probe`'s next is 3, past any of `room`'s here.
    publish_all(&hub, "probe", texts("p", 2)).await;
    let (_, mut both) = subscribed_to(&hub, "/?topic=room&topic=probe", "probe").await;
    eventually(Duration::from_secs(5), "room followed twice", || {
        hub.stats().subscribers_of("room") == 2
    })
    .await;
    let mut conn = app_connection(&pg).await;

    let (tx, id) = order_and_event(&mut conn, 1, "two\nlines").await;
    publish_all(&hub, "probe", texts("while open ", 1)).await;
    assert_eq!(
        data_of(&mut both, 1).await,
        ["while open 0"],
        "nothing of the open transaction"
    );
    tx.commit().await.unwrap();
    next_is_order(&mut both, None, "two\nlines").await;
    next_is_order(&mut room, Some(&id), "two\nlines").await;

    let next = publish_all(&hub, "room", texts("n", 1)).await;
    assert_eq!(
        take(&mut room, 1).await,
        next,
        "the commit's event came once"
    );
    assert_eq!(data_of(&mut both, 1).await, ["n0"]);
}

/// An event published from sqlx in a transaction that rolls back never reaches a
/// subscriber: the event of the next transaction, which commits, arrives first, and
/// takes the sequence number the rolled-back one had been given.
#[tokio::test]
async fn sqlx_publish_in_a_rolled_back_transaction_never_arrives() {
    let Some(pg) = crate::started().await else {
        return;
    };
    let hub = hub(&pg).await;
    let (_, mut events) = subscribed_to(&hub, "/", "room").await;
    let mut conn = app_connection(&pg).await;

    let (tx, never) = order_and_event(&mut conn, 1, "never").await;
    tx.rollback().await.unwrap();
    let (tx, kept) = order_and_event(&mut conn, 2, "kept").await;
    tx.commit().await.unwrap();
    next_is_order(&mut events, Some(&kept), "kept").await;
    assert!(
        kept.starts_with("1-"),
        "the rolled-back event took no place: {kept}"
    );
    assert_ne!(kept, never);

    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(orders, 1, "the rolled-back order is gone with its event");
    let next = publish_all(&hub, "room", texts("n", 1)).await;
    assert_eq!(take(&mut events, 1).await, next);
}
