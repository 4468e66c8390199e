//! The pass-through branch: the inner service is driven exactly as without the layer,
//! its errors come back unchanged, and the layer allocates nothing on that path.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::Full;
use tower::{Service, ServiceExt};
use tower_sse::{Event, EventId, Sse};

/// Counts the allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the count is a
// thread-local integer, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[derive(Debug, PartialEq)]
struct InnerError(&'static str);

/// An inner service whose readiness and answers the test sets.
#[derive(Clone)]
struct Inner {
    ready: Poll<Result<(), &'static str>>,
    answer: Result<StatusCode, &'static str>,
}

impl Service<Request<()>> for Inner {
    type Response = Response<Full<Bytes>>;
    type Error = InnerError;
    type Future = Ready<Result<Self::Response, InnerError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), InnerError>> {
        self.ready.map_err(InnerError)
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(
            self.answer
                .map(|status| {
                    Response::builder()
                        .status(status)
                        .header(CONTENT_TYPE, "text/plain")
                        .header("x-inner", "1")
                        .body(Full::new(Bytes::from_static(b"inner body")))
                        .unwrap()
                })
                .map_err(InnerError),
        )
    }
}

fn events(
    _: Request<()>,
    _: Option<EventId>,
) -> Ready<Result<tokio_stream::Once<Event>, Infallible>> {
    ready(Ok(tokio_stream::once(Event::new().data("x"))))
}

type Factory =
    fn(Request<()>, Option<EventId>) -> Ready<Result<tokio_stream::Once<Event>, Infallible>>;

fn wrap(inner: Inner) -> Sse<Inner, Factory> {
    Sse::new(inner, events as Factory)
}

fn page_request() -> Request<()> {
    Request::get("/page")
        .header("accept", "text/html,*/*;q=0.8")
        .body(())
        .unwrap()
}

#[tokio::test]
async fn inner_errors_come_back_unchanged() {
    let inner = Inner {
        ready: Poll::Ready(Ok(())),
        answer: Err("inner failed"),
    };
    let result = wrap(inner).oneshot(page_request()).await;
    assert_eq!(result.unwrap_err(), InnerError("inner failed"));
}

#[tokio::test]
async fn poll_ready_is_the_inner_services() {
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let answer = Ok(StatusCode::OK);

    let mut pending = wrap(Inner {
        ready: Poll::Pending,
        answer,
    });
    assert!(pending.poll_ready(&mut cx).is_pending());

    let mut failing = wrap(Inner {
        ready: Poll::Ready(Err("not ready")),
        answer,
    });
    assert_eq!(
        failing.poll_ready(&mut cx),
        Poll::Ready(Err(InnerError("not ready")))
    );
}

#[tokio::test]
async fn inner_responses_are_unchanged_but_for_vary() {
    let inner = Inner {
        ready: Poll::Ready(Ok(())),
        answer: Ok(StatusCode::NOT_FOUND),
    };
    let response = wrap(inner).oneshot(page_request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["x-inner"], "1");
    assert_eq!(response.headers()["vary"], "accept");
    assert_eq!(response.headers().len(), 3);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "inner body");
}

/// Calls `service` once and polls its future to completion by hand, counting the
/// allocations made on the way (the response is dropped outside the count).
fn allocations_for_one_call<S, B>(mut service: S, request: Request<B>) -> usize
where
    S: Service<Request<B>>,
    S::Error: std::fmt::Debug,
{
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let before = allocations();
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = std::pin::pin!(service.call(request));
    let response = match future.as_mut().poll(&mut cx) {
        Poll::Ready(response) => response.unwrap(),
        Poll::Pending => panic!("ready inner futures complete at once"),
    };
    let counted = allocations() - before;
    drop(response);
    counted
}

#[test]
fn the_pass_through_path_allocates_nothing_more() {
    let inner = Inner {
        ready: Poll::Ready(Ok(())),
        answer: Ok(StatusCode::OK),
    };
    for request in [
        page_request,
        || Request::get("/").body(()).unwrap(),
        || {
            Request::post("/")
                .header("accept", "text/event-stream")
                .body(())
                .unwrap()
        },
        || {
            Request::get("/")
                .header("accept", "text/html, text/event-stream")
                .body(())
                .unwrap()
        },
    ] {
        // Requests are built outside the count.
        let (bare_request, layered_request) = (request(), request());
        let bare = allocations_for_one_call(inner.clone(), bare_request);
        let layered = allocations_for_one_call(wrap(inner.clone()), layered_request);
        assert_eq!(
            layered, bare,
            "allocations through the layer vs. the bare service"
        );
    }
}

/// An axum `Router` wrapped from the outside, its responses handed back to axum's body
/// with `Body::from`: a passed-through response costs no allocation more than the bare
/// router's (its body is not boxed again).
#[cfg(feature = "axum")]
#[test]
fn around_an_axum_router_the_body_is_not_boxed_again() {
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceBuilder;

    let router = Router::new().route("/", get(|| async { "page" }));
    let layered = ServiceBuilder::new()
        .map_response(|response: Response<tower_sse::ResponseBody<Body>>| response.map(Body::from))
        .layer(tower_sse::SseLayer::new(
            |_: Request<Body>, _: Option<EventId>| async {
                Ok::<_, Infallible>(tokio_stream::empty::<Event>())
            },
        ))
        .service(router.clone());
    let request = || {
        Request::get("/")
            .header("accept", "text/html")
            .body(Body::empty())
            .unwrap()
    };
    let (bare_request, layered_request) = (request(), request());
    let bare = allocations_for_one_call(router, bare_request);
    let layered = allocations_for_one_call(layered, layered_request);
    assert_eq!(
        layered, bare,
        "allocations around the router vs. the bare router"
    );
}

/// An event stream's body is already axum's `Body`: handing it to axum allocates
/// nothing (it used to be boxed a second time here).
#[cfg(feature = "axum")]
#[test]
fn an_event_stream_body_is_not_boxed_again_for_axum() {
    use axum::body::Body;

    let inner = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("page")))
    });
    let service = tower_sse::SseLayer::new(|_: Request<Body>, _: Option<EventId>| async {
        Ok::<_, Infallible>(tokio_stream::once(Event::new().data("hi")))
    });
    let service = tower::Layer::layer(&service, inner);
    let request = Request::get("/")
        .header("accept", "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let response = match std::pin::pin!(service.oneshot(request)).poll(&mut cx) {
        Poll::Ready(response) => response.unwrap(),
        Poll::Pending => panic!("the factory is ready at once"),
    };
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let body = response.into_body();
    let before = allocations();
    let body = Body::from(body);
    assert_eq!(allocations() - before, 0, "allocations of Body::from");
    drop(body);
}
