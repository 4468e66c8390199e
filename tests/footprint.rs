//! The crate's own memory per hub subscriber: what subscribing and wrapping the stream in
//! an SSE response body allocate and keep (plus the body's inline size), counted by a
//! counting allocator. Everything else a connection costs is the server's (hyper's
//! buffers, the task) and the kernel's. A binary of its own: the count is the whole
//! process's, so no other test may run beside it.
#![cfg(feature = "hub")]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    convert::Infallible,
    sync::atomic::{AtomicIsize, Ordering},
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::ServiceExt;
use tower_sse::{EventId, ResponseBody, SseLayer, hub::Hub};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the count is an
// atomic integer, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[tokio::test(flavor = "current_thread")]
async fn a_hub_subscriber_costs_the_crate_under_1_kib() {
    const SUBSCRIBERS: usize = 1000;
    let hub = Hub::new();
    let layer = SseLayer::new({
        let hub = hub.clone();
        move |_: Request<()>, last: Option<EventId>| {
            let hub = hub.clone();
            async move { hub.subscribe("topic").after(last.as_ref()).await }
        }
    });
    let inner = tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = tower::Layer::layer(&layer, inner);
    // The first subscriber makes the topic's shared ring; it is not per subscriber.
    let request = || {
        Request::get("/")
            .header("accept", "text/event-stream")
            .body(())
            .unwrap()
    };
    let first = service
        .clone()
        .oneshot(request())
        .await
        .unwrap()
        .into_body();

    let mut bodies: Vec<std::pin::Pin<Box<ResponseBody<Full<Bytes>>>>> =
        Vec::with_capacity(SUBSCRIBERS);
    let before = LIVE.load(Ordering::SeqCst);
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    for _ in 0..SUBSCRIBERS {
        let response = service.clone().oneshot(request()).await.unwrap();
        let mut body = Box::pin(response.into_body());
        // Polled once, idle: whatever the first poll makes (the keep-alive timer, the
        // live feed's waiter) is counted too.
        assert!(http_body::Body::poll_frame(body.as_mut(), &mut cx).is_pending());
        bodies.push(body);
    }
    let per_subscriber = (LIVE.load(Ordering::SeqCst) - before) as usize / SUBSCRIBERS;
    println!(
        "per subscriber: {per_subscriber} bytes kept, polled once (the body, boxed here, inline: {} bytes)",
        std::mem::size_of::<ResponseBody<Full<Bytes>>>()
    );
    assert_eq!(hub.stats().subscribers_of("topic"), SUBSCRIBERS + 1);
    // The target is 1 KiB; 592 bytes with tokio 1.54, so a regression shows long before.
    assert!(
        per_subscriber <= 768,
        "{per_subscriber} bytes per subscriber"
    );
    drop((bodies, first));
    assert_eq!(hub.stats().subscribers_of("topic"), 0);
}
