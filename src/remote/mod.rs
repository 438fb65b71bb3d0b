//! Remote images: pictures whose URL comes from a recipient's state, such as
//! a product photo in their profile, fetched only from allow-listed origins.
//!
//! A URL from state is chosen by whoever writes that state, so opentime must
//! not become a way to make requests anywhere (SSRF). [`RemoteImages::check`]
//! holds every URL to the operator's list of origins before any DNS query or
//! connection; a fetch is bounded in bytes and time, follows no redirect and
//! takes only PNG or JPEG. A host that only a wildcard rule allows must
//! resolve to a public address. Decoding runs a few at a time within a
//! budget of decoded bytes. Decoded images are cached by URL for a while,
//! failures (oversized images included) for a shorter while so a dead host
//! or a decompression bomb is not fetched again on every open, and one
//! fetch serves every request that asks for the same URL at once.
//!
//! This is also where opentime's other outgoing requests live, so that
//! only `http/` and this module speak hyper: `post.rs` sends a webhook's
//! deliveries to the URL an operator configured, `json.rs` calls the
//! customer's APIs that templates' sources name, and `stream.rs` reads a
//! product feed's body from the URL an operator configured, chunk by chunk.
//!
//! - `allow.rs`: the origin rules and strict URL parsing; no I/O.
//! - `address.rs`: which resolved addresses a fetch may connect to.
//! - `client.rs`: one bounded HTTP/1.1 GET over TCP or rustls.
//! - `decode.rs`: decoding within the decode slots and memory budget.
//! - `error.rs`: [`RemoteImageError`] and its stable codes.
//! - `post.rs`: [`Poster`], one bounded HTTP/1.1 POST to a [`PostUrl`].
//! - `json.rs`: [`SourceHosts`], the hosts templates' sources may call,
//!   and their GET of JSON.
//! - `stream.rs`: [`get_stream`], one bounded HTTP/1.1 GET whose body is
//!   read as it arrives.

mod address;
mod allow;
pub(crate) mod client;
mod decode;
mod error;
mod json;
mod post;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

pub use error::RemoteImageError;
pub use json::{SourceHosts, SourceTarget};
pub use post::{PostError, PostUrl, Poster};
pub use stream::{BodyStream, StreamError, get_stream};

use crate::render::Asset;
use allow::{AllowList, Target};
use client::Fetcher;
use decode::Decoder;

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
    /// Decodes that may run at once, on the blocking pool beside renders.
    pub max_concurrent_decodes: usize,
    /// Bytes that decodes in progress may hold together, counted from each
    /// image's header before its pixels are allocated. An image whose
    /// decode alone needs more is refused as too large.
    pub decode_budget_bytes: u64,
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
            // A small machine: two cores, and memory for two large photos.
            max_concurrent_decodes: 2,
            decode_budget_bytes: 128 * 1024 * 1024,
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
    decoder: Decoder,
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
    /// that quotes it, and so is a decode limit of zero.
    pub fn new(config: RemoteImageConfig) -> Result<RemoteImages, RemoteImageError> {
        let allow_list = AllowList::parse(&config.allowed_origins)?;
        config
            .check_decode_limits()
            .map_err(RemoteImageError::Config)?;
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
                decoder: Decoder::new(config.max_concurrent_decodes, config.decode_budget_bytes),
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
            .try_get_with(key, async {
                fetched = true;
                self.inner.load(target).await
            })
            .await;
        if fetched {
            // Moka applies inserts and evictions in batches; applying them
            // after each fetch (rare next to hits) keeps `cache_bytes` true.
            self.inner.cache.run_pending_tasks().await;
        }
        match outcome {
            Ok(outcome) => outcome,
            // Not cached: the next open tries again.
            Err(busy) => Err(RemoteImageError::clone(&busy)),
        }
    }

    /// Bytes held in the cache, for a metrics gauge: as of the last fetch,
    /// so entries that expired since may still count until the next one.
    pub fn cache_bytes(&self) -> u64 {
        self.inner.cache.weighted_size()
    }
}

impl RemoteImageConfig {
    /// The decode limits' own check, which `Config::validate` also runs so
    /// that a bad value stops the server at startup with the key's name.
    pub fn check_decode_limits(&self) -> Result<(), String> {
        if self.max_concurrent_decodes == 0 {
            return Err("remote_image_max_concurrent_decodes must be at least 1".to_string());
        }
        if self.decode_budget_bytes < MIN_DECODE_BUDGET_BYTES {
            return Err(format!(
                "remote_image_decode_budget_bytes must be at least {MIN_DECODE_BUDGET_BYTES} (4 MiB), \
                 or every photo would be refused as too large"
            ));
        }
        Ok(())
    }
}

/// The smallest decode budget accepted: a 600 x 600 JPEG's decode.
const MIN_DECODE_BUDGET_BYTES: u64 = 4 * 1024 * 1024;

impl Inner {
    /// Fetches and decodes one allowed URL; runs once per cache miss. The
    /// outer error is the one failure not to cache ([`RemoteImageError::Busy`]).
    async fn load(&self, target: Target) -> Result<Outcome, RemoteImageError> {
        let started = Instant::now();
        let origin = target.origin();
        let outcome = match self.fetcher.get(&target).await {
            Ok(bytes) => self
                .decoder
                .decode(format!("remote image from {origin}"), bytes)
                .await
                .map(Arc::new),
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
        match outcome {
            Err(RemoteImageError::Busy) => Err(RemoteImageError::Busy),
            outcome => Ok(outcome),
        }
    }
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
