//! Redis servers of the tests' own, on free loopback ports.
#![allow(unreachable_pub, dead_code)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

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
        let dir = crate::common::scratch_dir()
            .join(format!("tower-sse-redis-{}-{port}", std::process::id()));
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

    /// Starts the server again with nothing of what it had: the last `SAVE` is deleted.
    pub async fn restart_empty(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.restart().await;
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server, if it runs.
    pub fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            crate::common::signal(child.id(), signal);
        }
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
