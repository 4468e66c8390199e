//! The handler's way offers what the layer offers: each stream setting on an
//! `EventStream`, checked from outside with exact bytes and headers; a layer's factory
//! written with axum extractors, layered per route; `async` closures as factories; and
//! the test kit sending a `POST`.
#![cfg(all(feature = "axum", feature = "test-util"))]

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, request::Parts},
    routing::get,
};
use bytes::Bytes;
use futures_util::FutureExt;
use http::Request;
use http_body_util::BodyExt;
use tokio::{sync::mpsc, time::Instant};
use tokio_stream::{Stream, StreamExt, wrappers::UnboundedReceiverStream};
use tower::ServiceExt;
use tower_sse::{
    Event, EventId, EventStream, KeepAlive, Shutdown, SseLayer,
    testing::{Item, TestClient},
    with_extractors,
};

/// `events`, then nothing, forever.
fn then_idle(events: Vec<Event>) -> impl Stream<Item = Event> + Send + 'static {
    tokio_stream::iter(events).chain(tokio_stream::pending())
}

/// An app whose `/` answers every request with `response()`.
fn app<St, F>(response: F) -> Router
where
    F: Fn() -> EventStream<St> + Clone + Send + Sync + 'static,
    St: Stream<Item = Event> + Send + 'static,
{
    Router::new().route("/", get(move || async move { response() }))
}

const SSE: (&str, &str) = ("accept", "text/event-stream");

/// Every frame of a finite event stream's body, as the client reads them.
async fn frames_of(app: Router) -> Vec<Bytes> {
    let request = Request::get("/")
        .header(SSE.0, SSE.1)
        .body(Body::empty())
        .unwrap();
    let mut body = app.oneshot(request).await.unwrap().into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap().into_data().unwrap());
    }
    frames
}

#[tokio::test(start_paused = true)]
async fn event_stream_keep_alive_has_the_layers_shape() {
    let mut client = TestClient::new(app(|| {
        EventStream::new(then_idle(vec![])).keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(5))
                .comment("ping"),
        )
    }));
    let mut stream = client.events("/").await.unwrap();
    let start = Instant::now();
    let item = stream.next_item().await.unwrap();
    assert_eq!(item, Some(Item::Comment(" ping".into())));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(stream.raw(), b": ping\n\n");

    let mut client = TestClient::new(app(|| {
        EventStream::new(then_idle(vec![])).without_keep_alive()
    }));
    let mut stream = client.events("/").await.unwrap();
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(stream.ready_items().unwrap().is_empty());
    assert_eq!(stream.raw(), b"");
}

#[tokio::test]
async fn event_stream_reconnection_time_and_headers() {
    let mut client = TestClient::new(app(|| {
        EventStream::new(tokio_stream::iter([Event::new().data("a")]))
            .reconnection_time(Duration::from_millis(1500))
    }));
    let stream = client.events("/").await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(stream.headers()["cache-control"], "no-cache, no-transform");
    assert_eq!(stream.headers()["x-accel-buffering"], "no");
    assert_eq!(stream.text().await.unwrap(), "retry: 1500\n\ndata: a\n\n");

    let mut client = TestClient::new(app(|| {
        EventStream::new(tokio_stream::iter([Event::new().data("a")])).x_accel_buffering(false)
    }));
    let stream = client.events("/").await.unwrap();
    assert!(stream.headers().get("x-accel-buffering").is_none());
}

#[tokio::test]
async fn event_stream_max_frame_size_bounds_each_frame() {
    let three = || (0..3).map(|_| Event::new().data("a")).collect::<Vec<_>>();
    let whole = frames_of(app(move || EventStream::new(tokio_stream::iter(three())))).await;
    assert_eq!(whole, ["data: a\n\ndata: a\n\ndata: a\n\n"]);
    let bounded = frames_of(app(move || {
        EventStream::new(tokio_stream::iter(three())).max_frame_size(18)
    }))
    .await;
    assert_eq!(bounded, ["data: a\n\ndata: a\n\n", "data: a\n\n"]);
}

/// An app streaming what the test sends on the channel, with `settings`.
fn fed(
    settings: fn(
        EventStream<UnboundedReceiverStream<Event>>,
    ) -> EventStream<UnboundedReceiverStream<Event>>,
) -> (Router, mpsc::UnboundedSender<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
    let app = app(move || {
        let rx = rx.lock().unwrap().take().expect("one request");
        settings(EventStream::new(UnboundedReceiverStream::new(rx)))
    });
    (app, tx)
}

#[tokio::test(start_paused = true)]
async fn event_stream_write_window_holds_small_frames() {
    let (app, tx) = fed(|stream| {
        stream
            .without_keep_alive()
            .write_window(Duration::from_millis(10))
            .write_window_bytes(16)
    });
    let request = Request::get("/").header(SSE.0, SSE.1).body(Body::empty());
    let mut body = app.oneshot(request.unwrap()).await.unwrap().into_body();
    let start = Instant::now();
    tx.send(Event::new().data("a")).unwrap();
    assert!(body.frame().now_or_never().is_none(), "held for the window");
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame, "data: a\n\n");
    assert_eq!(start.elapsed(), Duration::from_millis(10));

    // Two events reach the byte bound: out at once.
    let start = Instant::now();
    tx.send(Event::new().data("b")).unwrap();
    tx.send(Event::new().data("c")).unwrap();
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame, "data: b\n\ndata: c\n\n");
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn event_stream_graceful_shutdown_sends_the_last_event() {
    let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
    let signal = shutdown.clone();
    let mut client = TestClient::new(app(move || {
        EventStream::new(then_idle(vec![Event::new().data("hello")]))
            .graceful_shutdown(signal.clone())
    }));
    let mut stream = client.events("/").await.unwrap();
    assert_eq!(stream.next_event().await.unwrap().unwrap().data, "hello");
    shutdown.trigger();
    assert!(
        stream
            .rest()
            .await
            .unwrap()
            .iter()
            .all(|e| e.event == "bye")
    );
    assert!(stream.is_ended());
    assert_eq!(stream.raw(), b"data: hello\n\nevent: bye\ndata: \n\n");
}

#[cfg(feature = "compression-gzip")]
#[tokio::test]
async fn event_stream_compression_follows_accept_encoding() {
    use std::io::Read;
    use tower_sse::Compression;

    let events = || tokio_stream::iter([Event::new().data("compressed")]);
    let app =
        Router::new()
            .route(
                "/",
                get(move |headers: http::HeaderMap| async move {
                    EventStream::new(events())
                        .compression(Compression::default())
                        .accept_encoding(&headers)
                }),
            )
            .route(
                "/unread",
                get(move || async move {
                    EventStream::new(events()).compression(Compression::default())
                }),
            );
    let mut client = TestClient::new(app);
    let gzip = ("accept-encoding", "gzip");
    let stream = client.events_with("/", &[gzip]).await.unwrap();
    assert_eq!(stream.headers()["content-encoding"], "gzip");
    assert_eq!(stream.headers()["vary"], "accept, accept-encoding");
    let request = Request::get("/")
        .header(SSE.0, SSE.1)
        .header(gzip.0, gzip.1);
    let response = client
        .get_ref()
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let compressed = response.into_body().collect().await.unwrap().to_bytes();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "data: compressed\n\n");

    // Without the request's headers: sent as it is, still varying by both.
    let stream = client.events_with("/unread", &[gzip]).await.unwrap();
    assert!(stream.headers().get("content-encoding").is_none());
    assert_eq!(stream.headers()["vary"], "accept, accept-encoding");
    assert_eq!(stream.text().await.unwrap(), "data: compressed\n\n");
}

/// The user an `Authorization` header names; a `401` without one.
struct User(String);

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("authorization").map(|v| v.to_str()) {
            Some(Ok(user)) => Ok(Self(user.to_owned())),
            _ => Err((StatusCode::UNAUTHORIZED, "who are you?")),
        }
    }
}

async fn room_events(
    State(greeting): State<Arc<str>>,
    Path(room): Path<u32>,
    User(user): User,
    last: Option<EventId>,
) -> Result<impl Stream<Item = Event>, Infallible> {
    let text = format!("{greeting} {user} in {room} after {:?}", last.as_deref());
    Ok(tokio_stream::iter([Event::new().data(text)]))
}

async fn room_page(Path(room): Path<u32>) -> String {
    format!("room {room}")
}

/// Reads `uri` as an `EventSource` with `headers`: the status and the whole body.
async fn read(app: &Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let stream = TestClient::new(app.clone())
        .events_with(uri, headers)
        .await
        .unwrap();
    (stream.status(), stream.text().await.unwrap())
}

#[tokio::test]
async fn a_factory_with_extractors_layered_on_one_route() {
    let greeting: Arc<str> = Arc::from("hello");
    let per_route = Router::new().route(
        "/rooms/{room}",
        get(room_page).layer(SseLayer::new(with_extractors(
            room_events,
            greeting.clone(),
        ))),
    );
    let route_layer = Router::new()
        .route("/rooms/{room}", get(room_page))
        .route_layer(SseLayer::new(with_extractors(room_events, greeting)));
    for app in [per_route, route_layer] {
        let ann = [("authorization", "ann"), ("last-event-id", "3")];
        let expected = "data: hello ann in 7 after Some(\"3\")\n\n";
        assert_eq!(
            read(&app, "/rooms/7", &ann).await,
            (StatusCode::OK, expected.into())
        );
        let refused = read(&app, "/rooms/7", &[]).await;
        assert_eq!(refused, (StatusCode::UNAUTHORIZED, "who are you?".into()));
        let bad_path = read(&app, "/rooms/x", &ann).await;
        assert_eq!(bad_path.0, StatusCode::BAD_REQUEST);
        let request = Request::get("/rooms/7").body(Body::empty()).unwrap();
        let page = app.oneshot(request).await.unwrap();
        let page = page.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(page, "room 7");
    }
}

/// The `Option<EventId>` a factory extracts is the id the layer read, by its settings.
#[tokio::test]
async fn a_factory_extracts_the_id_the_layer_read() {
    let layer = |query: bool| {
        let factory = with_extractors(room_events, Arc::<str>::from("hi"));
        SseLayer::new(factory).last_event_id_query(query)
    };
    let ann = [("authorization", "ann")];
    for (query, expected) in [(true, "Some(\"5\")"), (false, "None")] {
        let app = Router::new()
            .route("/rooms/{room}", get(room_page))
            .route_layer(layer(query));
        let (status, body) = read(&app, "/rooms/1?lastEventId=5", &ann).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("data: hi ann in 1 after {expected}\n\n"));
    }
}

/// An `async` closure that captures nothing is a factory; state is captured by a
/// closure that clones it into an `async move` block.
#[tokio::test]
async fn async_closures_and_captured_state_as_factories() {
    let closure = SseLayer::new(async |_: Request<Body>, last: Option<EventId>| {
        let text = format!("async after {:?}", last.as_deref());
        Ok::<_, Infallible>(tokio_stream::iter([Event::new().data(text)]))
    });
    let app = Router::new()
        .route("/", get(|| async { "page" }))
        .layer(closure);
    let expected = "data: async after Some(\"1\")\n\n";
    assert_eq!(
        read(&app, "/", &[("last-event-id", "1")]).await,
        (StatusCode::OK, expected.into())
    );

    let state: Arc<str> = Arc::from("captured");
    let cloning = SseLayer::new(move |_: Request<Body>, _: Option<EventId>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(tokio_stream::iter([Event::new().data(&*state)])) }
    });
    let app = Router::new()
        .route("/", get(|| async { "page" }))
        .layer(cloning);
    assert_eq!(
        read(&app, "/", &[]).await,
        (StatusCode::OK, "data: captured\n\n".into())
    );
}

/// The test kit sends a `POST` that publishes, then reads the event on a stream it
/// opened before.
#[tokio::test]
async fn the_test_client_posts_then_reads_the_event() {
    use tokio::sync::broadcast;
    use tokio_stream::wrappers::BroadcastStream;

    let (tx, _) = broadcast::channel::<String>(4);
    let events = {
        let tx = tx.clone();
        move |_: Request<Body>, _: Option<EventId>| {
            let messages = BroadcastStream::new(tx.subscribe());
            async move {
                let events = messages
                    .filter_map(Result::ok)
                    .map(|m| Event::new().data(m));
                Ok::<_, Infallible>(events)
            }
        }
    };
    let post = |State(tx): State<broadcast::Sender<String>>, text: String| async move {
        tx.send(text).map(|_| "sent").map_err(|_| StatusCode::GONE)
    };
    let app = Router::new()
        .route("/", axum::routing::post(post))
        .with_state(tx)
        .layer(SseLayer::new(events));
    let mut client = TestClient::new(app);
    let mut stream = client.events("/").await.unwrap();
    let request = Request::post("/").body(String::from("hi there")).unwrap();
    let posted = client.request(request).await.unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    assert_eq!(posted.text().await.unwrap(), "sent");
    assert_eq!(stream.next_event().await.unwrap().unwrap().data, "hi there");
    assert_eq!(stream.raw(), b"data: hi there\n\n");
}
