//! tower-sse behind the proxies people run: real `nginx`, `caddy` and `haproxy` (Debian's
//! packages), each in its plain configuration and in the one docs/guide.md recommends,
//! in front of a test server. Checked through each: every event arrives before the next
//! is published, the headers, compression, a stream idle past the proxy's timeout, and a
//! Chromium page across a restart of the app; over Caddy with TLS, ten `EventSource`s
//! on one page over HTTP/2 and HTTP/3.
//!
//! Each test prints one `matrix:` line with what it measured (`--nocapture` not needed).
//! Without a proxy or Chromium a test says on one line that it did not run, and fails
//! instead under `.ci/run`.
#![cfg(all(feature = "hub", feature = "axum"))]
#![allow(unreachable_pub)]

#[path = "../common/mod.rs"]
mod common;

mod client;
mod matrix;
mod restart;
mod servers;
mod tls;

/// Prints one line past the test harness's capture, so that it shows in a passing run.
pub fn report(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "matrix: {line}");
}
