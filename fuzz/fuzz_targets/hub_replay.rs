//! The hub's replay lookup: for any sequence of publishes (to a few topics, with a small
//! history) and any resumption id, a subscription either resets, or replays exactly the
//! events published after that id to its topics: none missing, none repeated, in order.
//!
//! Input: byte 0 the history size; then one byte per operation: a publish to topic
//! `b % 3` while `b < 0xC0`, else a subscription (to one topic, or all three) resuming
//! from the id of an earlier event (or an unknown id).
#![no_main]

use futures::{FutureExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use tower_sse::{
    Event, EventId,
    hub::{History, Hub, Replay},
};

const TOPICS: [&str; 3] = ["a", "b", "c"];

fn id_of(event: &tower_sse::EncodedEvent) -> String {
    std::str::from_utf8(event.as_bytes())
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .unwrap()
        .to_owned()
}

fuzz_target!(|input: &[u8]| {
    let Some((&history, ops)) = input.split_first() else { return };
    let hub = Hub::builder()
        .history(History::new().events(usize::from(history % 16)).bytes(Some(1 << 20)))
        .lag_bound(1)
        .build();
    // (id, topic) of every event published, in order.
    let mut published: Vec<(String, usize)> = Vec::new();
    for (i, &op) in ops.iter().enumerate().take(256) {
        if op < 0xc0 {
            let topic = usize::from(op % 3);
            let id = hub
                .publish(TOPICS[topic], Event::new().data("x"))
                .now_or_never()
                .expect("the in-process hub answers at once")
                .unwrap();
            published.push((id.to_string(), topic));
            continue;
        }
        let topics: Vec<usize> = if op & 1 == 0 { vec![usize::from(op >> 1) % 3] } else { vec![0, 1, 2] };
        let names: Vec<&str> = topics.iter().map(|&t| TOPICS[t]).collect();
        let (last, position) = match published.len() {
            0 => ("unknown".to_owned(), None),
            n => {
                let at = (usize::from(op) * 7 + i) % (n + 1);
                match published.get(at) {
                    Some((id, _)) => (id.clone(), Some(at)),
                    None => ("999999999".to_owned(), None),
                }
            }
        };
        let last_event_id = EventId::new(&last).unwrap();
        let mut subscription = hub
            .subscribe(&names)
            .after(last_event_id.as_ref())
            .into_future()
            .now_or_never()
            .unwrap()
            .unwrap();
        match subscription.replay() {
            Replay::Exact(count) => {
                let position = position.expect("an unknown id is never replayed exactly");
                let expected: Vec<String> = published[position + 1..]
                    .iter()
                    .filter(|(_, topic)| topics.contains(topic))
                    .map(|(id, _)| id.clone())
                    .collect();
                assert_eq!(count, expected.len());
                let mut got = Vec::new();
                for _ in 0..count {
                    let event = subscription.next().now_or_never().flatten().expect("replayed at once");
                    got.push(id_of(&event));
                }
                assert_eq!(got, expected);
                // Nothing more is queued.
                assert!(subscription.next().now_or_never().is_none());
                // The newest event always resumes exactly.
                if position + 1 == published.len() {
                    assert_eq!(count, 0);
                }
            }
            Replay::Reset => {
                // Only when the newest event is not the client's: that one is always there.
                assert!(position.is_none_or(|p| p + 1 < published.len() || history % 16 == 0));
            }
            Replay::Live => unreachable!("an id was given"),
            _ => {}
        }
    }
});
