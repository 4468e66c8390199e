//! A client for event streams through a proxy: one HTTP/1.1 connection, gzip decoded
//! as it arrives, events split as they complete, keep-alive comments counted.

use std::{io::Write as _, time::Duration};

use http::response::Parts;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use crate::common::send;

/// An open event stream.
pub struct Events {
    pub head: Parts,
    body: Incoming,
    gzip: Option<flate2::write::GzDecoder<Vec<u8>>>,
    text: Vec<u8>,
    /// Comment-only blocks (keep-alives) read so far.
    pub keep_alives: usize,
}

/// What reading the next event gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// An event's data.
    Data(String),
    /// The stream ended.
    End,
    /// Nothing within the deadline.
    Late,
}

impl Events {
    /// Opens `path` through `port` with `Accept: text/event-stream` and
    /// `Accept-Encoding: gzip`, as a browser does.
    pub async fn open(port: u16, path: &str) -> Self {
        // The Host a browser sends: Caddy serves a site by its host.
        let request = http::Request::get(path)
            .header("host", format!("127.0.0.1:{port}"))
            .header("accept", "text/event-stream")
            .header("accept-encoding", "gzip")
            .body(http_body_util::Empty::new())
            .unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let response = send(addr, request).await;
        let (head, body) = response.into_parts();
        let gzip = head
            .headers
            .get("content-encoding")
            .is_some_and(|v| v == "gzip")
            .then(|| flate2::write::GzDecoder::new(Vec::new()));
        Self {
            head,
            body,
            gzip,
            text: Vec::new(),
            keep_alives: 0,
        }
    }

    /// A response header, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        let value = self.head.headers.get(name)?;
        Some(value.to_str().unwrap().to_owned())
    }

    /// The next event's data, waiting at most `deadline`; keep-alives are counted and
    /// skipped.
    pub async fn next(&mut self, deadline: Duration) -> Next {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(data) = self.take_event() {
                return Next::Data(data);
            }
            let frame = match tokio::time::timeout_at(until, self.body.frame()).await {
                Err(_) => return Next::Late,
                Ok(None | Some(Err(_))) => return Next::End,
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(bytes) = frame.into_data() else {
                continue;
            };
            match &mut self.gzip {
                Some(gzip) => {
                    gzip.write_all(&bytes).unwrap();
                    gzip.flush().unwrap();
                    self.text.append(gzip.get_mut());
                }
                None => self.text.extend_from_slice(&bytes),
            }
        }
    }

    /// Removes the first complete event from the text read; `None` when there is none.
    fn take_event(&mut self) -> Option<String> {
        loop {
            let end = self.text.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.text.drain(..end + 2).collect();
            let block = String::from_utf8(block).unwrap();
            let data: Vec<&str> = block
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                return Some(data.join("\n"));
            }
            if block.starts_with(':') {
                self.keep_alives += 1;
            }
        }
    }
}
