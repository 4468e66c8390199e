//! `reqwest-eventsource`, an independent client that checks the status and content type
//! and reconnects with `Last-Event-ID`, against a real server on 127.0.0.1:0.

use crate::common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Body, http::StatusCode, routing::get};
use common::{serve, within};
use futures_util::StreamExt;
use http::{HeaderMap, Method, Request, Uri};
use reqwest_eventsource::{Error, Event as ClientEvent, EventSource, retry::Constant};
use tower_sse::{Event, EventId, SseLayer};

fn app(seen: Arc<Mutex<Vec<Option<String>>>>) -> Router {
    let factory = move |request: Request<Body>, last: Option<EventId>| {
        let seen = seen.clone();
        async move {
            if request.uri().path() == "/private" {
                return Err(StatusCode::UNAUTHORIZED);
            }
            seen.lock()
                .unwrap()
                .push(last.as_ref().map(|id| id.to_string()));
            let event = |n: u32| {
                Event::new()
                    .id(n.to_string())
                    .unwrap()
                    .data(format!("event {n}\nsecond line"))
            };
            let events = match last.as_deref() {
                None => vec![event(1), event(2), event(3)],
                Some("3") => vec![event(4)],
                _ => return Err(StatusCode::NO_CONTENT),
            };
            Ok(tokio_stream::iter(events))
        }
    };
    let predicate = |method: &Method, uri: &Uri, headers: &HeaderMap| {
        method == Method::GET && uri.path() != "/" && tower_sse::accepts_event_stream(headers)
    };
    Router::new()
        .route("/", get(|| async { "not events" }))
        .layer(SseLayer::new(factory).predicate(predicate))
}

#[tokio::test]
async fn reconnects_with_last_event_id_until_a_204() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = serve(app(seen.clone())).await;
    let mut source = EventSource::get(format!("http://{addr}/events"));
    source.set_retry_policy(Box::new(Constant::new(Duration::from_millis(20), None)));

    let mut messages = Vec::new();
    let mut opens = 0;
    let ended_with = within(Duration::from_secs(20), async {
        loop {
            match source
                .next()
                .await
                .expect("the client reports how it ended")
            {
                Ok(ClientEvent::Open) => opens += 1,
                Ok(ClientEvent::Message(message)) => {
                    messages.push((message.id, message.data));
                }
                Err(Error::StreamEnded) => {} // it reconnects by itself
                Err(other) => break other,
            }
        }
    })
    .await;
    assert!(
        matches!(
            ended_with,
            Error::InvalidStatusCode(StatusCode::NO_CONTENT, _)
        ),
        "{ended_with:?}"
    );
    assert_eq!(opens, 2);
    let expected: Vec<(String, String)> = (1..=4)
        .map(|n| (n.to_string(), format!("event {n}\nsecond line")))
        .collect();
    assert_eq!(messages, expected);
    assert_eq!(
        *seen.lock().unwrap(),
        [None, Some("3".into()), Some("4".into())]
    );
}

#[tokio::test]
async fn a_refusal_or_a_plain_response_is_reported_as_such() {
    let addr = serve(app(Arc::default())).await;

    let mut source = EventSource::get(format!("http://{addr}/private"));
    match within(Duration::from_secs(10), source.next())
        .await
        .unwrap()
    {
        Err(Error::InvalidStatusCode(status, _)) => assert_eq!(status, StatusCode::UNAUTHORIZED),
        other => panic!("expected a 401, got {other:?}"),
    }

    // `/` stays with the inner service, whose plain text is not an event stream.
    let mut source = EventSource::get(format!("http://{addr}/"));
    match within(Duration::from_secs(10), source.next())
        .await
        .unwrap()
    {
        Err(Error::InvalidContentType(content_type, _)) => {
            assert!(content_type.to_str().unwrap().starts_with("text/plain"))
        }
        other => panic!("expected a content-type error, got {other:?}"),
    }
}
