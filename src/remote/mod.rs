//! Remote images: pictures whose URL comes from a recipient's state, such as
//! a product photo in their profile, fetched only from allow-listed origins.
//!
//! A URL from state is chosen by whoever writes that state, so opentime must
//! not become a way to make requests anywhere (SSRF). [`RemoteImages::check`]
//! holds every URL to the operator's list of origins before any DNS query or
//! connection; a fetch is bounded in bytes and time, follows no redirect and
//! takes only PNG or JPEG. Decoded images are cached by URL for a while,
//! failures for a shorter while so a dead host is not hammered, and one fetch
//! serves every request that asks for the same URL at once.
//!
//! - `allow.rs`: the origin rules and strict URL parsing; no I/O.
//! - `address.rs`: which resolved addresses a fetch may connect to.
//! - `client.rs`: one bounded HTTP/1.1 GET over TCP or rustls.
//! - `error.rs`: [`RemoteImageError`] and its stable codes.

mod address;
mod allow;
pub(crate) mod client;
mod error;

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

pub use error::RemoteImageError;

use crate::render::{Asset, MAX_PIXELS, RenderError};
use allow::{AllowList, Target};
use client::Fetcher;

/// Bytes counted per cache entry on top of its pixels, for the key, the
/// asset's header and moka's bookkeeping, so that a cache of failures or of
/// tiny images still has an honest bound.
const ENTRY_OVERHEAD: u32 = 256;

/// Where remote images may come from and how much they may cost: the
/// `remote_images` section of the server's configuration, handed to
/// [`RemoteImages::new`] as it is (`ttl` and `failure_ttl` have no key).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteImageConfig {
    /// Allowed origins: "https://cdn.example.com", "https://*.images.example.com"
    /// (any subdomain, not the bare domain), "http://127.0.0.1:8123" (plain
    /// http only when an entry says http://). A port in the entry must match
    /// exactly; none means the scheme's default. Empty turns remote images
    /// off.
    pub allowed_origins: Vec<String>,
    /// The largest body accepted, checked against Content-Length and counted
    /// while reading.
    pub max_bytes: usize,
    /// The whole fetch: resolving, connecting, TLS, headers and body.
    pub timeout: Duration,
    /// The cache's bound, in decoded pixels (width x height x 4 per image).
    pub cache_bytes: u64,
    /// How long a fetched image is reused: the photo at a URL may change.
    pub ttl: Duration,
    /// How long a failure is remembered, so that a dead or slow host costs
    /// one fetch per URL per this long instead of one per open.
    pub failure_ttl: Duration,
}

impl Default for RemoteImageConfig {
    fn default() -> RemoteImageConfig {
        RemoteImageConfig {
            allowed_origins: Vec::new(),
            max_bytes: 2 * 1024 * 1024,
            timeout: Duration::from_millis(1500),
            cache_bytes: 64 * 1024 * 1024,
            ttl: Duration::from_secs(10 * 60),
            failure_ttl: Duration::from_secs(30),
        }
    }
}

/// The remote image fetcher and its cache, cheap to clone.
#[derive(Clone)]
pub struct RemoteImages {
    inner: Arc<Inner>,
}

struct Inner {
    allow_list: AllowList,
    fetcher: Fetcher,
    /// Outcomes by canonical URL. A failure is an entry too: that is what
    /// makes a dead host cost one fetch per `failure_ttl`, and moka's
    /// per-key initialisation is what makes concurrent opens share a fetch.
    cache: Cache<String, Outcome>,
}

/// What a fetch came to, cached either way.
type Outcome = Result<Arc<Asset>, RemoteImageError>;

impl std::fmt::Debug for RemoteImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteImages")
            .field("entries", &self.inner.cache.entry_count())
            .field("bytes", &self.inner.cache.weighted_size())
            .finish()
    }
}

impl RemoteImages {
    /// Validates the allowed origins; a malformed entry is a `Config` error
    /// that quotes it.
    pub fn new(config: RemoteImageConfig) -> Result<RemoteImages, RemoteImageError> {
        let allow_list = AllowList::parse(&config.allowed_origins)?;
        let cache = Cache::builder()
            .max_capacity(config.cache_bytes)
            .weigher(|_url: &String, outcome: &Outcome| match outcome {
                Ok(asset) => u32::try_from(u64::from(asset.width) * u64::from(asset.height) * 4)
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD),
                Err(_) => ENTRY_OVERHEAD,
            })
            .expire_after(OutcomeExpiry {
                ttl: config.ttl,
                failure_ttl: config.failure_ttl,
            })
            .build();
        Ok(RemoteImages {
            inner: Arc::new(Inner {
                allow_list,
                fetcher: Fetcher::new(config.max_bytes, config.timeout),
                cache,
            }),
        })
    }

    /// Checks a URL against the allow-list without any network I/O.
    pub fn check(&self, url: &str) -> Result<(), RemoteImageError> {
        self.inner.allow_list.target(url).map(|_| ())
    }

    /// Fetches (or returns from cache) and decodes the image. Concurrent
    /// calls for one URL share one fetch.
    pub async fn fetch(&self, url: &str) -> Result<Arc<Asset>, RemoteImageError> {
        let target = self.inner.allow_list.target(url)?;
        let key = target.cache_key();
        let mut fetched = false;
        let outcome = self
            .inner
            .cache
            .get_with(key, async {
                fetched = true;
                self.inner.load(target).await
            })
            .await;
        if fetched {
            // Moka applies inserts and evictions in batches; applying them
            // after each fetch (rare next to hits) keeps `cache_bytes` true.
            self.inner.cache.run_pending_tasks().await;
        }
        outcome
    }

    /// Bytes held in the cache, for a metrics gauge: as of the last fetch,
    /// so entries that expired since may still count until the next one.
    pub fn cache_bytes(&self) -> u64 {
        self.inner.cache.weighted_size()
    }
}

impl Inner {
    /// Fetches and decodes one allowed URL; runs once per cache miss.
    async fn load(&self, target: Target) -> Outcome {
        let started = Instant::now();
        let origin = target.origin();
        let outcome = match self.fetcher.get(&target).await {
            Ok(bytes) => decode(format!("remote image from {origin}"), bytes).await,
            Err(error) => Err(error),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        // The origin only: a path or query may identify the recipient.
        match &outcome {
            Ok(asset) => tracing::debug!(
                %origin,
                width = asset.width,
                height = asset.height,
                elapsed_ms,
                "fetched remote image"
            ),
            Err(error) => tracing::debug!(
                %origin,
                code = error.code(),
                %error,
                elapsed_ms,
                "remote image failed"
            ),
        }
        outcome
    }
}

/// Decodes on the blocking pool, since decoding a photo is milliseconds of
/// CPU that would otherwise stall every connection on the reactor thread.
async fn decode(name: String, bytes: Vec<u8>) -> Outcome {
    tokio::task::spawn_blocking(move || decode_now(&name, &bytes))
        .await
        .map_err(|e| RemoteImageError::Decode(format!("the decode task ended abnormally: {e}")))?
        .map(Arc::new)
}

fn decode_now(name: &str, bytes: &[u8]) -> Result<Asset, RemoteImageError> {
    // The header alone gives the size. A few hundred kilobytes of PNG can
    // claim tens of thousands of pixels a side; a picture larger than the
    // largest canvas could only be shrunk, so it is refused before its
    // pixels are allocated.
    let (width, height) = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| RemoteImageError::Decode(e.to_string()))?
        .into_dimensions()
        .map_err(|e| RemoteImageError::Decode(e.to_string()))?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(RemoteImageError::TooLarge);
    }
    Asset::decode(name, bytes).map_err(|error| match error {
        RenderError::Asset { reason, .. } => RemoteImageError::Decode(reason),
        other => RemoteImageError::Decode(other.to_string()),
    })
}

/// Keeps images for `ttl` and failures for `failure_ttl`, from when they
/// were fetched; reading an entry does not extend it, since the point of the
/// ttl is to notice a changed photo.
struct OutcomeExpiry {
    ttl: Duration,
    failure_ttl: Duration,
}

impl Expiry<String, Outcome> for OutcomeExpiry {
    fn expire_after_create(
        &self,
        _url: &String,
        outcome: &Outcome,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(match outcome {
            Ok(_) => self.ttl,
            Err(_) => self.failure_ttl,
        })
    }
}
