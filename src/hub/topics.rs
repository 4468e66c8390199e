//! [`IntoTopics`]: one topic or several, as [`Hub::subscribe`](super::Hub::subscribe)
//! takes them.

/// One topic name, or several: what [`Hub::subscribe`](super::Hub::subscribe) and
/// [`Hub::subscribe_with_history`](super::Hub::subscribe_with_history) take.
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
/// let _one = hub.subscribe(&user, None).await?;
/// let _two = hub.subscribe(["news", "weather"], None).await?;
/// let _many = hub.subscribe(vec![user, "news".to_owned()], None).await?;
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
