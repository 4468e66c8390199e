//! `load_client shootout`: the websocket-shootout method of measuring fan-out. K
//! subscribers, then N broadcasts published with a fixed number in flight; per broadcast,
//! the time from the write of its `POST` to the moment the last subscriber has it.
//!
//! The broadcasts are published on one keep-alive connection, their requests pipelined:
//! the server handles them one after the other, so the k-th publish stamp (the publish
//! time the server puts at the start of the data) belongs to the k-th request written,
//! and each broadcast's time-to-all is measured from its own request's write.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Semaphore,
};

use super::{Args, Scanner, cpu_seconds, now_ns, open_from, subscribers};

/// How long the publisher waits for a slot before publishing anyway (the broadcast that
/// holds the slot then counts as not having reached everyone).
const SLOT_WAIT: Duration = Duration::from_secs(10);

/// What the subscribers share: per broadcast (by its stamp) how many subscribers it
/// reached and when the last of them got it, in ns since the UNIX epoch.
struct Reached {
    subs: usize,
    by_stamp: Mutex<HashMap<u64, (usize, u64)>>,
    /// Broadcasts in flight: a permit comes back when one reaches every subscriber.
    slots: Semaphore,
    complete: AtomicUsize,
}

impl Reached {
    fn arrive(&self, stamp: u64) {
        // One thread runs the client: the lock is never contended.
        let mut by_stamp = self.by_stamp.lock().unwrap();
        let entry = by_stamp.entry(stamp).or_insert((0, 0));
        entry.0 += 1;
        entry.1 = now_ns() as u64;
        if entry.0 == self.subs {
            self.complete.fetch_add(1, Ordering::Relaxed);
            self.slots.add_permits(1);
        }
    }
}

pub(super) async fn run(args: &Args) {
    let subs = args.conns;
    let pid = args.server_pid.expect("--server-pid");
    let reached = Arc::new(Reached {
        subs,
        by_stamp: Mutex::new(HashMap::new()),
        slots: Semaphore::new(args.inflight),
        complete: AtomicUsize::new(0),
    });
    let opened = Instant::now();
    let tasks = subscribe(args, &reached);
    while subscribers(args.addr).await < subs {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_s = opened.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(Some(pid));
    let client_cpu = cpu_seconds(None);
    let (sends, publisher) = publish(args, &reached).await;
    settle(&reached, sends.len()).await;
    // Closed only now: a server may drop pipelined requests it has not read at the end.
    drop(publisher);
    let server_cpu = cpu_seconds(Some(pid)) - server_cpu;
    let client_cpu = cpu_seconds(None) - client_cpu;
    for task in &tasks {
        task.abort();
    }
    let by_stamp = std::mem::take(&mut *reached.by_stamp.lock().unwrap());
    let figures = Figures::new(&sends, by_stamp, subs, args.limit_ms);
    println!(
        "mode=shootout subs={subs} sources={} n={} size={} inflight={} limit_ms={} connect_s={connect_s:.1} {figures} server_cpu_s={server_cpu:.2} client_cpu_s={client_cpu:.2}",
        args.sources, args.n, args.size, args.inflight, args.limit_ms,
    );
}

/// Opens the subscribers (512 connects at a time, spread over the source addresses);
/// each reports its events to `reached`.
fn subscribe(args: &Args, reached: &Arc<Reached>) -> Vec<tokio::task::JoinHandle<()>> {
    let gate = Arc::new(Semaphore::new(512));
    (0..args.conns)
        .map(|i| {
            let offset = (i % usize::from(args.sources)) as u8;
            let source = Ipv4Addr::new(127, 0, 0, args.first_source + offset);
            let (addr, gate, reached) = (args.addr, gate.clone(), reached.clone());
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.unwrap();
                let (mut socket, first, chunked) = open_from(addr, source).await;
                drop(permit);
                let mut scanner = Scanner::new(chunked, true);
                let mut on_event = |stamp: Option<u128>| {
                    if let Some(stamp) = stamp {
                        reached.arrive(stamp as u64);
                    }
                };
                scanner.feed(&first, &mut on_event);
                // Small events: a small buffer keeps many readers' memory down.
                let mut buf = vec![0u8; 2048];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    scanner.feed(&buf[..n], &mut on_event);
                }
            })
        })
        .collect()
}

/// The publishing connection: its write half, and the task that drains its answers.
struct Publisher {
    _requests: tokio::net::tcp::OwnedWriteHalf,
    drain: tokio::task::JoinHandle<()>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.drain.abort();
    }
}

/// Publishes `args.n` broadcasts, each when a slot is free; returns when each request
/// was written (ns since the UNIX epoch), in order, and the connection.
async fn publish(args: &Args, reached: &Reached) -> (Vec<u64>, Publisher) {
    let socket = TcpStream::connect(args.addr).await.expect("connect");
    socket.set_nodelay(true).unwrap();
    let (mut answers, mut requests) = socket.into_split();
    // The answers are not needed (the broadcasts' arrival is the measure): drain them so
    // that the server is never held up writing them.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = answers.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    });
    let request = format!(
        "POST /publish?n=1&size={} HTTP/1.1\r\nhost: bench\r\ncontent-length: 0\r\n\r\n",
        args.size
    );
    let mut sends = Vec::with_capacity(args.n);
    for _ in 0..args.n {
        if let Ok(slot) = tokio::time::timeout(SLOT_WAIT, reached.slots.acquire()).await {
            slot.unwrap().forget();
        }
        sends.push(now_ns() as u64);
        requests.write_all(request.as_bytes()).await.unwrap();
    }
    let publisher = Publisher {
        _requests: requests,
        drain,
    };
    (sends, publisher)
}

/// Waits until `n` broadcasts have reached everyone, or none has for `SLOT_WAIT`.
async fn settle(reached: &Reached, n: usize) {
    let mut seen = 0;
    let mut quiet_since = Instant::now();
    loop {
        let complete = reached.complete.load(Ordering::Relaxed);
        if complete >= n || quiet_since.elapsed() > SLOT_WAIT {
            return;
        }
        if complete != seen {
            seen = complete;
            quiet_since = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Time-to-all of every broadcast, in ms; `None` for one that did not reach everyone.
struct Figures {
    times: Vec<Option<f64>>,
    /// From the request's write to the publish stamp, in ms (the server's answer time).
    to_stamp: Vec<f64>,
    /// Broadcasts that no subscriber saw (then the order match is off by as many).
    unseen: usize,
    limit_ms: f64,
}

impl Figures {
    fn new(
        sends: &[u64],
        by_stamp: HashMap<u64, (usize, u64)>,
        subs: usize,
        limit_ms: f64,
    ) -> Self {
        let mut stamps: Vec<(u64, (usize, u64))> = by_stamp.into_iter().collect();
        stamps.sort_unstable();
        let mut times = Vec::with_capacity(sends.len());
        let mut to_stamp = Vec::with_capacity(sends.len());
        for (i, &sent) in sends.iter().enumerate() {
            let Some(&(stamp, (count, last))) = stamps.get(i) else {
                times.push(None);
                continue;
            };
            to_stamp.push(stamp.saturating_sub(sent) as f64 / 1e6);
            let reached_all = count == subs;
            times.push(reached_all.then(|| last.saturating_sub(sent) as f64 / 1e6));
        }
        Self {
            times,
            to_stamp,
            unseen: sends.len().saturating_sub(stamps.len()),
            limit_ms,
        }
    }
}

/// The value at quantile `q` of `values` (sorted here), `inf` for missing ones.
fn quantile(values: &[Option<f64>], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::INFINITY)).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * q) as usize)
        .copied()
        .unwrap_or(f64::INFINITY)
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let within = self
            .times
            .iter()
            .filter(|t| t.is_some_and(|ms| ms <= self.limit_ms))
            .count();
        let share = 100.0 * within as f64 / self.times.len().max(1) as f64;
        let reached_all = self.times.iter().filter(|t| t.is_some()).count();
        let to_stamp: Vec<Option<f64>> = self.to_stamp.iter().copied().map(Some).collect();
        write!(
            f,
            "reached_all={reached_all} unseen={} within_limit_pct={share:.1} pass={} to_all_p50_ms={:.1} to_all_p95_ms={:.1} to_all_max_ms={:.1} to_stamp_p50_ms={:.1}",
            self.unseen,
            u8::from(share >= 95.0),
            quantile(&self.times, 0.5),
            quantile(&self.times, 0.95),
            quantile(&self.times, 1.0),
            quantile(&to_stamp, 0.5),
        )
    }
}
