//! The axum example (`examples/axum_routes.rs`) on 127.0.0.1:0: `route_layer` scopes
//! events to one route, and the factory uses app state and the auth header.
#![cfg(feature = "hub")]

use crate::common;

use std::time::Duration;

use common::{body_bytes, get, send, serve, within};
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body_util::Full;

const SSE: (&str, &str) = ("accept", "text/event-stream");

async fn post_notify(addr: std::net::SocketAddr, form: &'static str) -> StatusCode {
    post(addr, "/notify", form, None).await
}

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    form: &'static str,
    authorization: Option<&str>,
) -> StatusCode {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = Request::post(path)
        .header("host", "test")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let request = request.body(Full::new(bytes::Bytes::from(form))).unwrap();
    sender.send_request(request).await.unwrap().status()
}

#[tokio::test]
async fn the_factory_answers_401_without_a_valid_token() {
    let example = common::Example::start("axum_routes", &[]);
    let addr = example.addr;
    for headers in [vec![SSE], vec![SSE, ("authorization", "Bearer wrong")]] {
        let response = send(addr, get("/notifications", &headers)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["vary"], "accept");
        assert_eq!(
            body_bytes(response).await,
            "send Authorization: Bearer <token>"
        );
    }
}

#[tokio::test]
async fn an_authorized_user_gets_their_own_notifications() {
    let example = common::Example::start("axum_routes", &[]);
    let addr = example.addr;
    let ann = send(
        addr,
        get(
            "/notifications",
            &[SSE, ("authorization", "Bearer ann-token")],
        ),
    )
    .await;
    assert_eq!(ann.status(), StatusCode::OK);
    assert_eq!(ann.headers()["content-type"], "text/event-stream");
    let mut ann = sse_stream::SseStream::new(ann.into_body());

    assert_eq!(
        post_notify(addr, "for=bob&text=not+for+ann").await,
        StatusCode::OK
    );
    assert_eq!(
        post_notify(addr, "for=ann&text=hello+ann").await,
        StatusCode::OK
    );
    assert_eq!(
        post_notify(addr, "for=nobody&text=x").await,
        StatusCode::NOT_FOUND
    );

    let event = within(Duration::from_secs(5), ann.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.event.as_deref(), Some("notification"));
    assert_eq!(event.data.as_deref(), Some("hello ann"));
    let id = event.id.as_deref().unwrap();
    assert!(id.starts_with("2-"), "ids are the hub's sequence: {id}");
}

#[tokio::test]
async fn route_layer_leaves_other_routes_alone() {
    let example = common::Example::start("axum_routes", &[]);
    let addr = example.addr;
    let auth = ("authorization", "Bearer ann-token");

    // The plain GET of the same route still gets its JSON.
    let response = send(
        addr,
        get("/notifications", &[("accept", "application/json"), auth]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        String::from_utf8(body_bytes(response).await.to_vec())
            .unwrap()
            .contains("notifications")
    );

    // Routes outside `route_layer` never get events, whatever the Accept header says.
    let response = send(addr, get("/", &[SSE, auth])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_bytes(response).await, "the app's home page\n");

    // Unknown routes stay 404s.
    let response = send(addr, get("/nowhere", &[SSE, auth])).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// A whole axum app wrapped in the layer from the outside (the way axum's docs add
/// middleware that runs before routing), served by `axum::serve`: pages, the router's own
/// 404 and the event stream all come through, each with `Vary: Accept`.
#[tokio::test]
async fn a_router_wrapped_from_outside_serves_both_branches() {
    use axum::{Router, ServiceExt, body::Body, extract::Path, routing::get as route_get};
    use http::Response;
    use tower::ServiceBuilder;
    use tower_sse::{Event, EventId, ResponseBody, SseLayer};

    let router = Router::new().route(
        "/users/{id}",
        route_get(|Path(id): Path<u32>| async move { format!("user {id}") }),
    );
    let events = |request: Request<Body>, _: Option<EventId>| async move {
        let path = request.uri().path().to_owned();
        Ok::<_, std::convert::Infallible>(tokio_stream::iter([
            Event::new().data(path),
            Event::new().data("bye"),
        ]))
    };
    let app = ServiceBuilder::new()
        .map_response(|response: Response<ResponseBody<Body>>| response.map(Body::from))
        .layer(SseLayer::new(events))
        .service(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            ServiceExt::<Request<Body>>::into_make_service(app),
        )
        .await
        .unwrap()
    });

    let page = within(Duration::from_secs(10), send(addr, get("/users/7", &[]))).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["vary"], "accept");
    assert_eq!(body_bytes(page).await, "user 7");

    let missing = within(Duration::from_secs(10), send(addr, get("/nowhere", &[]))).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["vary"], "accept");

    let stream = within(Duration::from_secs(10), send(addr, get("/users/7", &[SSE]))).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(stream.headers()["vary"], "accept");
    assert_eq!(body_bytes(stream).await, "data: /users/7\n\ndata: bye\n\n");
}

async fn doc_page(axum::extract::Path(doc): axum::extract::Path<u32>) -> String {
    format!("page of document {doc}")
}

/// A document's events: one, then idle until the shutdown signal.
async fn doc_events(
    axum::extract::State(shutdown): axum::extract::State<tower_sse::Shutdown>,
    axum::extract::Path(doc): axum::extract::Path<u32>,
    last: Option<tower_sse::EventId>,
) -> tower_sse::EventStream<impl tokio_stream::Stream<Item = tower_sse::Event>> {
    let first = tower_sse::Event::new().data(format!("doc {doc} after {:?}", last.as_deref()));
    let stream = tokio_stream::StreamExt::chain(tokio_stream::once(first), tokio_stream::pending());
    tower_sse::EventStream::new(stream).graceful_shutdown(shutdown)
}

/// `page_or_events`: a page and its events on one URL, each an axum handler with
/// extractors, negotiated like the layer, `Vary: Accept` on both, the `Last-Event-ID`
/// extractor (a bad one is a `400`), and the shutdown signal ending the stream.
#[tokio::test]
async fn a_page_and_its_events_as_handlers_on_one_url() {
    use axum::Router;
    use tower_sse::{Event, Shutdown, routing::page_or_events};

    let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
    let app = Router::new()
        .route("/docs/{doc}", page_or_events(doc_page, doc_events))
        .with_state(shutdown.clone());
    let addr = serve(app).await;

    for accept in ["text/html", "*/*", "text/html, text/event-stream"] {
        let response = send(addr, get("/docs/7", &[("accept", accept)])).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["vary"], "accept");
        assert_eq!(body_bytes(response).await, "page of document 7");
    }
    let too_long = "x".repeat(2000);
    let bad = send(addr, get("/docs/7", &[SSE, ("last-event-id", &too_long)])).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let response = send(addr, get("/docs/7", &[SSE, ("last-event-id", "41")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-transform"
    );
    assert_eq!(response.headers()["vary"], "accept");
    let mut body = response.into_body();
    let first = within(
        Duration::from_secs(5),
        http_body_util::BodyExt::frame(&mut body),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        first.into_data().unwrap(),
        "data: doc 7 after Some(\"41\")\n\n"
    );
    shutdown.trigger();
    let rest = within(
        Duration::from_secs(5),
        http_body_util::BodyExt::collect(body),
    )
    .await
    .unwrap()
    .to_bytes();
    assert_eq!(rest, "event: bye\ndata: \n\n");
}

async fn open(
    addr: std::net::SocketAddr,
    headers: &[(&str, &str)],
) -> sse_stream::SseStream<hyper::body::Incoming> {
    let mut all = vec![SSE];
    all.extend_from_slice(headers);
    let response = send(addr, get("/notifications", &all)).await;
    assert_eq!(response.status(), StatusCode::OK);
    sse_stream::SseStream::new(response.into_body())
}

/// `POST /logout` ends the user's streams with `event: revoked`; others go on.
#[tokio::test]
async fn logging_out_ends_the_users_streams_with_the_revoked_event() {
    let example = common::Example::start("axum_routes", &[]);
    let addr = example.addr;
    let mut ann = open(addr, &[("authorization", "Bearer ann-token")]).await;
    let mut bob = open(addr, &[("authorization", "Bearer bob-token")]).await;
    // A notification each, so both streams are known to be subscribed.
    assert_eq!(post_notify(addr, "for=ann&text=a").await, StatusCode::OK);
    assert_eq!(post_notify(addr, "for=bob&text=b").await, StatusCode::OK);
    for stream in [&mut ann, &mut bob] {
        within(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap();
    }

    let logout = post(addr, "/logout", "", Some("Bearer ann-token")).await;
    assert_eq!(logout, StatusCode::NO_CONTENT);
    let last = within(Duration::from_secs(5), ann.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (last.event.as_deref(), last.data.as_deref()),
        (Some("revoked"), Some("logged out"))
    );
    assert!(
        within(Duration::from_secs(5), ann.next()).await.is_none(),
        "ann's stream ended"
    );

    assert_eq!(
        post_notify(addr, "for=bob&text=still+here").await,
        StatusCode::OK
    );
    let event = within(Duration::from_secs(5), bob.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.data.as_deref(), Some("still here"));
}

/// A stream lasts no longer than its token, and ends with `event: expired`.
#[tokio::test]
async fn a_stream_ends_with_the_expired_event_when_the_token_does() {
    let example = common::Example::start("axum_routes", &[("TOKEN_SECONDS", "1")]);
    let mut ann = open(example.addr, &[("authorization", "Bearer ann-token")]).await;
    let last = within(Duration::from_secs(10), ann.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.event.as_deref(), Some("expired"));
    assert!(within(Duration::from_secs(5), ann.next()).await.is_none());
}

/// The JSON answer carries the hub's position: a stream opened from it gets exactly
/// the notifications that came after the JSON, not the ones in it.
#[tokio::test]
async fn a_stream_opened_from_the_json_position_starts_after_it() {
    let example = common::Example::start("axum_routes", &[]);
    let addr = example.addr;
    let auth = ("authorization", "Bearer ann-token");
    assert_eq!(
        post_notify(addr, "for=ann&text=in+the+json").await,
        StatusCode::OK
    );
    let response = send(
        addr,
        get("/notifications", &[("accept", "application/json"), auth]),
    )
    .await;
    let position = response.headers()["sse-position"]
        .to_str()
        .unwrap()
        .to_owned();
    let json: serde_json::Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(
        json,
        serde_json::json!({ "notifications": ["in the json"] })
    );

    assert_eq!(
        post_notify(addr, "for=ann&text=after+the+json").await,
        StatusCode::OK
    );
    let mut ann = open(addr, &[auth, ("last-event-id", &position)]).await;
    let event = within(Duration::from_secs(5), ann.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.data.as_deref(), Some("after the json"));
}
