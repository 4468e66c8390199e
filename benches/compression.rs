//! Compressed event streams against uncompressed ones, in the same run: wire bytes,
//! server CPU per event, memory per connection, and latency.
//!
//! `cargo bench --features compression-full --bench compression [EVENTS] [RUNS]`
//! (defaults 10,000 events, 5 runs). A deterministic stream of JSON events (market
//! ticks and chat messages, 150–400 bytes, repeating keys, varying values) goes through
//! `SseLayer` with `Compression::default()`, one event per body frame as a live stream
//! sends them; the figures for `identity` are the same stream uncompressed.
//!
//! - **wire bytes**: the body frames' bytes, summed.
//! - **CPU per event**: the time from handing an event to the stream to its body frame
//!   coming out (the channel, the event body and the compressor: all on one thread, no
//!   I/O), the median of RUNS runs; `+` is what compression adds to identity.
//! - **frame latency**: the same time per event, p50 and p99 over one run.
//! - **memory per connection**: live heap bytes (a counting allocator) held by one
//!   connection's response body after all the events went through; zstd's context is
//!   allocated by its C library, outside that count, so the RSS column (a child
//!   process opens 500 connections, sends 1,000 events on each, and divides its RSS
//!   growth) is the one to read for zstd.
//! - **end to end**: a server on 127.0.0.1:0 and a hyper client that decodes the body;
//!   2,000 events at 1 ms intervals, publish to decoded, p50 and p99.
#![allow(missing_docs)]

#[path = "support/args.rs"]
mod args;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    convert::Infallible,
    io::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicIsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tower::ServiceExt;
use tower_sse::{Compression, EncodedEvent, Event, EventId, ResponseBody, SseLayer};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CODINGS: [&str; 4] = ["identity", "gzip", "br", "zstd"];

/// A deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const SYMBOLS: &[&str] = &[
    "ACME", "GLOBX", "INITECH", "UMBRL", "STARK", "WAYNE", "HOOLI", "VANDL",
];
const USERS: &[&str] = &[
    "ann", "bob", "carmen", "dmitri", "eszter", "fatima", "gus", "hiro",
];
const WORDS: &[&str] = &[
    "the", "deploy", "is", "green", "again", "can", "someone", "look", "at", "latency", "on",
    "staging", "I", "think", "cache", "was", "cold", "after", "restart", "lunch", "meeting",
    "moved", "to", "three", "thanks", "merged", "review", "please", "tomorrow", "fixed", "flaky",
    "test", "in", "ci", "🚀", "ok", "sounds", "good", "why", "not",
];

/// The `n`th event of the stream: three market ticks for every chat message.
fn event(rng: &mut Rng, n: u64) -> EncodedEvent {
    let ms = 1_733_390_000_000 + n * 37 + rng.below(20);
    let data = if n % 4 == 3 {
        let words = 6 + rng.below(30);
        let text: Vec<&str> = (0..words).map(|_| rng.pick(WORDS)).collect();
        format!(
            r#"{{"type":"message","room":"engineering","message_id":"m-{n:08}","user":{{"id":{},"name":"{}","avatar":"/avatars/{}.png"}},"text":"{}","sent_at":{ms},"reactions":[]}}"#,
            1000 + rng.below(8),
            rng.pick(USERS),
            rng.pick(USERS),
            text.join(" ")
        )
    } else {
        let price = 10_000 + rng.below(90_000);
        let spread = 1 + rng.below(9);
        format!(
            r#"{{"type":"tick","symbol":"{}","exchange":"XNAS","seq":{n},"ts":{ms},"bid":{}.{:02},"ask":{}.{:02},"bid_size":{},"ask_size":{},"last":{}.{:02},"volume":{},"conditions":["regular","odd_lot"]}}"#,
            rng.pick(SYMBOLS),
            price / 100,
            price % 100,
            (price + spread) / 100,
            (price + spread) % 100,
            100 * (1 + rng.below(50)),
            100 * (1 + rng.below(50)),
            price / 100,
            price % 100,
            1_000_000 + rng.below(9_000_000),
        )
    };
    Event::new().id_number(n).data(data).encode()
}

fn events(count: usize) -> Vec<EncodedEvent> {
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    (0..count as u64).map(|n| event(&mut rng, n)).collect()
}

type Body = ResponseBody<Full<Bytes>>;

/// One connection: the stream's response body, fed through `tx`.
async fn connect(coding: &str) -> (Body, mpsc::UnboundedSender<EncodedEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let factory = move |_: Request<()>, _: Option<EventId>| {
        let rx = rx.lock().unwrap().take().unwrap();
        async move { Ok::<_, Infallible>(UnboundedReceiverStream::new(rx)) }
    };
    let layer = SseLayer::new(factory)
        .without_keep_alive()
        .compression(Compression::default());
    let inner = tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = tower::Layer::layer(&layer, inner);
    let request = Request::get("/")
        .header("accept", "text/event-stream")
        .header("accept-encoding", coding)
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let expected = (coding != "identity").then_some(coding);
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        expected
    );
    (response.into_body(), tx)
}

struct Run {
    wire: usize,
    per_event: Vec<Duration>,
    total: Duration,
}

/// Sends every event through one connection, one frame each, timing each.
async fn run(coding: &str, events: &[EncodedEvent]) -> Run {
    let (mut body, tx) = connect(coding).await;
    let mut wire = 0;
    let mut per_event = Vec::with_capacity(events.len());
    let start = Instant::now();
    for event in events {
        let sent = Instant::now();
        tx.send(event.clone()).unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        per_event.push(sent.elapsed());
        wire += frame.into_data().unwrap().len();
    }
    let total = start.elapsed();
    drop(tx);
    while let Some(frame) = body.frame().await {
        wire += frame.unwrap().into_data().unwrap().len();
    }
    Run {
        wire,
        per_event,
        total,
    }
}

/// Live heap bytes one connection holds after all `events` went through it.
async fn heap_per_connection(coding: &str, events: &[EncodedEvent]) -> isize {
    let before = LIVE.load(Ordering::Relaxed);
    let (mut body, tx) = connect(coding).await;
    for event in events {
        tx.send(event.clone()).unwrap();
        drop(body.frame().await.unwrap().unwrap());
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    drop((body, tx));
    held
}

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// In a child process: RSS growth per connection over `CONNECTIONS` connections.
async fn rss_child(coding: &str) {
    const CONNECTIONS: usize = 500;
    let events = events(1_000);
    let before = rss();
    let mut open = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let (mut body, tx) = connect(coding).await;
        for event in &events {
            tx.send(event.clone()).unwrap();
            drop(body.frame().await.unwrap().unwrap());
        }
        open.push((body, tx));
    }
    println!("{}", (rss() - before) / CONNECTIONS);
}

fn rss_per_connection(coding: &str) -> usize {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env("COMPRESSION_BENCH_RSS", coding)
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Publish to decoded over loopback: a server, a hyper client that decodes the body.
async fn end_to_end(coding: &'static str, count: usize) -> (Duration, Duration) {
    let events = events(count);
    let (publish_tx, publish_rx) = mpsc::unbounded_channel::<EncodedEvent>();
    let (addr, server) = serve_published(publish_rx).await;
    let mut body = open_stream(addr, coding).await;

    let published: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let stamps = published.clone();
    let publisher = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        for event in events {
            ticker.tick().await;
            stamps.lock().unwrap().push(Instant::now());
            publish_tx.send(event).unwrap();
        }
        publish_tx
    });

    let mut decoder = Decoder::new(coding);
    let mut latencies = Vec::with_capacity(count);
    let mut seen_bytes = 0;
    while latencies.len() < count {
        let frame = body.frame().await.unwrap().unwrap();
        let decoded = decoder.push(&frame.into_data().unwrap());
        let now = Instant::now();
        let new = &decoded[seen_bytes..];
        let whole = new.windows(2).filter(|w| w == b"\n\n").count();
        seen_bytes = decoded.len();
        let stamps = published.lock().unwrap();
        for _ in 0..whole {
            latencies.push(now - stamps[latencies.len()]);
        }
    }
    drop(publisher.await.unwrap());
    server.abort();
    latencies.sort();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

/// A loopback server whose one event stream, compressed, is what `publish_rx` receives.
async fn serve_published(
    publish_rx: mpsc::UnboundedReceiver<EncodedEvent>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let publish_rx = Arc::new(Mutex::new(Some(publish_rx)));
    let factory = move |_: Request<axum::body::Body>, _: Option<EventId>| {
        let rx = publish_rx.lock().unwrap().take().unwrap();
        async move { Ok::<_, Infallible>(UnboundedReceiverStream::new(rx)) }
    };
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "page" }))
        .layer(
            SseLayer::new(factory)
                .without_keep_alive()
                .compression(Compression::default()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, server)
}

/// Opens the event stream at `addr` with a hyper client accepting `coding`; answers the
/// response's body.
async fn open_stream(addr: std::net::SocketAddr, coding: &str) -> hyper::body::Incoming {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = Request::get("/")
        .header("host", "bench")
        .header("accept", "text/event-stream")
        .header("accept-encoding", coding)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(request).await.unwrap().into_body()
}

/// A streaming decoder, as a client runs one (`identity` copies).
enum Decoder {
    Identity(Vec<u8>),
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

impl Decoder {
    fn new(coding: &str) -> Self {
        match coding {
            "gzip" => Self::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            "br" => Self::Brotli(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096))),
            "zstd" => Self::Zstd(zstd::stream::write::Decoder::new(Vec::new()).unwrap()),
            _ => Self::Identity(Vec::new()),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> &[u8] {
        match self {
            Self::Identity(out) => {
                out.extend_from_slice(bytes);
                out
            }
            Self::Gzip(d) => {
                d.write_all(bytes).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
            Self::Brotli(d) => {
                d.write_all(bytes).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
            Self::Zstd(d) => {
                d.write_all(bytes).unwrap();
                d.flush().unwrap();
                d.get_ref()
            }
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(coding) = std::env::var("COMPRESSION_BENCH_RSS") {
        runtime.block_on(rss_child(&coding));
        return;
    }
    let count = args::arg(0, 10_000);
    let runs = args::arg(1, 5);
    let events = events(count);
    let sizes: Vec<usize> = events
        .iter()
        .map(|e| e.clone().into_bytes().len())
        .collect();
    println!(
        "{count} events, {} to {} bytes each (mean {}), one per frame; {runs} runs; {:?}",
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
        sizes.iter().sum::<usize>() / count,
        Compression::default(),
    );
    println!();
    cost_table(&runtime, &events, runs);
    println!();
    end_to_end_table(2_000.min(count));
}

/// The table of wire bytes, CPU, frame latency and memory per coding.
fn cost_table(runtime: &tokio::runtime::Runtime, events: &[EncodedEvent], runs: usize) {
    let count = events.len();
    println!(
        "| coding | wire bytes | vs identity | CPU per event (median) | + over identity | frame latency p50 / p99 | heap per connection | RSS per connection |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut identity: Option<(usize, f64)> = None;
    for coding in CODINGS {
        let mut totals = Vec::with_capacity(runs);
        let mut last = None;
        for _ in 0..runs {
            let run = runtime.block_on(run(coding, events));
            totals.push(run.total.as_nanos() as f64 / count as f64);
            last = Some(run);
        }
        totals.sort_by(f64::total_cmp);
        let cpu = totals[totals.len() / 2];
        let mut last = last.unwrap();
        last.per_event.sort();
        let heap = runtime.block_on(heap_per_connection(coding, events));
        let rss = rss_per_connection(coding);
        let (base_wire, base_cpu) = *identity.get_or_insert((last.wire, cpu));
        println!(
            "| {coding} | {} | {:.3} | {cpu:.0} ns | +{:.0} ns | {:.1} / {:.1} µs | {heap} B | {rss} B |",
            last.wire,
            last.wire as f64 / base_wire as f64,
            cpu - base_cpu,
            percentile(&last.per_event, 0.5).as_nanos() as f64 / 1000.0,
            percentile(&last.per_event, 0.99).as_nanos() as f64 / 1000.0,
        );
    }
}

/// The table of publish-to-decoded latency per coding, `e2e` events each.
fn end_to_end_table(e2e: usize) {
    println!("end to end over loopback, {e2e} events at 1 ms intervals, publish to decoded:");
    println!();
    println!("| coding | p50 | p99 |");
    println!("| --- | --- | --- |");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for coding in CODINGS {
        let (p50, p99) = runtime.block_on(end_to_end(coding, e2e));
        println!(
            "| {coding} | {:.1} µs | {:.1} µs |",
            p50.as_nanos() as f64 / 1000.0,
            p99.as_nanos() as f64 / 1000.0
        );
    }
}
