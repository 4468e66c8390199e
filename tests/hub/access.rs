//! Streams that end when access ends (expiry, revocation), and the handoff from a
//! rendered page to its event stream, through the crate's test kit.

use std::time::Duration;

use axum::{Router, body::Body, response::IntoResponse, routing::get};
use http::Request;
use tower_sse::{
    Event, EventId, Lifetime, SseLayer,
    hub::{Hub, POSITION_HEADER},
    testing::{Item, ReceivedEvent, TestClient},
};

use crate::common::eventually;

/// An app whose streams follow `news` for the user named in `x-user`, ending when that
/// user is revoked or `x-expires-in` seconds have passed; `/` is a page that carries
/// the handoff header.
fn app(hub: &Hub) -> Router {
    let page_hub = hub.clone();
    let hub = hub.clone();
    let factory = move |request: Request<Body>, last: Option<EventId>| {
        let hub = hub.clone();
        async move {
            let headers = request.headers();
            let user = header(headers, "x-user").unwrap_or_else(|| "anonymous".into());
            let expires_in: Option<u64> =
                header(headers, "x-expires-in").and_then(|s| s.parse().ok());
            drop(request);
            let mut lifetime = Lifetime::new().revoked_by(hub.revocation(&user).await?);
            if let Some(seconds) = expires_in {
                lifetime = lifetime.expires_in(Duration::from_secs(seconds));
            }
            let events = hub.subscribe("news").after(last.as_ref()).await?;
            Ok::<_, tower_sse::hub::SubscribeError>(lifetime.wrap(events))
        }
    };
    Router::new()
        .route(
            "/",
            get(move || async move {
                let handoff = page_hub.handoff("news").await.unwrap();
                let url = handoff.event_source_url("/");
                (
                    handoff,
                    format!("<script>new EventSource({url:?})</script>"),
                )
                    .into_response()
            }),
        )
        .layer(SseLayer::new(factory).last_event_id_query(true))
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn received(event: &str, data: &str, id: &str) -> ReceivedEvent {
    let items = tower_sse::testing::Parser::with_last_event_id(id)
        .feed(format!("event: {event}\ndata: {data}\n\n").as_bytes());
    match items.into_iter().next() {
        Some(Item::Event(event)) => event,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_ends_with_the_expired_event_when_its_lifetime_runs_out() {
    let hub = Hub::new();
    let mut client = TestClient::new(app(&hub));
    let mut stream = client
        .events_with("/", &[("x-user", "ann"), ("x-expires-in", "60")])
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = hub
        .publish("news", Event::new().data("first"))
        .await
        .unwrap();
    assert_eq!(stream.next_event().await.unwrap().unwrap().data, "first");

    let opened = tokio::time::Instant::now();
    // Keep-alives at 15, 30 and 45 s, then the expired event at 60 s, and the end.
    let mut comments = 0;
    let last = loop {
        match stream
            .next_item()
            .await
            .unwrap()
            .expect("the expired event")
        {
            Item::Comment(_) => comments += 1,
            Item::Event(event) => break event,
            _ => {}
        }
    };
    assert_eq!((comments, opened.elapsed()), (3, Duration::from_secs(60)));
    assert_eq!(last, received("expired", "", first.as_str()));
    assert_eq!(stream.next_item().await.unwrap(), None, "the stream ended");
    // The hub subscription and the revocation watch are gone with it.
    assert_eq!(hub.stats().subscribers, 0);
}

#[tokio::test]
async fn revoking_a_user_ends_that_users_streams_only() {
    let hub = Hub::new();
    let mut client = TestClient::new(app(&hub));
    let mut ann = client.events_with("/", &[("x-user", "ann")]).await.unwrap();
    let mut ann_too = client.events_with("/", &[("x-user", "ann")]).await.unwrap();
    let mut bob = client.events_with("/", &[("x-user", "bob")]).await.unwrap();

    let before = hub
        .publish("news", Event::new().data("before"))
        .await
        .unwrap();
    hub.revoke("ann", "logged out").await.unwrap();
    let after = hub
        .publish("news", Event::new().data("after"))
        .await
        .unwrap();

    // Access ends at once: "before" was published first but not read yet, and is not
    // sent after the revocation.
    for stream in [&mut ann, &mut ann_too] {
        assert_eq!(
            stream.rest().await.unwrap(),
            [received("revoked", "logged out", "")]
        );
    }
    assert_eq!(
        bob.take(2).await.unwrap(),
        [
            received("message", "before", before.as_str()),
            received("message", "after", after.as_str())
        ]
    );
    drop(bob);
    eventually(Duration::from_secs(5), "every subscriber left", || {
        hub.stats().subscribers == 0
    })
    .await;
}

#[tokio::test]
async fn the_stream_opened_from_a_rendered_page_starts_where_the_page_left_off() {
    let hub = Hub::new();
    hub.publish("news", Event::new().data("in the page"))
        .await
        .unwrap();
    let mut client = TestClient::new(app(&hub));

    // The page, as a browser gets it: its handoff is in a header and in its script.
    let page = client
        .events_with("/", &[("accept", "text/html")])
        .await
        .unwrap();
    let position = page.headers()[POSITION_HEADER].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let url = html
        .split('"')
        .nth(1)
        .expect("the page names its stream's URL")
        .to_owned();
    assert!(url.starts_with("/?lastEventId=~"), "{url}");

    // Published after the page was rendered, before its EventSource connected.
    for n in 1..=3 {
        hub.publish("news", Event::new().data(format!("between {n}")))
            .await
            .unwrap();
    }
    let mut stream = client.events(&url).await.unwrap();
    hub.publish("news", Event::new().data("live"))
        .await
        .unwrap();
    let got: Vec<String> = stream
        .take(4)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(got, ["between 1", "between 2", "between 3", "live"]);

    // The header carries the same position.
    let mut by_header = client
        .events_with("/", &[("last-event-id", &position)])
        .await
        .unwrap();
    assert_eq!(
        by_header.next_event().await.unwrap().unwrap().data,
        "between 1"
    );
}
