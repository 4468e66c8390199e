//! The event encoder: for any field values, building either fails with the typed error
//! (exactly when a value is forbidden), or the bytes are one event that an independent
//! decoder (`sse-stream`) reads back exactly as built.
//!
//! Input: comment, type, id and data separated by 0xFF bytes (never in UTF-8), each
//! decoded lossily, then a retry in milliseconds from the last bytes.
#![no_main]

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use futures::{StreamExt, executor::block_on, stream};
use libfuzzer_sys::fuzz_target;
use tower_sse::Event;

fuzz_target!(|input: &[u8]| {
    let mut parts = input.split(|&b| b == 0xff);
    let mut next = || parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let (comment, kind, id, data, retry) = (next(), next(), next(), next(), next());
    let retry = retry.map(|r| r.bytes().fold(0u64, |n, b| n.wrapping_mul(31).wrapping_add(u64::from(b))) % 100_000_000);

    let mut event = Event::new();
    if let Some(comment) = &comment {
        event = event.comment(comment);
    }
    if let Some(kind) = &kind {
        match event.event(kind) {
            Ok(built) => event = built,
            Err(_) => {
                assert!(kind.contains(['\r', '\n']));
                return;
            }
        }
    }
    if let Some(id) = &id {
        match event.id(id) {
            Ok(built) => event = built,
            Err(_) => {
                assert!(id.contains(['\r', '\n', '\0']));
                return;
            }
        }
    }
    if let Some(data) = &data {
        event = event.data(data);
    }
    if let Some(ms) = retry {
        event = event.retry(Duration::from_millis(ms));
    }
    let bytes = event.encode().into_bytes();

    // One event: no CR, and the only blank line is the last.
    assert!(!bytes.contains(&b'\r'));
    assert!(bytes.ends_with(b"\n"));
    let body = &bytes[..bytes.len() - 1];
    assert!(!body.windows(2).any(|w| w == b"\n\n") && !body.starts_with(b"\n") || body.is_empty());

    let chunks = stream::iter([Ok::<_, Infallible>(Bytes::from(bytes))]);
    let blocks: Vec<_> = block_on(
        sse_stream::SseStream::from_bytes_stream(chunks)
            .map(|r| r.expect("decodes"))
            .collect(),
    );
    if kind.is_none() && id.is_none() && data.is_none() && retry.is_none() {
        assert!(blocks.is_empty());
        return;
    }
    assert_eq!(blocks.len(), 1);
    let block = &blocks[0];
    assert_eq!(block.event, kind);
    assert_eq!(block.id, id);
    assert_eq!(
        block.data,
        data.map(|d| d.replace("\r\n", "\n").replace('\r', "\n"))
    );
    assert_eq!(block.retry, retry);
});
