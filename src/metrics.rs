//! Metrics of event streams and of the hub, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`).
//!
//! The crate records; your application picks where the numbers go by installing a
//! recorder: [`metrics-exporter-prometheus`](https://docs.rs/metrics-exporter-prometheus)
//! for a Prometheus `/metrics` page, [`metrics-exporter-opentelemetry`](https://docs.rs/metrics-exporter-opentelemetry)
//! or another exporter for OpenTelemetry, StatsD, and others. Without a recorder every
//! recording is a no-op; without the feature nothing is compiled in.
//!
//! # The metrics
//!
//! | name | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `sse_streams_open` | gauge | | event streams open now: bodies made and not dropped yet |
//! | `sse_streams_closed_total` | counter | `reason` | event streams that closed, once each, by why (below) |
//! | `sse_events_sent_total` | counter | | events handed to the server (one frame may carry several) |
//! | `sse_bytes_sent_total` | counter | | event-stream bytes handed to the server: events, `retry:`, keep-alives; before any content encoding |
//! | `sse_keep_alives_total` | counter | | keep-alive messages sent |
//! | `sse_hub_subscribers` | gauge | `topic` | hub subscribers now, per topic (a stream of several topics counts in each); see the cardinality bound below |
//! | `sse_hub_replays_total` | counter | `result` | subscriptions that resumed from history: `exact` (every event after the client's id, or the whole history), or `reset` (the id could not be replayed; the reset event was sent) |
//! | `sse_hub_publish_duration_seconds` | histogram | `backend` | how long the backend took to store and deliver a published event, whether it succeeded or failed (an event refused before it reaches the backend, for its topic or id, is not timed) |
//! | `sse_hub_publish_errors_total` | counter | `backend`, `error` | [`PublishError`](crate::hub::PublishError)s returned by `publish` and `publish_with_id`, by error: `invalid_topic`, `invalid_id`, `id_length`, `reserved_id`, `id_not_header_safe`, `duplicate_id`, `shutting_down`, `backend`, `uncertain` |
//!
//! `backend` is `memory`, `redis`, or what a custom [`Backend`](crate::hub::backend::Backend)'s
//! [`name`](crate::hub::backend::Backend::name) returns (by default `custom`).
//!
//! `reason` of `sse_streams_closed_total` is one of:
//!
//! | reason | the stream closed because |
//! | --- | --- |
//! | `ended` | the stream ended by itself |
//! | `client_left` | the body was dropped before the stream ended: the client went away (or the server dropped the connection) |
//! | `lag` | a hub subscriber fell more than the lag bound behind ([`LagPolicy::Disconnect`](crate::hub::LagPolicy::Disconnect)) |
//! | `lifetime` | the stream's [`Lifetime`](crate::Lifetime) ran out: its access expired |
//! | `max_duration` | a hub subscription reached its [`HubBuilder::max_duration`](crate::hub::HubBuilder::max_duration) |
//! | `revoked` | the stream was revoked (reserved for per-stream revocation) |
//! | `shutdown` | graceful shutdown: a triggered [`Shutdown`](crate::Shutdown), the layer's or the hub's |
//! | `backend` | the hub's backend ended the topic's streams (over Redis: entries this instance had not read were trimmed, or a cluster slot moved); the clients resume from their `Last-Event-ID` |
//! | `error` | the stream yielded an error |
//!
//! The streams are the responses of [`Sse`](crate::Sse) and axum's `EventStream`. A hub
//! [`Subscription`](crate::hub::Subscription) says why it ended in its last item, an
//! empty [`EncodedEvent`](crate::EncodedEvent) that the body sends nothing for; a stream
//! of yours that wraps one passes the reason on if it passes that item on and ends right
//! after it (as `map` does, or a channel that forwards every item).
//!
//! # The cardinality bound
//!
//! Each distinct label value is a time series to store. Topics can be many (one per user,
//! per document), so `sse_hub_subscribers` gives its own `topic` label to the first
//! [`HubBuilder::metrics_topics`](crate::hub::HubBuilder::metrics_topics) topics a hub
//! sees (default 100) and counts subscribers of every later topic under
//! `topic="_other"`. The hub's revocation watches count under `topic="_revocations"`,
//! outside the bound. A topic keeps its label for the hub's life, so the gauges always go
//! back down as subscribers leave. With topics that come and go, set the bound to what
//! your metrics store can hold, or to 0 to count every topic under `_other`.
//!
//! # Example
//!
//! A Prometheus page, with [`metrics-exporter-prometheus`](https://docs.rs/metrics-exporter-prometheus)
//! installed as the recorder (`examples/metrics.rs` serves it on `/metrics`):
//!
//! ```
//! # #[cfg(all(feature = "metrics", feature = "hub"))] {
//! use metrics_exporter_prometheus::PrometheusBuilder;
//! use tokio_stream::StreamExt;
//! use tower_sse::{Event, hub::Hub};
//!
//! // In an application, once at start: `let prometheus = PrometheusBuilder::new()
//! // .install_recorder()?;`, then `tower_sse::metrics::describe();`. Here the recorder is
//! // local to this thread, so nothing else in the process records into it.
//! let recorder = PrometheusBuilder::new().build_recorder();
//! let prometheus = recorder.handle();
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! ::metrics::with_local_recorder(&recorder, || {
//!     runtime.block_on(async {
//!         let hub = Hub::new();
//!         let mut subscription = hub.subscribe("news").await.unwrap();
//!         hub.publish("news", Event::new().data("hi")).await.unwrap();
//!         subscription.next().await;
//!     })
//! });
//!
//! let page = prometheus.render(); // serve this on /metrics
//! assert!(page.contains(r#"sse_hub_subscribers{topic="news"} 0"#)); // it left again
//! assert!(page.contains(r#"sse_hub_publish_duration_seconds_count{backend="memory"} 1"#));
//! # }
//! ```
//!
//! With OpenTelemetry, install `metrics-exporter-opentelemetry`'s recorder over your
//! meter provider instead; the names and labels are the same.

/// `sse_streams_open`, a gauge: event streams open now.
#[cfg(feature = "metrics")]
pub const STREAMS_OPEN: &str = "sse_streams_open";
/// `sse_streams_closed_total{reason}`, a counter: event streams closed, by reason.
#[cfg(feature = "metrics")]
pub const STREAMS_CLOSED: &str = "sse_streams_closed_total";
/// `sse_events_sent_total`, a counter: events handed to the server.
#[cfg(feature = "metrics")]
pub const EVENTS_SENT: &str = "sse_events_sent_total";
/// `sse_bytes_sent_total`, a counter: event-stream bytes handed to the server.
#[cfg(feature = "metrics")]
pub const BYTES_SENT: &str = "sse_bytes_sent_total";
/// `sse_keep_alives_total`, a counter: keep-alive messages sent.
#[cfg(feature = "metrics")]
pub const KEEP_ALIVES: &str = "sse_keep_alives_total";
/// `sse_hub_subscribers{topic}`, a gauge: hub subscribers now, per topic (bounded).
#[cfg(feature = "metrics")]
pub const HUB_SUBSCRIBERS: &str = "sse_hub_subscribers";
/// `sse_hub_replays_total{result}`, a counter: subscriptions resumed from history.
#[cfg(feature = "metrics")]
pub const HUB_REPLAYS: &str = "sse_hub_replays_total";
/// `sse_hub_publish_duration_seconds{backend}`, a histogram: how long publishes took.
#[cfg(feature = "metrics")]
pub const HUB_PUBLISH_DURATION: &str = "sse_hub_publish_duration_seconds";
/// `sse_hub_publish_errors_total{backend,error}`, a counter: publishes refused.
#[cfg(feature = "metrics")]
pub const HUB_PUBLISH_ERRORS: &str = "sse_hub_publish_errors_total";
/// The `topic` label of hub subscribers past the
/// [cardinality bound](crate::hub::HubBuilder::metrics_topics).
#[cfg(feature = "metrics")]
pub const OTHER_TOPICS: &str = "_other";

/// The `topic` label of the hub's own revocation watches
/// ([`Hub::revocation`](crate::hub::Hub::revocation)), outside the cardinality bound.
#[cfg(feature = "metrics")]
pub const REVOCATION_TOPICS: &str = "_revocations";

/// Describes every metric (type, unit and help text) to the recorder installed now, so
/// that exporters that show help (Prometheus's `# HELP`) do. Call it once, after
/// installing the recorder; recording works without it.
///
/// # Example
///
/// ```
/// let recorder = metrics_util::debugging::DebuggingRecorder::new();
/// metrics::with_local_recorder(&recorder, || tower_sse::metrics::describe());
/// ```
#[cfg(feature = "metrics")]
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(STREAMS_OPEN, "Event streams open now.");
    describe_counter!(
        STREAMS_CLOSED,
        "Event streams closed, by reason: ended, client_left, lag, lifetime, max_duration, revoked, shutdown, backend, error."
    );
    describe_counter!(EVENTS_SENT, "Events handed to the server.");
    describe_counter!(
        BYTES_SENT,
        Unit::Bytes,
        "Event-stream bytes handed to the server, before any content encoding."
    );
    describe_counter!(KEEP_ALIVES, "Keep-alive messages sent.");
    describe_gauge!(
        HUB_SUBSCRIBERS,
        "Hub subscribers now, per topic; topics past the bound count under _other."
    );
    describe_counter!(
        HUB_REPLAYS,
        "Hub subscriptions resumed from history: exact, or reset."
    );
    describe_histogram!(
        HUB_PUBLISH_DURATION,
        Unit::Seconds,
        "How long a hub publish took, per backend."
    );
    describe_counter!(
        HUB_PUBLISH_ERRORS,
        "Hub publishes refused, per backend and error."
    );
}

/// Why an event stream closed: the `reason` label of `sse_streams_closed_total`.
// The hub's streams, and the drop that counts `client_left`, may be compiled out.
#[cfg_attr(not(all(feature = "hub", feature = "metrics")), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EndReason {
    Ended,
    ClientLeft,
    Lag,
    Lifetime,
    MaxDuration,
    Revoked,
    Shutdown,
    Backend,
    Error,
}

impl EndReason {
    #[cfg(feature = "metrics")]
    fn label(self) -> &'static str {
        match self {
            Self::Ended => "ended",
            Self::ClientLeft => "client_left",
            Self::Lag => "lag",
            Self::Lifetime => "lifetime",
            Self::MaxDuration => "max_duration",
            Self::Revoked => "revoked",
            Self::Shutdown => "shutdown",
            Self::Backend => "backend",
            Self::Error => "error",
        }
    }
}

/// One open event stream's metrics: counted open when made, closed once (with its
/// reason, or `client_left` if it is dropped before it ends).
#[derive(Debug)]
pub(crate) struct StreamMetrics {
    #[cfg(feature = "metrics")]
    closed: bool,
}

impl StreamMetrics {
    #[inline]
    pub(crate) fn open() -> Self {
        #[cfg(feature = "metrics")]
        ::metrics::gauge!(STREAMS_OPEN).increment(1.0);
        Self {
            #[cfg(feature = "metrics")]
            closed: false,
        }
    }

    /// The stream closed for `reason`; later calls are ignored.
    #[inline]
    pub(crate) fn close(&mut self, reason: EndReason) {
        #[cfg(feature = "metrics")]
        if !std::mem::replace(&mut self.closed, true) {
            ::metrics::counter!(STREAMS_CLOSED, "reason" => reason.label()).increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = reason;
    }

    /// A frame of `bytes` bytes holding `events` events went to the server.
    #[inline]
    pub(crate) fn sent(&self, bytes: usize, events: usize) {
        #[cfg(feature = "metrics")]
        {
            ::metrics::counter!(BYTES_SENT).increment(bytes as u64);
            if events > 0 {
                ::metrics::counter!(EVENTS_SENT).increment(events as u64);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (bytes, events);
    }

    /// A keep-alive of `bytes` bytes went to the server.
    #[inline]
    pub(crate) fn kept_alive(&self, bytes: usize) {
        #[cfg(feature = "metrics")]
        {
            ::metrics::counter!(KEEP_ALIVES).increment(1);
            ::metrics::counter!(BYTES_SENT).increment(bytes as u64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }
}

impl Drop for StreamMetrics {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.close(EndReason::ClientLeft);
            ::metrics::gauge!(STREAMS_OPEN).decrement(1.0);
        }
    }
}

/// The `topic` labels of one hub: the first `limit` distinct topics get their own, later
/// ones share [`OTHER_TOPICS`]. A topic never changes label, so increments and
/// decrements of a topic's gauge always meet.
#[cfg(all(feature = "metrics", feature = "hub"))]
#[derive(Debug)]
pub(crate) struct TopicLabels {
    limit: usize,
    labelled: std::collections::HashSet<std::sync::Arc<str>>,
}

#[cfg(all(feature = "metrics", feature = "hub"))]
impl TopicLabels {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            labelled: std::collections::HashSet::new(),
        }
    }

    fn label(&mut self, topic: &std::sync::Arc<str>) -> ::metrics::SharedString {
        // The hub's own topics (one per revocation key) share one label, outside the bound.
        if topic.starts_with('\0') {
            return ::metrics::SharedString::const_str(REVOCATION_TOPICS);
        }
        if self.labelled.contains(topic) {
            return ::metrics::SharedString::from_shared(topic.clone());
        }
        if self.labelled.len() < self.limit {
            self.labelled.insert(topic.clone());
            return ::metrics::SharedString::from_shared(topic.clone());
        }
        ::metrics::SharedString::const_str(OTHER_TOPICS)
    }

    /// A subscriber joined `topic`.
    pub(crate) fn joined(&mut self, topic: &std::sync::Arc<str>) {
        ::metrics::gauge!(HUB_SUBSCRIBERS, "topic" => self.label(topic)).increment(1.0);
    }

    /// A subscriber left `topic`.
    pub(crate) fn left(&mut self, topic: &std::sync::Arc<str>) {
        ::metrics::gauge!(HUB_SUBSCRIBERS, "topic" => self.label(topic)).decrement(1.0);
    }
}

/// A subscription resumed from history: exactly, or with the reset event.
#[cfg(feature = "hub")]
#[inline]
pub(crate) fn replayed(exact: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(HUB_REPLAYS, "result" => if exact { "exact" } else { "reset" })
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = exact;
}

/// A publish was refused before it reached `backend`, for `error` (its label).
#[cfg(feature = "hub")]
#[inline]
pub(crate) fn publish_refused(backend: &'static str, error: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(HUB_PUBLISH_ERRORS, "backend" => backend, "error" => error).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (backend, error);
}

/// Times one publish through `backend`.
#[cfg(feature = "hub")]
#[derive(Debug)]
pub(crate) struct PublishTimer {
    #[cfg(feature = "metrics")]
    backend: &'static str,
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

#[cfg(feature = "hub")]
impl PublishTimer {
    #[inline]
    pub(crate) fn start(backend: &'static str) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = backend;
        Self {
            #[cfg(feature = "metrics")]
            backend,
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    /// The backend answered: with `error` (its label) if it refused the event.
    #[inline]
    pub(crate) fn finish(self, error: Option<&'static str>) {
        #[cfg(feature = "metrics")]
        {
            ::metrics::histogram!(HUB_PUBLISH_DURATION, "backend" => self.backend)
                .record(self.started.elapsed());
            if let Some(error) = error {
                publish_refused(self.backend, error);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = error;
    }
}
