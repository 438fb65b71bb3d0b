//! One pass over a feed's document, from its source to batches of items:
//! the parser runs on the blocking pool and reads the document as it
//! arrives (a file through a buffer, a URL's body chunk by chunk through a
//! bounded channel), and hands items on in batches through another bounded
//! channel to the caller, who writes them to the store. At any moment
//! memory holds a few chunks, the item being read and a few batches,
//! whatever the document's size.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

use super::config::{FeedConfig, FeedFormat, FeedSource};
use super::item::{Item, finish};
use super::{json_items, tabular, xml};
use crate::remote::get_stream;

/// Items per batch written to the store.
pub const BATCH_ITEMS: usize = 500;

/// The largest document a feed may be.
pub const MAX_FEED_BYTES: u64 = 512 * 1024 * 1024;

/// Chunks of a body in flight between the connection and the parser.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Batches in flight between the parser and the store.
const BATCHES_IN_FLIGHT: usize = 2;

/// What a pass read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub items: u64,
    /// Items without the key field, and JSON elements that are no object.
    pub skipped: u64,
}

/// Reads the feed within `timeout` and hands its items, as JSON text in
/// batches, to `write`; answers the counts, or why the pass failed (the
/// source, the document, or `write`'s own error).
pub async fn pull<W, F>(
    config: &FeedConfig,
    timeout: Duration,
    mut write: W,
) -> Result<Counts, String>
where
    W: FnMut(Vec<String>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let (batch_sender, batches) = mpsc::channel::<Vec<String>>(BATCHES_IN_FLIGHT);
    let format = config.format;
    let key = config.key.clone();
    let work = async {
        let (parsed, fed) = match &config.source {
            FeedSource::File(path) => {
                let path = path.clone();
                let parse = tokio::task::spawn_blocking(move || {
                    let file = std::fs::File::open(&path)
                        .map_err(|error| format!("reading {}: {error}", path.display()))?;
                    parse(
                        format,
                        BufReader::with_capacity(64 * 1024, file),
                        &key,
                        batch_sender,
                    )
                });
                (parse, None)
            }
            FeedSource::Url(url) => {
                let mut body = get_stream(url, timeout, MAX_FEED_BYTES)
                    .await
                    .map_err(|error| error.to_string())?;
                let (chunk_sender, chunks) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
                let parse = tokio::task::spawn_blocking(move || {
                    let reader = BufReader::with_capacity(64 * 1024, ChunkReader::new(chunks));
                    parse(format, reader, &key, batch_sender)
                });
                // Feeds the parser until the body ends, the parser stops
                // (its receiver is gone) or the body fails.
                let feed = async move {
                    while let Some(chunk) = body.chunk().await.map_err(|error| error.to_string())? {
                        if chunk_sender.send(chunk).await.is_err() {
                            break;
                        }
                    }
                    Ok::<(), String>(())
                };
                (parse, Some(feed))
            }
        };
        // The receiver lives in this future, so a write that fails drops
        // it, and the parser's next send fails instead of waiting.
        let writing = async {
            let mut batches = batches;
            while let Some(batch) = batches.recv().await {
                write(batch).await?;
            }
            Ok::<(), String>(())
        };
        let parsed = async {
            parsed
                .await
                .map_err(|error| format!("the parser stopped: {error}"))?
        };
        let (counts, written, fed) = match fed {
            Some(feed) => tokio::join!(parsed, writing, feed),
            None => {
                let (counts, written) = tokio::join!(parsed, writing);
                (counts, written, Ok(()))
            }
        };
        // The first cause wins: a body that failed makes the parser fail
        // on a truncated document, and a store that failed stops both.
        fed?;
        written?;
        counts
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("the refresh took longer than {timeout:?}")))
}

/// Parses the document, finishing each item and sending batches of JSON.
fn parse(
    format: FeedFormat,
    reader: impl BufRead,
    key: &str,
    batches: mpsc::Sender<Vec<String>>,
) -> Result<Counts, String> {
    let mut counts = Counts::default();
    let mut batch = Vec::with_capacity(BATCH_ITEMS);
    let mut receiver_gone = false;
    let mut emit = |mut item: Item| {
        if finish(&mut item, key).is_none() {
            counts.skipped += 1;
            return true;
        }
        counts.items += 1;
        batch.push(serde_json::Value::Object(item).to_string());
        if batch.len() == BATCH_ITEMS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ITEMS));
            if batches.blocking_send(full).is_err() {
                receiver_gone = true;
                return false;
            }
        }
        true
    };
    let not_objects = match format {
        FeedFormat::Rss | FeedFormat::Atom | FeedFormat::GoogleMerchant => {
            xml::read_items(format, reader, &mut emit).map(|()| 0)
        }
        FeedFormat::Csv => tabular::read_items(reader, &mut emit).map(|()| 0),
        FeedFormat::Json => json_items::read_items(reader, &mut emit),
    }?;
    if receiver_gone {
        return Err("the store stopped taking items".into());
    }
    if !batch.is_empty() && batches.blocking_send(batch).is_err() {
        return Err("the store stopped taking items".into());
    }
    counts.skipped += not_objects;
    Ok(counts)
}

/// A body's chunks as a blocking reader, for a parser on the blocking
/// pool: the end of the channel is the end of the body.
struct ChunkReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    fn new(chunks: mpsc::Receiver<Bytes>) -> ChunkReader {
        ChunkReader {
            chunks,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let length = buffer.len().min(self.current.len());
        buffer[..length].copy_from_slice(&self.current[..length]);
        self.current.advance(length);
        Ok(length)
    }
}
