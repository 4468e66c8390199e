//! [`TestClient`] and [`TestStream`]: a client of a Tower service, in process.

use std::{collections::VecDeque, fmt, future::poll_fn, marker::PhantomData, pin::Pin, task::Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body;
use tower_service::Service;

use super::{Item, Parser, ReceivedEvent};
use crate::BoxError;

/// Sends requests to any Tower service in process, as an `EventSource` would (and any
/// other request, with [`request`](TestClient::request)), and reads the answers as a
/// client does.
///
/// The service is cloned for every request (as a server does for each connection), so
/// a test can keep several streams open at once.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_sse::BoxError> {
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::service_fn;
/// use tower_sse::{Event, EventId, SseLayer, testing::TestClient};
///
/// let page = service_fn(|_: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(String::from("a page")))
/// });
/// let service = tower::Layer::layer(
///     &SseLayer::new(|_: Request<String>, last: Option<EventId>| async move {
///         let first = last.map_or(1, |id| id.parse::<u64>().unwrap() + 1);
///         let events = (first..=3).map(|n| Event::new().id_number(n).data(format!("n{n}")));
///         Ok::<_, Infallible>(tokio_stream::iter(events.collect::<Vec<_>>()))
///     }),
///     page,
/// );
///
/// let mut client = TestClient::new(service);
/// let mut stream = client.events("/").await?;
/// assert_eq!(stream.status(), 200);
/// assert_eq!(stream.next_event().await?.unwrap().data, "n1");
///
/// // Leave after the first event and come back with its id.
/// let mut again = client.reconnect(stream).await?;
/// assert_eq!(again.request_headers()["last-event-id"], "1");
/// let rest: Vec<String> = again.rest().await?.into_iter().map(|e| e.data).collect();
/// assert_eq!(rest, ["n2", "n3"]);
/// # Ok(())
/// # }
/// ```
///
/// The requests it makes itself carry an empty body of type `B`: `String` unless you
/// pick another type with [`with_body`](TestClient::with_body). An axum `Router` takes
/// any.
pub struct TestClient<S, B = String> {
    inner: S,
    _body: PhantomData<fn() -> B>,
}

impl<S> TestClient<S> {
    /// A client of `service`, sending requests with an empty `String` body.
    pub fn new(service: S) -> Self {
        Self::with_body(service)
    }
}

impl<S, B> TestClient<S, B> {
    /// A client of `service`, sending requests with an empty body of type `B`
    /// (`B::default()`), for a service that takes only one body type.
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower_sse::testing::TestClient;
    ///
    /// let service = tower::service_fn(|_: Request<Vec<u8>>| async {
    ///     Ok::<_, Infallible>(Response::new(String::new()))
    /// });
    /// let client = TestClient::<_, Vec<u8>>::with_body(service);
    /// # drop(client);
    /// ```
    pub fn with_body(service: S) -> Self {
        Self {
            inner: service,
            _body: PhantomData,
        }
    }

    /// The service, to reach its state.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, B> Clone for TestClient<S, B> {
    fn clone(&self) -> Self {
        Self::with_body(self.inner.clone())
    }
}

impl<S: fmt::Debug, B> fmt::Debug for TestClient<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, ReqBody, ResBody> TestClient<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    ReqBody: Default,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
{
    /// A `GET` of `uri` with `Accept: text/event-stream`, as an `EventSource` sends.
    ///
    /// # Errors
    ///
    /// An invalid `uri`, or the service's error.
    pub async fn events(&mut self, uri: &str) -> Result<TestStream<ResBody>, BoxError> {
        self.events_with(uri, &[]).await
    }

    /// [`events`](Self::events) with more request headers (an `Authorization`, a
    /// `Last-Event-ID`, an `Accept-Encoding` ...).
    ///
    /// # Errors
    ///
    /// An invalid `uri` or header, or the service's error.
    pub async fn events_with(
        &mut self,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<TestStream<ResBody>, BoxError> {
        let uri: Uri = uri.parse()?;
        let mut sent = HeaderMap::new();
        sent.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        sent.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        for (name, value) in headers {
            sent.insert(HeaderName::try_from(*name)?, HeaderValue::try_from(*value)?);
        }
        self.send(new_request(uri, sent), Parser::new()).await
    }

    /// Sends `request` as it is: any method, headers and body (a `POST` that publishes,
    /// say). The answer is read as the others are: its [`status`](TestStream::status),
    /// [`headers`](TestStream::headers) and [`text`](TestStream::text), or its events
    /// if it is a stream; [`reconnect`](Self::reconnect) sends it again as a `GET`.
    ///
    /// # Errors
    ///
    /// The service's error.
    ///
    /// # Example
    ///
    /// Post, then read the event on a stream opened before:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_sse::BoxError> {
    /// use std::convert::Infallible;
    /// use axum::{Router, body::Body, extract::State, routing::post};
    /// use http::Request;
    /// use tokio::sync::broadcast;
    /// use tokio_stream::{StreamExt, wrappers::BroadcastStream};
    /// use tower_sse::{Event, EventId, SseLayer, testing::TestClient};
    ///
    /// let (tx, _) = broadcast::channel::<String>(16);
    /// let events = {
    ///     let tx = tx.clone();
    ///     move |_: Request<Body>, _: Option<EventId>| {
    ///         let messages = BroadcastStream::new(tx.subscribe());
    ///         async move {
    ///             Ok::<_, Infallible>(messages.filter_map(|m| m.ok()).map(|m| Event::new().data(m)))
    ///         }
    ///     }
    /// };
    /// let app = Router::new()
    ///     .route("/", post(|State(tx): State<broadcast::Sender<String>>, text: String| async move {
    ///         tx.send(text).map(drop).map_err(|_| "nobody listens")
    ///     }))
    ///     .with_state(tx)
    ///     .layer(SseLayer::new(events));
    ///
    /// let mut client = TestClient::new(app);
    /// let mut stream = client.events("/").await?;
    /// let posted = client.request(Request::post("/").body(String::from("hello"))?).await?;
    /// assert_eq!(posted.status(), 200);
    /// assert_eq!(stream.next_event().await?.unwrap().data, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request(
        &mut self,
        request: Request<ReqBody>,
    ) -> Result<TestStream<ResBody>, BoxError> {
        self.send(request, Parser::new()).await
    }

    /// Opens `previous`'s URL again, as a client does after losing a stream: with its
    /// headers and a `Last-Event-ID` of the last id it read (none if it read none).
    /// `previous` is dropped first, so the server sees that client leave.
    ///
    /// # Errors
    ///
    /// The service's error.
    pub async fn reconnect(
        &mut self,
        previous: TestStream<ResBody>,
    ) -> Result<TestStream<ResBody>, BoxError> {
        let last = previous.last_event_id().to_owned();
        let TestStream { uri, mut sent, .. } = previous;
        sent.remove("last-event-id");
        if !last.is_empty() {
            sent.insert("last-event-id", HeaderValue::try_from(last.as_str())?);
        }
        self.send(new_request(uri, sent), Parser::with_last_event_id(&last))
            .await
    }

    async fn send(
        &mut self,
        request: Request<ReqBody>,
        parser: Parser,
    ) -> Result<TestStream<ResBody>, BoxError> {
        let (uri, sent) = (request.uri().clone(), request.headers().clone());
        // Clone, then call the instance that was made ready.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(Into::into)?;
        let response = service.call(request).await.map_err(Into::into)?;
        let (parts, body) = response.into_parts();
        let parser_id = parser.last_event_id().to_owned();
        Ok(TestStream {
            uri,
            sent,
            status: parts.status,
            headers: parts.headers,
            body: Some(Box::pin(body)),
            parser,
            items: VecDeque::new(),
            last_read_id: parser_id,
            raw: Vec::new(),
        })
    }
}

/// A `GET` of `uri` with `headers` and an empty body.
fn new_request<B: Default>(uri: Uri, headers: HeaderMap) -> Request<B> {
    let mut request = Request::new(B::default());
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request
}

/// One response, read as an event stream, from [`TestClient`].
///
/// Dropping it is a client leaving mid-stream: the server's stream is dropped with it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_sse::BoxError> {
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower_sse::{EventId, SseLayer, testing::TestClient};
///
/// // A factory that refuses: the test reads the refusal as text.
/// let service = tower::Layer::layer(
///     &SseLayer::new(|_: Request<String>, _: Option<EventId>| async {
///         Err::<tokio_stream::Empty<tower_sse::Event>, _>((StatusCode::UNAUTHORIZED, "log in first"))
///     }),
///     tower::service_fn(|_: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::new()))
///     }),
/// );
/// let stream = TestClient::new(service).events("/").await?;
/// assert_eq!(stream.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(stream.headers()["vary"], "accept");
/// assert_eq!(stream.text().await?, "log in first");
/// # Ok(())
/// # }
/// ```
pub struct TestStream<B> {
    uri: Uri,
    sent: HeaderMap,
    status: StatusCode,
    headers: HeaderMap,
    body: Option<Pin<Box<B>>>,
    parser: Parser,
    items: VecDeque<Item>,
    // The id of the last event handed to the test.
    last_read_id: String,
    raw: Vec<u8>,
}

impl<B> TestStream<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers the request carried.
    pub fn request_headers(&self) -> &HeaderMap {
        &self.sent
    }

    /// Every byte of the body read so far.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The id a client that read what this test read would send back: the id of the
    /// last event read, or, once everything was read, the last id the stream set.
    pub fn last_event_id(&self) -> &str {
        if self.items.is_empty() {
            self.parser.last_event_id()
        } else {
            &self.last_read_id
        }
    }

    /// The next thing the client reads: an event, a comment (a keep-alive) or a `retry`.
    /// `None` once the body has ended. With Tokio's clock paused, waiting here lets the
    /// clock run on to the next timer, so a keep-alive comes at once.
    ///
    /// # Errors
    ///
    /// The body's error.
    pub async fn next_item(&mut self) -> Result<Option<Item>, BoxError> {
        loop {
            if let Some(item) = self.items.pop_front() {
                if let Item::Event(event) = &item {
                    self.last_read_id.clone_from(&event.id);
                }
                return Ok(Some(item));
            }
            if !self.read_frame().await? {
                return Ok(None);
            }
        }
    }

    /// What the client can read without waiting: the items of every frame the body has
    /// ready now. Empty if nothing is ready.
    ///
    /// # Errors
    ///
    /// The body's error.
    pub fn ready_items(&mut self) -> Result<Vec<Item>, BoxError> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        while let Some(body) = self.body.as_mut() {
            match body.as_mut().poll_frame(&mut cx) {
                Poll::Ready(frame) => self.take_frame(frame)?,
                Poll::Pending => break,
            }
        }
        let items: Vec<Item> = self.items.drain(..).collect();
        if let Some(Item::Event(event)) = items.iter().rev().find(|i| matches!(i, Item::Event(_))) {
            self.last_read_id.clone_from(&event.id);
        }
        Ok(items)
    }

    /// The next event the client dispatches, skipping comments and `retry` fields;
    /// `None` once the body has ended.
    ///
    /// # Errors
    ///
    /// The body's error.
    pub async fn next_event(&mut self) -> Result<Option<ReceivedEvent>, BoxError> {
        while let Some(item) = self.next_item().await? {
            if let Item::Event(event) = item {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// The next `n` events; fewer if the body ends first.
    ///
    /// # Errors
    ///
    /// The body's error.
    pub async fn take(&mut self, n: usize) -> Result<Vec<ReceivedEvent>, BoxError> {
        let mut events = Vec::with_capacity(n.min(64));
        while events.len() < n {
            match self.next_event().await? {
                Some(event) => events.push(event),
                None => break,
            }
        }
        Ok(events)
    }

    /// Every event until the body ends.
    ///
    /// # Errors
    ///
    /// The body's error.
    pub async fn rest(&mut self) -> Result<Vec<ReceivedEvent>, BoxError> {
        self.take(usize::MAX).await
    }

    /// The whole body as text (for a refusal, say).
    ///
    /// # Errors
    ///
    /// The body's error.
    pub async fn text(mut self) -> Result<String, BoxError> {
        while self.read_frame().await? {}
        Ok(String::from_utf8_lossy(&self.raw).into_owned())
    }

    /// Whether the body has ended.
    pub fn is_ended(&self) -> bool {
        self.body.is_none()
    }

    async fn read_frame(&mut self) -> Result<bool, BoxError> {
        let Some(body) = self.body.as_mut() else {
            return Ok(false);
        };
        let frame = poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        self.take_frame(frame)?;
        Ok(true)
    }

    fn take_frame(
        &mut self,
        frame: Option<Result<http_body::Frame<B::Data>, B::Error>>,
    ) -> Result<(), BoxError> {
        let Some(frame) = frame else {
            self.body = None;
            return Ok(());
        };
        let frame = frame.map_err(|error| {
            self.body = None;
            error.into()
        })?;
        if let Ok(mut data) = frame.into_data() {
            let bytes = data.copy_to_bytes(data.remaining());
            self.feed(&bytes);
        }
        Ok(())
    }

    fn feed(&mut self, bytes: &Bytes) {
        self.raw.extend_from_slice(bytes);
        self.items.extend(self.parser.feed(bytes));
    }
}

impl<B> fmt::Debug for TestStream<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestStream")
            .field("uri", &self.uri)
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("ended", &self.body.is_none())
            .field("last_event_id", &self.parser.last_event_id())
            .finish_non_exhaustive()
    }
}
