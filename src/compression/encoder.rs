//! [`Encoder`], one connection's compressor: a frame in, that frame compressed and
//! flushed out.

use std::io::{self, Write};

use bytes::{BufMut, Bytes, BytesMut, buf::Writer};

use super::{Compression, encoding::Encoding};

/// Output staging inside brotli's and zstd's writers: compressed bytes pass through it on
/// their way to the frame.
#[cfg(any(feature = "compression-br", feature = "compression-zstd"))]
const STAGING: usize = 4 * 1024;

/// The compressor of one event stream. Each [`encode`](Encoder::encode) compresses one
/// frame and flushes, so the bytes it returns decode to the whole frame at once; no
/// input is kept between frames.
pub(crate) struct Encoder {
    kind: Kind,
}

enum Kind {
    #[cfg(feature = "compression-zstd")]
    Zstd(zstd::stream::write::Encoder<'static, Writer<BytesMut>>),
    // Boxed: brotli's state is kept inline, and a body is moved before it is pinned.
    #[cfg(feature = "compression-br")]
    Brotli(Box<brotli::CompressorWriter<Writer<BytesMut>>>),
    #[cfg(feature = "compression-gzip")]
    Gzip(flate2::write::GzEncoder<Writer<BytesMut>>),
}

impl Encoder {
    /// An encoder for `encoding` with `settings`' parameters.
    ///
    /// Fails only if zstd cannot make its context (out of memory) or refuses a
    /// parameter.
    pub(crate) fn new(encoding: Encoding, settings: &Compression) -> io::Result<Self> {
        // The output buffer, reused: each frame's bytes are split off it, and its memory
        // is reclaimed once the connection has written them.
        let out = BytesMut::new().writer();
        let kind = match encoding {
            #[cfg(feature = "compression-zstd")]
            Encoding::Zstd => {
                use zstd::stream::{raw, zio};
                use zstd::zstd_safe::CParameter;
                let window_log = settings.zstd.window_log;
                let mut raw = raw::Encoder::new(settings.zstd.level)?;
                raw.set_parameter(CParameter::WindowLog(window_log))?;
                // The match tables sized to the window (a quarter of its entries): at
                // level 3 and a 64 KiB window, 250 KB a stream instead of 1.2 MB, for
                // 1% more bytes (`benches/compression.rs`).
                raw.set_parameter(CParameter::HashLog(window_log - 2))?;
                raw.set_parameter(CParameter::ChainLog(window_log - 2))?;
                let writer = zio::Writer::new_with_capacity(out, raw, STAGING);
                Kind::Zstd(zstd::stream::write::Encoder::with_writer(writer))
            }
            #[cfg(feature = "compression-br")]
            Encoding::Brotli => Kind::Brotli(Box::new(brotli::CompressorWriter::new(
                out,
                STAGING,
                settings.br.quality,
                settings.br.window_bits,
            ))),
            #[cfg(feature = "compression-gzip")]
            Encoding::Gzip => Kind::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(settings.gzip.level),
            )),
        };
        Ok(Self { kind })
    }

    /// Compresses `frame` and flushes: gzip with a sync flush, brotli with
    /// `BROTLI_OPERATION_FLUSH`, zstd by ending the block (`ZSTD_e_flush`).
    pub(crate) fn encode(&mut self, frame: &[u8]) -> io::Result<Bytes> {
        match &mut self.kind {
            #[cfg(feature = "compression-zstd")]
            Kind::Zstd(encoder) => {
                encoder.write_all(frame)?;
                encoder.flush()?;
                Ok(take(encoder.get_mut()))
            }
            #[cfg(feature = "compression-br")]
            Kind::Brotli(encoder) => {
                encoder.write_all(frame)?;
                encoder.flush()?;
                Ok(take(encoder.get_mut()))
            }
            #[cfg(feature = "compression-gzip")]
            Kind::Gzip(encoder) => {
                encoder.write_all(frame)?;
                encoder.flush()?;
                Ok(take(encoder.get_mut()))
            }
        }
    }

    /// Ends the compressed stream (gzip's trailer, brotli's last block, zstd's frame
    /// end) and returns its last bytes.
    pub(crate) fn finish(self) -> io::Result<Bytes> {
        let mut out = match self.kind {
            #[cfg(feature = "compression-zstd")]
            Kind::Zstd(encoder) => encoder.finish()?,
            // Writing to memory cannot fail, so brotli's `into_inner`, which drops any
            // error, loses nothing.
            #[cfg(feature = "compression-br")]
            Kind::Brotli(encoder) => encoder.into_inner(),
            #[cfg(feature = "compression-gzip")]
            Kind::Gzip(encoder) => encoder.finish()?,
        };
        Ok(take(&mut out))
    }
}

/// The bytes written so far, leaving the buffer empty (its spare room kept).
fn take(out: &mut Writer<BytesMut>) -> Bytes {
    out.get_mut().split().freeze()
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.kind {
            #[cfg(feature = "compression-zstd")]
            Kind::Zstd(_) => "zstd",
            #[cfg(feature = "compression-br")]
            Kind::Brotli(_) => "br",
            #[cfg(feature = "compression-gzip")]
            Kind::Gzip(_) => "gzip",
        };
        f.debug_tuple("Encoder").field(&name).finish()
    }
}
