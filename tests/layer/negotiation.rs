//! Which requests get events, and what both branches answer: a real axum server on
//! 127.0.0.1:0 and a real HTTP/1.1 client.

use crate::common;

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{Router, body::Body, routing::get};
use common::{body_bytes, get as request, send, serve};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::Empty;
use tower_sse::{Event, EventId, SseLayer};

type Factory = fn(
    Request<Body>,
    Option<EventId>,
) -> std::future::Ready<
    Result<tokio_stream::Iter<std::vec::IntoIter<Event>>, Infallible>,
>;

/// A factory that answers one event saying which Last-Event-ID it got.
fn echo_last_event_id(
    _request: Request<Body>,
    last_event_id: Option<EventId>,
) -> std::future::Ready<Result<tokio_stream::Iter<std::vec::IntoIter<Event>>, Infallible>> {
    let data = match last_event_id {
        Some(id) => format!("last={id}"),
        None => "none".to_owned(),
    };
    std::future::ready(Ok(tokio_stream::iter(vec![Event::new().data(data)])))
}

fn app(layer: SseLayer<Factory>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async {
                Response::builder()
                    .status(StatusCode::IM_A_TEAPOT)
                    .header("x-inner", "kept")
                    .header("vary", "origin")
                    .body(Body::from("the page"))
                    .unwrap()
            })
            .post(|| async { "posted" }),
        )
        .layer(layer)
}

fn default_app() -> Router {
    app(SseLayer::new(echo_last_event_id as Factory))
}

fn vary(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[tokio::test]
async fn accept_table_over_the_wire() {
    let addr = serve(default_app()).await;
    let table: &[(Option<&str>, bool)] = &[
        (Some("text/event-stream"), true),
        (Some("TEXT/Event-Stream"), true),
        (Some("text/event-stream; charset=utf-8"), true),
        (Some("application/json;q=0.9, text/event-stream"), true),
        (Some("text/event-stream, */*;q=0.1"), true),
        (Some("text/html, text/event-stream"), false),
        (Some("*/*"), false),
        (Some("text/*"), false),
        (Some("text/event-stream;q=0"), false),
        (None, false),
        (Some("text/event-stream;q=nonsense"), false),
        (Some("text/event-stream;;;x=\"unterminated"), false),
    ];
    for &(accept, events) in table {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let response = send(addr, request("/", &headers)).await;
        let status = response.status();
        let content_type = response.headers().get("content-type").cloned();
        let vary = vary(response.headers()).join("|");
        let body = body_bytes(response).await;
        if events {
            assert_eq!(status, StatusCode::OK, "Accept: {accept:?}");
            assert_eq!(
                content_type.unwrap(),
                "text/event-stream",
                "Accept: {accept:?}"
            );
            assert_eq!(vary, "accept", "Accept: {accept:?}");
            assert_eq!(body, "data: none\n\n", "Accept: {accept:?}");
        } else {
            assert_eq!(status, StatusCode::IM_A_TEAPOT, "Accept: {accept:?}");
            assert_eq!(vary, "origin|accept", "Accept: {accept:?}");
            assert_eq!(body, "the page", "Accept: {accept:?}");
        }
    }
}

#[tokio::test]
async fn several_accept_lines_are_read_together() {
    let addr = serve(default_app()).await;
    let headers = [
        ("accept", "application/json;q=0.5"),
        ("accept", "text/event-stream"),
    ];
    let response = send(addr, request("/", &headers)).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");

    let headers = [("accept", "text/event-stream"), ("accept", "text/html")];
    let response = send(addr, request("/", &headers)).await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
}

#[tokio::test]
async fn event_stream_response_headers() {
    let addr = serve(default_app()).await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache, no-transform");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(vary(headers), ["accept"]);
    assert!(headers.get("content-length").is_none());
    assert!(headers.get("x-inner").is_none());
    assert_eq!(headers["transfer-encoding"], "chunked");
}

#[tokio::test]
async fn x_accel_buffering_can_be_turned_off() {
    let addr = serve(app(
        SseLayer::new(echo_last_event_id as Factory).x_accel_buffering(false)
    ))
    .await;
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("x-accel-buffering").is_none());
}

#[tokio::test]
async fn pass_through_is_untouched_but_for_vary() {
    let addr = serve(default_app()).await;
    let response = send(addr, request("/", &[("accept", "text/html")])).await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(response.headers()["x-inner"], "kept");
    assert_eq!(response.headers()["content-length"], "8");
    assert_eq!(vary(response.headers()), ["origin", "accept"]);
    assert_eq!(body_bytes(response).await, "the page");
}

#[tokio::test]
async fn only_get_and_head_are_diverted_by_default() {
    let addr = serve(default_app()).await;
    let post = Request::post("/")
        .header("host", "test")
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .unwrap();
    let response = send(addr, post).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("content-type").unwrap() != "text/event-stream");
    assert_eq!(body_bytes(response).await, "posted");
}

#[tokio::test]
async fn head_gets_the_stream_headers_and_no_body() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let layer = SseLayer::new(move |_: Request<Body>, _: Option<EventId>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(tokio_stream::iter(vec![Event::new().data("x")])) }
    });
    let app = Router::new()
        .route("/", get(|| async { "page" }))
        .layer(layer);
    let addr = serve(app).await;

    let head = |accept: &'static str| {
        Request::head("/")
            .header("host", "test")
            .header("accept", accept)
            .body(Empty::new())
            .unwrap()
    };
    let response = send(addr, head("text/event-stream")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(vary(response.headers()), ["accept"]);
    assert_eq!(body_bytes(response).await, "");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the factory decides HEAD too"
    );

    let response = send(addr, head("text/html")).await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_custom_predicate_scopes_events_to_a_path() {
    let layer = SseLayer::new(echo_last_event_id as Factory).predicate(
        |method: &Method, uri: &Uri, headers: &HeaderMap| {
            method == Method::GET
                && uri.path() == "/events"
                && tower_sse::accepts_event_stream(headers)
        },
    );
    let app = Router::new()
        .route("/", get(|| async { "page" }))
        .route("/events", get(|| async { "inner events route" }))
        .layer(layer);
    let addr = serve(app).await;
    let sse = [("accept", "text/event-stream")];

    let response = send(addr, request("/", &sse)).await;
    assert_eq!(body_bytes(response).await, "page");
    let response = send(addr, request("/events", &sse)).await;
    assert_eq!(body_bytes(response).await, "data: none\n\n");
    let response = send(addr, request("/events", &[])).await;
    assert_eq!(body_bytes(response).await, "inner events route");
}

#[tokio::test]
async fn a_predicate_can_serve_post() {
    let layer = SseLayer::new(|request: Request<Body>, _: Option<EventId>| async move {
        use http_body_util::BodyExt;
        let prompt = request.into_body().collect().await.unwrap().to_bytes();
        let reply = format!("you said {}", String::from_utf8_lossy(&prompt));
        Ok::<_, Infallible>(tokio_stream::iter(vec![Event::new().data(reply)]))
    })
    .predicate(|method: &Method, uri: &Uri, _: &HeaderMap| {
        method == Method::POST && uri.path() == "/chat"
    });
    let app = Router::new()
        .route("/", get(|| async { "page" }))
        .layer(layer);
    let addr = serve(app).await;

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let post = Request::post("/chat")
        .header("host", "test")
        .body(http_body_util::Full::new(bytes::Bytes::from("hello")))
        .unwrap();
    let response = sender.send_request(post).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(body_bytes(response).await, "data: you said hello\n\n");
}

#[tokio::test]
async fn last_event_id_reaches_the_factory() {
    let addr = serve(default_app()).await;
    let sse = ("accept", "text/event-stream");

    let response = send(addr, request("/", &[sse, ("last-event-id", "41")])).await;
    assert_eq!(body_bytes(response).await, "data: last=41\n\n");

    let response = send(addr, request("/", &[sse, ("last-event-id", "a é b")])).await;
    assert_eq!(body_bytes(response).await, "data: last=a é b\n\n");

    // The query is read by default, and the header wins over it.
    let response = send(addr, request("/?lastEventId=7%2B1", &[sse])).await;
    assert_eq!(body_bytes(response).await, "data: last=7+1\n\n");
    let response = send(
        addr,
        request("/?lastEventId=q", &[sse, ("last-event-id", "h")]),
    )
    .await;
    assert_eq!(body_bytes(response).await, "data: last=h\n\n");
}

#[tokio::test]
async fn last_event_id_query_can_be_turned_off() {
    let addr = serve(app(
        SseLayer::new(echo_last_event_id as Factory).last_event_id_query(false)
    ))
    .await;
    let sse = ("accept", "text/event-stream");
    let response = send(addr, request("/?lastEventId=7", &[sse])).await;
    assert_eq!(body_bytes(response).await, "data: none\n\n");
    let response = send(
        addr,
        request("/?lastEventId=q", &[sse, ("last-event-id", "h")]),
    )
    .await;
    assert_eq!(body_bytes(response).await, "data: last=h\n\n");
}

#[tokio::test]
async fn bad_last_event_id_is_a_400_with_a_reason() {
    let addr = serve(app(
        SseLayer::new(echo_last_event_id as Factory).last_event_id_query(true)
    ))
    .await;
    let long = "9".repeat(1025);
    let cases: Vec<(Request<Empty<bytes::Bytes>>, &str)> = vec![
        (
            request(
                "/",
                &[("accept", "text/event-stream"), ("last-event-id", &long)],
            ),
            "the Last-Event-ID header is 1025 bytes long; at most 1024 bytes are accepted",
        ),
        (
            Request::get("/")
                .header("host", "test")
                .header("accept", "text/event-stream")
                .header(
                    "last-event-id",
                    http::HeaderValue::from_bytes(b"\xc3\x28").unwrap(),
                )
                .body(Empty::new())
                .unwrap(),
            "the Last-Event-ID header is not valid UTF-8",
        ),
        (
            request("/?lastEventId=%00", &[("accept", "text/event-stream")]),
            "the lastEventId query parameter contains CR, LF or NUL",
        ),
    ];
    for (req, reason) in cases {
        let response = send(addr, req).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(vary(response.headers()), ["accept"]);
        assert_eq!(body_bytes(response).await, reason);
    }
    // The server still serves others.
    let response = send(addr, request("/", &[("accept", "text/event-stream")])).await;
    assert_eq!(body_bytes(response).await, "data: none\n\n");
}

/// A refusal that is an axum response: feature `axum`.
#[cfg(feature = "axum")]
#[tokio::test]
async fn the_factory_can_answer_with_its_own_response() {
    let layer = SseLayer::new(|request: Request<Body>, _: Option<EventId>| async move {
        match request.headers().get("authorization").map(|v| v.as_bytes()) {
            None => Err((StatusCode::UNAUTHORIZED, "log in first").into_response_with_vary()),
            Some(b"done") => Err(StatusCode::NO_CONTENT.into_response_with_vary()),
            Some(_) => Ok(tokio_stream::iter(vec![Event::new().data("welcome")])),
        }
    });
    let app = Router::new()
        .route("/", get(|| async { "page" }))
        .layer(layer);
    let addr = serve(app).await;
    let sse = ("accept", "text/event-stream");

    let response = send(addr, request("/", &[sse])).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(vary(response.headers()), ["origin", "accept"]);
    assert_eq!(body_bytes(response).await, "log in first");

    let response = send(addr, request("/", &[sse, ("authorization", "done")])).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(vary(response.headers()), ["origin", "accept"]);

    let response = send(addr, request("/", &[sse, ("authorization", "x")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_bytes(response).await, "data: welcome\n\n");
}

/// A rejection that already varies on `Origin`, to show `Accept` is added to it.
#[cfg(feature = "axum")]
trait WithVary {
    fn into_response_with_vary(self) -> axum::response::Response;
}

#[cfg(feature = "axum")]
impl<T: axum::response::IntoResponse> WithVary for T {
    fn into_response_with_vary(self) -> axum::response::Response {
        let mut response = self.into_response();
        response
            .headers_mut()
            .insert("vary", http::HeaderValue::from_static("origin"));
        response
    }
}
