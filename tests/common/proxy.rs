//! A TCP proxy in front of a server (Redis, NATS) that a test can cut off, freeze, or
//! make lose replies, while the server itself keeps running.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::eventually;

/// A TCP proxy in front of a server that a test can cut: cutting closes every connection
/// through it, and refuses new ones until it is restored. It can also swallow Redis's
/// next reply and close that connection, as a network failure after a command was sent
/// would. The server itself keeps running.
pub struct Proxy {
    scheme: &'static str,
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
    /// A proxy to `127.0.0.1:target`, whose URL has `scheme` (`redis`, `nats`).
    pub async fn start(scheme: &'static str, target: u16) -> Self {
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
            scheme,
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
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
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

    /// The next reply from the server, on any connection, is dropped and its connection
    /// closed.
    pub fn swallow_next_reply(&self) {
        self.swallow_next.store(true, Ordering::SeqCst);
    }

    /// Every reply from the server is dropped and its connection closed, until `false`.
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
