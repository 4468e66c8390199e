//! A half-open client: the peer vanishes without a FIN or an RST. Nothing the server
//! reads will say so; only a write that is never acknowledged will. With keep-alives
//! and `TCP_USER_TIMEOUT` set on accepted sockets (what `SECURITY.md` recommends), the
//! stream is released within about keep-alive interval + timeout; without the socket
//! option it is still held then (the kernel would retry for ~15 minutes).
//!
//! The test runs itself again inside a network namespace of its own (`unshare --net`, as
//! root, as CI runs), where taking the loopback interface down makes the peer vanish.
//! Needs `unshare` (util-linux), `ip` (iproute2) and root; `.ci/run` installs them and
//! runs as root. Without them the test says so on one line and passes, except under
//! `.ci/run`.

mod common;

use std::{
    convert::Infallible,
    process::Command,
    sync::Arc,
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use common::{DropGuard, dropped};
use http::Request;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_stream::StreamExt;
use tower_sse::{Event, EventId, KeepAlive, SseLayer};

const TEST: &str = "a_vanished_client_is_released_by_keep_alive_and_tcp_user_timeout";
const CHILD: &str = "TOWER_SSE_HALF_OPEN_CHILD";

#[test]
fn a_vanished_client_is_released_by_keep_alive_and_tcp_user_timeout() {
    if std::env::var_os(CHILD).is_some() {
        return in_namespace();
    }
    if !common::have("ip", "apt-get install iproute2") || !can_unshare() {
        return;
    }
    let output = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("unshare runs (util-linux), as root");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the test in its namespace failed:\n{text}"
    );
    assert!(text.contains("released after"), "{text}");
}

/// A server on `listener` whose streams are idle forever, with a 300 ms keep-alive; each
/// accepted socket gets `TCP_USER_TIMEOUT` if `user_timeout` is set. Each stream's drop
/// flag is sent on `flags`.
/// Whether a network namespace can be made here (`unshare` installed, and root).
fn can_unshare() -> bool {
    let made = Command::new("unshare")
        .args(["--net", "--", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !made {
        common::not_here("`unshare --net` (apt-get install util-linux, and run as root)");
    }
    made
}

async fn serve(
    listener: TcpListener,
    user_timeout: Option<Duration>,
    flags: mpsc::UnboundedSender<Arc<AtomicBool>>,
) {
    let layer = SseLayer::new(
        move |_: Request<hyper::body::Incoming>, _: Option<EventId>| {
            let (guard, flag) = DropGuard::new();
            flags.send(flag).unwrap();
            let idle = tokio_stream::pending::<Event>().map(move |event| {
                let _owned = &guard;
                event
            });
            async move { Ok::<_, Infallible>(idle) }
        },
    )
    .keep_alive(KeepAlive::new().interval(Duration::from_millis(300)));
    let app = tower::ServiceBuilder::new()
        .layer(layer)
        .service(Router::new().route("/", get(|| async { "page" })));
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        if let Some(timeout) = user_timeout {
            socket2::SockRef::from(&stream)
                .set_tcp_user_timeout(Some(timeout))
                .unwrap();
        }
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Opens a stream and reads its head; the client then never reads again.
async fn open(port: u16) -> TcpStream {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    socket
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0);
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200 OK"));
    socket
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("ip runs (iproute2)");
    assert!(status.success(), "ip {args:?}");
}

fn in_namespace() {
    ip(&["link", "set", "lo", "up"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (flags_tx, mut flags) = mpsc::unbounded_channel();
        let guarded = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (guarded_port, plain_port) = (
            guarded.local_addr().unwrap().port(),
            plain.local_addr().unwrap().port(),
        );
        tokio::spawn(serve(
            guarded,
            Some(Duration::from_secs(2)),
            flags_tx.clone(),
        ));
        tokio::spawn(serve(plain, None, flags_tx));

        let _guarded_client = open(guarded_port).await;
        let guarded_flag = flags.recv().await.unwrap();
        let _plain_client = open(plain_port).await;
        let plain_flag = flags.recv().await.unwrap();

        // The peer vanishes: nothing sent from now on is delivered or acknowledged.
        let vanished = Instant::now();
        ip(&["link", "set", "lo", "down"]);
        while !dropped(&guarded_flag) {
            assert!(
                vanished.elapsed() < Duration::from_secs(20),
                "not released within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let released = vanished.elapsed();
        println!("released after {released:?}");
        // About one keep-alive interval plus the 2 s user timeout.
        assert!(released >= Duration::from_secs(2), "{released:?}");
        assert!(
            !dropped(&plain_flag),
            "without TCP_USER_TIMEOUT the stream is still held"
        );
    });
}
