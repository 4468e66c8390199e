//! The broadcast hub in one process: topics, replay, fan-out, limits, its memory per
//! subscriber, a leak soak, and an engine of one's own behind the `Backend` trait.
// Served through axum's integration (feature `axum`), as users serve it.
#![cfg(all(feature = "hub", feature = "axum"))]

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "test-util")]
mod access;
mod backend;
mod broadcast;
mod soak;
