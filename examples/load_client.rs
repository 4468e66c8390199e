//! The load client for `bench_server`: raw TCP with a minimal chunked-encoding decoder
//! and event scanner (no full SSE parser on the hot path), so that the client is not the
//! bottleneck; it reports its own CPU time next to the server's to show that.
//!
//! ```text
//! load_client stream  --addr A --conns C --n N --size S
//! load_client fanout  --addr A --subs K --n N --size S [--pace-us U] --server-pid P
//! load_client idle    --addr A --conns K --server-pid P
//! load_client plain   --addr A --requests R --conns C --server-pid P
//! load_client ceiling --conns C --n N --size S
//! load_client scale   --addr A --subs K --sources S --n N --pace-us U --server-pid P
//! load_client shootout --addr A --subs K --sources S --n N --size S --inflight F
//!                      --limit-ms L --server-pid P
//! load_client storm   --addrs A,B --conns K --n OWED --last-event-id ID[,ID] --sources S
//!                     --inflight F --deadline-s D
//! ```
//!
//! `scale` opens K subscribers from S loopback source addresses (127.0.0.2 onwards, so
//! that K can pass the ports one address has), measures the server's RSS per
//! subscriber, then publishes N events U µs apart and reports, per event, how long it
//! took to reach every subscriber (first to last delivery) and the delivery rate.
//!
//! `shootout` is the websocket-shootout method: K subscribers, then N broadcasts with F
//! of them in flight (a broadcast is in flight from the write of its `POST` until every
//! subscriber has it), and per broadcast the time from that write to the last
//! subscriber's receipt (time-to-all). It reports the share of broadcasts whose
//! time-to-all is within L ms (the configuration holds K when that share is at least
//! 95%) and time-to-all's p50 and p95.
//!
//! `storm` is a reconnect storm against the chat example: K clients over the instances
//! at `--addrs`, all resuming at once from `ID` (one per instance, or one for all), each done with OWED events
//! (`support/storm.rs`).
//!
//! Each prints one line of `key=value` figures.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

#[path = "support/shootout.rs"]
mod shootout;
#[path = "support/storm.rs"]
mod storm;

struct Args {
    mode: String,
    addr: SocketAddr,
    conns: usize,
    n: usize,
    size: usize,
    pace_us: u64,
    requests: usize,
    server_pid: Option<u32>,
    sources: u8,
    /// With `scale`: a folder where this client says it is ready (`ready.<index>`) and
    /// waits for `go`, so that clients of several servers start together.
    barrier: Option<String>,
    index: usize,
    /// With `scale`: whether this client publishes (one of a group does).
    publish: bool,
    /// With `scale`: a file for one line per event: stamp, first and last delivery
    /// (ns after the stamp), count.
    records: Option<String>,
    /// Starting source address (127.0.0.x).
    first_source: u8,
    /// With `shootout`: broadcasts in flight; with `storm`: clients of each instance
    /// between their connect and their answer's head.
    inflight: usize,
    /// With `shootout`: the time-to-all limit, in ms.
    limit_ms: f64,
    /// With `storm`: the instances, clients spread over them in turn.
    addrs: Vec<SocketAddr>,
    /// With `storm`: the ids the clients resume from, one per instance or one for all.
    last_event_id: Option<String>,
    /// With `storm`: seconds after which clients not done count as timed out.
    deadline_s: u64,
}

fn args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        mode: args
            .next()
            .expect("a mode: stream, fanout, idle, plain, ceiling, scale or shootout"),
        addr: "127.0.0.1:4000".parse().unwrap(),
        conns: 1,
        n: 100_000,
        size: 32,
        pace_us: 0,
        requests: 100_000,
        server_pid: None,
        sources: 1,
        barrier: None,
        index: 0,
        publish: true,
        records: None,
        first_source: 2,
        inflight: 4,
        limit_ms: 500.0,
        addrs: Vec::new(),
        last_event_id: None,
        deadline_s: 120,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => parsed.addr = value.parse().expect("--addr HOST:PORT"),
            "--conns" | "--subs" => parsed.conns = value.parse().unwrap(),
            "--n" => parsed.n = value.parse().unwrap(),
            "--size" => parsed.size = value.parse().unwrap(),
            "--pace-us" => parsed.pace_us = value.parse().unwrap(),
            "--requests" => parsed.requests = value.parse().unwrap(),
            "--server-pid" => parsed.server_pid = Some(value.parse().unwrap()),
            "--sources" => parsed.sources = value.parse().expect("--sources 1..=250"),
            "--barrier" => parsed.barrier = Some(value),
            "--index" => parsed.index = value.parse().unwrap(),
            "--publish" => parsed.publish = value == "1",
            "--records" => parsed.records = Some(value),
            "--first-source" => parsed.first_source = value.parse().unwrap(),
            "--inflight" => parsed.inflight = value.parse().unwrap(),
            "--limit-ms" => parsed.limit_ms = value.parse().unwrap(),
            "--addrs" => parsed.addrs = value.split(',').map(|a| a.parse().unwrap()).collect(),
            "--last-event-id" => parsed.last_event_id = Some(value),
            "--deadline-s" => parsed.deadline_s = value.parse().unwrap(),
            other => panic!("unknown flag {other}"),
        }
    }
    parsed
}

/// Utime + stime of a process, in seconds, from /proc.
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime), counted after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Decodes HTTP/1.1 chunked framing and scans events: counts blank-line ends and, if
/// asked, the timestamp at the start of each `data: ` line.
struct Scanner {
    chunked: bool,
    /// Bytes left in the current chunk; `None` while reading a chunk-size line.
    left: Option<usize>,
    size_line: Vec<u8>,
    skip_crlf: usize,
    last: u8,
    line_start: bool,
    stamp: Option<u128>,
    in_stamp: bool,
    prefix: usize,
    events: u64,
    ended: bool,
    stamps: bool,
}

impl Scanner {
    fn new(chunked: bool, stamps: bool) -> Self {
        Self {
            chunked,
            left: None,
            size_line: Vec::new(),
            skip_crlf: 0,
            last: b'\n',
            line_start: true,
            stamp: None,
            in_stamp: false,
            prefix: 0,
            events: 0,
            ended: false,
            stamps,
        }
    }

    /// Feeds body bytes; calls `on_event` with each event's stamp (if any).
    fn feed(&mut self, mut bytes: &[u8], on_event: &mut impl FnMut(Option<u128>)) {
        if !self.chunked {
            self.payload(bytes, on_event);
            return;
        }
        while !bytes.is_empty() && !self.ended {
            if self.skip_crlf > 0 {
                let n = self.skip_crlf.min(bytes.len());
                self.skip_crlf -= n;
                bytes = &bytes[n..];
                continue;
            }
            match self.left {
                None => {
                    let Some(end) = memchr::memchr(b'\n', bytes) else {
                        self.size_line.extend_from_slice(bytes);
                        return;
                    };
                    self.size_line.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    let text = String::from_utf8_lossy(&self.size_line);
                    let size = usize::from_str_radix(text.trim(), 16).unwrap_or(0);
                    self.size_line.clear();
                    if size == 0 {
                        self.ended = true;
                    } else {
                        self.left = Some(size);
                    }
                }
                Some(left) => {
                    let n = left.min(bytes.len());
                    let (chunk, rest) = bytes.split_at(n);
                    self.payload(chunk, on_event);
                    bytes = rest;
                    if n == left {
                        self.left = None;
                        self.skip_crlf = 2;
                    } else {
                        self.left = Some(left - n);
                    }
                }
            }
        }
    }

    fn payload(&mut self, bytes: &[u8], on_event: &mut impl FnMut(Option<u128>)) {
        if !self.stamps {
            // Only count blank lines: LF right after LF.
            let mut prev = self.last;
            for at in memchr::memchr_iter(b'\n', bytes) {
                let before = if at == 0 { prev } else { bytes[at - 1] };
                if before == b'\n' {
                    self.events += 1;
                    on_event(None);
                }
                prev = b'\n';
            }
            if let Some(&last) = bytes.last() {
                self.last = last;
            }
            return;
        }
        for &b in bytes {
            if b == b'\n' {
                if self.line_start {
                    self.events += 1;
                    on_event(self.stamp.take());
                }
                self.line_start = true;
                self.in_stamp = false;
                self.prefix = 0;
                continue;
            }
            if self.line_start {
                self.line_start = false;
                self.prefix = 0;
            }
            if self.prefix < 6 {
                if b == b"data: "[self.prefix] {
                    self.prefix += 1;
                    if self.prefix == 6 {
                        self.in_stamp = true;
                        self.stamp = Some(0);
                    }
                } else {
                    self.prefix = 7;
                }
            } else if self.in_stamp {
                if b.is_ascii_digit() {
                    self.stamp = self.stamp.map(|s| s * 10 + u128::from(b - b'0'));
                } else {
                    self.in_stamp = false;
                }
            }
        }
    }
}

/// Sends a request and reads past the response head; returns the socket and any body
/// bytes read with the head.
async fn open(addr: SocketAddr, request: &str) -> (TcpStream, Vec<u8>, bool) {
    let socket = TcpStream::connect(addr).await.expect("connect");
    read_head(socket, request).await
}

/// Sends `request` on `socket` and reads the response head: the socket, the body bytes
/// read with the head, and whether the body is chunked.
async fn read_head(mut socket: TcpStream, request: &str) -> (TcpStream, Vec<u8>, bool) {
    socket.set_nodelay(true).unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the head");
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = memchr::memmem::find(&head, b"\r\n\r\n") {
            let body = head.split_off(end + 4);
            let text = String::from_utf8_lossy(&head).to_lowercase();
            assert!(text.starts_with("http/1.1 200"), "{text}");
            return (socket, body, text.contains("transfer-encoding: chunked"));
        }
    }
}

fn get(path: &str, sse: bool) -> String {
    let accept = if sse {
        "accept: text/event-stream\r\n"
    } else {
        ""
    };
    format!("GET {path} HTTP/1.1\r\nhost: bench\r\n{accept}\r\n")
}

async fn simple_request(addr: SocketAddr, method: &str, path: &str) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or(text)
}

async fn subscribers(addr: SocketAddr) -> usize {
    let body = simple_request(addr, "GET", "/stats").await;
    body.trim_start_matches(|c: char| !c.is_ascii_digit())
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    match args.mode.as_str() {
        "stream" => stream(&args).await,
        "fanout" => fanout(&args).await,
        "idle" => idle(&args).await,
        "plain" => plain(&args).await,
        "ceiling" => ceiling(&args).await,
        "scale" => scale(&args).await,
        "shootout" => shootout::run(&args).await,
        "storm" => storm::run(&args).await,
        other => panic!("unknown mode {other}"),
    }
}

/// Events per second over `conns` streams of `n` events each.
async fn stream(args: &Args) {
    let path = format!("/events?n={}&size={}", args.n, args.size);
    let client_cpu = cpu_seconds(None);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.conns {
        let request = get(&path, true);
        let addr = args.addr;
        tasks.push(tokio::spawn(async move {
            let (mut socket, first, chunked) = open(addr, &request).await;
            let mut scanner = Scanner::new(chunked, false);
            let mut noop = |_| {};
            scanner.feed(&first, &mut noop);
            let mut buf = vec![0u8; 256 * 1024];
            while !scanner.ended {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                scanner.feed(&buf[..n], &mut noop);
            }
            scanner.events
        }));
    }
    let mut events = 0;
    for task in tasks {
        events += task.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let expected = (args.n * args.conns) as u64;
    println!(
        "mode=stream conns={} size={} events={events} lost={} seconds={elapsed:.3} events_per_s={:.0} client_cpu_s={:.2}",
        args.conns,
        args.size,
        expected.saturating_sub(events),
        events as f64 / elapsed,
        cpu_seconds(None) - client_cpu,
    );
}

/// What the fan-out readers record: every delivery's latency, how many arrived, and
/// when the last one did (nanoseconds after the start).
#[derive(Clone)]
struct FanoutTally {
    latencies: Arc<Mutex<Vec<u64>>>,
    received: Arc<AtomicU64>,
    last_at: Arc<AtomicU64>,
}

/// Deliveries per second, latency and loss with `subs` subscribers of the hub.
async fn fanout(args: &Args) {
    let subs = args.conns;
    let tally = FanoutTally {
        latencies: Arc::new(Mutex::new(Vec::with_capacity(subs * args.n))),
        received: Arc::new(AtomicU64::new(0)),
        last_at: Arc::new(AtomicU64::new(0)),
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..subs {
        tasks.push(spawn_fanout_reader(args.addr, start, tally.clone()).await);
    }
    while subscribers(args.addr).await < subs {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server_cpu = cpu_seconds(args.server_pid);
    let client_cpu = cpu_seconds(None);
    let published_at = start.elapsed();
    let publish_span = fanout_publish(args, start, published_at).await;
    let expected = (subs * args.n) as u64;
    // Wait for every delivery, or for deliveries to stop for 3 s.
    let received = &tally.received;
    wait_until_quiet(|| received.load(Ordering::Relaxed), expected, 3).await;
    let got = received.load(Ordering::Relaxed);
    let span =
        Duration::from_nanos(tally.last_at.load(Ordering::Relaxed)).saturating_sub(published_at);
    let server_cpu = cpu_seconds(args.server_pid) - server_cpu;
    let client_cpu = cpu_seconds(None) - client_cpu;
    for task in &tasks {
        task.abort();
    }
    let mut latencies = std::mem::take(&mut *tally.latencies.lock().unwrap());
    latencies.sort_unstable();
    println!(
        "mode=fanout subs={subs} n={} pace_us={} publish_per_s={:.0} delivered={got} lost={} deliveries_per_s={:.0} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} server_cpu_s={server_cpu:.2} client_cpu_s={client_cpu:.2}",
        args.n,
        args.pace_us,
        args.n as f64 / publish_span.as_secs_f64().max(1e-9),
        expected as i64 - got as i64,
        got as f64 / span.as_secs_f64().max(1e-9),
        quantile_ms(&latencies, 0.5),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
    );
}

/// Opens one hub subscriber and spawns the task that reads it into `tally`.
async fn spawn_fanout_reader(
    addr: SocketAddr,
    start: Instant,
    tally: FanoutTally,
) -> tokio::task::JoinHandle<()> {
    let (mut socket, first, chunked) = open(addr, &get("/hub", true)).await;
    tokio::spawn(async move {
        let mut scanner = Scanner::new(chunked, true);
        let mut on_event = |stamp: Option<u128>| {
            if let Some(stamp) = stamp {
                // One thread runs the client: the lock is never contended.
                tally
                    .latencies
                    .lock()
                    .unwrap()
                    .push(now_ns().saturating_sub(stamp) as u64);
                tally.received.fetch_add(1, Ordering::Relaxed);
                let at = start.elapsed().as_nanos() as u64;
                tally.last_at.store(at, Ordering::Relaxed);
            }
        };
        scanner.feed(&first, &mut on_event);
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = socket.read(&mut buf).await {
            if n == 0 {
                break;
            }
            scanner.feed(&buf[..n], &mut on_event);
        }
    })
}

/// Publishes the fan-out's events (all in one request, or one per tick with a pace) and
/// answers how long publishing took from `published_at`.
async fn fanout_publish(args: &Args, start: Instant, published_at: Duration) -> Duration {
    if args.pace_us == 0 {
        let path = format!("/publish?n={}&size={}", args.n, args.size);
        simple_request(args.addr, "POST", &path).await;
        return start.elapsed().saturating_sub(published_at);
    }
    let posts = spawn_paced_publishes(args, args.pace_us, args.n).await;
    let publish_span = start.elapsed().saturating_sub(published_at);
    for post in posts {
        post.await.unwrap();
    }
    publish_span
}

/// Publishes `count` events, one at each tick `pace_us` apart, each on its own
/// connection and not waiting for the previous one, so the rate is the pace asked for,
/// not the server's answer time. Answers the publishing tasks.
async fn spawn_paced_publishes(
    args: &Args,
    pace_us: u64,
    count: usize,
) -> Vec<tokio::task::JoinHandle<String>> {
    let mut tick = tokio::time::interval(Duration::from_micros(pace_us));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut posts = Vec::with_capacity(count);
    for _ in 0..count {
        tick.tick().await;
        let path = format!("/publish?n=1&size={}", args.size);
        let addr = args.addr;
        posts.push(tokio::spawn(async move {
            simple_request(addr, "POST", &path).await
        }));
    }
    posts
}

/// Waits until `count()` reaches `expected`, or has not moved for `quiet_s` seconds.
async fn wait_until_quiet(count: impl Fn() -> u64, expected: u64, quiet_s: u64) {
    let mut seen = 0;
    let mut quiet_since = Instant::now();
    loop {
        let got = count();
        if got >= expected {
            break;
        }
        if got != seen {
            seen = got;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(quiet_s) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `q` quantile of sorted nanosecond figures, in milliseconds (0 if there are none).
fn quantile_ms(sorted_ns: &[u64], q: f64) -> f64 {
    sorted_ns
        .get(((sorted_ns.len().max(1) - 1) as f64 * q) as usize)
        .map_or(0.0, |ns| *ns as f64 / 1e6)
}

/// Opens an event stream from loopback source address `source`, reading the head.
async fn open_from(addr: SocketAddr, source: std::net::Ipv4Addr) -> (TcpStream, Vec<u8>, bool) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a loopback source address");
    let stream = socket.connect(addr).await.expect("connect");
    read_head(stream, &get("/hub", true)).await
}

/// Many subscribers on one server: RSS per subscriber, and how long one event takes to
/// reach all of them.
async fn scale(args: &Args) {
    let subs = args.conns;
    let pid = args.server_pid.expect("--server-pid");
    // (publish stamp, delivery latency) of every delivery.
    let deliveries = Arc::new(Mutex::new(Vec::with_capacity(subs * args.n)));
    let rss_before = rss_kib(pid);
    let opened = Instant::now();
    let tasks = spawn_scale_readers(args, &deliveries);
    while subscribers(args.addr).await < subs {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_s = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);
    wait_at_barrier(args).await;
    let server_cpu = cpu_seconds(Some(pid));
    let client_cpu = cpu_seconds(None);
    let started_ns = now_ns() as u64;
    let count = args.n * usize::from(args.publish);
    for post in spawn_paced_publishes(args, args.pace_us.max(1), count).await {
        post.await.unwrap();
    }
    let expected = (subs * args.n) as u64;
    let count = || deliveries.lock().unwrap().len() as u64;
    wait_until_quiet(count, expected, 5).await;
    let server_cpu = cpu_seconds(Some(pid)) - server_cpu;
    let client_cpu = cpu_seconds(None) - client_cpu;
    for task in &tasks {
        task.abort();
    }
    let all = std::mem::take(&mut *deliveries.lock().unwrap());
    let got = all.len() as u64;
    let mut summary = ScaleSummary::new(all, started_ns);
    if let Some(path) = &args.records {
        std::fs::write(path, &summary.records).unwrap();
    }
    let s = &mut summary;
    println!(
        "mode=scale subs={subs} sources={} n={} pace_us={} connect_s={connect_s:.1} rss_per_sub_b={:.0} server_rss_mib={:.0} delivered={got} lost={} deliveries_per_s={:.0} first_to_last_p50_ms={:.1} first_to_last_p99_ms={:.1} to_last_p50_ms={:.1} to_last_p99_ms={:.1} latency_p50_ms={:.1} latency_p99_ms={:.1} server_cpu_s={server_cpu:.2} client_cpu_s={client_cpu:.2}",
        args.sources,
        args.n,
        args.pace_us,
        (rss_after.saturating_sub(rss_before) * 1024) as f64 / subs as f64,
        rss_after as f64 / 1024.0,
        expected as i64 - got as i64,
        got as f64 / s.span.max(1e-9),
        percentile(&mut s.spreads, 0.5),
        percentile(&mut s.spreads, 0.99),
        percentile(&mut s.lasts, 0.5),
        percentile(&mut s.lasts, 0.99),
        quantile_ms(&s.latencies, 0.5),
        quantile_ms(&s.latencies, 0.99),
    );
}

/// Spawns the `scale` subscribers, from the loopback source addresses in turn, at most
/// 512 connecting at once; each records (publish stamp, latency) into `deliveries`.
fn spawn_scale_readers(
    args: &Args,
    deliveries: &Arc<Mutex<Vec<(u64, u64)>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(512));
    let mut tasks = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let offset = (i % usize::from(args.sources)) as u8;
        let source = std::net::Ipv4Addr::new(127, 0, 0, args.first_source + offset);
        let (addr, gate, deliveries) = (args.addr, gate.clone(), deliveries.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let (mut socket, first, chunked) = open_from(addr, source).await;
            drop(permit);
            let mut scanner = Scanner::new(chunked, true);
            let mut on_event = |stamp: Option<u128>| {
                if let Some(stamp) = stamp {
                    let latency = now_ns().saturating_sub(stamp) as u64;
                    // One thread runs the client: the lock is never contended.
                    deliveries.lock().unwrap().push((stamp as u64, latency));
                }
            };
            scanner.feed(&first, &mut on_event);
            // Small events: a small buffer keeps 100k readers' memory down.
            let mut buf = vec![0u8; 2048];
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                scanner.feed(&buf[..n], &mut on_event);
            }
        }));
    }
    tasks
}

/// With `--barrier DIR`, says this client is ready and waits for the go of the others.
async fn wait_at_barrier(args: &Args) {
    if let Some(dir) = &args.barrier {
        std::fs::write(format!("{dir}/ready.{}", args.index), b"").unwrap();
        while !std::path::Path::new(&format!("{dir}/go")).exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What `scale` reports of its deliveries.
struct ScaleSummary {
    /// Seconds from the first publish to the last delivery.
    span: f64,
    /// Per event, milliseconds from its first delivery to its last.
    spreads: Vec<f64>,
    /// Per event, milliseconds to its last delivery.
    lasts: Vec<f64>,
    /// Every delivery's latency in nanoseconds, sorted.
    latencies: Vec<u64>,
    /// Per event: stamp, first and last latency, deliveries; one line each.
    records: String,
}

impl ScaleSummary {
    fn new(mut all: Vec<(u64, u64)>, started_ns: u64) -> Self {
        // From the first publish to the last delivery.
        let ended_ns = all.iter().map(|d| d.0 + d.1).max().unwrap_or(started_ns);
        let span = ended_ns.saturating_sub(started_ns) as f64 / 1e9;
        // Per event: first and last delivery.
        let mut spreads: Vec<f64> = Vec::new();
        let mut lasts: Vec<f64> = Vec::new();
        all.sort_unstable();
        let mut records = String::new();
        for event in all.chunk_by(|a, b| a.0 == b.0) {
            let first = event.iter().map(|d| d.1).min().unwrap_or(0);
            let last = event.iter().map(|d| d.1).max().unwrap_or(0);
            spreads.push((last - first) as f64 / 1e6);
            lasts.push(last as f64 / 1e6);
            records.push_str(&format!("{} {first} {last} {}\n", event[0].0, event.len()));
        }
        let mut latencies: Vec<u64> = all.iter().map(|d| d.1).collect();
        latencies.sort_unstable();
        Self {
            span,
            spreads,
            lasts,
            latencies,
            records,
        }
    }
}

/// The `q` quantile of `v`, sorting it first (0 if it is empty).
fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len().max(1) - 1) as f64 * q) as usize)
        .copied()
        .unwrap_or(0.0)
}

/// Server RSS per idle SSE connection.
async fn idle(args: &Args) {
    let pid = args.server_pid.expect("--server-pid");
    let before = rss_kib(pid);
    let mut sockets = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        let (socket, _, _) = open(args.addr, &get("/hub", true)).await;
        sockets.push(socket);
    }
    while subscribers(args.addr).await < args.conns {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    println!(
        "mode=idle conns={} rss_before_kib={before} rss_after_kib={after} bytes_per_conn={:.0}",
        args.conns,
        (after.saturating_sub(before) * 1024) as f64 / args.conns as f64
    );
    drop(sockets);
}

/// Server CPU per request on `/plain`.
async fn plain(args: &Args) {
    let server_cpu = cpu_seconds(args.server_pid);
    let start = Instant::now();
    let per_conn = args.requests / args.conns;
    let mut tasks = Vec::new();
    for _ in 0..args.conns {
        let addr = args.addr;
        tasks.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            socket.set_nodelay(true).unwrap();
            let request = get("/plain", false);
            let mut buf = vec![0u8; 4096];
            for _ in 0..per_conn {
                socket.write_all(request.as_bytes()).await.unwrap();
                let mut got = Vec::new();
                // The response is small: head and `ok`.
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                    if got.ends_with(b"\r\n\r\nok") {
                        break;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let requests = per_conn * args.conns;
    let server_cpu = cpu_seconds(args.server_pid) - server_cpu;
    println!(
        "mode=plain requests={requests} seconds={elapsed:.3} requests_per_s={:.0} server_cpu_s={server_cpu:.2} server_cpu_us_per_request={:.2}",
        requests as f64 / elapsed,
        server_cpu * 1e6 / requests as f64
    );
}

/// The ceiling: pre-encoded events written to a loopback socket as fast as possible.
async fn ceiling(args: &Args) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let event = format!("id: 1000000\ndata: {}\n\n", "x".repeat(args.size));
    let batch: Vec<u8> = event.repeat(64).into_bytes();
    let n = args.n;
    let conns = args.conns;
    tokio::spawn(async move {
        for _ in 0..conns {
            let (mut socket, _) = listener.accept().await.unwrap();
            let batch = batch.clone();
            tokio::spawn(async move {
                for _ in 0..n / 64 {
                    if socket.write_all(&batch).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            let mut scanner = Scanner::new(false, false);
            let mut buf = vec![0u8; 256 * 1024];
            let mut noop = |_| {};
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                scanner.feed(&buf[..n], &mut noop);
            }
            scanner.events
        }));
    }
    let mut events = 0;
    for task in tasks {
        events += task.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "mode=ceiling conns={conns} size={} events={events} events_per_s={:.0}",
        args.size,
        events as f64 / elapsed
    );
}
