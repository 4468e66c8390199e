//! tower-sse in the stacks users run (axum, hyper, tonic, tower-http) and with the
//! clients they use (Chromium, curl, reqwest-eventsource). A test that needs an outside
//! program says on one line that it did not run when the program is missing, and fails
//! instead under `.ci/run`. Served through axum's integration (feature `axum`).
#![cfg(feature = "axum")]

#[path = "../common/mod.rs"]
mod common;

mod axum_stack;
mod browser;
mod compressed_clients;
mod curl;
mod http2_example;
mod hyper_stack;
#[cfg(all(feature = "hub", feature = "metrics"))]
mod metrics_example;
mod reqwest_client;
mod tonic_stack;
mod tower_http;
