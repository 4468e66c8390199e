//! `curl -N`, the README's command, against the hyper example on 127.0.0.1:0, over
//! HTTP/1.1 and over HTTP/2 with prior knowledge. Needs `curl` (`.ci/run` installs it);
//! without it the test says so on one line and passes, except under `.ci/run`.

use crate::common;

use std::time::Duration;

use tokio::process::Command;

async fn curl(url: &str, extra: &[&str]) -> (String, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new("curl")
            .args(["-sS", "-N", "--max-time", "15", "-D", "-"])
            .args(["-H", "accept: text/event-stream", "-H", "last-event-id: 41"])
            .args(extra)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("curl finished")
    .expect("curl runs: install it (apt-get install curl)");
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    (head.to_lowercase(), body.to_owned())
}

fn expected_body(version: &str) -> String {
    (42..47)
        .map(|n| format!("id: {n}\ndata: event {n} over {version}\n\n"))
        .collect()
}

#[tokio::test]
async fn curl_reads_the_stream_over_http1_and_http2() {
    if !common::have("curl", "apt-get install curl") {
        return;
    }
    let example = common::Example::start("hyper", &[]);
    let url = format!("http://{}/", example.addr);

    let (head, body) = curl(&url, &[]).await;
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert_eq!(body, expected_body("HTTP/1.1"));

    let (head, body) = curl(&url, &["--http2-prior-knowledge"]).await;
    assert!(head.starts_with("http/2 200"), "{head}");
    assert!(!head.contains("connection:"), "{head}");
    assert_eq!(body, expected_body("HTTP/2.0"));
}
