//! A recorder local to one test: runs the test on a current-thread runtime (every task
//! on the test's thread) under `metrics::with_local_recorder`, and reads the values back.

use std::{collections::HashMap, future::Future, sync::Mutex};

use metrics_util::{
    MetricKind,
    debugging::{DebugValue, DebuggingRecorder, Snapshotter},
};

/// A metric's labels, sorted.
type Labels = Vec<(String, String)>;

/// A metric's identity: kind, name and labels.
type Id = (MetricKind, String, Labels);

/// What the test's recorder holds. The debugging recorder hands out each value once (a
/// snapshot resets it), so the values are kept adding up here.
pub(crate) struct Recorded {
    snapshotter: Snapshotter,
    values: Mutex<HashMap<Id, Value>>,
}

/// What one series recorded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Value {
    counter: u64,
    gauge: f64,
    samples: Vec<f64>,
}

impl Recorded {
    fn update(&self) {
        let mut values = self.values.lock().unwrap();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let mut labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            labels.sort();
            let id = (key.kind(), key.key().name().to_owned(), labels);
            let entry = values.entry(id).or_default();
            match value {
                DebugValue::Counter(n) => entry.counter += n,
                // Gauges are only incremented and decremented: the deltas add up.
                DebugValue::Gauge(delta) => entry.gauge += delta.into_inner(),
                DebugValue::Histogram(samples) => {
                    entry
                        .samples
                        .extend(samples.into_iter().map(|s| s.into_inner()));
                }
            }
        }
    }

    fn value(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Value {
        self.update();
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        let id = (kind, name.to_owned(), labels);
        self.values
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    /// A counter's total (0 if never recorded).
    pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.value(MetricKind::Counter, name, labels).counter
    }

    /// A gauge's value (0 if never recorded).
    pub(crate) fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(MetricKind::Gauge, name, labels).gauge
    }

    /// How many samples a histogram has.
    pub(crate) fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.value(MetricKind::Histogram, name, labels)
            .samples
            .len()
    }

    /// Every series of `name`, with its labels, sorted.
    pub(crate) fn series(&self, name: &str) -> Vec<(Labels, Value)> {
        self.update();
        let mut all: Vec<_> = self
            .values
            .lock()
            .unwrap()
            .iter()
            .filter(|((_, n, _), _)| n == name)
            .map(|((_, _, labels), value)| (labels.clone(), value.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Runs `test` with a fresh recorder local to this thread, on a current-thread runtime
/// (with Tokio's clock paused if `paused`), which is dropped under the recorder too, so
/// that what its tasks drop is recorded.
pub(crate) fn run<F>(paused: bool, test: impl FnOnce(&'static Recorded) -> F)
where
    F: Future<Output = ()>,
{
    let recorder = DebuggingRecorder::new();
    let recorded: &'static Recorded = Box::leak(Box::new(Recorded {
        snapshotter: recorder.snapshotter(),
        values: Mutex::default(),
    }));
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(paused)
            .build()
            .unwrap();
        runtime.block_on(test(recorded));
    });
}
