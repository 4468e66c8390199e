#![allow(missing_docs)] // criterion_main! makes an undocumented main
//! Encoding typical events with tower-sse's `Event` and with axum's, and turning a
//! stream of them into response body bytes through each crate's SSE body.
//!
//! `cargo bench --bench encode`. axum's `Event` writes its fields as they are set and
//! only adds the final newline when its body sends it, so "build" for axum is the
//! builder calls, while tower-sse's also includes `encode()` (the final newline and
//! freezing the bytes): the comparison is, if anything, unfair to tower-sse.

use std::{convert::Infallible, hint::black_box, time::Duration};

use axum::response::{IntoResponse, sse};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_sse::{Event, EventId, SseLayer};

const SMALL: &str = "{\"user\":\"ann\",\"text\":\"hello\"}"; // 30 bytes
fn kib() -> String {
    "x".repeat(1024)
}
fn multiline() -> String {
    (0..10)
        .map(|n| format!("line {n} of a multi-line message"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    let cases = [
        ("small", SMALL.to_owned()),
        ("1KiB", kib()),
        ("10 lines", multiline()),
    ];
    for (name, data) in &cases {
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("tower-sse", name), data, |b, data| {
            let mut n = 0u64;
            b.iter(|| {
                n += 1;
                let event = Event::new()
                    .event_static("message")
                    .id(itoa::Buffer::new().format(n))
                    .unwrap()
                    .data(black_box(data))
                    .encode();
                black_box(event)
            })
        });
        group.bench_with_input(BenchmarkId::new("axum", name), data, |b, data| {
            let mut n = 0u64;
            b.iter(|| {
                n += 1;
                let event = sse::Event::default()
                    .event("message")
                    .id(itoa::Buffer::new().format(n))
                    .data(black_box(data));
                black_box(event)
            })
        });
    }
    group.finish();
}

/// 1,000 small events through each crate's SSE response body, to bytes.
fn body(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("body of 1000 events");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("tower-sse", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let layer = SseLayer::new(|_: Request<()>, _: Option<EventId>| async {
                    let events = (0..1000u64).map(|n| {
                        Event::new()
                            .id(itoa::Buffer::new().format(n))
                            .unwrap()
                            .data(SMALL)
                    });
                    Ok::<_, Infallible>(tokio_stream::iter(events))
                })
                .without_keep_alive();
                let inner = tower::service_fn(|_: Request<()>| async {
                    Ok::<_, Infallible>(http::Response::new(
                        http_body_util::Empty::<bytes::Bytes>::new(),
                    ))
                });
                let service = tower::Layer::layer(&layer, inner);
                let request = Request::get("/")
                    .header("accept", "text/event-stream")
                    .body(())
                    .unwrap();
                let response = service.oneshot(request).await.unwrap();
                black_box(response.into_body().collect().await.unwrap().to_bytes())
            })
        })
    });
    group.bench_function("axum", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let events = (0..1000u64).map(|n| {
                    Ok::<_, Infallible>(
                        sse::Event::default()
                            .id(itoa::Buffer::new().format(n))
                            .data(SMALL),
                    )
                });
                let response = sse::Sse::new(tokio_stream::iter(events)).into_response();
                black_box(response.into_body().collect().await.unwrap().to_bytes())
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = build, body
}
criterion_main!(benches);
