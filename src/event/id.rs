//! [`EventId`]: an event's id, as a hub gives it and as a reconnecting client sends it
//! back in `Last-Event-ID`.

use std::{fmt, ops::Deref, sync::Arc};

use http::{HeaderName, Request};

use crate::EventError;

/// The largest `Last-Event-ID` accepted, in bytes.
pub const MAX_LAST_EVENT_ID_LEN: usize = 1024;

static LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// An event's id: what [`Hub::publish`](crate::hub::Hub::publish) returns, and what a
/// reconnecting client sends back as the last one it received.
///
/// Browsers send it in the `Last-Event-ID` header when they reconnect; a page that opens
/// a new `EventSource`, and polyfills that cannot set headers, send it as a `lastEventId`
/// query parameter, which the layer reads too (unless
/// [`SseLayer::last_event_id_query`](crate::SseLayer::last_event_id_query) turns it off);
/// the header wins when both are present.
/// It is text of at most [`MAX_LAST_EVENT_ID_LEN`] bytes without CR, LF or NUL; any other
/// value is answered with `400 Bad Request` before the factory is called.
///
/// # Example
///
/// ```
/// # fn f(last_event_id: Option<tower_sse::EventId>) {
/// let next: u64 = last_event_id
///     .and_then(|id| id.parse::<u64>().ok())
///     .map_or(0, |n| n + 1);
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventId(Arc<str>);

impl EventId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id the crate made itself, valid by construction.
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub(crate) fn trusted(id: Arc<str>) -> Self {
        Self(id)
    }

    /// Checks `id` as the layer checks a `Last-Event-ID` header: at most
    /// [`MAX_LAST_EVENT_ID_LEN`] bytes, no CR, LF or NUL. `Ok(None)` for an empty id, which
    /// a client sends to say it has none.
    ///
    /// # Errors
    ///
    /// A [`EventError`] saying what is wrong with `id`.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::EventId;
    ///
    /// let id = EventId::new("42")?.unwrap();
    /// assert_eq!(id.as_str(), "42");
    /// assert_eq!(EventId::new("")?, None);
    /// assert!(EventId::new("4\n2").is_err());
    /// # Ok::<(), tower_sse::EventError>(())
    /// ```
    pub fn new(id: &str) -> Result<Option<Self>, EventError> {
        Self::parse(id.as_bytes(), Source::Value)
    }

    /// Parses a header or query value. `Ok(None)` for an empty value: the client has
    /// no id.
    fn parse(value: &[u8], source: Source) -> Result<Option<Self>, EventError> {
        if value.is_empty() {
            return Ok(None);
        }
        if value.len() > MAX_LAST_EVENT_ID_LEN {
            return Err(EventError::id(IdReason::TooLong(source, value.len())));
        }
        let text =
            std::str::from_utf8(value).map_err(|_| EventError::id(IdReason::NotUtf8(source)))?;
        if text.contains(['\r', '\n', '\0']) {
            return Err(EventError::id(IdReason::ControlCharacter(source)));
        }
        Ok(Some(Self(text.into())))
    }

    /// Reads the id from the header, then (if `query` is set) the `lastEventId` query
    /// parameter.
    pub(crate) fn from_request<B>(
        request: &Request<B>,
        query: bool,
    ) -> Result<Option<Self>, EventError> {
        Self::from_parts(request.headers(), request.uri(), query)
    }

    /// As [`from_request`](Self::from_request), from a request's headers and URI.
    pub(crate) fn from_parts(
        headers: &http::HeaderMap,
        uri: &http::Uri,
        query: bool,
    ) -> Result<Option<Self>, EventError> {
        let mut values = headers.get_all(&LAST_EVENT_ID).iter();
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err(EventError::id(IdReason::Repeated(Source::Header)));
            }
            return Self::parse(value.as_bytes(), Source::Header);
        }
        if !query {
            return Ok(None);
        }
        let Some(raw) = uri.query() else {
            return Ok(None);
        };
        let mut found = None;
        for pair in raw.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name == "lastEventId" {
                if found.is_some() {
                    return Err(EventError::id(IdReason::Repeated(Source::Query)));
                }
                found = Some(value);
            }
        }
        let Some(value) = found else {
            return Ok(None);
        };
        // `application/x-www-form-urlencoded`: `+` is a space, then percent-decoding.
        // Decoded by hand rather than with a lossy decoder, so invalid UTF-8 is refused.
        let plus_as_space: Vec<u8> = value
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        let decoded: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
        Self::parse(&decoded, Source::Query)
    }
}

/// An id a [`Backend`](crate::hub::backend::Backend) made, checked as [`EventId::new`] checks
/// one.
///
/// # Errors
///
/// An [`EventError`] for an empty id, or one [`EventId::new`] refuses.
///
/// # Example
///
/// ```
/// use tower_sse::EventId;
///
/// let id = EventId::try_from(String::from("1700000000000-0"))?;
/// assert_eq!(id.as_str(), "1700000000000-0");
/// assert!(EventId::try_from(String::new()).is_err());
/// # Ok::<(), tower_sse::EventError>(())
/// ```
impl TryFrom<String> for EventId {
    type Error = EventError;

    fn try_from(id: String) -> Result<Self, EventError> {
        Self::new(&id)?.ok_or(EventError::id(IdReason::Empty))
    }
}

impl Deref for EventId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EventId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Header,
    Query,
    Value,
}

/// Why an event id from outside was refused, inside an [`EventError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdReason {
    TooLong(Source, usize),
    NotUtf8(Source),
    ControlCharacter(Source),
    Repeated(Source),
    /// An id a backend made was empty.
    Empty,
}

impl fmt::Display for IdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |source: &Source| match source {
            Source::Header => "the Last-Event-ID header",
            Source::Query => "the lastEventId query parameter",
            Source::Value => "the last event id",
        };
        match self {
            IdReason::TooLong(source, len) => write!(
                f,
                "{} is {len} bytes long; at most {MAX_LAST_EVENT_ID_LEN} bytes are accepted",
                name(source)
            ),
            IdReason::NotUtf8(source) => write!(f, "{} is not valid UTF-8", name(source)),
            IdReason::ControlCharacter(source) => {
                write!(f, "{} contains CR, LF or NUL", name(source))
            }
            IdReason::Repeated(source) => write!(f, "{} is given more than once", name(source)),
            IdReason::Empty => f.write_str("an event's id is empty"),
        }
    }
}

/// `Option<EventId>` as an axum extractor: the `Last-Event-ID` header, or else a
/// `lastEventId` query parameter (for polyfills that cannot set headers); a bad one is
/// rejected with `400 Bad Request` and the reason.
///
/// # Example
///
/// ```
/// use tower_sse::EventId;
///
/// async fn events(last: Option<EventId>) -> String {
///     format!("resuming after {:?}", last.as_deref())
/// }
/// let app: axum::Router = axum::Router::new().route("/events", axum::routing::get(events));
/// # drop(app);
/// ```
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S: Send + Sync> axum_core::extract::OptionalFromRequestParts<S> for EventId {
    type Rejection = EventError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        // In a layer's factory, the id the layer read, by its settings.
        if let Some(read) = parts.extensions.get::<LayerEventId>() {
            return Ok(read.0.clone());
        }
        Self::from_parts(&parts.headers, &parts.uri, true)
    }
}

/// The id a layer read from the request, left in its extensions for the
/// `Option<EventId>` extractor of a [`with_extractors`](crate::with_extractors) factory.
#[cfg(feature = "axum")]
#[derive(Clone)]
pub(crate) struct LayerEventId(pub(crate) Option<EventId>);

#[cfg(test)]
mod tests {
    use super::*;

    fn from(request: Request<()>, query: bool) -> Result<Option<String>, String> {
        EventId::from_request(&request, query)
            .map(|id| id.map(|id| id.as_str().to_owned()))
            .map_err(|err| err.to_string())
    }

    fn header(value: &[u8]) -> Request<()> {
        Request::get("/")
            .header("last-event-id", value)
            .body(())
            .unwrap()
    }

    #[test]
    fn header_value() {
        assert_eq!(from(header(b"42"), false), Ok(Some("42".into())));
        assert_eq!(from(header(b" a b "), false), Ok(Some(" a b ".into())));
        assert_eq!(
            from(header("é🦀".as_bytes()), false),
            Ok(Some("é🦀".into()))
        );
        assert_eq!(from(header(b""), false), Ok(None));
    }

    #[test]
    fn header_too_long_or_not_utf8() {
        assert_eq!(
            from(header(&[b'a'; 1024]), false),
            Ok(Some("a".repeat(1024)))
        );
        assert_eq!(
            from(header(&[b'a'; 1025]), false),
            Err(
                "the Last-Event-ID header is 1025 bytes long; at most 1024 bytes are accepted"
                    .into()
            )
        );
        assert_eq!(
            from(header(b"\xff\xfe"), false),
            Err("the Last-Event-ID header is not valid UTF-8".into())
        );
    }

    #[test]
    fn repeated_header() {
        let request = Request::get("/")
            .header("last-event-id", "1")
            .header("last-event-id", "2")
            .body(())
            .unwrap();
        assert_eq!(
            from(request, false),
            Err("the Last-Event-ID header is given more than once".into())
        );
    }

    #[test]
    fn query_fallback_is_opt_in() {
        let request = || {
            Request::get("/e?x=1&lastEventId=a%20b%2B")
                .body(())
                .unwrap()
        };
        assert_eq!(from(request(), false), Ok(None));
        assert_eq!(from(request(), true), Ok(Some("a b+".into())));
    }

    #[test]
    fn header_wins_over_query() {
        let request = Request::get("/e?lastEventId=q")
            .header("last-event-id", "h")
            .body(())
            .unwrap();
        assert_eq!(from(request, true), Ok(Some("h".into())));
    }

    #[test]
    fn bad_query_values() {
        let get = |uri: &str| from(Request::get(uri).body(()).unwrap(), true);
        assert_eq!(
            get("/?lastEventId=a%0Ab"),
            Err("the lastEventId query parameter contains CR, LF or NUL".into())
        );
        assert_eq!(
            get("/?lastEventId=1&lastEventId=2"),
            Err("the lastEventId query parameter is given more than once".into())
        );
        let long = format!("/?lastEventId={}", "a".repeat(1025));
        assert!(get(&long).unwrap_err().contains("1025 bytes"));
        assert_eq!(
            get("/?lastEventId=%FF"),
            Err("the lastEventId query parameter is not valid UTF-8".into())
        );
        assert_eq!(get("/?lastEventId="), Ok(None));
        assert_eq!(get("/?other=1"), Ok(None));
    }
}
