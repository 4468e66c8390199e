//! examples/http2.rs in Chromium: ten `EventSource`s on one page over HTTP/2 with TLS,
//! and over HTTP/3, without a proxy, all open and all receiving; over HTTP/1.1 (the
//! control), six.

use std::time::Duration;

use crate::common::{
    Example,
    browser::{have_chromium, launch_with},
    eventually,
};

/// The hash the example printed for `--ignore-certificate-errors-spki-list`.
fn spki(example: &Example) -> String {
    let printed = example.printed.lock().unwrap();
    let line = printed
        .iter()
        .find_map(|line| line.split("spki-list=").nth(1))
        .expect("the example prints its key's hash");
    line.trim_end_matches(')').to_owned()
}

/// The streams the example printed as opened over `protocol`.
fn opened(example: &Example, protocol: &str) -> usize {
    let printed = example.printed.lock().unwrap();
    let suffix = format!("open over {protocol}");
    printed
        .iter()
        .filter(|line| line.ends_with(&suffix))
        .count()
}

fn all_live(example: &Example) -> bool {
    let printed = example.printed.lock().unwrap();
    printed
        .iter()
        .any(|line| line == "all ten streams live on one page")
}

#[tokio::test]
async fn chromium_opens_ten_event_sources_over_http2_with_tls() {
    if !have_chromium() {
        return;
    }
    let example = Example::start("http2", &[]);
    let flags = [
        "--disable-quic".to_owned(),
        format!("--ignore-certificate-errors-spki-list={}", spki(&example)),
    ];
    let _browser = launch_with(&format!("https://{}/", example.addr), &flags);
    eventually(
        Duration::from_secs(60),
        "ten streams live over HTTP/2",
        || all_live(&example),
    )
    .await;
    assert_eq!(opened(&example, "HTTP/2.0"), 10);
    assert_eq!(opened(&example, "HTTP/1.1"), 0);
}

#[tokio::test]
async fn chromium_opens_ten_event_sources_over_http3() {
    if !have_chromium() {
        return;
    }
    let example = Example::start("http2", &[]);
    let flags = [
        "--enable-quic".to_owned(),
        format!("--origin-to-force-quic-on={}", example.addr),
        format!("--ignore-certificate-errors-spki-list={}", spki(&example)),
    ];
    let _browser = launch_with(&format!("https://{}/", example.addr), &flags);
    eventually(
        Duration::from_secs(60),
        "ten streams live over HTTP/3",
        || all_live(&example),
    )
    .await;
    assert_eq!(opened(&example, "HTTP/3.0"), 10);
    assert_eq!(
        opened(&example, "HTTP/2.0") + opened(&example, "HTTP/1.1"),
        0
    );
}

#[tokio::test]
async fn over_http1_chromium_opens_only_six_of_the_ten() {
    if !have_chromium() {
        return;
    }
    let example = Example::start("http2", &[]);
    let flags = [
        "--disable-quic".to_owned(),
        "--disable-http2".to_owned(),
        format!("--ignore-certificate-errors-spki-list={}", spki(&example)),
    ];
    let _browser = launch_with(&format!("https://{}/", example.addr), &flags);
    eventually(
        Duration::from_secs(60),
        "six streams open over HTTP/1.1",
        || opened(&example, "HTTP/1.1") == 6,
    )
    .await;
    // The other four wait for a connection that none of the six gives up; after a
    // second of ticks on all six, still none has opened.
    let ticking = tokio::time::Instant::now() + Duration::from_secs(2);
    tokio::time::sleep_until(ticking).await;
    assert_eq!(opened(&example, "HTTP/1.1"), 6);
    assert!(!all_live(&example));
}
