//! Property tests of the encoder against two independent parsers, `sse-stream` (a strict
//! wire-level decoder) and `eventsource-stream` (browser semantics): for arbitrary field
//! values, building an event either fails with the typed error, or its bytes decode to
//! exactly the event built, and never to more than one event; also with keep-alive
//! comments between events and with the bytes split at arbitrary frame boundaries.

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_executor::block_on;
use futures_util::{StreamExt, stream};
use proptest::prelude::*;
use tower_sse::Event;

/// An event as a test describes it.
#[derive(Clone, Debug)]
struct Spec {
    comment: Option<String>,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    retry: Option<u64>,
}

/// Any text, weighted towards what matters on the wire: line breaks, NUL, BOM, spaces,
/// colons, and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z]{0,4}",
        2 => Just("\r".to_owned()),
        2 => Just("\n".to_owned()),
        2 => Just("\r\n".to_owned()),
        1 => Just("\0".to_owned()),
        1 => Just("\u{feff}".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just(":".to_owned()),
        1 => Just("data: x".to_owned()),
        1 => any::<char>().prop_map(String::from),
        1 => "\\PC{0,8}",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(0u64..10_000_000),
    )
        .prop_map(|(comment, event, id, data, retry)| Spec {
            comment,
            event,
            id,
            data,
            retry,
        })
}

/// Builds the event, checking that exactly the forbidden values are refused.
fn build(spec: &Spec) -> Option<Event> {
    let mut event = Event::new();
    if let Some(comment) = &spec.comment {
        event = event.comment(comment);
    }
    if let Some(kind) = &spec.event {
        match event.event(kind) {
            Ok(built) => event = built,
            Err(err) => {
                assert!(kind.contains(['\r', '\n']), "refused {kind:?}: {err}");
                assert_eq!(err.field(), "event");
                return None;
            }
        }
        assert!(!kind.contains(['\r', '\n']));
    }
    if let Some(id) = &spec.id {
        match event.id(id) {
            Ok(built) => event = built,
            Err(err) => {
                assert!(id.contains(['\r', '\n', '\0']), "refused {id:?}: {err}");
                assert_eq!(err.field(), "id");
                return None;
            }
        }
        assert!(!id.contains(['\r', '\n', '\0']), "accepted {id:?}");
    }
    if let Some(data) = &spec.data {
        event = event.data(data);
    }
    if let Some(ms) = spec.retry {
        event = event.retry(Duration::from_millis(ms));
    }
    Some(event)
}

/// What a spec-following client reads back as data: line breaks of every kind become LF.
fn normalized(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

/// `bytes` split at the given points (taken modulo the length).
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Result<Bytes, Infallible>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|cut| {
            if bytes.is_empty() {
                0
            } else {
                cut % bytes.len()
            }
        })
        .collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| Ok(Bytes::copy_from_slice(&bytes[w[0]..w[1]])))
        .collect()
}

fn decode_strict(chunks: Vec<Result<Bytes, Infallible>>) -> Vec<sse_stream::Sse> {
    let decoder = sse_stream::SseStream::from_bytes_stream(stream::iter(chunks));
    block_on(decoder.map(|r| r.unwrap()).collect())
}

fn decode_browser(chunks: Vec<Result<Bytes, Infallible>>) -> Vec<eventsource_stream::Event> {
    block_on(
        stream::iter(chunks)
            .eventsource()
            .map(|r| r.unwrap())
            .collect(),
    )
}

/// Whether the event carries any field a decoder reports.
fn has_fields(spec: &Spec) -> bool {
    spec.event.is_some() || spec.id.is_some() || spec.data.is_some() || spec.retry.is_some()
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(2000) })]

    #[test]
    fn one_event_decodes_to_exactly_what_was_built(spec in spec(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let Some(event) = build(&spec) else { return Ok(()) };
        let bytes = event.encode().into_bytes();

        // The strict decoder: one block with exactly these fields (none for a bare
        // comment, which it does not report).
        let blocks = decode_strict(split(&bytes, &cuts));
        if has_fields(&spec) {
            prop_assert_eq!(blocks.len(), 1, "{:?}", blocks);
            let block = &blocks[0];
            prop_assert_eq!(&block.event, &spec.event);
            prop_assert_eq!(&block.id, &spec.id);
            prop_assert_eq!(&block.data, &spec.data.as_deref().map(normalized));
            prop_assert_eq!(block.retry, spec.retry);
        } else {
            prop_assert!(blocks.is_empty(), "{:?}", blocks);
        }

        // Browser semantics: dispatched only with data, type `message` by default.
        let events = decode_browser(split(&bytes, &cuts));
        match &spec.data {
            Some(data) => {
                prop_assert_eq!(events.len(), 1, "{:?}", events);
                let kind = spec.event.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "message".into());
                prop_assert_eq!(&events[0].event, &kind);
                prop_assert_eq!(&events[0].data, &normalized(data));
                prop_assert_eq!(&events[0].id, &spec.id.clone().unwrap_or_default());
            }
            None => prop_assert!(events.is_empty(), "{:?}", events),
        }
    }

    #[test]
    fn a_sequence_with_keep_alives_decodes_event_by_event(
        specs in prop::collection::vec(spec(), 1..8),
        keep_alive in text(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let keep_alive = Event::new().comment(&keep_alive).encode().into_bytes();
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for spec in &specs {
            let Some(event) = build(spec) else { continue };
            wire.extend_from_slice(&keep_alive);
            wire.extend_from_slice(event.encode().as_bytes());
            if has_fields(spec) {
                sent.push(spec.clone());
            }
        }
        wire.extend_from_slice(&keep_alive);

        let blocks = decode_strict(split(&wire, &cuts));
        prop_assert_eq!(blocks.len(), sent.len(), "{:?}", blocks);
        for (block, spec) in blocks.iter().zip(&sent) {
            prop_assert_eq!(&block.event, &spec.event);
            prop_assert_eq!(&block.id, &spec.id);
            prop_assert_eq!(&block.data, &spec.data.as_deref().map(normalized));
            prop_assert_eq!(block.retry, spec.retry);
        }

        // Browser semantics: the last id persists across events.
        let events = decode_browser(split(&wire, &cuts));
        let mut last_id = String::new();
        let mut expected = Vec::new();
        for spec in &sent {
            if let Some(id) = &spec.id {
                last_id = id.clone();
            }
            if let Some(data) = &spec.data {
                let kind = spec.event.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "message".into());
                expected.push((kind, normalized(data), last_id.clone()));
            }
        }
        let got: Vec<_> = events.into_iter().map(|e| (e.event, e.data, e.id)).collect();
        prop_assert_eq!(got, expected);
    }
}
