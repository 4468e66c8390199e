//! Events over HTTP/2 and HTTP/3 with TLS, without a proxy: a page with ten
//! `EventSource`s, all open at once. Over HTTP/1.1 a browser opens at most six
//! connections per origin, and each open `EventSource` holds one, so the seventh waits;
//! HTTP/2 (TCP) and HTTP/3 (QUIC, UDP on the same port number) carry every stream on one
//! connection.
//!
//! The server makes a self-signed certificate for `localhost` and `127.0.0.1` at start
//! (for local use: in production, give rustls your real certificate), offers `h2` and
//! `http/1.1` by ALPN over TCP and `h3` over QUIC (quinn and h3; responses advertise it
//! with `Alt-Svc`), and serves the same axum app on both. It prints the certificate key's
//! SHA-256, with which Chromium trusts it for this run:
//!
//! ```sh
//! cargo run --example http2        # env PORT overrides 3443
//! chromium --ignore-certificate-errors-spki-list=<printed hash> https://127.0.0.1:3443/
//! # HTTP/3 at once, rather than after Alt-Svc:
//! chromium --ignore-certificate-errors-spki-list=<hash> \
//!     --origin-to-force-quic-on=127.0.0.1:3443 https://127.0.0.1:3443/
//! ```
//!
//! Each stream prints the protocol it came over; the page posts `/live` once every
//! stream has its first event, and the server prints that too.

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    response::Html,
    routing::{get, post},
};
use base64::Engine as _;
use http::{Request, StatusCode};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};
use tokio_stream::{Stream, StreamExt, wrappers::IntervalStream};
use tower_sse::{Event, EventId, SseLayer, routing::reconnecting_event_source};

#[tokio::main]
async fn main() {
    let (config, spki) = tls();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3443".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    let addr = listener.local_addr().unwrap();
    let app = app(addr.port());
    let quic = h3::endpoint(config.clone(), addr).expect("bind the UDP port for HTTP/3");
    println!("certificate key (Chromium: --ignore-certificate-errors-spki-list={spki})");
    println!("ten streams on one page at https://{addr}/");
    let tcp = TlsAcceptor::from(Arc::new(tcp_tls(config)));
    tokio::select! {
        () = serve(listener, tcp, app.clone()) => {}
        () = h3::serve(quic, app) => {}
        () = stop_signal() => {}
    }
}

/// A self-signed certificate made now, in a rustls configuration, and the base64 SHA-256
/// of the certificate's public key (SubjectPublicKeyInfo).
fn tls() -> (rustls::ServerConfig, String) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("make a certificate");
    let spki = ring::digest::digest(&ring::digest::SHA256, &certified.key_pair.public_key_der());
    let spki = base64::engine::general_purpose::STANDARD.encode(spki);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    // rustls's provider from its crate features: ring, here.
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("the certificate matches its key");
    (config, spki)
}

/// Over TCP: `h2`, then `http/1.1`.
fn tcp_tls(mut config: rustls::ServerConfig) -> rustls::ServerConfig {
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// Accepts TLS connections and serves `app` on each, over the protocol ALPN chose.
async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, service) = (acceptor.clone(), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            // A failed handshake (a browser that does not trust the certificate yet)
            // ends this connection only.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

/// The page, the script, `/live`, and the streams; every response advertises HTTP/3 on
/// `port`.
fn app(port: u16) -> Router {
    let alt_svc = http::HeaderValue::try_from(format!("h3=\":{port}\"; ma=3600")).unwrap();
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/sse.js", reconnecting_event_source())
        .route(
            "/live",
            post(|| async {
                println!("all ten streams live on one page");
                StatusCode::NO_CONTENT
            }),
        )
        .layer(SseLayer::new(ticks))
        .layer(axum::middleware::map_response(
            move |mut response: axum::response::Response| {
                let alt_svc = alt_svc.clone();
                async move {
                    response
                        .headers_mut()
                        .insert(http::header::ALT_SVC, alt_svc);
                    response
                }
            },
        ))
}

/// A tick a second, numbered from the client's last event id; prints the protocol the
/// stream came over.
async fn ticks(
    request: Request<Body>,
    last: Option<EventId>,
) -> Result<impl Stream<Item = Event>, Infallible> {
    let panel = request.uri().query().unwrap_or("").to_owned();
    println!("stream {panel} open over {:?}", request.version());
    let mut next = last
        .and_then(|id| id.parse::<u64>().ok())
        .map_or(0, |n| n + 1);
    let interval = tokio::time::interval(Duration::from_secs(1));
    Ok(IntervalStream::new(interval).map(move |_| {
        let n = next;
        next += 1;
        Event::new().id_number(n).data(format!("tick {n}"))
    }))
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tower-sse over HTTP/2</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  li span { font-family: ui-monospace, monospace; }
</style>
<h1>Ten event streams on one page</h1>
<p id="summary">connecting…</p>
<ol id="panels"></ol>
<script src="/sse.js"></script>
<script>
  const panels = document.getElementById("panels");
  const summary = document.getElementById("summary");
  const live = new Set();
  for (let i = 1; i <= 10; i++) {
    const item = document.createElement("li");
    item.innerHTML = `stream ${i}: <span>waiting</span>`;
    panels.appendChild(item);
    const source = new ReconnectingEventSource(`/?panel=${i}`);
    source.onmessage = (e) => {
      item.querySelector("span").textContent = e.data;
      if (!live.has(i)) {
        live.add(i);
        summary.textContent = `${live.size} of 10 streams live`;
        if (live.size === 10) fetch("/live", { method: "POST" });
      }
    };
  }
</script>
</html>
"#;

/// HTTP/3: QUIC from quinn, HTTP/3 framing from h3, and the same axum app.
mod h3 {
    use std::{net::SocketAddr, sync::Arc};

    use axum::{Router, body::Body};
    use bytes::{Buf, Bytes, BytesMut};
    use http::{Request, Version};
    use http_body_util::BodyExt;
    use tokio_rustls::rustls;
    use tower::ServiceExt;

    type Stream = ::h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

    /// A QUIC endpoint on `addr` (UDP) offering `h3`.
    pub(crate) fn endpoint(
        mut config: rustls::ServerConfig,
        addr: SocketAddr,
    ) -> std::io::Result<quinn::Endpoint> {
        config.alpn_protocols = vec![b"h3".to_vec()];
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(config)
            .expect("rustls offers TLS 1.3 with an initial cipher suite");
        let server = quinn::ServerConfig::with_crypto(Arc::new(quic));
        quinn::Endpoint::server(server, addr)
    }

    /// Accepts QUIC connections and serves `app` on each.
    pub(crate) async fn serve(endpoint: quinn::Endpoint, app: Router) {
        while let Some(incoming) = endpoint.accept().await {
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(quic) = incoming.await else { return };
                let connection = ::h3::server::Connection::new(h3_quinn::Connection::new(quic));
                let Ok(mut connection) = connection.await else {
                    return;
                };
                // Each request on its own task, until the client closes the connection.
                while let Ok(Some(resolver)) = connection.accept().await {
                    let app = app.clone();
                    tokio::spawn(async move {
                        if let Ok((request, stream)) = resolver.resolve_request().await {
                            respond(app, request, stream).await;
                        }
                    });
                }
            });
        }
    }

    /// Reads the request's body, calls the app, and sends the response, frame by frame
    /// (an event stream's events as they come), until it ends or the client resets it.
    async fn respond(app: Router, request: Request<()>, mut stream: Stream) {
        let mut body = BytesMut::new();
        while let Ok(Some(mut chunk)) = stream.recv_data().await {
            while chunk.has_remaining() {
                let piece = chunk.chunk();
                body.extend_from_slice(piece);
                let n = piece.len();
                chunk.advance(n);
            }
        }
        let (mut parts, ()) = request.into_parts();
        parts.version = Version::HTTP_3;
        let request = Request::from_parts(parts, Body::from(body.freeze()));
        let Ok(response) = app.oneshot(request).await;
        let (parts, mut body) = response.into_parts();
        if stream
            .send_response(http::Response::from_parts(parts, ()))
            .await
            .is_err()
        {
            return;
        }
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                if stream.send_data(data).await.is_err() {
                    return; // the client went away: the body (the stream) is dropped
                }
            }
        }
        let _ = stream.finish().await;
    }
}
