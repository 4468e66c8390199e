//! The Accept parser: any header value (and any number of header lines) is answered
//! without a panic, and never diverts a request that does not name text/event-stream.
//!
//! Input: header lines separated by newlines.
#![no_main]

use http::{HeaderMap, HeaderValue, header::ACCEPT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in input.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(ACCEPT, value);
        }
    }
    let diverted = tower_sse::accepts_event_stream(&headers);
    if diverted {
        let named = headers.get_all(ACCEPT).iter().any(|value| {
            value
                .as_bytes()
                .to_ascii_lowercase()
                .windows(17)
                .any(|w| w == b"text/event-stream")
        });
        assert!(named, "diverted without naming text/event-stream: {headers:?}");
    }
});
