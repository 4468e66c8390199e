//! The hub: subscribers per topic (bounded), replays, publish latency and errors, and
//! why hub streams closed (lag, lifetime, shutdown).

use crate::{common, recorder::run};

use std::{convert::Infallible, time::Duration};

use axum::body::Body;
use bytes::Bytes;
use common::{connect_events, eventually, hub_app, next_events, serve};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_sse::{
    Event, EventId, Shutdown, SseLayer,
    hub::{
        Engine, History, Hub, PublishError, SetupError, SubscribeError,
        backend::{Backend, BoxFuture, Feed, IdScope, Position, Retained},
    },
};

const SUBSCRIBERS: &str = "sse_hub_subscribers";
const REPLAYS: &str = "sse_hub_replays_total";
const DURATION: &str = "sse_hub_publish_duration_seconds";
const ERRORS: &str = "sse_hub_publish_errors_total";
const CLOSED: &str = "sse_streams_closed_total";

/// An event stream of `hub`'s topic `t`, read straight from the service as a server
/// would (so the test decides when it is polled), and the hub.
async fn hub_body(hub: &Hub) -> std::pin::Pin<Box<tower_sse::ResponseBody<Full<Bytes>>>> {
    let hub = hub.clone();
    body_of(move |_: Request<Body>, last: Option<EventId>| {
        let hub = hub.clone();
        async move { hub.subscribe("t").after(last.as_ref()).await }
    })
    .await
}

/// The body of the event stream `factory` makes, read straight from the service.
async fn body_of<F>(factory: F) -> std::pin::Pin<Box<tower_sse::ResponseBody<Full<Bytes>>>>
where
    F: tower_sse::MakeEventStream<Body> + Clone,
{
    let inner = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = tower::Layer::layer(&SseLayer::new(factory).without_keep_alive(), inner);
    let request = Request::get("/")
        .header("accept", "text/event-stream")
        .body(Body::empty())
        .unwrap();
    Box::pin(service.oneshot(request).await.unwrap().into_body())
}

#[test]
fn subscribers_per_topic_are_bounded_and_go_back_to_zero() {
    run(false, |m| async move {
        let hub = Hub::builder().metrics_topics(2).build();
        let a1 = hub.subscribe("a").await.unwrap();
        let b = hub.subscribe("b").await.unwrap();
        // Past the bound: "c" and "d" count under "_other", in a stream of two topics too.
        let c = hub.subscribe("c").await.unwrap();
        let ad = hub.subscribe(["a", "d"]).await.unwrap();
        let gauge = |topic: &str| m.gauge(SUBSCRIBERS, &[("topic", topic)]);
        assert_eq!((gauge("a"), gauge("b"), gauge("_other")), (2.0, 1.0, 2.0));
        assert_eq!(
            m.series(SUBSCRIBERS).len(),
            3,
            "{:?}",
            m.series(SUBSCRIBERS)
        );

        drop((a1, b, c, ad));
        assert_eq!((gauge("a"), gauge("b"), gauge("_other")), (0.0, 0.0, 0.0));
        // A labelled topic keeps its label; a new one still goes under "_other".
        let a2 = hub.subscribe("a").await.unwrap();
        let e = hub.subscribe("e").await.unwrap();
        assert_eq!((gauge("a"), gauge("_other")), (1.0, 1.0));
        drop((a2, e));
        assert_eq!((gauge("a"), gauge("_other")), (0.0, 0.0));
        assert_eq!(
            m.series(SUBSCRIBERS).len(),
            3,
            "{:?}",
            m.series(SUBSCRIBERS)
        );
    });
}

#[test]
fn subscribers_of_clients_over_a_server_are_counted_until_they_leave() {
    run(false, |m| async move {
        let hub = Hub::new();
        let addr = serve(hub_app(&hub)).await;
        let gauge = |topic: &str| m.gauge(SUBSCRIBERS, &[("topic", topic)]);
        let one = connect_events(addr, "/?topic=news", None).await;
        let two = connect_events(addr, "/?topic=news&topic=sport", None).await;
        assert_eq!((gauge("news"), gauge("sport")), (2.0, 1.0));
        drop((one, two));
        eventually(Duration::from_secs(5), "subscribers left", || {
            gauge("news") == 0.0 && gauge("sport") == 0.0
        })
        .await;
        assert_eq!(
            m.counter(CLOSED, &[("reason", "client_left")]),
            2,
            "{:?}",
            m.series(CLOSED)
        );
    });
}

#[test]
fn replays_count_exact_and_reset() {
    run(false, |m| async move {
        let hub = Hub::new();
        let addr = serve(hub_app(&hub)).await;
        let mut sent = Vec::new();
        for n in 0..3 {
            let id = hub
                .publish("room", Event::new().data(n.to_string()))
                .await
                .unwrap();
            sent.push(id.to_string());
        }
        // Exact: events 2 and 3 replayed.
        let mut exact = connect_events(addr, "/", Some(&sent[0])).await;
        assert_eq!(next_events(&mut exact, 2).await.len(), 2);
        // Reset: an id the hub never gave.
        let _reset = connect_events(addr, "/", Some("nope")).await;
        // Live: no id, no replay.
        let _live = connect_events(addr, "/", None).await;
        // The whole history for a new client counts as exact.
        let _history = hub.subscribe("room").with_history().await.unwrap();
        assert_eq!(m.counter(REPLAYS, &[("result", "exact")]), 2);
        assert_eq!(m.counter(REPLAYS, &[("result", "reset")]), 1);
        assert_eq!(m.series(REPLAYS).len(), 2, "{:?}", m.series(REPLAYS));
    });
}

#[test]
fn publishes_are_timed_and_refusals_counted_per_backend() {
    run(false, |m| async move {
        let shutdown = Shutdown::new();
        let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
        for _ in 0..3 {
            hub.publish("t", Event::new().data("x")).await.unwrap();
        }
        let memory = [("backend", "memory")];
        assert_eq!(m.samples(DURATION, &memory), 3);

        // Refused before the backend: counted, not timed.
        assert!(hub.publish("", Event::new()).await.is_err());
        assert!(hub.publish_with_id("t", "42", Event::new()).await.is_err());
        // Refused by the backend: counted and timed.
        hub.publish_with_id("t", "a", Event::new()).await.unwrap();
        assert!(hub.publish_with_id("t", "a", Event::new()).await.is_err());
        shutdown.trigger();
        assert!(hub.publish("t", Event::new()).await.is_err());

        let error = |error: &str| m.counter(ERRORS, &[("backend", "memory"), ("error", error)]);
        assert_eq!(error("invalid_topic"), 1);
        assert_eq!(error("reserved_id"), 1);
        assert_eq!(error("duplicate_id"), 1);
        assert_eq!(error("shutting_down"), 1);
        assert_eq!(m.series(ERRORS).len(), 4, "{:?}", m.series(ERRORS));
        assert_eq!(m.samples(DURATION, &memory), 6);

        // A backend of one's own: named "custom" unless it says otherwise.
        let failing = Hub::builder().build_with(Failing::default()).await.unwrap();
        let err = failing.publish("t", Event::new()).await.unwrap_err();
        assert!(matches!(err, PublishError::Backend(_)), "{err}");
        assert_eq!(m.samples(DURATION, &[("backend", "custom")]), 1);
        assert_eq!(
            m.counter(ERRORS, &[("backend", "custom"), ("error", "backend")]),
            1
        );
    });
}

/// A backend whose store always fails, and that hands its feed out.
#[derive(Default)]
struct Failing(std::sync::Arc<std::sync::Mutex<Option<Feed>>>);

impl Engine for Failing {
    fn start(
        self,
        feed: Feed,
        _: History,
    ) -> BoxFuture<'static, Result<Box<dyn Backend>, SetupError>> {
        *self.0.lock().unwrap() = Some(feed);
        Box::pin(async move { Ok(Box::new(self) as Box<dyn Backend>) })
    }
}

impl Backend for Failing {
    fn ids(&self) -> IdScope {
        IdScope::Hub
    }
    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: Option<&'a str>,
        _: Event,
    ) -> BoxFuture<'a, Result<EventId, PublishError>> {
        Box::pin(async { Err(PublishError::Backend("the store is down".into())) })
    }
    fn locate(&self, _: &str) -> Option<Position> {
        None
    }
    fn watch<'a>(&'a self, _: &'a str, _: u64) -> BoxFuture<'a, Result<Position, SubscribeError>> {
        Box::pin(async { Ok(Position::START) })
    }
    fn unwatch(&self, _: &str, _: u64) {}
    fn replay<'a>(
        &'a self,
        _: &'a str,
        _: Position,
        _: bool,
    ) -> BoxFuture<'a, Result<Retained, SubscribeError>> {
        Box::pin(async { Ok(Retained::Unknown) })
    }
}

#[test]
fn a_subscriber_that_falls_behind_counts_lag() {
    run(false, |m| async move {
        let hub = Hub::builder().lag_bound(4).build();
        let mut body = hub_body(&hub).await;
        // Not read while 10 events are published: it falls 6 behind the bound.
        for n in 0..10 {
            hub.publish("t", Event::new().data(n.to_string()))
                .await
                .unwrap();
        }
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
        assert_eq!(m.counter(CLOSED, &[("reason", "lag")]), 1);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
        assert_eq!(hub.stats().lag_disconnects, 1);
    });
}

#[test]
fn streams_ended_by_the_backend_count_backend() {
    run(false, |m| async move {
        let backend = Failing::default();
        let feed = backend.0.clone();
        let hub = Hub::builder().build_with(backend).await.unwrap();
        let mut body = hub_body(&hub).await;
        // What Redis does when entries this instance had not read were trimmed.
        let ended = feed.lock().unwrap().as_ref().unwrap().end_all();
        assert_eq!(ended, 1);
        assert!(body.frame().await.is_none());
        assert_eq!(m.counter(CLOSED, &[("reason", "backend")]), 1);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
    });
}

#[test]
fn a_subscription_past_its_max_duration_counts_max_duration() {
    run(true, |m| async move {
        let hub = Hub::builder()
            .max_duration(Duration::from_secs(60), Duration::ZERO)
            .build();
        let mut body = hub_body(&hub).await;
        let id = hub.publish("t", Event::new().data("x")).await.unwrap();
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            format!("data: x\nid: {id}\n\n")
        );
        assert!(body.frame().await.is_none(), "ends after its max duration");
        assert_eq!(m.counter(CLOSED, &[("reason", "max_duration")]), 1);
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
        assert_eq!(m.counter("sse_events_sent_total", &[]), 1);
    });
}

#[test]
fn a_hub_shutdown_counts_shutdown() {
    run(false, |m| async move {
        let shutdown = Shutdown::with_last_event(Event::new().event_static("bye").data(""));
        let hub = Hub::builder().graceful_shutdown(shutdown.clone()).build();
        let addr = serve(hub_app(&hub)).await;
        let mut events = connect_events(addr, "/", None).await;
        shutdown.trigger();
        let bye = next_events(&mut events, 1).await;
        assert_eq!(bye[0].event.as_deref(), Some("bye"));
        eventually(Duration::from_secs(5), "the stream closed", || {
            m.counter(CLOSED, &[("reason", "shutdown")]) == 1
        })
        .await;
        assert_eq!(m.series(CLOSED).len(), 1, "{:?}", m.series(CLOSED));
    });
}

/// A stream with a [`tower_sse::Lifetime`] of `user`'s that expires after `expires`.
async fn limited_body(
    hub: &Hub,
    user: &'static str,
    expires: Duration,
) -> std::pin::Pin<Box<tower_sse::ResponseBody<Full<Bytes>>>> {
    let hub = hub.clone();
    body_of(move |_: Request<Body>, _: Option<EventId>| {
        let hub = hub.clone();
        async move {
            let lifetime = tower_sse::Lifetime::new()
                .expires_in(expires)
                .revoked_by(hub.revocation(user).await?);
            Ok::<_, SubscribeError>(lifetime.wrap(hub.subscribe("t").await?))
        }
    })
    .await
}

#[test]
fn expired_and_revoked_streams_count_their_reasons() {
    run(true, |m| async move {
        let hub = Hub::builder().metrics_topics(1).build();
        let mut expiring = limited_body(&hub, "ann", Duration::from_secs(60)).await;
        let mut revoked = limited_body(&hub, "bob", Duration::from_secs(3600)).await;
        // Revocation watches share one label, outside the bound of one topic.
        let gauge = |topic: &str| m.gauge(SUBSCRIBERS, &[("topic", topic)]);
        assert_eq!((gauge("t"), gauge("_revocations")), (2.0, 2.0));

        hub.revoke("bob", "logged out").await.unwrap();
        let last = revoked.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(last, "event: revoked\ndata: logged out\n\n");
        assert!(revoked.frame().await.is_none());
        assert_eq!(m.counter(CLOSED, &[("reason", "revoked")]), 1);

        let last = expiring
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap();
        assert_eq!(last, "event: expired\ndata: \n\n");
        assert!(expiring.frame().await.is_none());
        assert_eq!(m.counter(CLOSED, &[("reason", "lifetime")]), 1);
        assert_eq!(m.series(CLOSED).len(), 2, "{:?}", m.series(CLOSED));
        assert_eq!((gauge("t"), gauge("_revocations")), (0.0, 0.0));
    });
}
