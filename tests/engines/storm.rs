//! A reconnect storm at a size CI affords: after a deploy every client comes back at
//! once with a `Last-Event-ID`, from nearby positions, each owed about 100 events.

use std::time::Duration;

use http::StatusCode;

use crate::{
    common::{get as request, send},
    harness::{Engine, Settings},
    support::{instance, publish_all, take, texts, within},
};

/// How many clients come back at once.
const CLIENTS: usize = 500;

/// 200 events published; `CLIENTS` clients resume at once over two instances, each
/// from one of the 97th to 100th events: none is refused, and each gets exactly the
/// events after its id, once, in order.
pub async fn reconnect_storm<E: Engine>(engine: E) {
    // The engines' usual timeouts (seconds), not the suite's short ones.
    let (a, b) = (
        engine.hub(Settings::patient()).await,
        engine.hub(Settings::patient()).await,
    );
    let servers = [instance(&a).await, instance(&b).await];
    let sent = publish_all(&a, "room", texts("m", 0..200)).await;
    let start = tokio::time::Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let from = 99 - n % 4;
            let (server, sent) = (servers[n % 2], sent.clone());
            tokio::spawn(async move {
                let headers = [
                    ("accept", "text/event-stream"),
                    ("last-event-id", sent[from].0.as_str()),
                ];
                let response = send(server, request("/", &headers)).await;
                assert_eq!(response.status(), StatusCode::OK);
                assert!(
                    !response.headers().contains_key("retry-after"),
                    "client {n} refused"
                );
                let mut events = sse_stream::SseStream::new(response.into_body());
                let owed = sent.len() - from - 1;
                assert_eq!(
                    take(&mut events, owed).await,
                    sent[from + 1..],
                    "client {n}"
                );
            })
        })
        .collect();
    within(Duration::from_secs(60), async {
        for client in clients {
            client.await.unwrap();
        }
    })
    .await;
    println!(
        "{}: {CLIENTS} clients resumed, each owed about 100 events, in {:?}",
        E::NAME,
        start.elapsed()
    );
}
