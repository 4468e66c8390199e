//! The README's comparison with axum's `Sse`, as tests: the same inputs through axum
//! 0.8's `Sse` and through tower-sse, decoded by the same independent parser.

use std::{convert::Infallible, panic::catch_unwind};

use axum::response::{IntoResponse, sse};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use tower_sse::Event;

/// What `sse-stream` decodes from a body.
async fn decode(body: axum::body::Body) -> Vec<sse_stream::Sse> {
    sse_stream::SseStream::new(body)
        .map(|r| r.unwrap())
        .collect()
        .await
}

async fn through_axum(event: sse::Event) -> Vec<sse_stream::Sse> {
    let stream = tokio_stream::once(Ok::<_, Infallible>(event));
    decode(sse::Sse::new(stream).into_response().into_body()).await
}

fn ours(event: Event) -> axum::body::Body {
    axum::body::Body::from(event.encode().into_bytes())
}

fn data(value: Option<&str>) -> Vec<Option<String>> {
    vec![value.map(str::to_owned)]
}

#[tokio::test]
async fn crlf_in_data() {
    let axum = through_axum(sse::Event::default().data("a\r\nb")).await;
    let tower = decode(ours(Event::new().data("a\r\nb"))).await;
    assert_eq!(
        axum.into_iter().map(|e| e.data).collect::<Vec<_>>(),
        data(Some("a\n\nb"))
    );
    assert_eq!(
        tower.into_iter().map(|e| e.data).collect::<Vec<_>>(),
        data(Some("a\nb"))
    );
}

#[tokio::test]
async fn lone_cr_in_data() {
    let axum = through_axum(sse::Event::default().data("a\rb")).await;
    let tower = decode(ours(Event::new().data("a\rb"))).await;
    assert_eq!(
        axum.into_iter().map(|e| e.data).collect::<Vec<_>>(),
        data(Some("a\nb"))
    );
    assert_eq!(
        tower.into_iter().map(|e| e.data).collect::<Vec<_>>(),
        data(Some("a\nb"))
    );
}

#[tokio::test]
async fn empty_data() {
    let axum = sse::Sse::new(tokio_stream::once(Ok::<_, Infallible>(
        sse::Event::default().data(""),
    )))
    .into_response()
    .into_body()
    .collect()
    .await
    .unwrap()
    .to_bytes();
    // No data line: browsers do not dispatch an event without data.
    assert_eq!(axum, "\n");
    let tower = ours(Event::new().data(""))
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(tower, "data: \n\n");
}

#[test]
fn line_breaks_in_event_and_id() {
    for value in ["a\nb", "a\rb"] {
        assert!(catch_unwind(|| sse::Event::default().event(value)).is_err());
        assert!(catch_unwind(|| sse::Event::default().id(value)).is_err());
        assert!(Event::new().event(value).is_err());
        assert!(Event::new().id(value).is_err());
    }
    assert!(catch_unwind(|| sse::Event::default().id("a\0b")).is_err());
    assert!(Event::new().id("a\0b").is_err());
}
