//! The user-supplied factory that turns a request into an event stream.

use std::future::Future;

use futures_core::Stream;
use http::Request;

use crate::{EventId, EventItem, request::response::IntoRefusal};

/// Makes the event stream for a request that [`SseLayer`](crate::SseLayer) diverted.
///
/// The factory gets the whole request (method, URI, headers, extensions, so app state
/// and authentication work as usual, and the body, for protocols that POST) and the
/// request's [`EventId`], already parsed. It answers with either
///
/// - `Ok(stream)`: a stream of [`Event`](crate::Event)s,
///   [`EncodedEvent`](crate::EncodedEvent)s, or `Result`s of either, sent as a
///   `200 text/event-stream` response; or
/// - `Err(response)`: any [`IntoRefusal`] value (a `StatusCode`, a
///   `(StatusCode, &str)`, with the `axum` feature anything `IntoResponse`), sent as it
///   is. Answer `401` or
///   `404` to refuse, or `204 No Content` to tell a browser to stop reconnecting.
///
/// It is implemented for every `FnMut(Request<B>, Option<EventId>) -> impl Future`
/// closure and `async fn` with that output. A closure that uses state it captures (a
/// `Hub`, a pool) clones it and returns an `async move` block, as below; an `async`
/// closure works only if it uses nothing it captured, since one that does implements
/// `AsyncFnMut` alone, whose future the layer cannot name. With the `axum` feature,
/// [`with_extractors`] takes a factory whose arguments are extractors (`State`,
/// `Path`, your authentication) instead.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, StatusCode};
/// use tower_sse::{Event, EventId, SseLayer};
///
/// # type Body = ();
/// let layer = SseLayer::new(|req: Request<Body>, last_event_id: Option<EventId>| async move {
///     if !req.headers().contains_key("authorization") {
///         return Err(StatusCode::UNAUTHORIZED);
///     }
///     let start = last_event_id.and_then(|id| id.parse::<u64>().ok()).map_or(0, |n| n + 1);
///     let events = (start..start + 3).map(|n| Event::new().id(n.to_string()).map(|e| e.data("hi")));
///     Ok(tokio_stream::iter(events))
/// });
/// # let _: SseLayer<_> = layer;
/// ```
///
/// State captured by the factory, cloned for each stream:
///
/// ```
/// use std::{convert::Infallible, sync::Arc};
/// use http::Request;
/// use tower_sse::{Event, EventId, SseLayer};
///
/// # type Body = ();
/// let greeting: Arc<str> = Arc::from("hello");
/// let layer = SseLayer::new(move |_: Request<Body>, _: Option<EventId>| {
///     let greeting = greeting.clone();
///     async move { Ok::<_, Infallible>(tokio_stream::once(Event::new().data(&*greeting))) }
/// });
/// # let _: SseLayer<_> = layer;
/// ```
pub trait MakeEventStream<B> {
    /// The stream of events sent to the client.
    type Stream: Stream<Item = Self::Item> + Send + 'static;
    /// What the stream yields.
    type Item: EventItem;
    /// The response sent instead of a stream.
    type Rejection: IntoRefusal;
    /// The future that makes the stream.
    type Future: Future<Output = Result<Self::Stream, Self::Rejection>>;

    /// Makes the event stream for `request`.
    fn make_event_stream(
        &mut self,
        request: Request<B>,
        last_event_id: Option<EventId>,
    ) -> Self::Future;
}

impl<F, Fut, B, St, R> MakeEventStream<B> for F
where
    F: FnMut(Request<B>, Option<EventId>) -> Fut,
    Fut: Future<Output = Result<St, R>>,
    St: Stream + Send + 'static,
    St::Item: EventItem,
    R: IntoRefusal,
{
    type Stream = St;
    type Item = St::Item;
    type Rejection = R;
    type Future = Fut;

    fn make_event_stream(
        &mut self,
        request: Request<B>,
        last_event_id: Option<EventId>,
    ) -> Self::Future {
        self(request, last_event_id)
    }
}

/// A factory written as an axum handler: its arguments are extractors, see
/// [`with_extractors`].
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[must_use]
pub struct WithExtractors<F, S, T> {
    factory: F,
    state: S,
    _extractors: std::marker::PhantomData<fn() -> T>,
}

/// A layer's factory whose arguments are axum extractors (`State`, `Path`, `Query`, your
/// authentication extractor, [`Option<EventId>`](EventId)), as a handler's are, run
/// against the diverted request with `state` as the app's state.
///
/// `factory` is an `async fn` or closure of up to eight extractors that answers
/// `Result<impl Stream, impl IntoResponse>`, as a [`MakeEventStream`] does. An extractor
/// that rejects the request answers with its rejection (a `401` from your
/// authentication extractor, a `400` from `Path`). The extractors must be
/// `FromRequestParts`: the request's body is not read (use a plain factory, which
/// gets the whole request, to read it). `Option<EventId>` is the id the layer read
/// (see [`SseLayer::last_event_id_query`](crate::SseLayer::last_event_id_query)).
///
/// `Path` needs the route's parameters, which axum gives only to what runs inside the
/// route: layer the route itself (`get(page).layer(...)` or
/// [`Router::route_layer`](axum::Router::route_layer)), not the whole router.
///
/// # Example
///
#[cfg_attr(feature = "hub", doc = "```")]
#[cfg_attr(not(feature = "hub"), doc = "```ignore")]
/// use axum::{Router, extract::{Path, State}, routing::get};
/// use tower_sse::{EventId, SseLayer, hub::{Hub, SubscribeError, Subscription}, with_extractors};
///
/// async fn room(
///     State(hub): State<Hub>,
///     Path(room): Path<String>,
///     last: Option<EventId>,
/// ) -> Result<Subscription, SubscribeError> {
///     hub.subscribe(room).after(last.as_ref()).await
/// }
///
/// let hub = Hub::new();
/// let app: Router = Router::new().route(
///     "/rooms/{room}",
///     // The page for browsers, the room's events for their `EventSource`s.
///     get(|Path(room): Path<String>| async move { format!("room {room}") })
///         .layer(SseLayer::new(with_extractors(room, hub.clone()))),
/// );
/// # drop(app);
/// ```
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub fn with_extractors<F, S, T>(factory: F, state: S) -> WithExtractors<F, S, T> {
    WithExtractors {
        factory,
        state,
        _extractors: std::marker::PhantomData,
    }
}

#[cfg(feature = "axum")]
impl<F: Clone, S: Clone, T> Clone for WithExtractors<F, S, T> {
    fn clone(&self) -> Self {
        with_extractors(self.factory.clone(), self.state.clone())
    }
}

#[cfg(feature = "axum")]
impl<F, S, T> std::fmt::Debug for WithExtractors<F, S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithExtractors")
            .field("factory", &std::any::type_name::<F>())
            .field("extractors", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "axum")]
macro_rules! make_with_extractors {
    ($($ty:ident),*) => {
        impl<F, Fut, S, B, St, R, $($ty,)*> MakeEventStream<B> for WithExtractors<F, S, ($($ty,)*)>
        where
            F: Fn($($ty,)*) -> Fut + Clone + Send + 'static,
            Fut: Future<Output = Result<St, R>> + Send + 'static,
            St: Stream + Send + 'static,
            St::Item: EventItem,
            R: axum_core::response::IntoResponse,
            S: Clone + Send + Sync + 'static,
            $($ty: axum_core::extract::FromRequestParts<S> + Send + 'static,)*
        {
            type Stream = St;
            type Item = St::Item;
            type Rejection = axum_core::response::Response;
            type Future = std::pin::Pin<Box<dyn Future<Output = Result<St, Self::Rejection>> + Send>>;

            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn make_event_stream(
                &mut self,
                request: Request<B>,
                last_event_id: Option<EventId>,
            ) -> Self::Future {
                use axum_core::response::IntoResponse;
                let (factory, state) = (self.factory.clone(), self.state.clone());
                let (mut parts, _body) = request.into_parts();
                parts.extensions.insert(crate::event::id::LayerEventId(last_event_id));
                Box::pin(async move {
                    $(
                        let $ty = $ty::from_request_parts(&mut parts, &state)
                            .await
                            .map_err(IntoResponse::into_response)?;
                    )*
                    factory($($ty,)*).await.map_err(IntoResponse::into_response)
                })
            }
        }
    };
}

#[cfg(feature = "axum")]
make_with_extractors!();
#[cfg(feature = "axum")]
make_with_extractors!(T1);
#[cfg(feature = "axum")]
make_with_extractors!(T1, T2);
#[cfg(feature = "axum")]
make_with_extractors!(T1, T2, T3);
#[cfg(feature = "axum")]
make_with_extractors!(T1, T2, T3, T4);
#[cfg(feature = "axum")]
make_with_extractors!(T1, T2, T3, T4, T5);
#[cfg(feature = "axum")]
make_with_extractors!(T1, T2, T3, T4, T5, T6);
#[cfg(feature = "axum")]
make_with_extractors!(T1, T2, T3, T4, T5, T6, T7);
#[cfg(feature = "axum")]
make_with_extractors!(T1, T2, T3, T4, T5, T6, T7, T8);
