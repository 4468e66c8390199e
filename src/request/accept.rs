//! `Accept` header negotiation: does the client ask for `text/event-stream`?

use http::{HeaderMap, header::ACCEPT};

/// Returns `true` when the request's `Accept` headers prefer `text/event-stream`.
///
/// Every `Accept` header line is parsed as RFC 9110 describes it: comma-separated media
/// ranges, each with parameters (tokens or quoted strings) and an optional `q` weight;
/// type names compare case-insensitively. The answer is `true` when `text/event-stream`
/// is listed with a weight above zero and no other *specific* media type (one without a
/// `*`) has the same or a higher weight. Wildcards never count, so `*/*` and `text/*`
/// alone do not ask for events, and `text/event-stream, */*;q=0.1` does.
///
/// A missing or malformed header gives `false`, never an error: such a request is left to
/// the inner service.
///
/// This is the rule [`SseLayer`](crate::SseLayer) applies by default; custom predicates
/// can reuse it.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::ACCEPT};
/// use tower_sse::accepts_event_stream;
///
/// let accept = |value| {
///     let mut headers = HeaderMap::new();
///     headers.insert(ACCEPT, HeaderValue::from_static(value));
///     accepts_event_stream(&headers)
/// };
///
/// assert!(accept("text/event-stream"));
/// assert!(accept("application/json;q=0.9, text/event-stream"));
/// // htmx sends this on ordinary requests: HTML is preferred as much as events.
/// assert!(!accept("text/html, text/event-stream"));
/// assert!(!accept("*/*"));
/// assert!(!accept("text/event-stream;q=0"));
/// ```
pub fn accepts_event_stream(headers: &HeaderMap) -> bool {
    let mut prefs = Preferences::default();
    for value in headers.get_all(ACCEPT) {
        if parse_accept(value.as_bytes(), &mut prefs).is_none() {
            return false;
        }
    }
    match prefs.event_stream {
        Some(q) => q > 0 && prefs.best_other.is_none_or(|other| q > other),
        None => false,
    }
}

/// What the `Accept` headers say, reduced to what the decision needs; weights are in
/// thousandths (0..=1000).
#[derive(Default)]
struct Preferences {
    /// The highest weight given to `text/event-stream`.
    event_stream: Option<u16>,
    /// The highest weight given to any other specific media type.
    best_other: Option<u16>,
}

impl Preferences {
    fn record(&mut self, kind: &[u8], subtype: &[u8], q: u16) {
        let slot = if kind.eq_ignore_ascii_case(b"text")
            && subtype.eq_ignore_ascii_case(b"event-stream")
        {
            &mut self.event_stream
        } else if kind != b"*" && subtype != b"*" {
            &mut self.best_other
        } else {
            return;
        };
        *slot = Some(slot.map_or(q, |old| old.max(q)));
    }
}

/// Parses one header value into `prefs`; `None` if it is malformed.
fn parse_accept(input: &[u8], prefs: &mut Preferences) -> Option<()> {
    let mut cur = Cursor { input, pos: 0 };
    loop {
        // `#rule` lists allow empty elements: ", ,text/plain".
        while matches!(cur.peek(), Some(b',' | b' ' | b'\t')) {
            cur.pos += 1;
        }
        if cur.peek().is_none() {
            return Some(());
        }
        let kind = cur.token()?;
        cur.expect(b'/')?;
        let subtype = cur.token()?;
        let mut q = 1000;
        loop {
            cur.skip_ows();
            match cur.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    cur.pos += 1;
                    cur.skip_ows();
                    if matches!(cur.peek(), None | Some(b',' | b';')) {
                        continue; // an empty parameter is allowed
                    }
                    let name = cur.token()?;
                    cur.expect(b'=')?;
                    if name.eq_ignore_ascii_case(b"q") {
                        q = parse_qvalue(cur.token()?)?;
                    } else if cur.peek() == Some(b'"') {
                        cur.quoted_string()?;
                    } else {
                        cur.token()?;
                    }
                }
                Some(_) => return None,
            }
        }
        prefs.record(kind, subtype, q);
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
pub(crate) fn parse_qvalue(value: &[u8]) -> Option<u16> {
    let (&first, rest) = value.split_first()?;
    let fraction = match rest {
        [] => &[][..],
        [b'.', digits @ ..] if digits.len() <= 3 => digits,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for i in 0..3 {
        let digit = match fraction.get(i) {
            Some(d) if d.is_ascii_digit() => u16::from(d - b'0'),
            Some(_) => return None,
            None => 0,
        };
        thousandths = thousandths * 10 + digit;
    }
    match first {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    /// `token = 1*tchar`
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.input[start..self.pos])
    }

    /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE`
    fn quoted_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    let escaped = *self.input.get(self.pos + 1)?;
                    if !(escaped == b'\t' || escaped >= 0x20) || escaped == 0x7f {
                        return None;
                    }
                    self.pos += 2;
                }
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => self.pos += 1,
                _ => return None,
            }
        }
    }
}

fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accepts(values: &[&'static str]) -> bool {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT, HeaderValue::from_static(value));
        }
        accepts_event_stream(&headers)
    }

    #[test]
    fn the_negotiation_table() {
        let table: &[(&str, bool)] = &[
            ("text/event-stream", true),
            ("TEXT/Event-Stream", true),
            ("text/event-stream; charset=utf-8", true),
            ("application/json;q=0.9, text/event-stream", true),
            ("text/event-stream, */*;q=0.1", true),
            ("text/html, text/event-stream", false),
            ("*/*", false),
            ("text/*", false),
            ("text/event-stream;q=0", false),
            ("text/event-stream;q=0.000", false),
            ("text/event-stream;q=0.001", true),
            ("text/event-stream;Q=0.5, text/html;q=0.4", true),
            ("text/event-stream;q=0.5, text/html;q=0.5", false),
            ("text/event-stream;q=0.5, text/html;q=0.6", false),
            ("text/event-stream;q=0.5, text/*;q=1, */*", true),
            ("text/event-stream, application/*", true),
            // Browsers' EventSource.
            ("text/event-stream", true),
            // A browser navigation.
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
                false,
            ),
            // Parameters, quoted strings with commas and escapes.
            (
                "text/event-stream;foo=\"a, b;c\";q=1, text/html;q=0.5",
                true,
            ),
            ("text/html;x=\"q=1, text/event-stream\";q=0.1", false),
            ("text/event-stream;x=\"a\\\"b\", text/plain;q=0.3", true),
            // Empty list elements and whitespace.
            (" , text/event-stream ,, ", true),
            ("text/event-stream ; q=0.9 ; ", true),
            ("text/event-stream;;q=0.5", true),
        ];
        for &(value, expected) in table {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
            assert_eq!(accepts_event_stream(&headers), expected, "Accept: {value}");
        }
    }

    #[test]
    fn no_accept_header() {
        assert!(!accepts(&[]));
    }

    #[test]
    fn every_header_line_counts() {
        assert!(accepts(&["application/json;q=0.5", "text/event-stream"]));
        assert!(!accepts(&["text/event-stream", "text/html"]));
        assert!(!accepts(&["text/html", "text/event-stream"]));
    }

    #[test]
    fn malformed_goes_to_inner() {
        for value in [
            "text",
            "text/",
            "/event-stream",
            "text/event-stream;q",
            "text/event-stream;q=",
            "text/event-stream;q=2",
            "text/event-stream;q=1.5",
            "text/event-stream;q=0.1234",
            "text/event-stream;q=abc",
            "text/event-stream;q=\"1\"",
            "text/event-stream;x=\"unterminated",
            "text/event-stream x",
            "text/event-stream;=1",
            "text/event-stream/x",
            "text/event-stream;x=a\"b",
        ] {
            assert!(!accepts(&[value]), "Accept: {value}");
        }
        // One malformed line spoils the whole negotiation.
        assert!(!accepts(&["text/event-stream", "text/;"]));
    }

    #[test]
    fn non_ascii_bytes_do_not_panic() {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_bytes(b"text/event-stream;x=\"\xff\xfe\"").unwrap(),
        );
        assert!(accepts_event_stream(&headers));
        headers.insert(
            ACCEPT,
            HeaderValue::from_bytes(b"text/\xffevent-stream").unwrap(),
        );
        assert!(!accepts_event_stream(&headers));
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue(b"1"), Some(1000));
        assert_eq!(parse_qvalue(b"1."), Some(1000));
        assert_eq!(parse_qvalue(b"1.000"), Some(1000));
        assert_eq!(parse_qvalue(b"1.001"), None);
        assert_eq!(parse_qvalue(b"0.5"), Some(500));
        assert_eq!(parse_qvalue(b"0.05"), Some(50));
        assert_eq!(parse_qvalue(b"0.123"), Some(123));
        assert_eq!(parse_qvalue(b"0"), Some(0));
        assert_eq!(parse_qvalue(b".5"), None);
        assert_eq!(parse_qvalue(b""), None);
        assert_eq!(parse_qvalue(b"0.-1"), None);
    }

    #[test]
    fn huge_header_is_linear_and_safe() {
        let mut value = String::new();
        for i in 0..10_000 {
            value.push_str(&format!("application/x-{i};q=0.5, "));
        }
        value.push_str("text/event-stream");
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(&value).unwrap());
        assert!(accepts_event_stream(&headers));
    }
}
