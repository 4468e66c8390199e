//! Compressed event streams, flushed at every frame ([`Compression`]).
//!
//! A general-purpose compressor holds bytes back until it has enough to compress well,
//! which is why tower-http's `CompressionLayer` leaves `text/event-stream` alone. Here
//! the layer compresses each body frame (a batch of whole events, the `retry:` hint, a
//! keep-alive or the shutdown event) and flushes the compressor after it: the client
//! decodes every event the moment its frame arrives, while the compressor's window still
//! spans earlier frames, so repeated JSON keys cost a few bits each.
//!
//! - `encoding.rs`: the codings compiled in, and the choice from `Accept-Encoding`.
//! - `encoder.rs`: one connection's compressor, a frame in, compressed and flushed out.
//! - `body.rs`: the body that runs an event stream's frames through it.

mod body;
mod encoder;
mod encoding;

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header::CONTENT_ENCODING, header::VARY};
use http_body::Body;

use crate::{
    BoxError,
    body::own::{OwnBody, bytes_body, own_body},
};
use body::CompressedBody;
use encoder::Encoder;
pub(crate) use encoding::Encoding;

/// Compresses event streams for clients that accept it, flushing after every frame so
/// no event waits. Set it with [`SseLayer::compression`](crate::SseLayer::compression).
///
/// The coding is chosen from the request's `Accept-Encoding` (q-values, `q=0`, `*` and
/// `identity` honoured): the client's highest-weighted coding that is switched on here,
/// ties going to zstd, then brotli, then gzip. A client that accepts none of them (or
/// sends no `Accept-Encoding`) gets the stream uncompressed. Every event stream then
/// carries `Vary: accept, accept-encoding`, and a compressed one `Content-Encoding`;
/// requests passed to the inner service are untouched.
///
/// Each body frame is compressed and flushed on its own (gzip's sync flush, brotli's
/// `BROTLI_OPERATION_FLUSH`, zstd's end of block), so the bytes of a frame decode to
/// exactly that frame's events at once; keep-alives, the `retry:` hint and the shutdown
/// event are frames like any other. The compressor's window carries over from frame to
/// frame, which is where the savings come from on streams of similar events.
///
/// # Defaults and memory
///
/// [`Compression::default`] offers every coding compiled in (features
/// `compression-zstd`, `compression-br`, `compression-gzip`; `compression-full` for all
/// three), with settings for small flushed frames and bounded memory. Each stream keeps
/// one compressor for as long as it is open, and no input between frames; measured per
/// connection after 10,000 JSON events (`benches/compression.rs`):
///
/// | coding | default | memory per stream | bytes sent | CPU per event |
/// | --- | --- | --- | --- | --- |
/// | zstd | level 3, window 2^16 bytes ([`zstd_window_log`](Compression::zstd_window_log)) | 252 KB | 26% | +1.5 µs |
/// | brotli | quality 3, window 2^16 bytes ([`br_window_bits`](Compression::br_window_bits)) | 435 KB | 29% | +9.0 µs |
/// | gzip | level 3 (deflate's window is always 32 KiB) | 357 KB | 28% | +13.7 µs |
///
/// (Bytes sent are against the same stream uncompressed; an uncompressed stream's body
/// holds about 3 KB. zstd's memory is its C library's, measured as RSS.)
///
/// Compression costs CPU per event, and memory per open stream: with many idle
/// subscribers, the memory matters more than the bandwidth saved.
///
/// # Security: secrets and attacker-controlled text in one stream
///
/// Compression makes a frame's size depend on its content. When one compressed stream
/// carries both a secret (a token, a private message) and text an attacker can choose
/// (a chat message, a search term echoed back), an attacker who can also observe the
/// sizes on the wire can guess the secret piece by piece: a guess that matches earlier
/// text compresses better (the BREACH and CRIME attacks on HTTPS). Because the window
/// spans frames here, a secret sent in one event can leak through a later one. Keep
/// secrets out of streams that also carry attacker-controlled data, or serve such
/// streams without compression (for example with a second layer, or a
/// [`Predicate`](crate::Predicate) that routes them elsewhere).
///
/// # With tower-http's `CompressionLayer`
///
/// tower-http's `CompressionLayer` leaves these streams alone: its default predicate
/// skips `text/event-stream`, and it never compresses a response that already has
/// `Content-Encoding`. Keep it for the inner service's pages, in or outside
/// `SseLayer`.
///
/// # Example
///
#[cfg_attr(
    all(
        feature = "compression-gzip",
        feature = "compression-br",
        feature = "compression-zstd"
    ),
    doc = "```"
)]
#[cfg_attr(
    not(all(
        feature = "compression-gzip",
        feature = "compression-br",
        feature = "compression-zstd"
    )),
    doc = "```ignore"
)]
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use http_body_util::BodyExt;
/// use tower::{ServiceExt, service_fn};
/// use tower_sse::{Compression, Event, EventId, SseLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let events = |_: Request<()>, _: Option<EventId>| async {
///     Ok::<_, Infallible>(tokio_stream::iter([
///         Event::new().data(r#"{"price":101.5}"#),
///         Event::new().data(r#"{"price":101.6}"#),
///     ]))
/// };
/// let layer = SseLayer::new(events)
///     .without_keep_alive()
///     .compression(Compression::default().br(false).zstd_level(6));
/// let inner = service_fn(|_: Request<()>| async {
///     Ok::<_, Infallible>(Response::new(String::from("a page")))
/// });
/// let service = tower::Layer::layer(&layer, inner);
///
/// let request = Request::get("/")
///     .header("accept", "text/event-stream")
///     .header("accept-encoding", "gzip, deflate, br, zstd")
///     .body(())
///     .unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.headers()["content-encoding"], "zstd");
/// assert_eq!(response.headers()["vary"], "accept, accept-encoding");
///
/// let compressed = response.into_body().collect().await.unwrap().to_bytes();
/// let events = zstd::decode_all(&compressed[..]).unwrap();
/// assert_eq!(events, b"data: {\"price\":101.5}\n\ndata: {\"price\":101.6}\n\n");
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Compression {
    #[cfg(feature = "compression-zstd")]
    pub(crate) zstd: ZstdSettings,
    #[cfg(feature = "compression-br")]
    pub(crate) br: BrotliSettings,
    #[cfg(feature = "compression-gzip")]
    pub(crate) gzip: GzipSettings,
}

#[cfg(feature = "compression-zstd")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ZstdSettings {
    pub(crate) enabled: bool,
    pub(crate) level: i32,
    pub(crate) window_log: u32,
}

#[cfg(feature = "compression-br")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BrotliSettings {
    pub(crate) enabled: bool,
    pub(crate) quality: u32,
    pub(crate) window_bits: u32,
}

#[cfg(feature = "compression-gzip")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GzipSettings {
    pub(crate) enabled: bool,
    pub(crate) level: u32,
}

impl Default for Compression {
    /// Every coding compiled in, with the settings in the table above.
    fn default() -> Self {
        Self {
            #[cfg(feature = "compression-zstd")]
            zstd: ZstdSettings {
                enabled: true,
                level: 3,
                window_log: 16,
            },
            #[cfg(feature = "compression-br")]
            br: BrotliSettings {
                enabled: true,
                quality: 3,
                window_bits: 16,
            },
            #[cfg(feature = "compression-gzip")]
            gzip: GzipSettings {
                enabled: true,
                level: 3,
            },
        }
    }
}

impl Compression {
    /// Every coding compiled in, with the default settings: the same as
    /// [`Compression::default`].
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// assert_eq!(Compression::new(), Compression::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Switches zstd on or off. Default: on.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// // gzip and brotli only.
    /// let compression = Compression::default().zstd(false);
    /// # drop(compression);
    /// ```
    #[cfg(feature = "compression-zstd")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-zstd")))]
    pub fn zstd(mut self, enabled: bool) -> Self {
        self.zstd.enabled = enabled;
        self
    }

    /// Sets zstd's compression level, from 1 (fastest) to 22 (smallest), and switches
    /// zstd on. Default: 3.
    ///
    /// A value outside `1..=22` is brought to the nearest end of the range.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// assert_eq!(Compression::default().zstd_level(23), Compression::default().zstd_level(22));
    /// ```
    #[cfg(feature = "compression-zstd")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-zstd")))]
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.zstd.level = level.clamp(1, 22);
        self.zstd.enabled = true;
        self
    }

    /// Sets zstd's window to 2^`log` bytes, from 10 to 23, and switches zstd on: how
    /// far back a match may reach; zstd's match tables are sized from it (2^(`log`-2)
    /// entries each), so it sets the memory each stream holds. Browsers refuse windows
    /// over 8 MiB (2^23). Default: 16 (64 KiB).
    ///
    /// A value outside `10..=23` is brought to the nearest end of the range.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// let compression = Compression::default().zstd_window_log(14);
    /// # drop(compression);
    /// ```
    #[cfg(feature = "compression-zstd")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-zstd")))]
    pub fn zstd_window_log(mut self, log: u32) -> Self {
        self.zstd.window_log = log.clamp(10, 23);
        self.zstd.enabled = true;
        self
    }

    /// Switches brotli on or off. Default: on.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// let compression = Compression::default().br(false);
    /// # drop(compression);
    /// ```
    #[cfg(feature = "compression-br")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-br")))]
    pub fn br(mut self, enabled: bool) -> Self {
        self.br.enabled = enabled;
        self
    }

    /// Sets brotli's quality, from 0 (fastest) to 11 (smallest), and switches brotli
    /// on. Higher qualities cost far more memory per stream: measured with the default
    /// window, about 430 KB at 3, 740 KB at 4 and 33 MB at 5. Default: 3.
    ///
    /// A value outside `0..=11` is brought to the nearest end of the range.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// assert_eq!(Compression::default().br_quality(12), Compression::default().br_quality(11));
    /// ```
    #[cfg(feature = "compression-br")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-br")))]
    pub fn br_quality(mut self, quality: u32) -> Self {
        self.br.quality = quality.clamp(0, 11);
        self.br.enabled = true;
        self
    }

    /// Sets brotli's window to 2^`bits` bytes (less 16), from 10 to 24, and switches
    /// brotli on. Default: 16 (64 KiB).
    ///
    /// A value outside `10..=24` is brought to the nearest end of the range.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// let compression = Compression::default().br_window_bits(18);
    /// # drop(compression);
    /// ```
    #[cfg(feature = "compression-br")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-br")))]
    pub fn br_window_bits(mut self, bits: u32) -> Self {
        self.br.window_bits = bits.clamp(10, 24);
        self.br.enabled = true;
        self
    }

    /// Switches gzip on or off. Default: on.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// let compression = Compression::default().gzip(false);
    /// # drop(compression);
    /// ```
    #[cfg(feature = "compression-gzip")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-gzip")))]
    pub fn gzip(mut self, enabled: bool) -> Self {
        self.gzip.enabled = enabled;
        self
    }

    /// Sets gzip's level, from 0 (stored, no compression) to 9 (smallest), and switches
    /// gzip on. The memory per stream is the same at every level. Default: 3.
    ///
    /// A value outside `0..=9` is brought to the nearest end of the range.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_sse::Compression;
    ///
    /// assert_eq!(Compression::default().gzip_level(10), Compression::default().gzip_level(9));
    /// ```
    #[cfg(feature = "compression-gzip")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression-gzip")))]
    pub fn gzip_level(mut self, level: u32) -> Self {
        self.gzip.level = level.clamp(0, 9);
        self.gzip.enabled = true;
        self
    }

    /// Whether `encoding` is switched on.
    fn offers(&self, encoding: Encoding) -> bool {
        match encoding {
            #[cfg(feature = "compression-zstd")]
            Encoding::Zstd => self.zstd.enabled,
            #[cfg(feature = "compression-br")]
            Encoding::Brotli => self.br.enabled,
            #[cfg(feature = "compression-gzip")]
            Encoding::Gzip => self.gzip.enabled,
        }
    }

    /// The coding to send a stream with, from the request's `Accept-Encoding`; `None`
    /// to send it uncompressed.
    pub(crate) fn negotiate(&self, headers: &HeaderMap) -> Option<Encoding> {
        encoding::negotiate(headers, |encoding| self.offers(encoding))
    }
}

impl fmt::Debug for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Compression");
        #[cfg(feature = "compression-zstd")]
        s.field("zstd", &self.zstd);
        #[cfg(feature = "compression-br")]
        s.field("br", &self.br);
        #[cfg(feature = "compression-gzip")]
        s.field("gzip", &self.gzip);
        s.finish()
    }
}

/// An event stream's response, compressed with `encoding` if that is `Some` (and the
/// encoder can be made): `events` (`None` for a `HEAD`) as the body of `head`, which gets
/// `Vary: accept, accept-encoding` (the stream depends on both) and, if compressed,
/// `Content-Encoding`.
pub(crate) fn respond<B>(
    head: Response<()>,
    events: Option<B>,
    encoding: Option<Encoding>,
    settings: &Compression,
) -> Response<OwnBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, ()) = head.into_parts();
    let (body, encoding) = match (events, encoding) {
        (None, encoding) => (bytes_body(Bytes::new()), encoding),
        (Some(events), None) => (own_body(events), None),
        (Some(events), Some(encoding)) => match Encoder::new(encoding, settings) {
            Ok(encoder) => (
                own_body(CompressedBody::new(events, encoder)),
                Some(encoding),
            ),
            Err(error) => {
                tracing::error!(
                    %error,
                    "cannot start compressing an event stream; sending it uncompressed"
                );
                (own_body(events), None)
            }
        },
    };
    parts
        .headers
        .insert(VARY, HeaderValue::from_static("accept, accept-encoding"));
    if let Some(encoding) = encoding {
        parts
            .headers
            .insert(CONTENT_ENCODING, encoding.header_value());
    }
    Response::from_parts(parts, body)
}
