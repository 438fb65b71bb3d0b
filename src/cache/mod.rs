//! The render cache: rendered bytes by [`RenderKey`], bounded in bytes, with
//! one render per key however many requests ask at once.
//!
//! Keys are hashes of what decides the pixels, never of the recipient, so a
//! million recipients who see the same thing cost one render. Renders run on
//! tokio's blocking pool behind [`RenderLimiter`], so CPU work never stalls
//! the reactor, and a burst of distinct renders turns into fallback images
//! instead of an unbounded queue.
//!
//! With Redis, a second level ([`shared::SharedCache`]) shares renders
//! between replicas: an in-process miss looks there before it renders, and
//! a fresh render is stored there for the others.

pub mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use tokio::sync::Semaphore;

use crate::metrics::{GaugeGuard, Metrics, TimerGuard};
use crate::render::{Artwork, RenderError, RenderKey, Renderer};

use self::shared::SharedCache;

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
    shared: Option<SharedCache>,
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}

/// Whether a render is for a request that waits, or ahead of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urgency {
    Request,
    Ahead,
    /// A cache warming job: waits for a slot as long as it takes, one
    /// render at a time, outside the requests' queue.
    Warm,
}

/// Where the bytes of a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Already in the cache (or rendered by a concurrent request we waited
    /// for).
    Cache,
    /// From the cache shared by the replicas, in Redis.
    Shared,
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
    slots: Arc<Semaphore>,
    /// Requests that may wait for a slot; past this the fallback image is
    /// served at once rather than queueing without bound.
    queue_limit: usize,
    waiting: AtomicUsize,
    /// A request waits at most this long for a slot.
    wait: Duration,
    /// Renders cache warming may run at once: one fewer than the slots.
    warm: Semaphore,
}

impl RenderLimiter {
    pub fn new(slots: usize, queue_limit: usize, wait: Duration) -> RenderLimiter {
        RenderLimiter {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            queue_limit,
            waiting: AtomicUsize::new(0),
            wait,
            warm: Semaphore::new(slots.saturating_sub(1).max(1)),
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
            shared: None,
        }
    }

    /// The same cache with a second level shared in Redis.
    pub fn with_shared(mut self, shared: SharedCache) -> RenderCache {
        self.shared = Some(shared);
        self
    }

    /// The cached bytes for `key`, or renders `plan` once for every request
    /// waiting on the same key.
    pub async fn get_or_render(
        &self,
        key: RenderKey,
        artwork: impl Into<Artwork>,
    ) -> Result<(Bytes, Source), RenderFailure> {
        let artwork = artwork.into();
        if let Some(bytes) = self.cache.get(&key).await {
            self.metrics.cache_lookups.with_label_values(&["hit"]).inc();
            return Ok((bytes, Source::Cache));
        }
        self.metrics
            .cache_lookups
            .with_label_values(&["miss"])
            .inc();
        self.fill(key, artwork, Urgency::Request).await
    }

    /// What a cache warming job does for one image: nothing when it is
    /// cached here; else takes it from the shared cache, or renders it
    /// (waiting for a free slot, one at a time) and stores it in both.
    pub async fn warm(&self, key: RenderKey, artwork: Artwork) -> Result<Source, RenderFailure> {
        if self.cache.contains_key(&key) {
            return Ok(Source::Cache);
        }
        // All jobs together leave at least one slot to requests.
        let _turn = self
            .limiter
            .warm
            .acquire()
            .await
            .map_err(|_| RenderFailure::Overloaded)?;
        let (_, source) = self.fill(key, artwork, Urgency::Warm).await?;
        Ok(source)
    }

    /// Renders `artwork` now, through the render slots like a request, and
    /// caches nothing: the preview page, which reports the render's time.
    pub async fn render_now(&self, artwork: Artwork) -> Result<Bytes, RenderFailure> {
        self.render(artwork, Urgency::Request).await
    }

    /// The single flight of one key: the shared cache, then a render.
    async fn fill(
        &self,
        key: RenderKey,
        artwork: Artwork,
        urgency: Urgency,
    ) -> Result<(Bytes, Source), RenderFailure> {
        let from_shared = AtomicBool::new(false);
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(async {
                if let Some(shared) = &self.shared {
                    if let Some(bytes) = shared.get(&key).await {
                        from_shared.store(true, Ordering::Relaxed);
                        return Ok(bytes);
                    }
                    let bytes = self.render(artwork, urgency).await?;
                    if urgency == Urgency::Warm {
                        shared.put_now(key, &bytes).await;
                    } else {
                        shared.put(key, bytes.clone());
                    }
                    return Ok(bytes);
                }
                self.render(artwork, urgency).await
            })
            .await
            .map_err(|failure| (*failure).clone())?;
        let source = match (entry.is_fresh(), from_shared.load(Ordering::Relaxed)) {
            (true, true) => Source::Shared,
            (true, false) => Source::Render,
            (false, _) => Source::Cache,
        };
        Ok((entry.into_value(), source))
    }

    /// Renders `work` into the cache in the background, one after the
    /// other, ahead of the requests that will want it. What is cached
    /// already is skipped, and the work stops as soon as no render slot is
    /// free: work ahead never queues and never delays an open that is
    /// waiting. A request that arrives while a piece renders waits for it
    /// rather than rendering again.
    pub fn render_ahead(&self, work: Vec<(RenderKey, Artwork)>) {
        let work: Vec<(RenderKey, Artwork)> = work
            .into_iter()
            .filter(|(key, _)| !self.cache.contains_key(key))
            .collect();
        if work.is_empty() {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            for (key, artwork) in work {
                match cache.fill(key, artwork, Urgency::Ahead).await {
                    Ok((_, Source::Render)) => cache.metrics.renders_ahead.inc(),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
    }

    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.renderer
    }

    /// Bytes held now, for the metrics. moka counts lazily, so its pending
    /// bookkeeping is run first; this is for scrapes, not the request path.
    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }

    async fn render(&self, artwork: Artwork, urgency: Urgency) -> Result<Bytes, RenderFailure> {
        let limiter = &self.limiter;
        let permit = match Arc::clone(&limiter.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) if urgency == Urgency::Ahead => return Err(RenderFailure::Overloaded),
            Err(_) if urgency == Urgency::Warm => loop {
                // Never queued ahead of a request: a request that finds no
                // slot waits in line, and warming only takes one nobody
                // waits for.
                tokio::time::sleep(Duration::from_millis(5)).await;
                if let Ok(permit) = Arc::clone(&limiter.slots).try_acquire_owned() {
                    break permit;
                }
            },
            Err(_) => {
                // Leaves the queue however the wait ends, a client that
                // hangs up while it waits (its future dropped) included:
                // otherwise each such client would take a place in the
                // queue for good.
                let (_in_line, ahead) = InLine::join(&limiter.waiting);
                if ahead >= limiter.queue_limit {
                    return Err(RenderFailure::Overloaded);
                }
                let _queued = GaugeGuard::new(&self.metrics.render_queue);
                let acquired =
                    tokio::time::timeout(limiter.wait, Arc::clone(&limiter.slots).acquire_owned())
                        .await;
                match acquired {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(RenderFailure::Overloaded),
                }
            }
        };
        let renderer = self.renderer.clone();
        let metrics = self.metrics.clone();
        // The slot goes with the render, not with this future: a client
        // that hangs up drops the future, while the render runs on.
        let rendered = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            let _in_flight = GaugeGuard::new(&metrics.renders_in_flight);
            let _timer = TimerGuard::new(metrics.render_seconds.clone());
            metrics.renders.inc();
            renderer.render_artwork(&artwork)
        })
        .await;
        match rendered {
            Ok(Ok(mut bytes)) => {
                // The encoders reserve for the worst case (a PNG buffer
                // starts at a quarter of the raw pixels), and the cache
                // keeps what it is given: without this a cached card held
                // about twice the bytes the cache's bound counts.
                bytes.shrink_to_fit();
                Ok(Bytes::from(bytes))
            }
            Ok(Err(error)) => Err(RenderFailure::Failed(Arc::new(error))),
            Err(join_error) => Err(RenderFailure::Panicked(join_error.to_string())),
        }
    }
}

/// A place in the render queue, given back when dropped.
struct InLine<'a>(&'a AtomicUsize);

impl<'a> InLine<'a> {
    /// The place, and how many were waiting before it.
    fn join(waiting: &'a AtomicUsize) -> (InLine<'a>, usize) {
        let ahead = waiting.fetch_add(1, Ordering::AcqRel);
        (InLine(waiting), ahead)
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Color, FontBook, Frame, Layer, OutputFormat, RectLayer, RenderPlan};

    fn cache(slots: usize, queue: usize, wait: Duration, max_bytes: u64) -> RenderCache {
        let fonts = FontBook::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"))
            .expect("bundled fonts load");
        RenderCache::new(
            max_bytes,
            RenderLimiter::new(slots, queue, wait),
            Arc::new(Renderer::new(fonts)),
            Arc::new(Metrics::new()),
        )
    }

    /// A small plan whose pixels depend on `shade`.
    fn plan(shade: u8) -> RenderPlan {
        RenderPlan {
            width: 64,
            height: 32,
            scale: 1,
            format: OutputFormat::Png,
            layers: vec![Layer::Rect(RectLayer {
                frame: Frame {
                    x: 0.0,
                    y: 0.0,
                    width: 64.0,
                    height: 32.0,
                },
                fill: Color::rgba(shade, 0, 0, 255),
                radius: 0.0,
            })],
        }
    }

    #[tokio::test]
    async fn a_render_runs_once_and_then_comes_from_the_cache() {
        let cache = cache(1, 8, Duration::from_secs(1), 1 << 20);
        let key = plan(1).render_key(b"v");
        let (first, source) = cache.get_or_render(key, plan(1)).await.unwrap();
        assert_eq!(source, Source::Render);
        let (again, source) = cache.get_or_render(key, plan(1)).await.unwrap();
        assert_eq!(source, Source::Cache);
        assert_eq!(first, again);
        assert_eq!(cache.metrics.renders.get(), 1);
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_at_once() {
        let cache = cache(1, 0, Duration::from_secs(60), 1 << 20);
        let busy = cache.limiter.slots.acquire().await.unwrap();
        let failure = cache
            .get_or_render(plan(2).render_key(b"v"), plan(2))
            .await
            .unwrap_err();
        assert!(matches!(failure, RenderFailure::Overloaded), "{failure}");
        drop(busy);
        assert!(
            cache
                .get_or_render(plan(2).render_key(b"v"), plan(2))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_slot_that_does_not_free_in_time_answers_overloaded() {
        let cache = cache(1, 4, Duration::from_millis(20), 1 << 20);
        let _busy = cache.limiter.slots.acquire().await.unwrap();
        let failure = cache
            .get_or_render(plan(3).render_key(b"v"), plan(3))
            .await
            .unwrap_err();
        assert!(matches!(failure, RenderFailure::Overloaded), "{failure}");
        assert_eq!(
            cache.limiter.waiting.load(Ordering::Acquire),
            0,
            "the waiter left the queue"
        );
        assert_eq!(cache.metrics.renders.get(), 0);
    }

    #[tokio::test]
    async fn a_waiter_whose_client_hangs_up_gives_its_place_back() {
        let cache = cache(1, 2, Duration::from_secs(60), 1 << 20);
        let busy = cache.limiter.slots.acquire().await.unwrap();
        for shade in 10..20 {
            // A request that waits for a slot, then is dropped as hyper
            // drops it when the client closes the connection.
            let waiting = cache.get_or_render(plan(shade).render_key(b"v"), plan(shade));
            let gave_up = tokio::time::timeout(Duration::from_millis(5), waiting).await;
            assert!(gave_up.is_err(), "it was still waiting");
        }
        assert_eq!(cache.limiter.waiting.load(Ordering::Acquire), 0);
        drop(busy);
        let (_, source) = cache
            .get_or_render(plan(30).render_key(b"v"), plan(30))
            .await
            .expect("the queue has room again");
        assert_eq!(source, Source::Render);
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_byte_bound() {
        let bound = 4 * 1024;
        let cache = cache(2, 8, Duration::from_secs(1), bound);
        for shade in 0..64 {
            let plan = plan(shade);
            cache
                .get_or_render(plan.render_key(b"v"), plan)
                .await
                .unwrap();
        }
        let held = cache.weighted_size().await;
        assert!(held <= bound, "{held} > {bound}");
        assert!(held > 0);
    }
}
