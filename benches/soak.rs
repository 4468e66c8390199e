//! Leak soak: many connect/disconnect cycles against a real server on 127.0.0.1:0 (idle,
//! busy and finite streams; clean closes and abrupt resets), then checks that the
//! crate's open-stream and hub-subscriber counts return to 0, and how much the process's
//! RSS grew after warm-up.
//!
//! `cargo bench --features hub --bench soak` runs 100,000 cycles (`SOAK_CYCLES` to change);
//! `tests/hub/soak.rs` runs a short version in `cargo test`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body, routing::get};
use http::Request;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tower_sse::{
    Event, EventId, SseLayer,
    hub::{History, Hub},
};

#[allow(dead_code)] // the short version in tests/hub/soak.rs includes this file
fn main() {
    let cycles = std::env::var("SOAK_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(run(cycles, 32));
    println!("{report}");
}

/// What a soak run saw.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) cycles: usize,
    pub(crate) elapsed: Duration,
    pub(crate) open_streams_after: usize,
    pub(crate) subscribers_after: usize,
    pub(crate) rss_after_warm_up_kib: Option<u64>,
    pub(crate) rss_at_end_kib: Option<u64>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "cycles: {} in {:.1?}", self.cycles, self.elapsed)?;
        writeln!(f, "open streams after: {}", self.open_streams_after)?;
        writeln!(f, "hub subscribers after: {}", self.subscribers_after)?;
        if let (Some(warm), Some(end)) = (self.rss_after_warm_up_kib, self.rss_at_end_kib) {
            writeln!(
                f,
                "RSS after warm-up (10% of cycles): {warm} KiB; at the end: {end} KiB; growth: {} KiB",
                end as i64 - warm as i64
            )?;
        }
        Ok(())
    }
}

/// The process's resident set size, from /proc.
pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn server(hub: Hub) -> SocketAddr {
    let factory = move |request: Request<Body>, last: Option<EventId>| {
        let hub = hub.clone();
        async move {
            let stream: std::pin::Pin<
                Box<dyn tokio_stream::Stream<Item = tower_sse::EncodedEvent> + Send>,
            > = match request.uri().path() {
                "/busy" => Box::pin(
                    hub.subscribe("busy")
                        .after(last.as_ref())
                        .await
                        .map_err(axum::response::IntoResponse::into_response)?,
                ),
                "/finite" => Box::pin(tokio_stream::iter(
                    (0..3).map(|n| Event::new().data(n.to_string()).encode()),
                )),
                _ => Box::pin(tokio_stream::pending()),
            };
            Ok::<_, axum::response::Response>(stream)
        }
    };
    let app = Router::new()
        .route("/", get(|| async { "page" }))
        .layer(SseLayer::new(factory));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One cycle: connect, ask for a stream, read its head (and for busy streams an event),
/// then close cleanly or reset the connection.
async fn cycle(addr: SocketAddr, n: usize) -> std::io::Result<()> {
    let path = ["/idle", "/busy", "/finite"][n % 3];
    let mut socket = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: soak\r\naccept: text/event-stream\r\n\r\n");
    socket.write_all(request.as_bytes()).await?;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let want: &[u8] = if path == "/busy" {
        b"data: "
    } else {
        b"\r\n\r\n"
    };
    while !received.windows(want.len()).any(|w| w == want) {
        let read = socket.read(&mut buf).await?;
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buf[..read]);
    }
    if n % 2 == 1 {
        // An abrupt reset rather than a clean close.
        #[allow(deprecated)]
        socket.set_linger(Some(Duration::ZERO))?;
    }
    drop(socket);
    Ok(())
}

/// Runs `cycles` cycles from `workers` concurrent clients and reports.
pub(crate) async fn run(cycles: usize, workers: usize) -> Report {
    let hub = Hub::builder()
        .history(History::new().events(16).bytes(Some(1 << 16)))
        .build();
    let addr = server(hub.clone()).await;
    let publisher = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            loop {
                tick.tick().await;
                let _ = hub.publish("busy", Event::new().data("x".repeat(64))).await;
            }
        })
    };

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let warm_up = cycles / 10;
    let rss_after_warm_up = Arc::new(std::sync::Mutex::new(None));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let next = next.clone();
        let rss_after_warm_up = rss_after_warm_up.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= cycles {
                    break;
                }
                if n == warm_up {
                    *rss_after_warm_up.lock().unwrap() = rss_kib();
                }
                cycle(addr, n).await.expect("a soak cycle");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    publisher.abort();

    // The server notices each close on its own; give it a bounded time to.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (tower_sse::open_streams() > 0 || hub.stats().subscribers > 0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rss_after_warm_up_kib = *rss_after_warm_up.lock().unwrap();
    Report {
        cycles,
        elapsed,
        open_streams_after: tower_sse::open_streams(),
        subscribers_after: hub.stats().subscribers,
        rss_after_warm_up_kib,
        rss_at_end_kib: rss_kib(),
    }
}
