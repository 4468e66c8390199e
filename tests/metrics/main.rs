//! The `metrics` feature: what event streams and the hub record, read back exactly from
//! a recorder local to each test's thread (so tests running beside it cannot add to its
//! counts), with real servers on 127.0.0.1:0 where a client is involved.
#![cfg(all(feature = "hub", feature = "metrics", feature = "axum"))]

#[path = "../common/mod.rs"]
mod common;

mod hub;
mod recorder;
mod streams;
