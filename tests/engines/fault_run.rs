//! The seeded fault run: clients on several instances follow several topics while
//! publishers publish and a schedule drawn from a seed kills, restarts, freezes and
//! cuts the engine. The checker then asserts that every client got each event once, in
//! order, or a `reset` event, and no event older than a `reset` after it.
//!
//! CI runs one fixed seed per engine (`FAULT_SEED` picks another); the ignored
//! `fault_run_many_seeds` runs `SEEDS` seeds (default 10) on the engines named in
//! `ENGINES` (default all) and prints the totals:
//! `SEEDS=20 cargo test --all-features --release --test engines -- --ignored --nocapture fault_run_many_seeds`.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt as _;
use http::StatusCode;
use tower_sse::{
    Event,
    hub::{Hub, PublishError},
};

use crate::{
    common::{get as request, send},
    harness::{Data, Engine, Fault, Settings},
    support::instance,
};

/// The seed CI runs.
const SEED: u64 = 20;
/// How long faults are struck for, per run.
const FAULTING: Duration = Duration::from_secs(12);
const TOPICS: usize = 3;
const INSTANCES: usize = 3;
const CLIENTS_PER_INSTANCE: usize = 5;

/// A small PRNG (SplitMix64): the same seed, the same schedule and clients.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low))
    }
}

/// What a publish of one topic's `n`th event came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Stored,
    /// `Uncertain`: it may have been stored.
    Maybe,
    /// Refused: not stored.
    Refused,
}

/// What a client read, in order.
#[derive(Clone, Debug)]
enum Record {
    Event {
        topic: usize,
        n: u64,
        id: String,
    },
    Reset,
    /// A refusal (`retry:`), retried.
    Refused,
}

/// The totals of one or more runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub runs: u64,
    pub events: u64,
    pub faults: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Delivered though its publish said it was not stored.
    pub falsely_refused: u64,
    /// Clients that never got the last events (their stored events after the last they
    /// read count in `lost` too).
    pub stalled: u64,
    pub resets: u64,
    pub refusals: u64,
}

impl Totals {
    fn add(&mut self, other: Self) {
        self.runs += other.runs;
        self.events += other.events;
        self.faults += other.faults;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.falsely_refused += other.falsely_refused;
        self.stalled += other.stalled;
        self.resets += other.resets;
        self.refusals += other.refusals;
    }

    fn clean(&self) -> bool {
        self.lost + self.duplicated + self.out_of_order + self.falsely_refused + self.stalled == 0
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "runs {}, events {}, faults {}, lost {}, duplicated {}, out of order {}, \
             falsely refused {}, stalled clients {}, resets {}, refusals {}",
            self.runs,
            self.events,
            self.faults,
            self.lost,
            self.duplicated,
            self.out_of_order,
            self.falsely_refused,
            self.stalled,
            self.resets,
            self.refusals
        )
    }
}

/// The fault run at CI's seed (or `FAULT_SEED`): every total of harm is 0.
pub async fn seeded_fault_run<E: Engine>(engine: E) {
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let totals = run(engine, seed).await;
    println!("{} seed {seed}: {totals}", E::NAME);
    assert!(totals.clean(), "{} seed {seed}: {totals}", E::NAME);
    assert!(totals.faults > 0 && totals.events > 0, "{totals}");
}

/// Many seeds on every engine named in `ENGINES`, with the totals printed.
#[cfg(any(feature = "redis", feature = "nats", feature = "postgres"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: SEEDS=N runs N seeds per engine"]
async fn fault_run_many_seeds() {
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let first: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let wanted =
        std::env::var("ENGINES").unwrap_or_else(|_| "redis,cluster,nats,postgres".to_owned());
    let mut clean = true;
    for name in wanted.split(',') {
        let totals = match name {
            #[cfg(feature = "redis")]
            "redis" => many::<crate::harness::redis::Redis>(first, seeds).await,
            #[cfg(feature = "redis")]
            "cluster" => many::<crate::harness::redis::Cluster>(first, seeds).await,
            #[cfg(feature = "nats")]
            "nats" => many::<crate::harness::nats::Nats>(first, seeds).await,
            #[cfg(feature = "postgres")]
            "postgres" => many::<crate::harness::postgres::Postgres>(first, seeds).await,
            other => panic!("no engine `{other}` here"),
        };
        println!("{name} total: {totals}");
        clean &= totals.clean();
    }
    assert!(clean, "some run lost, duplicated or reordered events");
}

#[cfg(any(feature = "redis", feature = "nats", feature = "postgres"))]
async fn many<E: Engine>(first: u64, seeds: u64) -> Totals {
    let mut totals = Totals::default();
    for seed in first..first + seeds {
        let Some(engine) = E::start().await else {
            return totals;
        };
        let one = run(engine, seed).await;
        println!("{} seed {seed}: {one}", E::NAME);
        totals.add(one);
    }
    totals
}

/// A client of the run: where it is, what it follows, what it read, its task.
struct Client {
    instance: usize,
    topics: Vec<usize>,
    records: Arc<Mutex<Vec<Record>>>,
    task: tokio::task::JoinHandle<bool>,
}

/// One run: instances, clients, publishers, the faults, then a calm end and the check.
async fn run<E: Engine>(mut engine: E, seed: u64) -> Totals {
    let mut rng = Rng(seed);
    let proxied = E::FAULTS.contains(&Fault::Cut);
    let mut hubs = Vec::new();
    for n in 0..INSTANCES {
        let settings = Settings {
            through_proxy: proxied && n == 0,
            ..Settings::default()
        };
        hubs.push(engine.hub(settings).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let last = Arc::new(tokio::sync::watch::channel(None::<Vec<u64>>).0);
    let clients = start_clients(&hubs, &mut rng, &last).await;
    let outcomes: Vec<_> = (0..TOPICS)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let publishers: Vec<_> = (0..TOPICS)
        .map(|topic| {
            let (hubs, stop, outcomes) = (hubs.clone(), stop.clone(), outcomes[topic].clone());
            tokio::spawn(publisher(hubs, topic, seed, stop, outcomes))
        })
        .collect();
    let faults = strike(&mut engine, &mut rng).await;
    stop.store(true, Ordering::SeqCst);
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let finals = finish(&hubs, &outcomes).await;
    last.send_replace(Some(finals.clone()));
    let ticking = tokio::spawn(tick(hubs.clone(), outcomes.clone()));
    let mut totals = judge(clients, &outcomes, &finals).await;
    totals.faults = faults;
    ticking.abort();
    drop(engine);
    totals
}

/// `CLIENTS_PER_INSTANCE` clients on each instance, each following one or two topics
/// drawn from `rng`, subscribed when this returns.
async fn start_clients(
    hubs: &[Hub],
    rng: &mut Rng,
    last: &tokio::sync::watch::Sender<Option<Vec<u64>>>,
) -> Vec<Client> {
    let mut clients = Vec::new();
    for (at, hub) in hubs.iter().enumerate() {
        let server = instance(hub).await;
        for _ in 0..CLIENTS_PER_INSTANCE {
            let first = rng.below(TOPICS as u64) as usize;
            let mut topics = vec![first];
            if rng.below(2) == 0 {
                topics.push((first + 1 + rng.below(TOPICS as u64 - 1) as usize) % TOPICS);
            }
            let records = Arc::new(Mutex::new(Vec::new()));
            let task = tokio::spawn(client(
                server,
                topics.clone(),
                records.clone(),
                last.subscribe(),
            ));
            clients.push(Client {
                instance: at,
                topics,
                records,
                task,
            });
        }
    }
    crate::support::eventually(Duration::from_secs(10), "every client subscribed", || {
        hubs.iter().enumerate().all(|(i, hub)| {
            let wanted = clients.iter().filter(|c| c.instance == i).count();
            hub.stats().subscribers >= wanted
        })
    })
    .await;
    clients
}

/// Waits (30 s at most) for every client to read the last events, then checks each.
async fn judge(
    clients: Vec<Client>,
    outcomes: &[Arc<Mutex<Vec<Outcome>>>],
    finals: &[u64],
) -> Totals {
    let mut totals = Totals {
        runs: 1,
        ..Totals::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for mut client in clients {
        let done = tokio::time::timeout_at(deadline, &mut client.task).await;
        client.task.abort();
        let stalled = !matches!(done, Ok(Ok(true)));
        let outcomes: Vec<Vec<Outcome>> =
            outcomes.iter().map(|o| o.lock().unwrap().clone()).collect();
        let records = client.records.lock().unwrap();
        if stalled && std::env::var_os("FAULT_LOG").is_some() {
            let tail: Vec<_> = records.iter().rev().take(3).collect();
            eprintln!(
                "stalled: instance {} topics {:?}, published {:?}, last read {tail:?}",
                client.instance,
                client.topics,
                outcomes.iter().map(Vec::len).collect::<Vec<_>>()
            );
        }
        totals.add(check(&client.topics, &records, &outcomes, stalled, finals));
    }
    totals
}

/// Publishes topic `topic`'s events `t{topic}:{n}`, one at a time, each through an
/// instance picked at random, until `stop`; records each outcome.
async fn publisher(
    hubs: Vec<Hub>,
    topic: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
) {
    let mut rng = Rng(seed ^ ((topic as u64 + 1) * 0x1234_5678));
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    while !stop.load(Ordering::SeqCst) {
        pace.tick().await;
        let hub = &hubs[rng.below(hubs.len() as u64) as usize];
        publish(hub, topic, &outcomes).await;
    }
}

/// Publishes topic `topic`'s next event; its outcome.
async fn publish(hub: &Hub, topic: usize, outcomes: &Mutex<Vec<Outcome>>) -> Outcome {
    let n = outcomes.lock().unwrap().len();
    let event = Event::new().data(format!("t{topic}:{n}"));
    let outcome = match hub.publish(&format!("t{topic}"), event).await {
        Ok(_) => Outcome::Stored,
        Err(PublishError::Uncertain(_)) => Outcome::Maybe,
        Err(_) => Outcome::Refused,
    };
    outcomes.lock().unwrap().push(outcome);
    outcome
}

/// Once the faults are over: one stored event on each topic, its number returned.
async fn finish(hubs: &[Hub], outcomes: &[Arc<Mutex<Vec<Outcome>>>]) -> Vec<u64> {
    let mut finals = Vec::new();
    for (topic, outcomes) in outcomes.iter().enumerate() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the engine came back"
            );
            if publish(&hubs[1], topic, outcomes).await == Outcome::Stored {
                finals.push(outcomes.lock().unwrap().len() as u64 - 1);
                break;
            }
        }
    }
    finals
}

/// Goes on publishing after the last events, so that a client reset after them still
/// gets some past them (and ends).
async fn tick(hubs: Vec<Hub>, outcomes: Vec<Arc<Mutex<Vec<Outcome>>>>) {
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    loop {
        pace.tick().await;
        for (topic, outcomes) in outcomes.iter().enumerate() {
            publish(&hubs[1], topic, outcomes).await;
        }
    }
}

/// Strikes faults drawn from `rng` for [`FAULTING`], healing each before the next;
/// how many.
async fn strike<E: Engine>(engine: &mut E, rng: &mut Rng) -> u64 {
    let start = tokio::time::Instant::now();
    let mut count = 0;
    let mut snapshot = false;
    while start.elapsed() < FAULTING {
        pause(rng.millis(200, 800)).await;
        let fault = E::FAULTS[rng.below(E::FAULTS.len() as u64) as usize];
        match fault {
            Fault::Kill => {
                engine.kill().await;
                pause(rng.millis(100, 1000)).await;
                engine.restart(Data::Kept).await;
            }
            Fault::RestartEmpty => engine.restart(Data::Lost).await,
            Fault::Freeze => {
                engine.freeze(true);
                pause(rng.millis(100, 1500)).await;
                engine.freeze(false);
            }
            Fault::Cut => {
                engine.proxy().cut().await;
                pause(rng.millis(100, 1000)).await;
                engine.proxy().restore();
            }
            Fault::Silent => engine.proxy().freeze_open_connections(),
            Fault::Snapshot => {
                engine.snapshot().await;
                snapshot = true;
            }
            Fault::Restore if snapshot => engine.restore().await,
            Fault::Restore => continue,
        }
        if std::env::var_os("FAULT_LOG").is_some() {
            eprintln!("{:>6} ms: {fault:?}", start.elapsed().as_millis());
        }
        count += 1;
    }
    count
}

/// Waits `time`: how long a fault lasts, or the calm between two (not a
/// synchronisation: the run checks what happened, whatever the timing).
async fn pause(time: Duration) {
    tokio::time::sleep(time).await;
}

/// A client as `EventSource` behaves: it follows `topics` on `server`, resumes from the
/// last id it got whenever its stream ends, retries a refusal (`retry:`, with a
/// `Retry-After` header), and records what it reads;
/// it stops once it has a topic's event numbered at least `last` in each (`true`).
async fn client(
    server: std::net::SocketAddr,
    topics: Vec<usize>,
    records: Arc<Mutex<Vec<Record>>>,
    last: tokio::sync::watch::Receiver<Option<Vec<u64>>>,
) -> bool {
    let uri: String = topics
        .iter()
        .map(|t| format!("topic=t{t}"))
        .collect::<Vec<_>>()
        .join("&");
    let uri = format!("/?{uri}");
    let mut last_id: Option<String> = None;
    let mut newest: HashMap<usize, u64> = HashMap::new();
    loop {
        let mut headers = vec![("accept", "text/event-stream")];
        if let Some(id) = &last_id {
            headers.push(("last-event-id", id.as_str()));
        }
        let response = send(server, request(&uri, &headers)).await;
        assert_eq!(response.status(), StatusCode::OK);
        if response.headers().contains_key("retry-after") {
            records.lock().unwrap().push(Record::Refused);
            pause(Duration::from_millis(100)).await;
            continue;
        }
        let mut events = sse_stream::SseStream::new(response.into_body());
        loop {
            let Some(Ok(event)) = events.next().await else {
                break;
            };
            if event.event.as_deref() == Some("reset") {
                records.lock().unwrap().push(Record::Reset);
                continue;
            }
            let Some((topic, n)) = event.data.as_deref().and_then(parse) else {
                continue;
            };
            let id = event.id.unwrap_or_default();
            last_id = Some(id.clone());
            records.lock().unwrap().push(Record::Event { topic, n, id });
            let seen = newest.entry(topic).or_default();
            *seen = (*seen).max(n);
            if let Some(finals) = &*last.borrow() {
                if topics
                    .iter()
                    .all(|t| newest.get(t).is_some_and(|n| *n >= finals[*t]))
                {
                    return true;
                }
            }
        }
        pause(Duration::from_millis(20)).await;
    }
}

/// `t{topic}:{n}`.
fn parse(data: &str) -> Option<(usize, u64)> {
    let (topic, n) = data.strip_prefix('t')?.split_once(':')?;
    Some((topic.parse().ok()?, n.parse().ok()?))
}

/// What one client's records say, against what was published. Within a span between
/// two resets, each event comes once and the stored ones in order with none missing;
/// no id comes twice, even across a reset. (After a reset, an event may come again
/// under a new id: a publish whose first copy was lost with the server's data is
/// stored again by its retry.)
fn check(
    topics: &[usize],
    records: &[Record],
    outcomes: &[Vec<Outcome>],
    stalled: bool,
    finals: &[u64],
) -> Totals {
    let mut totals = Totals {
        stalled: u64::from(stalled),
        ..Totals::default()
    };
    let mut ids: HashSet<&str> = HashSet::new();
    let mut span: HashSet<(usize, u64)> = HashSet::new();
    // Per topic: the last stored event read since the last reset, and the newest ever.
    let mut anchor: HashMap<usize, u64> = HashMap::new();
    let mut newest: HashMap<usize, u64> = HashMap::new();
    for record in records {
        let (topic, n, id) = match record {
            Record::Reset => {
                totals.resets += 1;
                anchor.clear();
                span.clear();
                continue;
            }
            Record::Refused => {
                totals.refusals += 1;
                continue;
            }
            Record::Event { topic, n, id } => (*topic, *n, id.as_str()),
        };
        totals.events += 1;
        if !ids.insert(id) || !span.insert((topic, n)) {
            totals.duplicated += 1;
            continue;
        }
        match outcomes[topic].get(n as usize) {
            Some(Outcome::Stored) => {}
            Some(Outcome::Refused) => {
                totals.falsely_refused += 1;
                continue;
            }
            _ => continue, // may have been stored: it may come anywhere, once
        }
        if newest.get(&topic).is_some_and(|newest| n < *newest) {
            totals.out_of_order += 1;
            continue;
        }
        if let Some(a) = anchor.get(&topic) {
            totals.lost += lost_between(&outcomes[topic], a + 1, n);
        }
        anchor.insert(topic, n);
        newest.insert(topic, n);
    }
    if stalled {
        totals.lost += tail_lost(topics, &anchor, outcomes, finals);
    }
    totals
}

/// A stalled client's loss: each topic's stored events after the last it read, to the
/// last one published.
fn tail_lost(
    topics: &[usize],
    anchor: &HashMap<usize, u64>,
    outcomes: &[Vec<Outcome>],
    finals: &[u64],
) -> u64 {
    topics
        .iter()
        .filter_map(|t| {
            Some(lost_between(
                &outcomes[*t],
                anchor.get(t)? + 1,
                finals[*t] + 1,
            ))
        })
        .sum()
}

/// How many events numbered `from..to` were stored.
fn lost_between(outcomes: &[Outcome], from: u64, to: u64) -> u64 {
    (from..to)
        .filter(|k| outcomes.get(*k as usize) == Some(&Outcome::Stored))
        .count() as u64
}

/// The checker itself: it counts each kind of harm, and excuses what a reset covers.
#[test]
fn the_checker_finds_each_harm() {
    use Outcome::{Maybe, Refused, Stored};
    let event = |n: u64, id: &str| Record::Event {
        topic: 0,
        n,
        id: id.to_owned(),
    };
    let outcomes = vec![vec![Stored, Stored, Maybe, Stored, Refused, Stored, Stored]];
    let totals = |records: &[Record]| check(&[0], records, &outcomes, false, &[6]);
    // Clean: the uncertain 2 never came, the refused 4 neither.
    let clean = totals(&[event(0, "a"), event(1, "b"), event(3, "c"), event(5, "d")]);
    assert!(clean.clean() && clean.events == 4, "{clean}");
    // A reset covers what came before it; the same event again under a new id after it.
    let reset = totals(&[event(0, "a"), Record::Reset, event(5, "d")]);
    assert!(reset.clean() && reset.resets == 1, "{reset}");
    let again = totals(&[event(0, "a"), Record::Reset, event(0, "z"), event(1, "b")]);
    assert!(again.clean(), "{again}");
    let lost = totals(&[event(0, "a"), event(5, "d")]);
    assert_eq!((lost.lost, lost.clean()), (2, false), "1 and 3: {lost}");
    let twice = totals(&[event(0, "a"), event(1, "b"), event(1, "b2")]);
    assert_eq!(twice.duplicated, 1, "{twice}");
    let same_id = totals(&[event(0, "a"), Record::Reset, event(1, "a")]);
    assert_eq!(same_id.duplicated, 1, "an old id after a reset: {same_id}");
    let back = totals(&[event(3, "c"), Record::Reset, event(1, "b")]);
    assert_eq!(
        back.out_of_order, 1,
        "older than what came before the reset: {back}"
    );
    let refused = totals(&[event(3, "c"), event(4, "x"), event(5, "d")]);
    assert_eq!(refused.falsely_refused, 1, "{refused}");
    let stalled = check(&[0], &[event(0, "a")], &outcomes, true, &[6]);
    assert_eq!((stalled.stalled, stalled.lost), (1, 4), "{stalled}");
}
