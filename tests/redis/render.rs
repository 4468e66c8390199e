//! A page's first render from the hub's shared history: two instances render the same
//! recent events, and a stream resumes right after them on either.

use futures_util::StreamExt as _;
use tower_sse::Event;

use crate::{
    publish_all,
    servers::{RedisServer, available},
    single_hub,
};

#[tokio::test]
async fn two_instances_render_the_same_recent_events_and_resume_after_them() {
    if !available() {
        return;
    }
    let redis = RedisServer::start().await;
    let (a, b) = (single_hub(&redis).await, single_hub(&redis).await);
    let sent = publish_all(&a, "room", (1..=5).map(|n| format!("m{n}"))).await;
    publish_all(&a, "other", ["not in the room".to_owned()]).await;

    let page_a = a.recent("room", 3).await.unwrap();
    let page_b = b.recent("room", 3).await.unwrap();
    let shown = |page: &tower_sse::hub::Handoff| -> Vec<(String, String)> {
        page.events()
            .iter()
            .map(|e| (e.id().unwrap().to_owned(), e.data().unwrap()))
            .collect()
    };
    assert_eq!(shown(&page_a), sent[2..]);
    assert_eq!(shown(&page_b), sent[2..], "the same page on both instances");
    assert_eq!(page_a.id(), page_b.id());

    // Fewer events than asked: all of them.
    assert_eq!(b.recent("room", 50).await.unwrap().events().len(), 5);

    // The stream opened from B's page starts exactly after what it rendered.
    let six = a.publish("room", Event::new().data("m6")).await.unwrap();
    let mut stream = b.subscribe("room").after(Some(page_b.id())).await.unwrap();
    let next = stream.next().await.unwrap();
    assert_eq!(next.id(), Some(six.as_str()));
    assert_eq!(next.data().as_deref(), Some("m6"));
}
