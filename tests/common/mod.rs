//! Helpers shared by the integration tests: a real server on 127.0.0.1:0 and a real
//! HTTP/1.1 client over TCP.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod proxy;
#[cfg(all(feature = "hub", feature = "axum"))]
pub mod upstream;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::Router;
#[cfg(feature = "hub")]
use axum::{body::Body, routing::get as route_get};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};
#[cfg(feature = "hub")]
use tower_sse::{EventId, SseLayer, hub::Hub};

/// Serves `app` on a fresh loopback port until the test's runtime ends. Its queue of
/// connections not yet accepted holds 4,096 (Linux's default cap), not tokio's 1,024:
/// thousands of clients that connect at once (the reconnect storm) overflow a shorter
/// one, and each connection dropped from it waits a second or more for TCP to retry.
pub async fn serve(app: Router) -> SocketAddr {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let listener = socket.listen(4096).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends `request` over a new HTTP/1.1 connection and returns the response head with
/// its streaming body.
pub async fn send(addr: SocketAddr, request: Request<Empty<Bytes>>) -> Response<Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

/// A GET request with the given headers.
pub fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Empty<Bytes>> {
    let mut builder = Request::get(uri).header("host", "test");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Empty::new()).unwrap()
}

/// The whole body, read to its end.
pub async fn body_bytes(response: Response<Incoming>) -> Bytes {
    tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
        .await
        .expect("the body ended within 10 s")
        .unwrap()
        .to_bytes()
}

/// Polls `condition` until it holds, failing after `deadline`.
pub async fn eventually(deadline: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sets its flag when dropped: put one in a stream to see when the stream is dropped.
#[derive(Debug)]
pub struct DropGuard(pub Arc<AtomicBool>);

impl DropGuard {
    pub fn new() -> (Self, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (Self(flag.clone()), flag)
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub fn dropped(flag: &AtomicBool) -> bool {
    flag.load(Ordering::SeqCst)
}

/// Runs `future` with a deadline, so a hung test fails instead of hanging.
pub async fn within<T>(deadline: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(deadline, future)
        .await
        .expect("finished within the deadline")
}

#[cfg(feature = "hub")]
/// An app whose `/` subscribes to `hub`'s topics named by the `topic` query parameters
/// (`room` if there are none), resumed from `Last-Event-ID`; anything else gets `page`.
pub fn hub_app(hub: &Hub) -> Router {
    let hub = hub.clone();
    let subscribe = move |request: Request<Body>, last: Option<EventId>| {
        let hub = hub.clone();
        async move {
            let query = request.uri().query().unwrap_or("");
            let mut topics: Vec<&str> = query
                .split('&')
                .filter_map(|pair| pair.strip_prefix("topic="))
                .collect();
            if topics.is_empty() {
                topics.push("room");
            }
            hub.subscribe(topics).after(last.as_ref()).await
        }
    };
    Router::new()
        .route("/", route_get(|| async { "page" }))
        .layer(SseLayer::new(subscribe))
}

/// Opens an event stream at `uri` (sending `last_event_id`, if any), checks it is
/// `200 OK`, and returns an independent decoder over it.
pub async fn connect_events(
    addr: SocketAddr,
    uri: &str,
    last_event_id: Option<&str>,
) -> sse_stream::SseStream<Incoming> {
    let mut headers = vec![("accept", "text/event-stream")];
    if let Some(id) = last_event_id {
        headers.push(("last-event-id", id));
    }
    let response = send(addr, get(uri, &headers)).await;
    assert_eq!(response.status(), StatusCode::OK);
    sse_stream::SseStream::new(response.into_body())
}

/// Where the tests' servers keep their data: `/dev/shm` (memory) where this machine
/// has it, as a server's data need not outlive its test and a disk's journal only
/// slows every start, write and copy; the temporary directory elsewhere.
pub fn scratch_dir() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let writable = std::fs::metadata(shm).is_ok_and(|m| m.is_dir() && !m.permissions().readonly());
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Sends `signal` (`STOP`, `CONT`, `KILL`...) to the process `pid`, as `kill -SIGNAL`.
pub fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Whether `program` can be started here. A test that needs an
/// outside program calls this first and returns when it is `false`, after one line
/// saying that it did not run and how to get the program. Under `.ci/run`, which installs
/// every such program and sets `TOWER_SSE_REQUIRE_ALL=1`, a missing program fails the
/// test instead, so CI never skips.
pub fn have(program: &str, install: &str) -> bool {
    let runs = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !runs {
        not_here(&format!(
            "`{program}`, which is not installed here ({install})"
        ));
    }
    runs
}

/// Says on one line that a test did not run for want of `what`, past the test harness's
/// capture so that it shows in a passing run; fails instead under `.ci/run`
/// (`TOWER_SSE_REQUIRE_ALL=1`), which provides everything.
pub fn not_here(what: &str) {
    let required = std::env::var_os("TOWER_SSE_REQUIRE_ALL").is_some_and(|v| v == "1");
    assert!(!required, "required (TOWER_SSE_REQUIRE_ALL=1): {what}");
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "skipped: a test needs {what}");
}

/// An example program (`examples/NAME.rs`), run as a user runs it: the binary `cargo
/// test` built beside this test, started with `PORT=0` and `envs`, on the address it
/// prints. Stopped when dropped.
pub struct Example {
    child: std::process::Child,
    pub addr: SocketAddr,
    /// Every line it printed so far.
    pub printed: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Example {
    pub fn start(name: &str, envs: &[(&str, &str)]) -> Self {
        use std::io::BufRead as _;
        // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
        let exe = std::env::current_exe().unwrap();
        let path = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples")
            .join(name);
        let mut child = std::process::Command::new(&path)
            .env("PORT", "0")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run {} ({err}): `cargo test --all-features` builds the examples",
                    path.display()
                )
            });
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let printed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let addr = loop {
            let line = lines
                .next()
                .expect("the example prints its address")
                .unwrap();
            printed.lock().unwrap().push(line.clone());
            let url = line.split("http://").nth(1);
            if let Some(rest) = url.or_else(|| line.split("https://").nth(1)) {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        // Keep reading what it prints, so it never blocks on a full pipe.
        let keep = printed.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            addr,
            printed,
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next `n` events of `events`, decoded; fails if the stream ends or stalls.
pub async fn next_events(
    events: &mut sse_stream::SseStream<Incoming>,
    n: usize,
) -> Vec<sse_stream::Sse> {
    use futures_util::StreamExt as _;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let event = within(Duration::from_secs(10), events.next())
            .await
            .expect("the stream is open")
            .unwrap();
        got.push(event);
    }
    got
}

/// The next `n` events as (id, data).
pub async fn take(events: &mut sse_stream::SseStream<Incoming>, n: usize) -> Vec<(String, String)> {
    next_events(events, n)
        .await
        .into_iter()
        .map(|event| (event.id.unwrap_or_default(), event.data.unwrap_or_default()))
        .collect()
}

/// The helpers of the tests that run the hub over a shared engine (Redis, NATS):
/// instances, their clients, and what the clients read.
#[cfg(feature = "hub")]
pub mod engine {
    use std::{net::SocketAddr, time::Duration};

    use futures_util::StreamExt as _;
    use hyper::body::Incoming;
    use tower_sse::{Event, hub::Hub};

    use super::{connect_events, eventually, hub_app, serve, within};

    /// A client's decoded event stream.
    pub type Events = sse_stream::SseStream<Incoming>;

    /// A server whose `/` subscribes to the `topic` query parameters (default `room`).
    pub async fn instance(hub: &Hub) -> SocketAddr {
        serve(hub_app(hub)).await
    }

    /// The next `n` events as (id, data).
    pub async fn take(events: &mut Events, n: usize) -> Vec<(String, String)> {
        super::take(events, n).await
    }

    /// Every event until the stream ends, as (id, data).
    pub async fn until_the_end(events: &mut Events) -> Vec<(String, String)> {
        let mut got = Vec::new();
        while let Some(event) = within(Duration::from_secs(20), events.next()).await {
            let event = event.unwrap();
            got.push((event.id.unwrap_or_default(), event.data.unwrap_or_default()));
        }
        got
    }

    /// Serves `hub` and opens an event stream on `uri`, subscribed to `topic` once this
    /// returns.
    pub async fn subscribed_to(hub: &Hub, uri: &str, topic: &str) -> (SocketAddr, Events) {
        let server = instance(hub).await;
        let events = connect_events(server, uri, None).await;
        eventually(Duration::from_secs(5), "subscribed", || {
            hub.stats().subscribers_of(topic) == 1
        })
        .await;
        (server, events)
    }

    /// The next event on `events` is the reset event.
    pub async fn next_is_reset(events: &mut Events) {
        let event = within(Duration::from_secs(10), events.next())
            .await
            .expect("the stream is open")
            .unwrap();
        assert_eq!(event.event.as_deref(), Some("reset"), "{event:?}");
    }

    /// Publishes each text to `topic`; returns (id, text) for each.
    pub async fn publish_all(
        hub: &Hub,
        topic: &str,
        texts: impl IntoIterator<Item = String>,
    ) -> Vec<(String, String)> {
        let mut sent = Vec::new();
        for text in texts {
            let id = hub.publish(topic, Event::new().data(&text)).await.unwrap();
            sent.push((id.to_string(), text));
        }
        sent
    }
}
