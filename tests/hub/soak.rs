//! The short version of the leak soak (`benches/soak.rs` runs 100,000 cycles): after
//! connect/disconnect cycles of idle, busy and finite streams, with clean closes and
//! resets, no stream and no hub subscriber is left open.
#![cfg(feature = "hub")]

#[path = "../../benches/soak.rs"]
mod bench;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_and_subscriber_is_released() {
    let report = bench::run(1500, 16).await;
    assert_eq!(report.open_streams_after, 0, "{report}");
    assert_eq!(report.subscribers_after, 0, "{report}");
}
