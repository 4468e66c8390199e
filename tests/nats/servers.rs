//! `nats-server`s of the tests' own, on free loopback ports with JetStream in a
//! temporary store directory, and a proxy that can cut an instance off from NATS.
#![allow(unreachable_pub)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::eventually;

/// Whether the tests can run: `nats-server` is installed. Prints a line saying how to
/// get it when not (and fails under `.ci/run`).
pub fn available() -> bool {
    crate::common::have("nats-server", "apt-get install nats-server")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `nats-server -js` of the test's own, with a temporary store directory, stopped
/// with SIGKILL when dropped.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl NatsServer {
    pub async fn start() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("tower-sse-nats-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port and store directory: JetStream reads
    /// back what it stored.
    pub async fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let port = self.port;
        eventually(Duration::from_secs(10), "nats-server listens", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
    }

    /// Starts the server again on the same port with an empty store: it lost its data.
    pub async fn restart_empty(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
        self.restart().await;
    }

    /// Stops the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM, letting it close its store.
    pub fn stop_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy in front of NATS that a test can cut: cutting closes every connection
/// through it and refuses new ones until it is restored. NATS itself keeps running.
pub struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
    open: Arc<AtomicUsize>,
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
        let frozen_below = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (counter, frozen, numbers) = (open.clone(), frozen_below.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut up = watch.clone();
                if !*up.borrow() {
                    continue; // refused: dropped at once
                }
                let open = counter.clone();
                let (frozen, number) = (frozen.clone(), numbers.fetch_add(1, Ordering::SeqCst));
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let frozen = move || number < frozen.load(Ordering::SeqCst);
                        tokio::select! {
                            () = forward(client, server, &frozen) => {}
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
            frozen_below,
            accepted,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The connections open now stop forwarding anything, but stay open, as a
    /// connection that died behind a NAT or a partition does; new ones work.
    pub fn freeze_open_connections(&self) {
        self.frozen_below
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
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
}

/// Copies both ways until either side closes; a frozen connection holds what it reads
/// and never closes.
async fn forward(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    frozen: &(dyn Fn() -> bool + Sync),
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if frozen() {
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
            if frozen() {
                std::future::pending::<()>().await;
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
