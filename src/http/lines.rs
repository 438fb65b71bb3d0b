//! Request bodies read line by line as they arrive: NDJSON imports and
//! lists of recipients of any length, in constant memory.
//!
//! The reader holds at most one line and the frame it came in. A line
//! longer than the bound is reported as such and skipped up to its end, so
//! one bad line costs that line only.

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;

/// A line, numbered from 1, or why it could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text { number: u64, bytes: Bytes },
    TooLong { number: u64 },
}

/// The body stopped before its end (the client went away, or sent a
/// malformed chunk).
#[derive(Debug, thiserror::Error)]
#[error("reading the body: {0}")]
pub struct ReadError(String);

pub struct LineReader<B> {
    body: B,
    pending: BytesMut,
    max_line: usize,
    number: u64,
    /// How much of `pending` is known to hold no newline.
    scanned: usize,
    /// Inside a line that passed the bound: drop bytes up to its end.
    skipping: bool,
    finished: bool,
}

impl<B> LineReader<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    pub fn new(body: B, max_line: usize) -> LineReader<B> {
        LineReader {
            body,
            pending: BytesMut::new(),
            max_line,
            number: 0,
            scanned: 0,
            skipping: false,
            finished: false,
        }
    }

    /// The next line without its `\n` (and `\r`), skipping blank lines; `None`
    /// at the end of the body.
    pub async fn next_line(&mut self) -> Result<Option<Line>, ReadError> {
        loop {
            let newline = self.pending[self.scanned..]
                .iter()
                .position(|&byte| byte == b'\n')
                .map(|at| self.scanned + at);
            self.scanned = self.pending.len();
            if let Some(end) = newline {
                self.scanned = 0;
                let mut line = self.pending.split_to(end + 1).freeze();
                self.number += 1;
                if std::mem::take(&mut self.skipping) {
                    return Ok(Some(Line::TooLong {
                        number: self.number,
                    }));
                }
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if line.len() > self.max_line {
                    return Ok(Some(Line::TooLong {
                        number: self.number,
                    }));
                }
                return Ok(Some(Line::Text {
                    number: self.number,
                    bytes: line,
                }));
            }
            // One byte more than the bound, for a `\r` before the newline.
            if self.pending.len() > self.max_line + 1 {
                self.skipping = true;
                self.pending.clear();
                self.scanned = 0;
            }
            if self.finished {
                if self.pending.is_empty() && !self.skipping {
                    return Ok(None);
                }
                // A last line without its newline.
                self.pending.extend_from_slice(b"\n");
                continue;
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), ReadError> {
        if self.body.is_end_stream() {
            self.finished = true;
            return Ok(());
        }
        match self.body.frame().await {
            None => self.finished = true,
            Some(Err(error)) => return Err(ReadError(error.to_string())),
            Some(Ok(frame)) => {
                if let Ok(mut data) = frame.into_data() {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        self.pending.extend_from_slice(chunk);
                        let taken = chunk.len();
                        data.advance(taken);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Frame;
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body that arrives in the given chunks.
    struct Chunks(VecDeque<Bytes>);

    impl hyper::body::Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(
                self.get_mut()
                    .0
                    .pop_front()
                    .map(|chunk| Ok(Frame::data(chunk))),
            )
        }
    }

    async fn lines(chunks: &[&str], max: usize) -> Vec<Line> {
        let chunks = chunks
            .iter()
            .map(|chunk| Bytes::copy_from_slice(chunk.as_bytes()))
            .collect();
        let mut reader = LineReader::new(Chunks(chunks), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            out.push(line);
        }
        out
    }

    fn text(number: u64, text: &str) -> Line {
        Line::Text {
            number,
            bytes: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    #[tokio::test]
    async fn lines_split_across_chunks_come_whole_and_numbered() {
        let got = lines(&["{\"a\"", ":1}\r\n\n{\"b\":2}\n{\"c", "\":3}"], 64).await;
        assert_eq!(
            got,
            vec![
                text(1, "{\"a\":1}"),
                text(3, "{\"b\":2}"),
                text(4, "{\"c\":3}")
            ]
        );
    }

    #[tokio::test]
    async fn a_long_line_is_reported_and_the_next_one_is_read() {
        let long = "x".repeat(40);
        let got = lines(&["ok\n", &long[..20], &long[20..], "\nafter\n"], 16).await;
        assert_eq!(
            got,
            vec![text(1, "ok"), Line::TooLong { number: 2 }, text(3, "after")]
        );
        let got = lines(&[&long], 16).await;
        assert_eq!(got, vec![Line::TooLong { number: 1 }]);
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_bound_fits_however_its_crlf_arrives() {
        let full = "y".repeat(16);
        for chunks in [
            vec![format!("{full}\r\n")],
            vec![full.clone(), "\r".into(), "\n".into()],
            vec![format!("{full}\r"), "\n".into()],
        ] {
            let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
            assert_eq!(lines(&chunks, 16).await, vec![text(1, &full)], "{chunks:?}");
        }
        // A byte at a time, as a slow client sends it.
        let drip: Vec<String> = format!("{full}\nz\n").chars().map(String::from).collect();
        let drip: Vec<&str> = drip.iter().map(String::as_str).collect();
        assert_eq!(lines(&drip, 16).await, vec![text(1, &full), text(2, "z")]);
    }
}
