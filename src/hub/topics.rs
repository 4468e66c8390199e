//! Topic names: [`IntoTopics`] (one topic or several, as
//! [`Hub::subscribe`](super::Hub::subscribe) takes them) and the rules a name follows.

use std::sync::Arc;

use super::error::SubscribeError;

/// The longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 256;

/// The most topics one subscription may follow.
pub const MAX_TOPICS_PER_SUBSCRIPTION: usize = 64;

/// One topic name, or several: what [`Hub::subscribe`](super::Hub::subscribe) and
/// [`Hub::recent`](super::Hub::recent) take.
///
/// Implemented for a name (`&str`, `String`, `&String`) and for arrays, slices and
/// `Vec`s of names.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_sse::hub::SubscribeError> {
/// use tower_sse::hub::Hub;
///
/// let hub = Hub::new();
/// let user = String::from("user:42");
/// let _one = hub.subscribe(&user).await?;
/// let _two = hub.subscribe(["news", "weather"]).await?;
/// let _many = hub.subscribe(vec![user, "news".to_owned()]).await?;
/// # Ok(())
/// # }
/// ```
pub trait IntoTopics: sealed::Sealed {
    /// The names, borrowed.
    #[doc(hidden)]
    fn topic_names(&self) -> Vec<&str>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! one_name {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl IntoTopics for $t {
            fn topic_names(&self) -> Vec<&str> {
                vec![self.as_ref()]
            }
        }
    )*};
}

one_name!(&str, String, &String, std::sync::Arc<str>);

impl<T: AsRef<str>, const N: usize> sealed::Sealed for [T; N] {}
impl<T: AsRef<str>, const N: usize> IntoTopics for [T; N] {
    fn topic_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<T: AsRef<str>> sealed::Sealed for &[T] {}
impl<T: AsRef<str>> IntoTopics for &[T] {
    fn topic_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<T: AsRef<str>> sealed::Sealed for Vec<T> {}
impl<T: AsRef<str>> IntoTopics for Vec<T> {
    fn topic_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<T: AsRef<str>> sealed::Sealed for &Vec<T> {}
impl<T: AsRef<str>> IntoTopics for &Vec<T> {
    fn topic_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

/// The topics asked for, checked, sorted and without repeats.
pub(crate) fn topic_set(names: Vec<&str>) -> Result<Arc<[Arc<str>]>, SubscribeError> {
    let mut topics: Vec<Arc<str>> = Vec::with_capacity(names.len());
    for topic in names {
        if !valid_topic(topic) {
            return Err(SubscribeError::InvalidTopic);
        }
        topics.push(topic.into());
    }
    topics.sort();
    topics.dedup();
    if topics.is_empty() || topics.len() > MAX_TOPICS_PER_SUBSCRIPTION {
        return Err(SubscribeError::InvalidTopic);
    }
    Ok(topics.into())
}

/// Topics starting with this character are the hub's own (revocations).
pub(crate) const RESERVED: char = '\0';

/// Whether an app may publish to, or subscribe to, `topic`.
pub(crate) fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_TOPIC_LEN && !topic.starts_with(RESERVED)
}
