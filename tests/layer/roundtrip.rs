//! Events served by a real server on 127.0.0.1:0 arrive exactly as sent at two
//! independent clients: `sse-stream` (a strict wire-level decoder) and
//! `eventsource-stream` (the one axum's own tests use).

use crate::common;

use std::{convert::Infallible, time::Duration};

use axum::{Router, body::Body, routing::get};
use common::{get as request, send, serve, within};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http::Request;
use http_body_util::BodyExt;
use tower_sse::{Event, EventId, SseLayer};

/// One event to send: (event type, id, data).
type Spec = (Option<&'static str>, Option<&'static str>, &'static str);

const EVENTS: &[Spec] = &[
    (None, None, "plain"),
    (None, None, "two\nlines"),
    (None, None, "lone\rcarriage return"),
    (None, None, "crlf\r\nline"),
    (None, None, "mixed\r\n\n\r\rbreaks"),
    (None, None, "trailing newline\n"),
    (None, None, "\nleading newline"),
    (None, None, ""),
    (None, None, " leading space"),
    (None, None, "  two leading spaces\n  and again"),
    (None, None, "\ttab"),
    (None, None, "unicode é 🦀 ✓"),
    (None, None, "nul \0 inside"),
    (
        None,
        None,
        "looks like a field\nid: 666\nevent: evil\n\ndata: injected",
    ),
    (None, None, ": looks like a comment"),
    (Some("tick"), Some("1"), "named with id"),
    (Some(" spaced type"), Some(" spaced id"), "x"),
    (Some("unicode-é"), Some("id-🦀"), "y"),
    (None, Some("42"), "id only"),
];

fn build(spec: &Spec) -> Event {
    let (event, id, data) = *spec;
    let mut built = Event::new();
    if let Some(event) = event {
        built = built.event(event).unwrap();
    }
    if let Some(id) = id {
        built = built.id(id).unwrap();
    }
    built.data(data)
}

/// What a spec-following client rebuilds: line breaks of any kind become `\n`.
fn normalized(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

async fn server() -> std::net::SocketAddr {
    let layer = SseLayer::new(|_: Request<Body>, _: Option<EventId>| async {
        let events = EVENTS.iter().map(build).collect::<Vec<_>>();
        Ok::<_, Infallible>(tokio_stream::iter(events))
    })
    .reconnection_time(Duration::from_millis(1500));
    serve(
        Router::new()
            .route("/", get(|| async { "page" }))
            .layer(layer),
    )
    .await
}

#[tokio::test]
async fn sse_stream_reads_exactly_what_was_sent() {
    let addr = server().await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    let decoded: Vec<sse_stream::Sse> = within(
        Duration::from_secs(10),
        sse_stream::SseStream::new(response.into_body())
            .map(|r| r.unwrap())
            .collect(),
    )
    .await;

    // The first block is the retry hint the layer sends before the stream.
    let mut expected = vec![sse_stream::Sse {
        retry: Some(1500),
        ..Default::default()
    }];
    for &(event, id, data) in EVENTS {
        expected.push(sse_stream::Sse {
            event: event.map(str::to_owned),
            data: Some(normalized(data)),
            id: id.map(str::to_owned),
            retry: None,
        });
    }
    assert_eq!(decoded, expected);
}

#[tokio::test]
async fn eventsource_stream_reads_exactly_what_was_sent() {
    let addr = server().await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    let decoded: Vec<eventsource_stream::Event> = within(
        Duration::from_secs(10),
        response
            .into_body()
            .into_data_stream()
            .eventsource()
            .map(|r| r.unwrap())
            .collect(),
    )
    .await;

    // eventsource-stream keeps the last id across events, as browsers do, and reports
    // the type `message` for events without one.
    let mut last_id = String::new();
    let mut expected = Vec::new();
    for &(event, id, data) in EVENTS {
        if let Some(id) = id {
            last_id = id.to_owned();
        }
        expected.push((
            event.unwrap_or("message").to_owned(),
            last_id.clone(),
            normalized(data),
        ));
    }
    let got: Vec<(String, String, String)> = decoded
        .iter()
        .map(|e| (e.event.clone(), e.id.clone(), e.data.clone()))
        .collect();
    // The leading `retry:` block has no data, so, as in browsers, it dispatches nothing.
    assert_eq!(got, expected);
}

#[tokio::test]
async fn every_byte_is_as_specified() {
    let addr = server().await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    let body = common::body_bytes(response).await;
    let mut expected = String::from("retry: 1500\n\n");
    expected.push_str(concat!(
        "data: plain\n\n",
        "data: two\ndata: lines\n\n",
        "data: lone\ndata: carriage return\n\n",
        "data: crlf\ndata: line\n\n",
        "data: mixed\ndata: \ndata: \ndata: \ndata: breaks\n\n",
        "data: trailing newline\ndata: \n\n",
        "data: \ndata: leading newline\n\n",
        "data: \n\n",
        "data:  leading space\n\n",
        "data:   two leading spaces\ndata:   and again\n\n",
        "data: \ttab\n\n",
        "data: unicode é 🦀 ✓\n\n",
        "data: nul \0 inside\n\n",
        "data: looks like a field\ndata: id: 666\ndata: event: evil\ndata: \ndata: data: injected\n\n",
        "data: : looks like a comment\n\n",
        "event: tick\nid: 1\ndata: named with id\n\n",
        "event:  spaced type\nid:  spaced id\ndata: x\n\n",
        "event: unicode-é\nid: id-🦀\ndata: y\n\n",
        "id: 42\ndata: id only\n\n",
    ));
    assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
}
