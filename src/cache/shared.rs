//! The second level of the render cache: renders shared by every replica
//! through Redis ([`crate::store::redis_renders`]), so that a render done
//! (or warmed) on one replica is a hit on all.
//!
//! It is looked up only after an in-process miss, inside the single flight
//! of that key, so concurrent requests for one image cost one Redis read.
//! What is written to it is the caller's choice (`cache/mod.rs`): renders
//! asked for again, rendered ahead or warmed, never a one-off.
//! Reads and writes have a short budget of their own: a slow Redis costs a
//! render, never a late image. Writes run in the background.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::metrics::Metrics;
use crate::render::RenderKey;
use crate::store::RedisStore;
use crate::store::redis_renders::SharedWrite;

/// How long a shared lookup or write may take.
const SHARED_BUDGET: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct SharedCache {
    store: RedisStore,
    ttl: Duration,
    max_entry: usize,
    /// Half the bound: see `redis_renders`.
    window_budget: u64,
    metrics: Arc<Metrics>,
}

impl SharedCache {
    pub fn new(
        store: &RedisStore,
        max_bytes: u64,
        ttl: Duration,
        max_entry: usize,
        metrics: Arc<Metrics>,
    ) -> SharedCache {
        SharedCache {
            store: store.with_budget(SHARED_BUDGET),
            ttl,
            max_entry,
            window_budget: max_bytes / 2,
            metrics,
        }
    }

    /// The render's bytes if a replica stored them; `None` on a miss or an
    /// error (counted), after which the caller renders.
    pub async fn get(&self, key: &RenderKey) -> Option<Bytes> {
        let count = |result: &str| {
            self.metrics
                .shared_cache_lookups
                .with_label_values(&[result])
                .inc();
        };
        match self.store.shared_render(&key.to_hex()).await {
            Ok(Some(bytes)) => {
                count("hit");
                Some(Bytes::from(bytes))
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

    /// Offers a fresh render to the other replicas, in the background.
    pub fn put(&self, key: RenderKey, bytes: Bytes) {
        if bytes.len() > self.max_entry {
            self.count_write("too_large");
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            shared.put_now(key, &bytes).await;
        });
    }

    /// Stores a render and waits for the answer (cache warming, which must
    /// know the render reached every replica before it counts it done).
    pub async fn put_now(&self, key: RenderKey, bytes: &[u8]) {
        if bytes.len() > self.max_entry {
            self.count_write("too_large");
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let written = self
            .store
            .store_shared_render(
                &key.to_hex(),
                bytes,
                self.ttl.as_secs(),
                self.window_budget,
                now,
            )
            .await;
        match written {
            Ok(SharedWrite::Stored) => self.count_write("stored"),
            Ok(SharedWrite::Full) => self.count_write("full"),
            Err(error) => {
                self.count_write("error");
                tracing::debug!(%error, "shared render cache write failed");
            }
        }
    }

    /// Counts a write by its result; `not_repeated` (a render asked for
    /// once, kept in its replica) is counted by the caller.
    pub(super) fn count_write(&self, result: &str) {
        self.metrics
            .shared_cache_writes
            .with_label_values(&[result])
            .inc();
    }
}
