//! tower-sse on bare hyper 1, without axum: a `tower::Service` wrapped by `SseLayer`,
//! served through hyper-util's `TowerToHyperService` with the auto builder, so HTTP/1.1
//! and HTTP/2 over cleartext (h2c, prior knowledge) are both served on one port.
//!
//! Run with `cargo run --example hyper` (env `PORT` overrides 3000), then
//! `curl -N -H 'accept: text/event-stream' http://127.0.0.1:3000/` or, over HTTP/2,
//! `curl -N --http2-prior-knowledge -H 'accept: text/event-stream' http://127.0.0.1:3000/`.

#[path = "support/stop_signal.rs"]
mod stop_signal;

use stop_signal::stop_signal;

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_stream::{Stream, StreamExt};
use tower::ServiceBuilder;
use tower_sse::{Event, EventId, SseLayer};

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the port (set PORT to use another)");
    println!("listening on http://{}/", listener.local_addr().unwrap());
    // Ctrl-C or SIGTERM stops the server; its connections close, and clients reconnect.
    tokio::select! {
        () = serve(listener) => {}
        () = stop_signal() => {}
    }
}

/// The plain service the layer sits in front of.
async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from("hello from hyper\n"))))
}

/// Five numbered events, a tenth of a second apart, resuming after `Last-Event-ID`.
async fn count(
    request: Request<Incoming>,
    last_event_id: Option<EventId>,
) -> Result<impl Stream<Item = Event>, Infallible> {
    let start = last_event_id
        .and_then(|id| id.parse::<u64>().ok())
        .map_or(1, |n| n + 1);
    let version = format!("{:?}", request.version());
    let ticks = tokio_stream::iter(start..start + 5)
        .throttle(Duration::from_millis(100))
        .map(move |n| {
            Event::new()
                .id_number(n)
                .data(format!("event {n} over {version}"))
        });
    Ok(ticks)
}

/// Serves connections from `listener` until the task is dropped.
async fn serve(listener: TcpListener) {
    let service = ServiceBuilder::new()
        .layer(SseLayer::new(count))
        .service_fn(hello);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors, usually: say so, and let connections close
                // before trying again rather than spinning.
                eprintln!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            // HTTP/1.1 or HTTP/2, whichever the client speaks.
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(err) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {err}");
            }
        });
    }
}
