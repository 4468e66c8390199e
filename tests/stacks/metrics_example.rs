//! `examples/metrics.rs` run as a process: an open event stream shows on its Prometheus
//! `/metrics` page.

use crate::common;

use common::{body_bytes, connect_events, get, next_events, send};

/// The value of the sample line `series` (name and labels) on `page`.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn the_metrics_page_shows_an_open_stream_its_events_and_its_topic() {
    let example = common::Example::start("metrics", &[("TICK_MS", "20")]);
    let mut events = connect_events(example.addr, "/", None).await;
    let ticks = next_events(&mut events, 2).await;
    assert_eq!(ticks[0].event.as_deref(), Some("tick"));

    let response = send(example.addr, get("/metrics", &[])).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let page = String::from_utf8(body_bytes(response).await.to_vec()).unwrap();

    assert_eq!(sample(&page, "sse_streams_open"), Some(1.0), "{page}");
    assert_eq!(
        sample(&page, r#"sse_hub_subscribers{topic="ticks"}"#),
        Some(1.0),
        "{page}"
    );
    let sent = sample(&page, "sse_events_sent_total").expect(&page);
    assert!(sent >= 2.0, "{page}");
    assert!(
        sample(
            &page,
            r#"sse_hub_publish_duration_seconds_count{backend="memory"}"#
        )
        .is_some_and(|count| count >= 2.0),
        "{page}"
    );
    assert!(page.contains("# HELP sse_streams_open "), "{page}");
}
