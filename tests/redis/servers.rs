//! Redis servers of the tests' own, on free loopback ports, and a proxy that can cut
//! an instance off from Redis.
#![allow(unreachable_pub)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::eventually;

/// Whether the tests can run: `redis-server` and `redis-cli` are installed. Prints a
/// line saying how to get them when not (and fails under `.ci/run`).
pub fn available() -> bool {
    crate::common::have("redis-server", "apt-get install redis-server")
        && crate::common::have("redis-cli", "apt-get install redis-tools")
}

/// A loopback port nothing listens on, whose cluster bus port (+10,000) is free too.
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A `redis-server` of the test's own, with a temporary directory (where `SAVE` writes
/// and a restart reads), stopped with SIGKILL when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl RedisServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("tower-sse-redis-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server again on the same port and directory: it loads what the last
    /// `SAVE` wrote, if anything.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        wait_for_ping(self.port).await;
    }

    /// Whether the server was started and not stopped.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `command` as another client would, and returns the reply.
    pub async fn by_hand(&self, command: &[&str]) -> redis::Value {
        by_hand(self.port, command).await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `command` on the server at `port` and returns the reply.
pub async fn by_hand(port: u16, command: &[&str]) -> redis::Value {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(command[0]);
    for arg in &command[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.unwrap()
}

async fn wait_for_ping(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let start = tokio::time::Instant::now();
    loop {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
            if pong.is_ok() {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Redis Cluster of three masters (no replicas), made with `redis-cli --cluster
/// create`. A node that is down leaves the others serving their slots.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three masters, no replicas.
    pub async fn start() -> Self {
        Self::start_with_replicas(0).await
    }

    /// Three masters, each with `replicas` replicas (`nodes[0..3]` are the masters).
    pub async fn start_with_replicas(replicas: usize) -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 * (1 + replicas) {
            nodes.push(
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                    "--cluster-require-full-coverage",
                    "no",
                ])
                .await,
            );
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        cluster.wait_until_ok().await;
        cluster
    }

    /// Waits until every running node says the cluster is ok.
    pub async fn wait_until_ok(&self) {
        for node in self.nodes.iter().filter(|node| node.running()) {
            let start = tokio::time::Instant::now();
            loop {
                let info = by_hand(node.port, &["CLUSTER", "INFO"]).await;
                let info: String = redis::from_redis_value(&info).unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "the cluster did not become ok"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The node whose slots hold `key`, as a running node sees it.
    pub async fn node_of(&self, key: &str) -> usize {
        let asked = self.nodes.iter().find(|node| node.running()).unwrap().port;
        let slot: i64 =
            redis::from_redis_value(&by_hand(asked, &["CLUSTER", "KEYSLOT", key]).await).unwrap();
        let slots = by_hand(asked, &["CLUSTER", "SLOTS"]).await;
        let slots: Vec<(i64, i64, (String, i64))> = match slots {
            redis::Value::Array(ranges) => ranges
                .into_iter()
                .map(|range| {
                    let redis::Value::Array(fields) = range else {
                        panic!("a slot range")
                    };
                    let first: i64 = redis::from_redis_value(&fields[0]).unwrap();
                    let last: i64 = redis::from_redis_value(&fields[1]).unwrap();
                    let redis::Value::Array(master) = &fields[2] else {
                        panic!("a master")
                    };
                    let host: String = redis::from_redis_value(&master[0]).unwrap();
                    let port: i64 = redis::from_redis_value(&master[1]).unwrap();
                    (first, last, (host, port))
                })
                .collect(),
            other => panic!("CLUSTER SLOTS: {other:?}"),
        };
        let (_, _, (_, port)) = slots
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .expect("a node serves every slot");
        self.nodes
            .iter()
            .position(|node| i64::from(node.port) == *port)
            .unwrap()
    }
}

/// A TCP proxy in front of Redis that a test can cut: cutting closes every connection
/// through it, and refuses new ones until it is restored. It can also swallow Redis's
/// next reply and close that connection, as a network failure after a command was sent
/// would. Redis itself keeps running.
pub struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
    /// Connections being forwarded now.
    open: Arc<AtomicUsize>,
    /// Swallow the next reply (or every reply) and close its connection.
    swallow_next: Arc<AtomicBool>,
    swallow_all: Arc<AtomicBool>,
    /// Connections numbered below this stop forwarding, without closing.
    frozen_below: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    pub async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, watch) = tokio::sync::watch::channel(true);
        let open = Arc::new(AtomicUsize::new(0));
        let swallow_next = Arc::new(AtomicBool::new(false));
        let swallow_all = Arc::new(AtomicBool::new(false));
        let frozen_below = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (counter, next, all) = (open.clone(), swallow_next.clone(), swallow_all.clone());
        let (frozen, numbers) = (frozen_below.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut up = watch.clone();
                if !*up.borrow() {
                    continue; // refused: dropped at once
                }
                let (open, next, all) = (counter.clone(), next.clone(), all.clone());
                let (frozen, number) = (frozen.clone(), numbers.fetch_add(1, Ordering::SeqCst));
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let link = Link {
                            next,
                            all,
                            frozen,
                            number,
                        };
                        tokio::select! {
                            () = forward(client, server, link) => {}
                            _ = up.wait_for(|up| !*up) => {}
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            up,
            open,
            swallow_next,
            swallow_all,
            frozen_below,
            accepted,
        }
    }

    /// The connections open now stop forwarding anything, but stay open, as a
    /// connection that died behind a NAT or a partition does; new ones work.
    pub fn freeze_open_connections(&self) {
        self.frozen_below
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Cuts every connection, and returns once none is left open.
    pub async fn cut(&self) {
        self.up.send_replace(false);
        eventually(
            Duration::from_secs(5),
            "the proxy's connections closed",
            || self.open.load(Ordering::SeqCst) == 0,
        )
        .await;
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// The next reply from Redis, on any connection, is dropped and its connection
    /// closed.
    pub fn swallow_next_reply(&self) {
        self.swallow_next.store(true, Ordering::SeqCst);
    }

    /// Every reply from Redis is dropped and its connection closed, until `false`.
    pub fn swallow_every_reply(&self, on: bool) {
        self.swallow_all.store(on, Ordering::SeqCst);
    }
}

/// What one forwarded connection obeys.
struct Link {
    next: Arc<AtomicBool>,
    all: Arc<AtomicBool>,
    frozen: Arc<AtomicUsize>,
    number: usize,
}

impl Link {
    fn frozen(&self) -> bool {
        self.number < self.frozen.load(Ordering::SeqCst)
    }
}

/// Copies both ways until either side closes, or a reply is to be swallowed; a frozen
/// connection holds what it reads and never closes.
async fn forward(client: tokio::net::TcpStream, server: tokio::net::TcpStream, link: Link) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if link.frozen() {
                std::future::pending::<()>().await;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if link.frozen() {
                std::future::pending::<()>().await;
            }
            if link.all.load(Ordering::SeqCst) || link.next.swap(false, Ordering::SeqCst) {
                return; // dropped, and the connection closes
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
