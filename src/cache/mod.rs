//! The render cache: rendered bytes by [`RenderKey`], bounded in bytes, with
//! one render per key however many requests ask at once.
//!
//! Keys are hashes of what decides the pixels, never of the recipient, so a
//! million recipients who see the same thing cost one render. Renders run on
//! tokio's blocking pool behind [`RenderLimiter`], so CPU work never stalls
//! the reactor, and a burst of distinct renders turns into fallback images
//! instead of an unbounded queue. A card quick to render (an incremental PNG,
//! [`Renderer::renders_in_place`]) runs on the request's thread instead, in
//! the same slot: the hand-off to the pool and back cost about as much CPU
//! as such a render.
//!
//! With Redis, a second level ([`shared::SharedCache`]) shares renders
//! between replicas: an in-process miss looks there before it renders. A
//! render is offered to the others only once it has shown it is wanted:
//! asked for again (a hit here), rendered ahead for a hot countdown, or
//! warmed. A one-off render (anyone can ask for millions of distinct ones
//! through a parameter a template shows) stays in this process, where the
//! cache's byte bound and TinyLFU admission keep it from crowding out the
//! images that are asked for.
//!
//! Opens without a verified recipient render within a budget of their own
//! ([`RenderLimiter`]), so that a flood of them cannot take the render
//! slots from recipients.
//!
//! A PNG served again from this cache is re-encoded once, in the background
//! and only when a render slot is free ([`crate::render::recompress`]): the
//! same pixels in about a third fewer bytes, served from then on under an
//! ETag of their own ([`Served::compact`]). The first open never waits for
//! it. GIFs and JPEGs are served as they were rendered.

pub mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use moka::ops::compute::Op;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{GaugeGuard, Metrics, TimerGuard};
use crate::render::recompress::{compact_png, is_png};
use crate::render::{Artwork, RenderError, RenderKey, Renderer};
use crate::store::redis_renders::SharedRender;

use self::shared::SharedCache;

/// Bytes counted per entry on top of the image, for the key, the `Bytes`
/// header and moka's bookkeeping: an estimate that keeps the bound honest
/// for caches full of small images.
const ENTRY_OVERHEAD: u32 = 160;

#[derive(Clone)]
pub struct RenderCache {
    cache: Cache<RenderKey, Cached>,
    limiter: Arc<RenderLimiter>,
    renderer: Arc<Renderer>,
    metrics: Arc<Metrics>,
    shared: Option<SharedCache>,
    /// Whether a PNG served again is re-encoded smaller
    /// (`cache_recompress_png`).
    recompress: bool,
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish()
    }
}

/// One cached render, and what has been done with it.
#[derive(Clone)]
struct Cached {
    bytes: Bytes,
    /// The bytes are the compact encoding of the render, which replaced
    /// the one the render path wrote.
    compact: bool,
    /// Shared by every version of the entry: the compact one replaces the
    /// first, and what was done with either is not done again.
    state: Arc<EntryState>,
}

/// What has been done with a render since it was cached here.
struct EntryState {
    /// Set once the render is in the shared cache or on its way there, so
    /// each replica offers a render at most once (and its compact encoding
    /// once more). Starts unset for a render a request did here: only a
    /// second request offers it.
    offered: AtomicBool,
    /// [`NOT_COMPACTED`], [`COMPACTING`] or [`COMPACTED`].
    compaction: AtomicU8,
}

/// A PNG that may be re-encoded at a later hit.
const NOT_COMPACTED: u8 = 0;
/// Being re-encoded now; the re-encoding offers the result.
const COMPACTING: u8 = 1;
/// Re-encoded (smaller or not), or not a PNG: left as it is.
const COMPACTED: u8 = 2;

impl Cached {
    fn new(bytes: Bytes, compact: bool, offered: bool) -> Cached {
        let compaction = if compact || !is_png(&bytes) {
            COMPACTED
        } else {
            NOT_COMPACTED
        };
        Cached {
            bytes,
            compact,
            state: Arc::new(EntryState {
                offered: AtomicBool::new(offered),
                compaction: AtomicU8::new(compaction),
            }),
        }
    }

    fn shared(&self) -> SharedRender {
        SharedRender {
            bytes: self.bytes.clone(),
            compact: self.compact,
        }
    }
}

/// An image the cache answers with.
#[derive(Debug, Clone)]
pub struct Served {
    pub bytes: Bytes,
    pub source: Source,
    /// The bytes are the compact encoding of the render: the same pixels
    /// as the first encoding, and so an ETag of their own.
    pub compact: bool,
}

impl Served {
    fn of(cached: Cached, source: Source) -> Served {
        Served {
            bytes: cached.bytes,
            source,
            compact: cached.compact,
        }
    }
}

/// Who a render is for: the render budget an open draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// An open with a verified recipient token, or the preview.
    Recipient,
    /// An open that names nobody: no token, or one that did not verify.
    /// Anyone can make these, with any parameters a template shows, so
    /// their renders draw on [`RenderLimiter`]'s anonymous budget.
    Anonymous,
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
    /// Every render the anonymous budget allows is running or waiting.
    #[error("the renders allowed to opens without a recipient are all taken")]
    AnonymousBudget,
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
    /// Renders for anonymous opens ([`Requester::Anonymous`]) running or
    /// waiting for a slot at once. An anonymous open takes one of these
    /// before it looks further than this process's cache, and gets the
    /// fallback image at once when none is free: it never waits for one.
    /// So anonymous renders hold at most this many slots and places in
    /// the queue, and however many anonymous opens arrive, an open with a
    /// token finds at most this many of them ahead of it in the queue.
    anonymous: Arc<Semaphore>,
}

impl RenderLimiter {
    /// `anonymous` is how many of the renders running or waiting at once
    /// may be for anonymous opens; 0 serves them the fallback image
    /// whenever they miss the cache.
    pub fn new(
        slots: usize,
        queue_limit: usize,
        wait: Duration,
        anonymous: usize,
    ) -> RenderLimiter {
        RenderLimiter {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            queue_limit,
            waiting: AtomicUsize::new(0),
            wait,
            warm: Semaphore::new(slots.saturating_sub(1).max(1)),
            anonymous: Arc::new(Semaphore::new(anonymous)),
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
            .weigher(|_key: &RenderKey, cached: &Cached| {
                u32::try_from(cached.bytes.len())
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
            recompress: true,
        }
    }

    /// The same cache serving every render as it was encoded first.
    pub fn without_recompression(mut self) -> RenderCache {
        self.recompress = false;
        self
    }

    /// The same cache with a second level shared in Redis.
    pub fn with_shared(mut self, shared: SharedCache) -> RenderCache {
        self.shared = Some(shared);
        self
    }

    /// The cached bytes for `key`, or renders `plan` once for every request
    /// waiting on the same key. An anonymous `requester` that misses takes
    /// a place in the anonymous budget first, or gets
    /// [`RenderFailure::AnonymousBudget`] at once.
    pub async fn get_or_render(
        &self,
        key: RenderKey,
        artwork: impl Into<Artwork>,
        requester: Requester,
    ) -> Result<Served, RenderFailure> {
        let artwork = artwork.into();
        if let Some(cached) = self.cache.get(&key).await {
            self.metrics.cache_lookups.with_label_values(&["hit"]).inc();
            self.after_hit(key, &cached);
            return Ok(Served::of(cached, Source::Cache));
        }
        self.metrics
            .cache_lookups
            .with_label_values(&["miss"])
            .inc();
        // Taken before the shared lookup too: a flood of distinct
        // anonymous opens must not turn into a flood of Redis reads either.
        let anonymous_turn = match requester {
            Requester::Recipient => None,
            Requester::Anonymous => Some(
                Arc::clone(&self.limiter.anonymous)
                    .try_acquire_owned()
                    .map_err(|_| RenderFailure::AnonymousBudget)?,
            ),
        };
        self.fill(key, artwork, Urgency::Request, anonymous_turn)
            .await
    }

    /// A render asked for again: worth a smaller encoding and worth
    /// sharing. The compaction, when it starts, offers its result to the
    /// shared cache when it ends, so that the other replicas get the
    /// compact bytes rather than the first ones and then the compact ones;
    /// when it cannot start (no render slot is free) the first bytes are
    /// offered now, rather than sharing waiting for a quiet moment, and
    /// the compact ones replace them later.
    fn after_hit(&self, key: RenderKey, cached: &Cached) {
        if self.start_compaction(key, cached)
            || cached.state.compaction.load(Ordering::Acquire) == COMPACTING
        {
            return;
        }
        self.offer_again_wanted(key, cached);
    }

    /// A hit on a render this replica has not offered to the shared cache
    /// yet: it is asked for again, so now it is worth sharing.
    fn offer_again_wanted(&self, key: RenderKey, cached: &Cached) {
        if let Some(shared) = &self.shared
            && !cached.state.offered.swap(true, Ordering::AcqRel)
        {
            shared.put(key, cached.shared());
        }
    }

    /// Starts re-encoding a PNG that has not been, if a render slot is
    /// free; true when it started. Like a render ahead it never waits for a
    /// slot: a busy replica tries again at a later hit.
    fn start_compaction(&self, key: RenderKey, cached: &Cached) -> bool {
        if !self.recompress || cached.state.compaction.load(Ordering::Acquire) != NOT_COMPACTED {
            return false;
        }
        let Ok(slot) = Arc::clone(&self.limiter.slots).try_acquire_owned() else {
            self.count_recompression("postponed");
            return false;
        };
        let claimed = cached.state.compaction.compare_exchange(
            NOT_COMPACTED,
            COMPACTING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if claimed.is_err() {
            return false;
        }
        let cache = self.clone();
        let cached = cached.clone();
        tokio::spawn(async move { cache.compact(key, cached, slot).await });
        true
    }

    /// Re-encodes `cached` on the blocking pool, holding `slot`; replaces
    /// the entry's bytes if the result is smaller, and offers the entry to
    /// the shared cache (see [`RenderCache::after_hit`]).
    async fn compact(&self, key: RenderKey, cached: Cached, slot: OwnedSemaphorePermit) {
        let first = cached.bytes.clone();
        let compacted = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            compact_png(&first)
        })
        .await;
        match compacted {
            Ok(Some(compact)) => {
                self.count_recompression("smaller");
                self.metrics
                    .recompressed_bytes_saved
                    .inc_by((cached.bytes.len() - compact.len()) as u64);
                let compact = Cached {
                    bytes: Bytes::from(compact),
                    compact: true,
                    state: Arc::clone(&cached.state),
                };
                self.replace(key, compact.clone()).await;
                if let Some(shared) = &self.shared {
                    // Also when the first bytes were offered already: the
                    // compact ones take their place.
                    cached.state.offered.store(true, Ordering::Release);
                    shared.put(key, compact.shared());
                }
            }
            Ok(None) => {
                self.count_recompression("not_smaller");
                self.offer_again_wanted(key, &cached);
            }
            Err(join_error) => {
                tracing::error!(error = %join_error, "re-encoding a cached PNG ended abnormally");
                self.offer_again_wanted(key, &cached);
            }
        }
        // Last: a hit that finds the compaction over finds the offer made.
        cached.state.compaction.store(COMPACTED, Ordering::Release);
    }

    /// Puts `compact` in place of the entry it was made from, if that is
    /// still cached: an entry evicted meanwhile stays evicted. The weigher
    /// counts the new bytes.
    async fn replace(&self, key: RenderKey, compact: Cached) {
        self.cache
            .entry(key)
            .and_compute_with(|current| {
                let op = match current {
                    Some(entry) if Arc::ptr_eq(&entry.value().state, &compact.state) => {
                        Op::Put(compact)
                    }
                    _ => Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
    }

    fn count_recompression(&self, result: &str) {
        self.metrics
            .recompressions
            .with_label_values(&[result])
            .inc();
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
        let served = self.fill(key, artwork, Urgency::Warm, None).await?;
        Ok(served.source)
    }

    /// Renders `artwork` now, through the render slots like a request, and
    /// caches nothing: the preview page, which reports the render's time.
    pub async fn render_now(&self, artwork: Artwork) -> Result<Bytes, RenderFailure> {
        self.render(artwork, Urgency::Request, None).await
    }

    /// The single flight of one key: the shared cache, then a render. A
    /// request's fresh render stays here until it is asked for again
    /// ([`RenderCache::offer_again_wanted`]); one rendered ahead (wanted:
    /// its countdown is hot) is offered at once, and a warmed one is
    /// stored before warming counts it done.
    async fn fill(
        &self,
        key: RenderKey,
        artwork: Artwork,
        urgency: Urgency,
        anonymous_turn: Option<OwnedSemaphorePermit>,
    ) -> Result<Served, RenderFailure> {
        let from_shared = AtomicBool::new(false);
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(async {
                let Some(shared) = &self.shared else {
                    let bytes = self.render(artwork, urgency, anonymous_turn).await?;
                    return Ok(Cached::new(bytes, false, false));
                };
                if let Some(render) = shared.get(&key).await {
                    from_shared.store(true, Ordering::Relaxed);
                    return Ok(Cached::new(render.bytes, render.compact, true));
                }
                let bytes = self.render(artwork, urgency, anonymous_turn).await?;
                let cached = match urgency {
                    Urgency::Request => {
                        shared.count_write("not_repeated");
                        return Ok(Cached::new(bytes, false, false));
                    }
                    Urgency::Warm | Urgency::Ahead => Cached::new(bytes, false, true),
                };
                match urgency {
                    Urgency::Warm => shared.put_now(key, cached.shared()).await,
                    _ => shared.put(key, cached.shared()),
                }
                Ok(cached)
            })
            .await
            .map_err(|failure: Arc<RenderFailure>| (*failure).clone())?;
        let source = match (entry.is_fresh(), from_shared.load(Ordering::Relaxed)) {
            (true, true) => Source::Shared,
            (true, false) => Source::Render,
            (false, _) => Source::Cache,
        };
        let cached = entry.into_value();
        if source == Source::Cache {
            // Another request's render, which this one waited for: asked
            // for twice.
            self.after_hit(key, &cached);
        }
        Ok(Served::of(cached, source))
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
                match cache.fill(key, artwork, Urgency::Ahead, None).await {
                    Ok(Served {
                        source: Source::Render,
                        ..
                    }) => cache.metrics.renders_ahead.inc(),
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

    /// Renders once a slot is free, in place or on the blocking pool. An
    /// anonymous open's `anonymous_turn` is held until the render ends,
    /// with the slot.
    async fn render(
        &self,
        artwork: Artwork,
        urgency: Urgency,
        anonymous_turn: Option<OwnedSemaphorePermit>,
    ) -> Result<Bytes, RenderFailure> {
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
        let in_place = renderer.renders_in_place(&artwork);
        let work = move || {
            let _slot = permit;
            let _anonymous_turn = anonymous_turn;
            let _in_flight = GaugeGuard::new(&metrics.renders_in_flight);
            let _timer = TimerGuard::new(metrics.render_seconds.clone());
            metrics.renders.inc();
            renderer.render_artwork(&artwork)
        };
        // A quick render runs here, where it cannot outlive this future. A
        // longer one goes to the blocking pool, taking the slot with it: a
        // client that hangs up drops the future, while the render runs on.
        // Either way a panic becomes a failed render, not a lost request.
        let rendered = if in_place {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned());
                message.unwrap_or_else(|| "a panic without a message".to_string())
            })
        } else {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|join_error| join_error.to_string())
        };
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
            Err(panic) => Err(RenderFailure::Panicked(panic)),
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
        cache_with_anonymous(slots, queue, wait, max_bytes, slots)
    }

    fn cache_with_anonymous(
        slots: usize,
        queue: usize,
        wait: Duration,
        max_bytes: u64,
        anonymous: usize,
    ) -> RenderCache {
        let fonts = FontBook::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"))
            .expect("bundled fonts load");
        RenderCache::new(
            max_bytes,
            RenderLimiter::new(slots, queue, wait, anonymous),
            Arc::new(Renderer::new(fonts)),
            Arc::new(Metrics::new()),
        )
    }

    /// A small plan whose pixels depend on `shade`.
    fn plan(shade: u8) -> RenderPlan {
        plan_of_width(shade, 64)
    }

    /// A small plan whose pixels depend on `shade` and `width`.
    fn plan_of_width(shade: u8, width: u32) -> RenderPlan {
        RenderPlan {
            width,
            height: 32,
            scale: 1,
            format: OutputFormat::Png,
            fixed: Vec::new(),
            layers: vec![Layer::Rect(RectLayer {
                frame: Frame {
                    x: 0.0,
                    y: 0.0,
                    width: width as f32,
                    height: 32.0,
                },
                fill: Color::rgba(shade, 0, 0, 255),
                radius: 0.0,
            })],
        }
    }

    /// The benchmarks' photo, 600x200: a PNG that re-encodes smaller.
    fn photo_plan() -> RenderPlan {
        crate::render::test_fonts::photo_plan(0.0)
    }

    #[tokio::test]
    async fn a_png_served_again_is_reencoded_once_when_a_slot_is_free() {
        let cache = cache(1, 8, Duration::from_secs(1), 1 << 22);
        let key = photo_plan().render_key(b"v");
        let open = || cache.get_or_render(key, photo_plan(), Requester::Recipient);
        let first = open().await.unwrap();
        assert_eq!((first.source, first.compact), (Source::Render, false));
        let count = |result: &str| {
            cache
                .metrics
                .recompressions
                .with_label_values(&[result])
                .get()
        };

        // A hit while every slot is busy: the first bytes, and no work.
        let busy = cache.limiter.slots.acquire().await.unwrap();
        let hit = open().await.unwrap();
        assert_eq!((&hit.bytes, hit.compact), (&first.bytes, false));
        assert_eq!(count("postponed"), 1);
        drop(busy);

        // A later hit starts it; the hits after it get its result.
        let held_before = cache.weighted_size().await;
        open().await.unwrap();
        let compact = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let served = open().await.unwrap();
                if served.compact {
                    break served;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the re-encoding ends");
        let saved = (first.bytes.len() - compact.bytes.len()) as u64;
        assert!(saved > 0);
        assert_eq!(cache.metrics.recompressed_bytes_saved.get(), saved);
        assert_eq!(
            cache.weighted_size().await,
            held_before - saved,
            "the cache counts the bytes it holds"
        );
        for _ in 0..3 {
            assert!(open().await.unwrap().compact);
        }
        assert_eq!(count("smaller"), 1, "once");
        assert_eq!(cache.metrics.renders.get(), 1);
    }

    #[tokio::test]
    async fn a_render_runs_once_and_then_comes_from_the_cache() {
        let cache = cache(1, 8, Duration::from_secs(1), 1 << 20);
        let key = plan(1).render_key(b"v");
        let Served {
            bytes: first,
            source,
            ..
        } = cache
            .get_or_render(key, plan(1), Requester::Recipient)
            .await
            .unwrap();
        assert_eq!(source, Source::Render);
        let Served {
            bytes: again,
            source,
            ..
        } = cache
            .get_or_render(key, plan(1), Requester::Recipient)
            .await
            .unwrap();
        assert_eq!(source, Source::Cache);
        assert_eq!(first, again);
        assert_eq!(cache.metrics.renders.get(), 1);
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_at_once() {
        let cache = cache(1, 0, Duration::from_secs(60), 1 << 20);
        let busy = cache.limiter.slots.acquire().await.unwrap();
        let failure = cache
            .get_or_render(plan(2).render_key(b"v"), plan(2), Requester::Recipient)
            .await
            .unwrap_err();
        assert!(matches!(failure, RenderFailure::Overloaded), "{failure}");
        drop(busy);
        assert!(
            cache
                .get_or_render(plan(2).render_key(b"v"), plan(2), Requester::Recipient)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_slot_that_does_not_free_in_time_answers_overloaded() {
        let cache = cache(1, 4, Duration::from_millis(20), 1 << 20);
        let _busy = cache.limiter.slots.acquire().await.unwrap();
        let failure = cache
            .get_or_render(plan(3).render_key(b"v"), plan(3), Requester::Recipient)
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
            let waiting = cache.get_or_render(
                plan(shade).render_key(b"v"),
                plan(shade),
                Requester::Recipient,
            );
            let gave_up = tokio::time::timeout(Duration::from_millis(5), waiting).await;
            assert!(gave_up.is_err(), "it was still waiting");
        }
        assert_eq!(cache.limiter.waiting.load(Ordering::Acquire), 0);
        drop(busy);
        let Served { source, .. } = cache
            .get_or_render(plan(30).render_key(b"v"), plan(30), Requester::Recipient)
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
                .get_or_render(plan.render_key(b"v"), plan, Requester::Recipient)
                .await
                .unwrap();
        }
        let held = cache.weighted_size().await;
        assert!(held <= bound, "{held} > {bound}");
        assert!(held > 0);
    }

    #[tokio::test]
    async fn anonymous_opens_past_their_budget_get_no_render_and_recipients_still_do() {
        let cache = cache_with_anonymous(2, 8, Duration::from_secs(1), 1 << 20, 0);
        let failure = cache
            .get_or_render(plan(40).render_key(b"v"), plan(40), Requester::Anonymous)
            .await
            .unwrap_err();
        assert!(
            matches!(failure, RenderFailure::AnonymousBudget),
            "{failure}"
        );
        assert_eq!(cache.metrics.renders.get(), 0);
        let Served { bytes, source, .. } = cache
            .get_or_render(plan(40).render_key(b"v"), plan(40), Requester::Recipient)
            .await
            .expect("a recipient renders");
        assert_eq!(source, Source::Render);
        // What is cached is served to anyone: the budget is for renders.
        let Served {
            bytes: again,
            source,
            ..
        } = cache
            .get_or_render(plan(40).render_key(b"v"), plan(40), Requester::Anonymous)
            .await
            .expect("a hit needs no budget");
        assert_eq!((again, source), (bytes, Source::Cache));
    }

    #[tokio::test]
    async fn an_anonymous_render_gives_its_place_in_the_budget_back() {
        let cache = cache_with_anonymous(2, 8, Duration::from_secs(1), 1 << 20, 1);
        for shade in 50..55 {
            let Served { source, .. } = cache
                .get_or_render(
                    plan(shade).render_key(b"v"),
                    plan(shade),
                    Requester::Anonymous,
                )
                .await
                .expect("one anonymous render at a time");
            assert_eq!(source, Source::Render);
        }
        assert_eq!(cache.limiter.anonymous.available_permits(), 1);
    }

    /// moka admits by TinyLFU once it is full: a render asked for once
    /// does not push out one asked for again and again, where plain LRU
    /// does (the hot images are asked for once every 100 one-offs, about
    /// three times as many as the cache holds; with
    /// `EvictionPolicy::lru()` this test fails). moka counts frequencies
    /// only from the moment the cache is half full, so the first round,
    /// which fills it, may push them out once.
    #[tokio::test]
    async fn one_off_renders_do_not_push_out_the_images_asked_for_again() {
        let cache = cache(2, 8, Duration::from_secs(1), 64 * 1024);
        let hot: Vec<RenderPlan> = (0..8).map(|shade| plan_of_width(shade, 64)).collect();
        let ask_for_hot = || async {
            let mut rendered = 0;
            for plan in &hot {
                let Served { source, .. } = cache
                    .get_or_render(plan.render_key(b"v"), plan.clone(), Requester::Recipient)
                    .await
                    .unwrap();
                rendered += usize::from(source == Source::Render);
            }
            rendered
        };
        for _ in 0..4 {
            ask_for_hot().await;
        }
        for round in 0..6_u32 {
            // More one-offs each round than the cache holds entries.
            for n in 0..300_u32 {
                if n % 100 == 0 {
                    ask_for_hot().await;
                }
                let plan = plan_of_width((n % 200) as u8, 65 + round * 300 + n);
                cache
                    .get_or_render(plan.render_key(b"v"), plan, Requester::Anonymous)
                    .await
                    .unwrap();
            }
            cache.cache.run_pending_tasks().await;
            let entries = cache.cache.entry_count();
            assert!(
                entries < 300,
                "the test needs fewer entries than a round: {entries}"
            );
            let rendered_again = ask_for_hot().await;
            if round > 0 {
                assert_eq!(
                    rendered_again, 0,
                    "round {round}: hot images were pushed out by one-offs"
                );
            }
        }
    }
}
