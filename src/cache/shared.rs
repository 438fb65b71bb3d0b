//! The second level of the render cache: renders shared by every replica
//! through Redis ([`crate::store::redis_renders`]), so that a render done
//! (or warmed) on one replica is a hit on all.
//!
//! It is looked up only after an in-process miss, inside the single flight
//! of that key, so concurrent requests for one image cost one Redis read.
//! What is written to it is the caller's choice (`cache/mod.rs`): renders
//! asked for again, rendered ahead or warmed, never a one-off.
//! Lookups have a short budget of their own: a slow Redis costs a render,
//! never a late image.
//!
//! Writes never wait on Redis where a request does: [`SharedCache::put`]
//! only queues the render for one writer task per cache, which takes
//! whatever has queued and writes it as one batch, in two round trips. A
//! full queue drops the write (counted): a render not shared costs another
//! replica a render, while an unbounded queue would cost memory without
//! bound when Redis is slow.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::render::RenderKey;
use crate::store::RedisStore;
use crate::store::redis_renders::{RenderToStore, SharedBudget, SharedRender, SharedWrite};

/// How long a shared lookup may take.
const SHARED_BUDGET: Duration = Duration::from_millis(50);

/// How long one batch of writes may take. Longer than a lookup's: nobody
/// waits for it but warming, and a batch carries up to [`BATCH_BYTES`].
const WRITE_BUDGET: Duration = Duration::from_millis(500);

/// Writes queued for the writer. Past this a write is dropped: Redis is
/// slower than the renders worth sharing arrive, and what is queued holds
/// images in memory (most of them also in the in-process cache).
const WRITE_QUEUE: usize = 256;

/// The most renders in one batch, and about the most bytes (a batch stops
/// growing once it passes this): enough that a send's spike is written in
/// few round trips, little enough that one batch is a few milliseconds on
/// the wire.
const BATCH_RENDERS: usize = 64;
const BATCH_BYTES: usize = 2 << 20;

/// How long a batch that nobody waits for may gather more writes before
/// it is sent. Without it, the writer sends whatever arrived during the
/// last round trip, one or two renders at a time.
const GATHER: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct SharedCache {
    /// For lookups, with [`SHARED_BUDGET`].
    store: RedisStore,
    max_entry: usize,
    metrics: Arc<Metrics>,
    /// The writer task's queue.
    writes: mpsc::Sender<QueuedWrite>,
}

/// A render waiting to be written, and who waits for it, if anyone.
struct QueuedWrite {
    key: RenderKey,
    render: SharedRender,
    written: Option<oneshot::Sender<()>>,
}

/// The writer task's half: one batch at a time, on a connection of its
/// own, so that a large batch never holds up the requests' lookups.
struct Writer {
    store: RedisStore,
    budget: SharedBudget,
    metrics: Arc<Metrics>,
}

impl SharedCache {
    /// The cache, and its writer task on the current runtime, which ends
    /// when the last clone of the cache is dropped.
    pub fn new(
        store: &RedisStore,
        max_bytes: u64,
        ttl: Duration,
        max_entry: usize,
        metrics: Arc<Metrics>,
    ) -> SharedCache {
        let writer_store = store.own_connection().unwrap_or_else(|error| {
            tracing::warn!(%error, "the shared cache's writer shares the lookups' connection");
            store.clone()
        });
        let writer = Writer {
            store: writer_store.with_budget(WRITE_BUDGET),
            budget: SharedBudget {
                ttl_secs: ttl.as_secs(),
                window_bytes: max_bytes / 2,
            },
            metrics: Arc::clone(&metrics),
        };
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(writer.run(queue));
        SharedCache {
            store: store.with_budget(SHARED_BUDGET),
            max_entry,
            metrics,
            writes,
        }
    }

    /// The render if a replica stored it; `None` on a miss or an error
    /// (counted), after which the caller renders.
    pub async fn get(&self, key: &RenderKey) -> Option<SharedRender> {
        let count = |result: &str| {
            self.metrics
                .shared_cache_lookups
                .with_label_values(&[result])
                .inc();
        };
        match self.store.shared_render(&key.to_hex()).await {
            Ok(Some(render)) => {
                count("hit");
                Some(render)
            }
            Ok(None) => {
                count("miss");
                None
            }
            Err(error) => {
                count("error");
                tracing::debug!(%error, "shared render cache lookup failed; rendering");
                None
            }
        }
    }

    /// Offers a render to the other replicas: queues it for the writer and
    /// returns at once, or drops it (counted) when the queue is full.
    pub fn put(&self, key: RenderKey, render: SharedRender) {
        if self.too_large(&render) {
            return;
        }
        let queued = QueuedWrite {
            key,
            render,
            written: None,
        };
        if self.writes.try_send(queued).is_err() {
            self.count_write("dropped");
        }
    }

    /// Stores a render and waits until the writer has written it (or
    /// failed to): cache warming, which must know the render reached every
    /// replica before it counts it done. Waits for room in the queue too,
    /// like warming waits for a render slot.
    pub async fn put_now(&self, key: RenderKey, render: SharedRender) {
        if self.too_large(&render) {
            return;
        }
        let (written, answer) = oneshot::channel();
        let queued = QueuedWrite {
            key,
            render,
            written: Some(written),
        };
        if self.writes.send(queued).await.is_err() {
            self.count_write("dropped");
            return;
        }
        // An error means the writer is gone; its count says why.
        let _ = answer.await;
    }

    /// Whether a render is over the entry limit (counted: it stays in its
    /// replica).
    fn too_large(&self, render: &SharedRender) -> bool {
        let too_large = render.bytes.len() > self.max_entry;
        if too_large {
            self.count_write("too_large");
        }
        too_large
    }

    /// Counts a write by its result; `not_repeated` (a render asked for
    /// once, kept in its replica) is counted by the caller.
    pub(super) fn count_write(&self, result: &str) {
        count_write(&self.metrics, result);
    }
}

impl Writer {
    /// Writes what is queued, batch after batch, until every sender is
    /// gone.
    async fn run(self, mut queue: mpsc::Receiver<QueuedWrite>) {
        let mut batch = Vec::with_capacity(BATCH_RENDERS);
        while let Some(first) = queue.recv().await {
            let someone_waits = first.written.is_some();
            batch.push(first);
            if !someone_waits {
                tokio::time::sleep(GATHER).await;
            }
            let mut bytes = batch[0].render.bytes.len();
            while batch.len() < BATCH_RENDERS && bytes < BATCH_BYTES {
                let Ok(next) = queue.try_recv() else {
                    break;
                };
                bytes += next.render.bytes.len();
                batch.push(next);
            }
            self.write(&mut batch).await;
        }
    }

    /// Writes one batch, counts what became of each render, and tells
    /// those who wait; leaves `batch` empty.
    async fn write(&self, batch: &mut Vec<QueuedWrite>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let keys: Vec<String> = batch.iter().map(|queued| queued.key.to_hex()).collect();
        let renders: Vec<RenderToStore<'_>> = batch
            .iter()
            .zip(&keys)
            .map(|(queued, key_hex)| RenderToStore {
                key_hex,
                bytes: &queued.render.bytes,
                compact: queued.render.compact,
            })
            .collect();
        self.metrics.shared_cache_write_batches.inc();
        match self
            .store
            .store_shared_renders(&renders, self.budget, now)
            .await
        {
            Ok(results) => {
                for result in results {
                    let result = match result {
                        SharedWrite::Stored => "stored",
                        SharedWrite::Full => "full",
                        SharedWrite::Refused => "error",
                    };
                    count_write(&self.metrics, result);
                }
            }
            Err(error) => {
                self.metrics
                    .shared_cache_writes
                    .with_label_values(&["error"])
                    .inc_by(batch.len() as u64);
                tracing::debug!(%error, renders = batch.len(), "shared render cache writes failed");
            }
        }
        for queued in batch.drain(..) {
            if let Some(written) = queued.written {
                // Nobody may be waiting any more: nothing to tell.
                let _ = written.send(());
            }
        }
    }
}

fn count_write(metrics: &Metrics, result: &str) {
    metrics
        .shared_cache_writes
        .with_label_values(&[result])
        .inc();
}
