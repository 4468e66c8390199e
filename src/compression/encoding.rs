//! The content codings the layer can send, and choosing one from `Accept-Encoding`.

use http::{HeaderMap, HeaderValue, header::ACCEPT_ENCODING};

/// A content coding an event stream can be sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    #[cfg(feature = "compression-zstd")]
    Zstd,
    #[cfg(feature = "compression-br")]
    Brotli,
    #[cfg(feature = "compression-gzip")]
    Gzip,
}

impl Encoding {
    /// The token in `Content-Encoding` and `Accept-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            #[cfg(feature = "compression-zstd")]
            Self::Zstd => "zstd",
            #[cfg(feature = "compression-br")]
            Self::Brotli => "br",
            #[cfg(feature = "compression-gzip")]
            Self::Gzip => "gzip",
        }
    }

    /// The `Content-Encoding` value.
    pub(crate) fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.token())
    }

    /// Whether `token` (already trimmed) names this coding, ignoring case; `x-gzip` is
    /// `gzip` (RFC 9110, section 8.4.1.3).
    fn is_named(self, token: &[u8]) -> bool {
        token.eq_ignore_ascii_case(self.token().as_bytes()) || {
            #[cfg(feature = "compression-gzip")]
            {
                self == Self::Gzip && token.eq_ignore_ascii_case(b"x-gzip")
            }
            #[cfg(not(feature = "compression-gzip"))]
            {
                false
            }
        }
    }
}

/// Every compiled-in coding, in the server's order of preference: zstd compresses a
/// stream of small flushed frames about as well as brotli for less CPU, and both do
/// better than gzip (see `BENCHMARKS.md`).
pub(crate) const PREFERENCE: &[Encoding] = &[
    #[cfg(feature = "compression-zstd")]
    Encoding::Zstd,
    #[cfg(feature = "compression-br")]
    Encoding::Brotli,
    #[cfg(feature = "compression-gzip")]
    Encoding::Gzip,
];

/// A q-value in thousandths: `1000` is `q=1`, `0` refuses.
type Quality = u16;

/// Chooses what to send from the request's `Accept-Encoding`: of the codings for which
/// `offered` is true, the one with the highest q-value, ties going to the one earlier in
/// [`PREFERENCE`]; `None` (send it uncompressed) when none is acceptable, when the client
/// prefers `identity` to every offered coding, or when there is no `Accept-Encoding`.
///
/// The header may be a list over several lines, with q-values (`q=0` refuses), `*` for
/// every coding not listed, and any case and whitespace. An item whose parameters cannot
/// be read is ignored; `q` above 1 is read as 1.
pub(crate) fn negotiate(
    headers: &HeaderMap,
    offered: impl Fn(Encoding) -> bool,
) -> Option<Encoding> {
    // The weight the client gave each coding of `PREFERENCE`, by position.
    let mut listed: [Option<Quality>; 3] = [None; 3];
    let mut star: Option<Quality> = None;
    let mut identity: Option<Quality> = None;
    let mut any = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        any = true;
        for item in value.as_bytes().split(|&b| b == b',') {
            let Some((token, q)) = parse_item(item) else {
                continue;
            };
            // A coding listed twice: a refusal (or the lower weight) wins.
            let merge = |slot: &mut Option<Quality>| {
                *slot = Some(slot.map_or(q, |old| old.min(q)));
            };
            if token == b"*" {
                merge(&mut star);
            } else if token.eq_ignore_ascii_case(b"identity") {
                merge(&mut identity);
            } else if let Some(i) = PREFERENCE.iter().position(|e| e.is_named(token)) {
                if let Some(slot) = listed.get_mut(i) {
                    merge(slot);
                }
            }
        }
    }
    if !any {
        return None;
    }
    let mut best: Option<(Encoding, Quality)> = None;
    for (i, encoding) in PREFERENCE.iter().enumerate() {
        if !offered(*encoding) {
            continue;
        }
        let q = listed.get(i).copied().flatten().or(star).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
            best = Some((*encoding, q));
        }
    }
    let (encoding, q) = best?;
    // `identity` competes only when the client weighed it (or `*`) itself, and only a
    // strictly higher weight beats a coding the client offered.
    match identity.or(star) {
        Some(identity_q) if identity_q > q => None,
        _ => Some(encoding),
    }
}

/// One list item: its coding (trimmed) and weight; `None` for an empty item or one with
/// a parameter that cannot be read.
fn parse_item(item: &[u8]) -> Option<(&[u8], Quality)> {
    let mut parts = item.split(|&b| b == b';');
    let token = parts.next()?.trim_ascii();
    if token.is_empty() {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        let param = param.trim_ascii();
        if param.is_empty() {
            continue;
        }
        let eq = param.iter().position(|&b| b == b'=')?;
        let (name, value) = (param[..eq].trim_ascii(), param[eq + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"q") {
            q = parse_quality(value)?;
        }
    }
    Some((token, q))
}

/// A q-value in thousandths, as `Accept` reads it; leniently, `1.5` and the like are
/// read as 1.
fn parse_quality(value: &[u8]) -> Option<Quality> {
    match value {
        [b'1', b'.', fraction @ ..]
            if fraction.len() <= 3 && fraction.iter().all(u8::is_ascii_digit) =>
        {
            Some(1000)
        }
        _ => crate::request::accept::parse_qvalue(value),
    }
}

#[cfg(all(test, feature = "compression-full"))]
mod tests {
    use super::*;

    const ALL: &[Encoding] = PREFERENCE;

    fn pick(values: &[&str], offered: &[Encoding]) -> Option<&'static str> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        }
        negotiate(&headers, |e| offered.contains(&e)).map(Encoding::token)
    }

    fn one(value: &str) -> Option<&'static str> {
        pick(&[value], ALL)
    }

    #[test]
    fn server_preference_breaks_ties() {
        assert_eq!(one("gzip, deflate, br, zstd"), Some("zstd"));
        assert_eq!(one("gzip, deflate, br"), Some("br"));
        assert_eq!(one("gzip, deflate"), Some("gzip"));
        assert_eq!(pick(&["gzip, br, zstd"], &[Encoding::Gzip]), Some("gzip"));
        assert_eq!(
            pick(&["zstd, br"], &[Encoding::Gzip, Encoding::Brotli]),
            Some("br")
        );
    }

    #[test]
    fn highest_q_wins() {
        assert_eq!(one("zstd;q=0.5, gzip;q=0.9, br;q=0.8"), Some("gzip"));
        assert_eq!(one("gzip;q=1.0, zstd;q=0.999"), Some("gzip"));
        assert_eq!(one("gzip;q=0.001"), Some("gzip"));
        assert_eq!(one("br;q=0.5, gzip;q=0.50"), Some("br"));
    }

    #[test]
    fn q_zero_refuses() {
        assert_eq!(one("gzip;q=0"), None);
        assert_eq!(one("zstd;q=0, br;q=0.0, gzip"), Some("gzip"));
        assert_eq!(one("*;q=0"), None);
        assert_eq!(one("*, zstd;q=0"), Some("br"));
        // A refusal anywhere in the list wins over an acceptance.
        assert_eq!(one("gzip, gzip;q=0"), None);
    }

    #[test]
    fn star_covers_what_is_not_listed() {
        assert_eq!(one("*"), Some("zstd"));
        assert_eq!(one("gzip;q=0.8, *;q=0.5"), Some("gzip"));
        assert_eq!(one("gzip;q=0.4, *;q=0.5"), Some("zstd"));
    }

    #[test]
    fn identity_only_when_preferred_or_nothing_else() {
        assert_eq!(one("identity"), None);
        assert_eq!(one(""), None);
        assert_eq!(one("deflate, compress"), None);
        assert_eq!(one("identity, gzip"), Some("gzip"));
        assert_eq!(one("identity;q=1, gzip;q=0.5"), None);
        assert_eq!(one("identity;q=0.5, gzip;q=0.5"), Some("gzip"));
        assert_eq!(one("identity;q=0"), None);
        assert_eq!(pick(&[], ALL), None);
    }

    #[test]
    fn case_whitespace_and_lines() {
        assert_eq!(one("  GZip ;  Q=0.7 ,BR;q=0.6"), Some("gzip"));
        assert_eq!(one("x-gzip"), Some("gzip"));
        assert_eq!(one("\tzstd\t"), Some("zstd"));
        assert_eq!(pick(&["gzip;q=0.5", "br"], ALL), Some("br"));
        assert_eq!(pick(&["zstd;q=0", "gzip"], ALL), Some("gzip"));
        assert_eq!(one(",,, ,gzip,,"), Some("gzip"));
    }

    #[test]
    fn unreadable_items_are_ignored() {
        assert_eq!(one("zstd;q=abc, gzip"), Some("gzip"));
        assert_eq!(one("zstd;q=0.1234, gzip;q=0.1"), Some("gzip"));
        assert_eq!(one("zstd;q=2, gzip"), Some("gzip"));
        assert_eq!(one("zstd;q, gzip"), Some("gzip"));
        assert_eq!(one("zstd;q=-1, br;q=, gzip"), Some("gzip"));
        // Lenient: `1.5` is read as 1; other parameters are ignored.
        assert_eq!(one("br;q=1.5;foo=bar"), Some("br"));
        assert_eq!(one("gzip;level=9"), Some("gzip"));
    }

    #[test]
    fn quality_grammar() {
        assert_eq!(parse_quality(b"0"), Some(0));
        assert_eq!(parse_quality(b"0."), Some(0));
        assert_eq!(parse_quality(b"0.5"), Some(500));
        assert_eq!(parse_quality(b"0.05"), Some(50));
        assert_eq!(parse_quality(b"0.123"), Some(123));
        assert_eq!(parse_quality(b"1"), Some(1000));
        assert_eq!(parse_quality(b"1.000"), Some(1000));
        assert_eq!(parse_quality(b"0.1234"), None);
        assert_eq!(parse_quality(b".5"), None);
        assert_eq!(parse_quality(b"00.5"), None);
        assert_eq!(parse_quality(b"0.5a"), None);
        assert_eq!(parse_quality(b""), None);
    }

    #[test]
    fn any_bytes_never_panic() {
        let mut headers = HeaderMap::new();
        headers.append(
            ACCEPT_ENCODING,
            HeaderValue::from_bytes(b"gz\xffip;q=0.\xff, ;;;=, =;q=;, br;q=0.9").unwrap(),
        );
        assert_eq!(negotiate(&headers, |_| true), Some(Encoding::Brotli));
    }
}
