//! The sections of [`Config`](super::Config), one per part of the server
//! that reads them, each with its defaults. The store and remote images
//! have configuration types of their own ([`StoreConfig`](crate::store::StoreConfig),
//! [`RemoteImageConfig`](crate::remote::RemoteImageConfig)), which serve as
//! their sections directly; the rest are here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Secrets;

/// The HTTP server: where it listens, what it accepts, how it stops, and
/// how it names itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to serve on.
    pub listen: SocketAddr,
    /// A second address for `/metrics`, `/healthz` and `/readyz` only, kept
    /// off the public one; with it, the public address answers `/metrics`
    /// with 404.
    pub ops_listen: Option<SocketAddr>,
    /// Open connections at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Largest request head (request line and headers) accepted, in bytes.
    pub max_header_bytes: usize,
    /// Longest request target (path and query) accepted, in bytes.
    pub max_url_bytes: usize,
    /// A client must send its whole request head within this time.
    pub header_read_timeout: Duration,
    /// A request body must arrive within this time, plus one second for
    /// every 64 KiB it has sent: a large import at any real speed passes, a
    /// body trickled a byte at a time does not hold its slot for minutes.
    pub body_read_timeout: Duration,
    /// Connections one client address may hold at once; 0 is no limit.
    /// Applied only with `trusted_proxy_hops = 0`: behind proxies every
    /// connection comes from a proxy's address.
    pub max_connections_per_ip: usize,
    /// Requests one keep-alive connection may carry before the server asks
    /// the client to open another; 0 is no limit.
    pub max_requests_per_connection: usize,
    /// On shutdown, requests in flight get this long to finish.
    pub shutdown_grace: Duration,
    /// How many proxies in front of opentime append to `X-Forwarded-For`;
    /// the client is the address the outermost of them saw. 0 trusts no
    /// header and uses the connection's peer.
    pub trusted_proxy_hops: usize,
    /// How log lines are written: `text` for people, `json` (one object a
    /// line) for log pipelines.
    pub log_format: String,
    /// One log line per request (target `opentime::access`, level info):
    /// method, path without its query, status, time and request id.
    pub access_log: bool,
    /// The address recipients reach opentime at (`https://ot.example.com`),
    /// for the absolute URLs it writes (AMP JSON, `List-Unsubscribe`);
    /// without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ops_listen: None,
            max_connections: 10_000,
            max_header_bytes: 16 * 1024,
            max_url_bytes: 4096,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections_per_ip: 1_000,
            max_requests_per_connection: 10_000,
            shutdown_grace: Duration::from_secs(10),
            trusted_proxy_hops: 0,
            log_format: "text".to_string(),
            access_log: true,
            public_url: None,
        }
    }
}

/// Who may sign and who may administer.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessConfig {
    /// Signing secrets: the first signs, all verify. Empty means the demo
    /// key ([`Config::key_ring`](super::Config::key_ring)).
    pub signing_keys: Secrets,
    /// Whether recipient tokens of the first format, which show the id
    /// (`id.mac`), still verify. New tokens are opaque either way; this is
    /// turned off once the emails that carry old tokens no longer matter.
    pub legacy_tokens: bool,
    /// Bearer tokens of the admin API; empty turns it off.
    pub admin_tokens: Secrets,
}

impl Default for AccessConfig {
    fn default() -> AccessConfig {
        AccessConfig {
            signing_keys: Secrets::default(),
            legacy_tokens: true,
            admin_tokens: Secrets::default(),
        }
    }
}

/// Where templates come from.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatesConfig {
    /// The template files and their assets.
    pub dir: PathBuf,
    /// Reload templates when their files change (SIGHUP always reloads).
    pub watch: bool,
    /// A template put through the admin API is refused when one of its
    /// variants takes longer than this to render at its largest scale: the
    /// API's callers write templates, and opens of a template pay its
    /// render time.
    pub api_render_limit: Duration,
}

impl Default for TemplatesConfig {
    fn default() -> TemplatesConfig {
        TemplatesConfig {
            dir: PathBuf::from("assets/templates"),
            watch: true,
            api_render_limit: Duration::from_millis(1000),
        }
    }
}

/// The renderer: its fonts, its caches of glyphs and shaped text, and how
/// many renders run and wait at once.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderConfig {
    /// The fonts and their `fonts.toml`.
    pub fonts_dir: PathBuf,
    /// Upper bound of the rasterized glyph cache, in bytes.
    pub glyph_cache_bytes: u64,
    /// Upper bound of the shaped-text cache, in bytes.
    pub shape_cache_bytes: u64,
    /// Renders running at once; 0 means one per core but one
    /// ([`RenderConfig::slots`]).
    pub concurrency: usize,
    /// Requests that may wait for a render slot before the fallback image is
    /// served instead.
    pub queue: usize,
    /// How long a request waits for a render slot before it gets the
    /// fallback image.
    pub wait: Duration,
    /// The share, in percent, of the render slots that opens without a
    /// verified recipient (no token, or a bad one) may hold or wait for at
    /// once ([`RenderConfig::anonymous_renders`]); past it they get the
    /// fallback image. 0 never renders for them on a cache miss.
    pub anonymous_share: u32,
}

impl Default for RenderConfig {
    fn default() -> RenderConfig {
        RenderConfig {
            fonts_dir: PathBuf::from("fonts"),
            glyph_cache_bytes: crate::render::DEFAULT_GLYPH_CACHE_BYTES,
            shape_cache_bytes: crate::render::DEFAULT_SHAPE_CACHE_BYTES,
            concurrency: 0,
            queue: 256,
            wait: Duration::from_millis(500),
            anonymous_share: 50,
        }
    }
}

impl RenderConfig {
    /// Renders at once: the configured number, or one per core but one
    /// (at least one). With every core rendering, a burst of new images
    /// starved the request path on a 2-core machine and state lookups ran
    /// over their budget; one core kept free for I/O prevents that.
    pub fn slots(&self) -> usize {
        if self.concurrency > 0 {
            return self.concurrency;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        cores.saturating_sub(1).max(1)
    }

    /// Renders for anonymous opens running or waiting at once:
    /// `anonymous_share` percent of the slots, rounded up, so that any
    /// share above 0 renders something even on one slot.
    pub fn anonymous_renders(&self) -> usize {
        let share = self.anonymous_share.min(100) as usize;
        (self.slots() * share).div_ceil(100)
    }
}

/// The caches of rendered images: in this process, and shared by the
/// replicas in Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Upper bound of the in-process render cache, in bytes of images.
    pub bytes: u64,
    /// Re-encode a PNG served again from the cache, smaller, when a render
    /// slot is free (`cache/mod.rs`). Off keeps every slot for renders and
    /// one ETag per image.
    pub recompress_png: bool,
    /// Bound of the render cache shared in Redis, in bytes of images; 0
    /// turns it off. Without Redis there is none.
    pub shared_bytes: u64,
    /// How long a render stays in the shared cache.
    pub shared_ttl: Duration,
    /// Larger renders are kept in-process only.
    pub shared_max_entry_bytes: usize,
    /// A Redis of its own for the shared render cache (standalone, with
    /// `redis_ca_file` for `rediss://`), so that it can run with a
    /// `maxmemory` and an eviction policy the store's Redis must not have;
    /// `None` keeps it in the store's Redis.
    pub shared_redis_url: Option<crate::store::RedisUrl>,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            bytes: 256 * 1024 * 1024,
            recompress_png: true,
            shared_bytes: 1024 * 1024 * 1024,
            shared_ttl: Duration::from_secs(6 * 3600),
            shared_max_entry_bytes: 1024 * 1024,
            shared_redis_url: None,
        }
    }
}

/// The engagement events on their way to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsConfig {
    /// Events held in memory while the store cannot take them; past it new
    /// events are dropped and counted.
    pub buffer: usize,
    /// How far back a conversion reported by recipient looks for their last
    /// click or open to credit, in days (`docs/api.md`, "Conversions").
    pub attribution_days: u32,
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            buffer: 100_000,
            attribution_days: 7,
        }
    }
}

/// Who opens: the rules that tell people from proxies and scanners.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenersConfig {
    /// The opener rules (`docs/openers.md`); the shipped
    /// `assets/openers.toml` when `None`.
    pub rules_file: Option<PathBuf>,
    /// Apple's published relay ranges (`egress-ip-ranges.csv`); requests
    /// from them are Apple's privacy proxy.
    pub apple_relay_ranges_file: Option<PathBuf>,
}

/// Where readers are, from their address (`docs/geo.md`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoConfig {
    /// A MaxMind-format city database (GeoLite2 City, DB-IP's city lite);
    /// without one, `geo` is empty for every request.
    pub database: Option<PathBuf>,
}

/// AMP emails reading `/a/` JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmpConfig {
    /// Senders whose AMP emails may read `/a/` JSON: addresses
    /// (`news@example.com`) or whole domains (`@example.com`), in lower
    /// case. Empty refuses every AMP request.
    pub senders: Vec<String>,
}

/// Where the preference center's settings
/// ([`PrefsConfig`](crate::prefs::PrefsConfig)) are read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreferencesConfig {
    /// The preference center's topics, frequencies and words
    /// (`docs/preferences.md`); the shipped `assets/preferences.toml` when
    /// `None`.
    pub file: Option<PathBuf>,
}

/// Cache warming jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmConfig {
    /// Recipients a job handles per second, at most; at least 1.
    pub rate: u32,
}

impl Default for WarmConfig {
    fn default() -> WarmConfig {
        WarmConfig { rate: 200 }
    }
}
