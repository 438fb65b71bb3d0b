//! NDJSON bodies: split into lines as they arrive (in chunks of any size)
//! and each line checked as the import checks it.
#![no_main]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use opentime::http::{Line, LineReader, parse_import_line};

/// A body that arrives in the chunks the input's first byte decides.
struct Chunks(VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .0
                .pop_front()
                .map(|chunk| Ok(hyper::body::Frame::data(chunk))),
        )
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, body)) = data.split_first() else {
        return;
    };
    let size = usize::from(size).max(1);
    let chunks: VecDeque<Bytes> = body.chunks(size).map(Bytes::copy_from_slice).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut reader = LineReader::new(Chunks(chunks), 256);
        let mut last = 0;
        while let Some(line) = reader.next_line().await.unwrap() {
            let number = match line {
                Line::Text { number, bytes } => {
                    assert!(bytes.len() <= 256);
                    assert!(!bytes.contains(&b'\n'));
                    let _ = parse_import_line(&bytes);
                    number
                }
                Line::TooLong { number } => number,
            };
            assert!(number > last, "lines are numbered in order");
            last = number;
        }
    });
});
