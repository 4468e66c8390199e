//! Caddy with TLS (`tls internal`): ten `EventSource`s on one Chromium page all open and
//! all receive, over HTTP/2, and over HTTP/3 with QUIC forced to the origin and the
//! certificate's key pinned. Over HTTP/1.1 a browser opens six per origin.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    response::Html,
    routing::{get, post},
};
use http::{Request, StatusCode};
use tokio::sync::mpsc;
use tower_sse::{Event, EventId, SseLayer, hub::Hub};

use crate::{
    common::{
        browser::{have_chromium, launch_with},
        eventually,
        upstream::Upstream,
    },
    report,
    servers::{Kind, ProxyServer, free_port},
};

/// How many streams the page opens.
const STREAMS: usize = 10;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<script>
  const got = new Set();
  for (let i = 0; i < 10; i++) {
    const source = new EventSource("/events?n=" + i);
    source.onmessage = () => {
      got.add(i);
      if (got.size === 10) fetch("/all", { method: "POST" });
    };
  }
</script>
"#;

/// The app: the page, `/all` (the page got an event on every stream), and the streams,
/// each noting the protocol Caddy says the browser used.
fn app(hub: &Hub, protocols: Arc<Mutex<Vec<String>>>, all: mpsc::UnboundedSender<()>) -> Router {
    let hub = hub.clone();
    let events = move |request: Request<Body>, last: Option<EventId>| {
        let (hub, protocols) = (hub.clone(), protocols.clone());
        async move {
            let proto = request.headers().get("x-client-proto");
            let proto = proto.and_then(|v| v.to_str().ok()).unwrap_or("none");
            protocols.lock().unwrap().push(proto.to_owned());
            hub.subscribe("room").after(last.as_ref()).await
        }
    };
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/all",
            post(move || {
                let _ = all.send(());
                async { StatusCode::NO_CONTENT }
            }),
        )
        .layer(SseLayer::new(events))
}

fn caddyfile(port: u16, upstream: u16) -> String {
    format!(
        "{{
    admin off
    auto_https disable_redirects
    skip_install_trust
    local_certs
    # Chromium sends no SNI to an IP address; over QUIC, Caddy then looks for a
    # certificate for the socket's address, which is not 127.0.0.1 without this.
    default_sni 127.0.0.1
}}
https://127.0.0.1:{port} {{
    bind 127.0.0.1
    tls internal
    reverse_proxy 127.0.0.1:{upstream} {{
        header_up X-Client-Proto {{http.request.proto}}
    }}
}}
"
    )
}

/// The base64 SHA-256 of the certificate's public key (SubjectPublicKeyInfo), as
/// Chromium's `--ignore-certificate-errors-spki-list` takes it.
fn spki_hash(certificate: &std::path::Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | base64",
        certificate.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output();
    let out = out.expect("openssl runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Serves the page through Caddy with TLS, opens it in Chromium with `flags(port, spki)`
/// and checks that all ten streams opened over `protocol` and received an event.
async fn ten_streams(protocol: &str, flags: fn(u16, &str) -> Vec<String>) {
    if !Kind::Caddy.available()
        || !have_chromium()
        || !crate::common::have("openssl", "apt-get install openssl")
    {
        return;
    }
    let hub = Hub::new();
    let protocols = Arc::new(Mutex::new(Vec::new()));
    let (all_tx, mut all) = mpsc::unbounded_channel();
    let upstream = Upstream::start(app(&hub, protocols.clone(), all_tx)).await;
    let port = free_port();
    let caddy = ProxyServer::run(Kind::Caddy, &caddyfile(port, upstream.port), port).await;
    let certificate = caddy.file("data/caddy/certificates/local/127.0.0.1/127.0.0.1.crt");
    eventually(
        Duration::from_secs(20),
        "Caddy issued its certificate",
        || certificate.exists(),
    )
    .await;
    let spki = spki_hash(&certificate);
    let _browser = launch_with(&format!("https://127.0.0.1:{port}/"), &flags(port, &spki));
    eventually(Duration::from_secs(30), "ten streams open", || {
        hub.stats().subscribers_of("room") == STREAMS
    })
    .await;
    hub.publish("room", Event::new().data("to all"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), all.recv())
        .await
        .expect("every stream got the event within 10 s");
    let protocols = protocols.lock().unwrap().clone();
    report(&format!(
        "Caddy TLS: {} streams open on one page, over {protocols:?}",
        protocols.len()
    ));
    assert_eq!(protocols, vec![protocol; STREAMS]);
}

#[tokio::test]
async fn caddy_tls_ten_streams_over_http2() {
    ten_streams("HTTP/2.0", |_, spki| {
        vec![
            "--disable-quic".to_owned(),
            format!("--ignore-certificate-errors-spki-list={spki}"),
        ]
    })
    .await;
}

#[tokio::test]
async fn caddy_tls_ten_streams_over_http3() {
    ten_streams("HTTP/3.0", |port, spki| {
        vec![
            "--enable-quic".to_owned(),
            format!("--origin-to-force-quic-on=127.0.0.1:{port}"),
            format!("--ignore-certificate-errors-spki-list={spki}"),
        ]
    })
    .await;
}
