//! A Chromium page following events through each proxy while the app behind it is down
//! for a few seconds: with the crate's `ReconnectingEventSource` in the plain
//! configurations, and with the guide's configuration.

use std::time::Duration;

use tower_sse::hub::Hub;

use crate::{
    common::{
        browser::{have_chromium, launch},
        upstream::{Down, EVERY_EVENT_ONCE, Recorder, Upstream, page_app, restart_while_followed},
    },
    report,
    servers::{Kind, ProxyServer, Setup},
};

/// How long the app is down.
const DOWN_FOR: Duration = Duration::from_secs(3);

/// Runs the restart through `kind` in `setup`; `reopens`: how many times the page must
/// have given up and reopened while the app was down (each time, a bare `EventSource`
/// would have stopped for good), or 0: never.
async fn restart(kind: Kind, setup: Setup, reopens: usize) {
    if !kind.available() || !have_chromium() {
        return;
    }
    let hub = Hub::new();
    let mut recorder = Recorder::start().await;
    let mut upstream = Upstream::start(page_app(&hub, recorder.addr)).await;
    let proxy = ProxyServer::start(kind, setup, upstream.port).await;
    let _browser = launch(&format!("http://127.0.0.1:{}/", proxy.port));
    let (got, outage) = restart_while_followed(
        &hub,
        &mut upstream,
        &mut recorder,
        Down::Refused,
        DOWN_FOR,
        reopens,
    )
    .await;
    report(&format!(
        "{kind:?} {setup:?}: restart, app down {outage:.1?}: the page got {got:?}"
    ));
    assert_eq!(got, EVERY_EVENT_ONCE);
    if reopens == 0 {
        // The proxy's configuration alone carried the page: its EventSource never gave
        // up, as a page without the script would not have either.
        assert_eq!(recorder.count("reopen"), 0);
    }
}

#[tokio::test]
async fn nginx_plain_restart_with_the_script() {
    restart(Kind::Nginx, Setup::Plain, 2).await;
}

#[tokio::test]
async fn nginx_recommended_restart() {
    restart(Kind::Nginx, Setup::Recommended, 0).await;
}

#[tokio::test]
async fn caddy_plain_restart_with_the_script() {
    restart(Kind::Caddy, Setup::Plain, 2).await;
}

#[tokio::test]
async fn caddy_recommended_restart() {
    restart(Kind::Caddy, Setup::Recommended, 0).await;
}

#[tokio::test]
async fn haproxy_plain_restart_with_the_script() {
    restart(Kind::Haproxy, Setup::Plain, 2).await;
}

#[tokio::test]
async fn haproxy_recommended_restart() {
    restart(Kind::Haproxy, Setup::Recommended, 0).await;
}
