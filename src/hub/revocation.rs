//! Revocation: ending the streams a key (a user, a session) opened, on every instance
//! that shares the hub's backend.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tokio_stream::Stream;

use crate::Event;

use super::{
    error::{PublishError, SubscribeError},
    handle::Hub,
    subscribe::Subscription,
    topics::RESERVED,
};

/// The longest revocation key, in bytes.
pub const MAX_REVOCATION_KEY_LEN: usize = 200;

/// The event type of a revocation on the hub's own topic.
const REVOKE: &str = "revoke";

fn topic_of(key: &str) -> Option<String> {
    (!key.is_empty() && key.len() <= MAX_REVOCATION_KEY_LEN)
        .then(|| format!("{RESERVED}revoke:{key}"))
}

impl Hub {
    /// Ends every stream waiting on [`revocation(key)`](Hub::revocation), in this
    /// process and in every instance sharing the hub's backend (Redis): each sends its
    /// revoked event with `reason` as the data (see [`Lifetime`](crate::Lifetime)),
    /// then ends.
    ///
    /// A stream opened after this returns is not affected: check access in the factory.
    ///
    /// # Errors
    ///
    /// [`PublishError::InvalidTopic`] for an empty key or one over
    /// [`MAX_REVOCATION_KEY_LEN`] bytes; otherwise as [`publish`](Hub::publish).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio_stream::StreamExt;
    /// use tower_sse::{Lifetime, hub::Hub};
    ///
    /// let hub = Hub::new();
    /// // In the factory: the stream of user 42 ends when user 42 logs out.
    /// let events = hub.subscribe("news").await?;
    /// let mut stream = Lifetime::new()
    ///     .revoked_by(hub.revocation("user:42").await?)
    ///     .wrap(events);
    ///
    /// // In the logout handler, on any instance:
    /// hub.revoke("user:42", "logged out").await?;
    /// assert!(stream.next().await.is_some()); // `event: revoked`, `data: logged out`
    /// assert!(stream.next().await.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn revoke(&self, key: &str, reason: &str) -> Result<(), PublishError> {
        let topic = topic_of(key).ok_or(PublishError::InvalidTopic)?;
        let event = Event::new().event_static(REVOKE).data(reason);
        self.publish_unchecked(&topic, None, event).await?;
        Ok(())
    }

    /// A future that completes when [`revoke(key)`](Hub::revoke) is called after this
    /// returns, on any instance sharing the hub's backend: hand it to
    /// [`Lifetime::revoked_by`](crate::Lifetime::revoked_by).
    ///
    /// It completes with `Some(reason)` on a revocation, and with `None` if it can no
    /// longer tell (its feed ended, say the Redis history of the key broke): the stream
    /// then ends, and the client's reconnection goes through the factory's check again.
    /// On the hub's shutdown it never completes, so the shutdown event goes out instead.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::InvalidTopic`] for an empty key or one over
    /// [`MAX_REVOCATION_KEY_LEN`] bytes; otherwise as [`subscribe`](Hub::subscribe).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_sse::hub::Hub;
    ///
    /// let hub = Hub::new();
    /// let revoked = hub.revocation("session:9f2c").await?;
    /// hub.revoke("session:9f2c", "signed out elsewhere").await?;
    /// assert_eq!(revoked.await.as_deref(), Some("signed out elsewhere"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn revocation(&self, key: &str) -> Result<Revocation, SubscribeError> {
        let topic = topic_of(key).ok_or(SubscribeError::InvalidTopic)?;
        let subscription = self.subscribe_reserved(topic).await?;
        Ok(Revocation {
            subscription,
            hub: self.clone(),
        })
    }
}

/// Completes when its key is revoked; from [`Hub::revocation`]. Dropping it stops
/// watching the key.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_sse::hub::Hub;
///
/// let hub = Hub::new();
/// let revocation = hub.revocation("user:42").await?;
/// assert_eq!(hub.stats().subscribers, 1); // the watch of "user:42"
/// drop(revocation);
/// assert_eq!(hub.stats().subscribers, 0);
/// # Ok(())
/// # }
/// ```
#[must_use = "a revocation does nothing unless polled (hand it to `Lifetime::revoked_by`)"]
pub struct Revocation {
    subscription: Subscription,
    hub: Hub,
}

impl Future for Revocation {
    type Output = Option<String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        let this = self.get_mut();
        loop {
            let Some(event) = std::task::ready!(Pin::new(&mut this.subscription).poll_next(cx))
            else {
                if this.hub.is_shut_down() {
                    return Poll::Pending;
                }
                return Poll::Ready(None);
            };
            if let Some(reason) = revocation_reason(event.as_bytes()) {
                return Poll::Ready(Some(reason));
            }
        }
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation").finish_non_exhaustive()
    }
}

/// The reason of an encoded revocation; `None` for another event (the hub's shutdown
/// or reset event).
fn revocation_reason(encoded: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(encoded).ok()?;
    let mut revoke = false;
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line == "event: revoke" {
            revoke = true;
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    revoke.then(|| data.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_read_back_from_the_encoded_event() {
        let event = Event::new()
            .event_static(REVOKE)
            .data("two\nlines")
            .encode();
        assert_eq!(
            revocation_reason(event.as_bytes()).as_deref(),
            Some("two\nlines")
        );
        let other = Event::new().event_static("shutdown").data("x").encode();
        assert_eq!(revocation_reason(other.as_bytes()), None);
    }
}
