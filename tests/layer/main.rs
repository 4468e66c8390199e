//! The layer in front of a service: negotiation, pass-through, framing, keep-alive,
//! lifecycle, shutdown, compression and hostile input, with a real server on 127.0.0.1:0 and
//! independent clients.
#[path = "../common/mod.rs"]
mod common;

mod axum_comparison;
mod compression;
mod handlers;
mod hostile;
mod keep_alive;
mod lifecycle;
mod lifetime;
mod logging;
mod negotiation;
mod pass_through;
mod properties;
mod roundtrip;
mod shutdown;
mod write_window;
