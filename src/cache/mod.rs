//! The render cache: rendered bytes by [`RenderKey`], bounded in bytes, with
//! one render per key however many requests ask at once.
//!
//! Keys are hashes of what decides the pixels, never of the recipient, so a
//! million recipients who see the same thing cost one render. Renders run on
//! tokio's blocking pool behind [`RenderLimiter`], so CPU work never stalls
//! the reactor, and a burst of distinct renders turns into fallback images
//! instead of an unbounded queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use tokio::sync::Semaphore;

use crate::metrics::{GaugeGuard, Metrics, TimerGuard};
use crate::render::{RenderError, RenderKey, RenderPlan, Renderer};

/// Bytes counted per entry on top of the image, for the key, the `Bytes`
/// header and moka's bookkeeping: an estimate that keeps the bound honest
/// for caches full of small images.
const ENTRY_OVERHEAD: u32 = 160;

#[derive(Clone)]
pub struct RenderCache {
    cache: Cache<RenderKey, Bytes>,
    limiter: Arc<RenderLimiter>,
    renderer: Arc<Renderer>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}

/// Where the bytes of a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Already in the cache (or rendered by a concurrent request we waited
    /// for).
    Cache,
    /// Rendered for this request.
    Render,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderFailure {
    #[error("render queue is full")]
    Overloaded,
    #[error("render failed: {0}")]
    Failed(Arc<RenderError>),
    #[error("render task ended abnormally: {0}")]
    Panicked(String),
}

/// Bounds CPU work: renders at once, and requests waiting for a slot.
#[derive(Debug)]
pub struct RenderLimiter {
    /// One permit per render slot, sized to the cores: renders are pure CPU,
    /// so more at once than cores only makes each one slower.
    slots: Semaphore,
    /// Requests that may wait for a slot; past this the fallback image is
    /// served at once rather than queueing without bound.
    queue_limit: usize,
    waiting: AtomicUsize,
    /// A request waits at most this long for a slot.
    wait: Duration,
}

impl RenderLimiter {
    pub fn new(slots: usize, queue_limit: usize, wait: Duration) -> RenderLimiter {
        RenderLimiter {
            slots: Semaphore::new(slots.max(1)),
            queue_limit,
            waiting: AtomicUsize::new(0),
            wait,
        }
    }
}

impl RenderCache {
    pub fn new(
        max_bytes: u64,
        limiter: RenderLimiter,
        renderer: Arc<Renderer>,
        metrics: Arc<Metrics>,
    ) -> RenderCache {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &RenderKey, bytes: &Bytes| {
                u32::try_from(bytes.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .build();
        RenderCache {
            cache,
            limiter: Arc::new(limiter),
            renderer,
            metrics,
        }
    }

    /// The cached bytes for `key`, or renders `plan` once for every request
    /// waiting on the same key.
    pub async fn get_or_render(
        &self,
        key: RenderKey,
        plan: RenderPlan,
    ) -> Result<(Bytes, Source), RenderFailure> {
        if let Some(bytes) = self.cache.get(&key).await {
            self.metrics.cache_lookups.with_label_values(&["hit"]).inc();
            return Ok((bytes, Source::Cache));
        }
        self.metrics
            .cache_lookups
            .with_label_values(&["miss"])
            .inc();
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(self.render(plan))
            .await
            .map_err(|failure| (*failure).clone())?;
        let source = if entry.is_fresh() {
            Source::Render
        } else {
            Source::Cache
        };
        Ok((entry.into_value(), source))
    }

    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.renderer
    }

    /// Bytes held now, for the metrics.
    pub fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }

    async fn render(&self, plan: RenderPlan) -> Result<Bytes, RenderFailure> {
        let limiter = &self.limiter;
        let permit = match limiter.slots.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if limiter.waiting.fetch_add(1, Ordering::AcqRel) >= limiter.queue_limit {
                    limiter.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(RenderFailure::Overloaded);
                }
                let _queued = GaugeGuard::new(&self.metrics.render_queue);
                let acquired = tokio::time::timeout(limiter.wait, limiter.slots.acquire()).await;
                limiter.waiting.fetch_sub(1, Ordering::AcqRel);
                match acquired {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(RenderFailure::Overloaded),
                }
            }
        };
        let renderer = self.renderer.clone();
        let metrics = self.metrics.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let _in_flight = GaugeGuard::new(&metrics.renders_in_flight);
            let _timer = TimerGuard::new(metrics.render_seconds.clone());
            metrics.renders.inc();
            renderer.render(&plan)
        })
        .await;
        drop(permit);
        match rendered {
            Ok(Ok(bytes)) => Ok(Bytes::from(bytes)),
            Ok(Err(error)) => Err(RenderFailure::Failed(Arc::new(error))),
            Err(join_error) => Err(RenderFailure::Panicked(join_error.to_string())),
        }
    }
}
