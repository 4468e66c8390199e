//! `load_client storm`: a reconnect storm against the chat example. K clients, spread
//! over the instances given, all resume at once from the same `Last-Event-ID`, each
//! owed N events; a client is done when it has N events (blocks with a `data:` line).
//!
//! `--last-event-id` takes one id per instance (comma-separated), or one for all: each
//! instance of the in-process hub has its own events, and ids.
//!
//! A client is refused when its answer is not `200`, or its stream ends before any
//! event (the hub's refusal is a `retry:` alone); short when its stream ends, or the
//! deadline passes, with fewer than N events. At most `--inflight` clients of each
//! instance are between their connect and their answer's head at a time, so that no
//! instance's listen queue overflows (the chat's holds 128: handshakes dropped from a
//! full queue wait for TCP's retry, 1 s then 3 s); the time runs from the first connect
//! to the last client done.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    sync::Semaphore,
};

use super::{Args, Scanner, cpu_seconds};

/// How one client's storm ended.
enum Outcome {
    /// Every owed event, this long after the storm's start.
    Done(Duration),
    /// Not `200`, or a stream that ended before its first event.
    Refused,
    /// The connection could not be made.
    ConnectFailed,
    /// The stream ended with fewer events than owed.
    Short,
    /// The deadline passed first.
    TimedOut,
}

/// Runs the storm and prints one line of figures.
pub(super) async fn run(args: &Args) {
    let ids: Vec<String> = args
        .last_event_id
        .as_deref()
        .expect("--last-event-id ID[,ID...]: where the clients resume, per instance")
        .split(',')
        .map(str::to_owned)
        .collect();
    let addrs = if args.addrs.is_empty() {
        vec![args.addr]
    } else {
        args.addrs.clone()
    };
    let gates: Vec<_> = addrs
        .iter()
        .map(|_| Arc::new(Semaphore::new(args.inflight.max(1))))
        .collect();
    let client_cpu = cpu_seconds(None);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.deadline_s);
    let tasks: Vec<_> = (0..args.conns)
        .map(|i| {
            let offset = (i % usize::from(args.sources)) as u8;
            let at = i % addrs.len();
            let client = Client {
                addr: addrs[at],
                source: Ipv4Addr::new(127, 0, 0, args.first_source + offset),
                request: request(&ids[at % ids.len()]),
                owed: args.n as u64,
                start,
                deadline,
            };
            tokio::spawn(client.run(gates[at].clone()))
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.unwrap_or(Outcome::TimedOut));
    }
    report(args, addrs.len(), &outcomes, cpu_seconds(None) - client_cpu);
}

/// The request of a resuming `EventSource`.
fn request(last_event_id: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\nlast-event-id: {last_event_id}\r\n\r\n"
    )
}

/// One resuming client.
struct Client {
    addr: SocketAddr,
    source: Ipv4Addr,
    request: String,
    owed: u64,
    start: Instant,
    deadline: Instant,
}

impl Client {
    async fn run(self, gate: Arc<Semaphore>) -> Outcome {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        match tokio::time::timeout_at(deadline, self.resume(gate)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::TimedOut,
        }
    }

    async fn resume(self, gate: Arc<Semaphore>) -> Outcome {
        let Ok(permit) = gate.acquire_owned().await else {
            return Outcome::ConnectFailed;
        };
        let Some(mut socket) = connect(self.addr, self.source).await else {
            return Outcome::ConnectFailed;
        };
        if socket.write_all(self.request.as_bytes()).await.is_err() {
            return Outcome::ConnectFailed;
        }
        let Some((body, chunked)) = head(&mut socket).await else {
            return Outcome::Refused;
        };
        drop(permit);
        let mut scanner = Scanner::new(chunked, true);
        let mut events = count(&mut scanner, &body);
        let mut buf = vec![0u8; 4096];
        while events < self.owed && !scanner.ended {
            match socket.read(&mut buf).await {
                Ok(n) if n > 0 => events += count(&mut scanner, &buf[..n]),
                _ => break,
            }
        }
        match events {
            e if e >= self.owed => Outcome::Done(self.start.elapsed()),
            0 => Outcome::Refused,
            _ => Outcome::Short,
        }
    }
}

/// Feeds `bytes` to `scanner`; answers how many events they ended. Blocks with a `data:`
/// line carry a stamp (0 for the chat's JSON); a `retry:` alone or a keep-alive comment
/// carries none, and is not counted.
fn count(scanner: &mut Scanner, bytes: &[u8]) -> u64 {
    let mut events = 0;
    scanner.feed(bytes, &mut |stamp: Option<u128>| {
        events += u64::from(stamp.is_some());
    });
    events
}

/// Connects from loopback address `source`.
async fn connect(addr: SocketAddr, source: Ipv4Addr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    let stream = socket.connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    Some(stream)
}

/// Reads the answer's head: the body bytes read with it and whether the body is
/// chunked, or `None` if the answer is not `200`.
async fn head(socket: &mut TcpStream) -> Option<(Vec<u8>, bool)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = memchr::memmem::find(&head, b"\r\n\r\n") {
            let body = head.split_off(end + 4);
            let text = String::from_utf8_lossy(&head).to_lowercase();
            let chunked = text.contains("transfer-encoding: chunked");
            return text.starts_with("http/1.1 200").then_some((body, chunked));
        }
    }
}

/// Prints the storm's figures: counts of each outcome, the time to the last client
/// done, and the clients' completion times.
fn report(args: &Args, instances: usize, outcomes: &[Outcome], client_cpu: f64) {
    let mut times: Vec<f64> = Vec::new();
    let (mut refused, mut failed, mut short, mut timed_out) = (0, 0, 0, 0);
    for outcome in outcomes {
        match outcome {
            Outcome::Done(at) => times.push(at.as_secs_f64()),
            Outcome::Refused => refused += 1,
            Outcome::ConnectFailed => failed += 1,
            Outcome::Short => short += 1,
            Outcome::TimedOut => timed_out += 1,
        }
    }
    times.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "mode=storm clients={} instances={instances} owed={} inflight={} done={} refused={refused} connect_failed={failed} short={short} timed_out={timed_out} seconds={:.3} p50_s={:.3} p99_s={:.3} client_cpu_s={client_cpu:.2}",
        args.conns,
        args.n,
        args.inflight,
        times.len(),
        quantile(1.0),
        quantile(0.5),
        quantile(0.99),
    );
}
