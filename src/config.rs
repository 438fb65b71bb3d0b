//! The server's configuration: one typed struct, loaded in layers.
//!
//! The layers are, lowest first: built-in defaults, a TOML file (`--config`),
//! then `OPENTIME_*` environment variables, one per key (the key's name in
//! upper case: `listen` is `OPENTIME_LISTEN`). Secrets (signing keys, admin
//! tokens) may also come from a file named by `OPENTIME_SIGNING_KEYS_FILE` or
//! `OPENTIME_ADMIN_TOKENS_FILE` (or the `_file` keys of the TOML file), so
//! that they never have to appear on a command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::access::{DEMO_KEY, KeyRing};
use crate::store::StoreConfig;

/// Every setting of the server, with its default.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// Address to serve on.
    pub listen: SocketAddr,
    /// `redis://`, `rediss://` or `redis+unix://`; `None` runs the embedded
    /// demo store.
    pub redis_url: Option<String>,
    /// For `rediss://`: the PEM file of a private certificate authority.
    pub redis_ca_file: Option<PathBuf>,
    /// Standalone (one URL), Sentinel (the sentinels' URLs and the name of
    /// the primary) or Cluster (seed nodes' URLs), from `redis_mode` and
    /// `redis_sentinel_master`.
    pub redis_topology: crate::store::Topology,
    /// Prefix of every Redis key.
    pub key_prefix: String,
    /// Signing secrets: the first signs, all verify. Empty means the demo key.
    pub signing_keys: Vec<String>,
    /// Bearer tokens of the admin API; empty turns it off.
    pub admin_tokens: Vec<String>,
    pub templates_dir: PathBuf,
    pub fonts_dir: PathBuf,
    /// Demo recipients for the embedded store.
    pub demo_dir: PathBuf,
    /// How long one request waits for Redis before serving the default
    /// variant.
    pub store_budget: Duration,
    /// Upper bound of the in-process render cache, in bytes of images.
    pub cache_bytes: u64,
    /// Bound of the render cache shared in Redis, in bytes of images; 0
    /// turns it off. Without Redis there is none.
    pub shared_cache_bytes: u64,
    /// How long a render stays in the shared cache.
    pub shared_cache_ttl: Duration,
    /// Larger renders are kept in-process only.
    pub shared_cache_max_entry_bytes: usize,
    /// Recipients a cache warming job handles per second, at most.
    pub warm_rate: u32,
    /// Upper bound of the rasterized glyph cache, in bytes.
    pub glyph_cache_bytes: u64,
    /// Upper bound of the shaped-text cache, in bytes.
    pub shape_cache_bytes: u64,
    /// Renders running at once; 0 means one per core but one
    /// ([`Config::render_slots`]).
    pub render_concurrency: usize,
    /// Requests that may wait for a render slot before the fallback image is
    /// served instead.
    pub render_queue: usize,
    /// How long a request waits for a render slot before it gets the
    /// fallback image.
    pub render_wait: Duration,
    /// Open connections at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Largest request head (request line and headers) accepted, in bytes.
    pub max_header_bytes: usize,
    /// Longest request target (path and query) accepted, in bytes.
    pub max_url_bytes: usize,
    /// A client must send its whole request head within this time.
    pub header_read_timeout: Duration,
    /// On shutdown, requests in flight get this long to finish.
    pub shutdown_grace: Duration,
    /// Reload templates when their files change (SIGHUP always reloads).
    pub watch_templates: bool,
    /// Events held in memory while the store cannot take them; past it new
    /// events are dropped and counted.
    pub event_buffer: usize,
    /// The opener rules (`docs/openers.md`); the shipped
    /// `assets/openers.toml` when `None`.
    pub opener_rules_file: Option<PathBuf>,
    /// Apple's published relay ranges (`egress-ip-ranges.csv`); requests
    /// from them are Apple's privacy proxy.
    pub apple_relay_ranges_file: Option<PathBuf>,
    /// How many proxies in front of opentime append to `X-Forwarded-For`;
    /// the client is the address the outermost of them saw. 0 trusts no
    /// header and uses the connection's peer.
    pub trusted_proxy_hops: usize,
    /// Origins remote image layers may fetch from (`https://cdn.example.com`,
    /// `https://*.example.com`); empty refuses every remote image.
    pub remote_image_origins: Vec<String>,
    /// Largest remote image accepted, in bytes.
    pub remote_image_max_bytes: usize,
    /// Longest wait for a remote image.
    pub remote_image_timeout: Duration,
    /// Bound of the decoded remote image cache, in bytes.
    pub remote_image_cache_bytes: u64,
    /// The address recipients reach opentime at (`https://ot.example.com`),
    /// for the absolute URLs it writes (AMP JSON, `List-Unsubscribe`);
    /// without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// Senders whose AMP emails may read `/a/` JSON: addresses
    /// (`news@example.com`) or whole domains (`@example.com`). Empty refuses
    /// every AMP request.
    pub amp_senders: Vec<String>,
    /// The preference center's topics, frequencies and words
    /// (`docs/preferences.md`); the shipped `assets/preferences.toml` when
    /// `None`.
    pub preferences_file: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_topology", &self.redis_topology)
            .field("key_prefix", &self.key_prefix)
            .field(
                "signing_keys",
                &format_args!("[{} secret(s)]", self.signing_keys.len()),
            )
            .field(
                "admin_tokens",
                &format_args!("[{} secret(s)]", self.admin_tokens.len()),
            )
            .field("templates_dir", &self.templates_dir)
            .field("fonts_dir", &self.fonts_dir)
            .field("demo_dir", &self.demo_dir)
            .field("store_budget", &self.store_budget)
            .field("cache_bytes", &self.cache_bytes)
            .field("shared_cache_bytes", &self.shared_cache_bytes)
            .field("shared_cache_ttl", &self.shared_cache_ttl)
            .field(
                "shared_cache_max_entry_bytes",
                &self.shared_cache_max_entry_bytes,
            )
            .field("warm_rate", &self.warm_rate)
            .field("glyph_cache_bytes", &self.glyph_cache_bytes)
            .field("shape_cache_bytes", &self.shape_cache_bytes)
            .field("render_concurrency", &self.render_concurrency)
            .field("render_queue", &self.render_queue)
            .field("render_wait", &self.render_wait)
            .field("max_connections", &self.max_connections)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_url_bytes", &self.max_url_bytes)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("watch_templates", &self.watch_templates)
            .field("event_buffer", &self.event_buffer)
            .field("opener_rules_file", &self.opener_rules_file)
            .field("apple_relay_ranges_file", &self.apple_relay_ranges_file)
            .field("trusted_proxy_hops", &self.trusted_proxy_hops)
            .field("remote_image_origins", &self.remote_image_origins)
            .field("remote_image_max_bytes", &self.remote_image_max_bytes)
            .field("remote_image_timeout", &self.remote_image_timeout)
            .field("public_url", &self.public_url)
            .field("amp_senders", &self.amp_senders)
            .field("preferences_file", &self.preferences_file)
            .field("remote_image_cache_bytes", &self.remote_image_cache_bytes)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            redis_url: None,
            redis_ca_file: None,
            redis_topology: crate::store::Topology::Standalone,
            key_prefix: "ot:".to_string(),
            signing_keys: Vec::new(),
            admin_tokens: Vec::new(),
            templates_dir: PathBuf::from("assets/templates"),
            fonts_dir: PathBuf::from("fonts"),
            demo_dir: PathBuf::from("assets/demo"),
            store_budget: Duration::from_millis(30),
            cache_bytes: 256 * 1024 * 1024,
            shared_cache_bytes: 1024 * 1024 * 1024,
            shared_cache_ttl: Duration::from_secs(6 * 3600),
            shared_cache_max_entry_bytes: 1024 * 1024,
            warm_rate: 200,
            glyph_cache_bytes: crate::render::DEFAULT_GLYPH_CACHE_BYTES,
            shape_cache_bytes: crate::render::DEFAULT_SHAPE_CACHE_BYTES,
            render_concurrency: 0,
            render_queue: 256,
            render_wait: Duration::from_millis(500),
            max_connections: 10_000,
            max_header_bytes: 16 * 1024,
            max_url_bytes: 4096,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            watch_templates: true,
            event_buffer: 100_000,
            opener_rules_file: None,
            apple_relay_ranges_file: None,
            trusted_proxy_hops: 0,
            remote_image_origins: Vec::new(),
            remote_image_max_bytes: 2 * 1024 * 1024,
            remote_image_timeout: Duration::from_millis(1500),
            remote_image_cache_bytes: 64 * 1024 * 1024,
            public_url: None,
            amp_senders: Vec::new(),
            preferences_file: None,
        }
    }
}

/// The TOML file and the environment use the same keys; every one is
/// optional and overrides the default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    listen: Option<String>,
    redis_url: Option<String>,
    redis_ca_file: Option<String>,
    redis_mode: Option<String>,
    redis_sentinel_master: Option<String>,
    key_prefix: Option<String>,
    signing_keys: Option<String>,
    signing_keys_file: Option<String>,
    admin_tokens: Option<String>,
    admin_tokens_file: Option<String>,
    templates_dir: Option<String>,
    fonts_dir: Option<String>,
    demo_dir: Option<String>,
    store_budget_ms: Option<u64>,
    cache_bytes: Option<u64>,
    shared_cache_bytes: Option<u64>,
    shared_cache_ttl_s: Option<u64>,
    shared_cache_max_entry_bytes: Option<usize>,
    warm_rate: Option<u32>,
    glyph_cache_bytes: Option<u64>,
    shape_cache_bytes: Option<u64>,
    render_concurrency: Option<usize>,
    render_queue: Option<usize>,
    render_wait_ms: Option<u64>,
    max_connections: Option<usize>,
    max_header_bytes: Option<usize>,
    max_url_bytes: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    watch_templates: Option<bool>,
    event_buffer: Option<usize>,
    opener_rules_file: Option<String>,
    apple_relay_ranges_file: Option<String>,
    trusted_proxy_hops: Option<usize>,
    remote_image_origins: Option<String>,
    remote_image_max_bytes: Option<usize>,
    remote_image_timeout_ms: Option<u64>,
    remote_image_cache_bytes: Option<u64>,
    public_url: Option<String>,
    amp_senders: Option<String>,
    preferences_file: Option<String>,
}

impl Config {
    /// Loads defaults, then the TOML file if given, then the environment.
    /// Every `OPENTIME_*` variable opentime reads, for checking deployment
    /// files against the real settings.
    pub fn environment_names() -> Vec<String> {
        let asked = std::cell::RefCell::new(Vec::new());
        let _ = Layer::from_env(|name| {
            asked.borrow_mut().push(name.to_string());
            None
        });
        asked.into_inner()
    }

    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            let layer: Layer =
                toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
            config
                .apply(layer)
                .with_context(|| format!("config file {}", path.display()))?;
        }
        let layer = Layer::from_env(|name| std::env::var(name).ok())?;
        config.apply(layer).context("environment")?;
        Ok(config)
    }

    /// Whether the server runs on the embedded demo store.
    pub fn is_demo(&self) -> bool {
        self.redis_url.is_none()
    }

    /// Renders at once: the configured number, or one per core but one
    /// (at least one). With every core rendering, a burst of new images
    /// starved the request path on a 2-core machine and state lookups ran
    /// over their budget; one core kept free for I/O prevents that.
    pub fn render_slots(&self) -> usize {
        if self.render_concurrency > 0 {
            return self.render_concurrency;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        cores.saturating_sub(1).max(1)
    }

    /// The key ring for tokens and signed URLs. Without configured keys the
    /// demo key is used, which is refused outside demo mode.
    pub fn key_ring(&self) -> anyhow::Result<KeyRing> {
        if self.signing_keys.is_empty() {
            if !self.is_demo() {
                bail!(
                    "OPENTIME_SIGNING_KEYS is not set: a real store needs real signing keys \
                     (the demo key is only for demo mode)"
                );
            }
            return Ok(KeyRing::new(vec![DEMO_KEY.as_bytes().to_vec()])?);
        }
        let secrets = self
            .signing_keys
            .iter()
            .map(|key| key.as_bytes().to_vec())
            .collect();
        Ok(KeyRing::new(secrets)?)
    }

    pub fn uses_demo_key(&self) -> bool {
        self.signing_keys.is_empty()
    }

    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            redis_url: self.redis_url.clone(),
            key_prefix: self.key_prefix.clone(),
            budget: self.store_budget,
            demo_dir: self.demo_dir.clone(),
            tls_ca_file: self.redis_ca_file.clone(),
            topology: self.redis_topology.clone(),
        }
    }

    fn apply(&mut self, layer: Layer) -> anyhow::Result<()> {
        if let Some(listen) = layer.listen {
            self.listen = listen.parse().with_context(|| {
                format!("listen: {listen:?} is not an address like 127.0.0.1:8080")
            })?;
        }
        if let Some(url) = layer.redis_url {
            self.redis_url = if url.trim().is_empty() {
                None
            } else {
                Some(url)
            };
        }
        let master = layer
            .redis_sentinel_master
            .or_else(|| match &self.redis_topology {
                crate::store::Topology::Sentinel { master } => Some(master.clone()),
                _ => None,
            });
        let mode = layer.redis_mode.or_else(|| match &self.redis_topology {
            crate::store::Topology::Standalone => None,
            crate::store::Topology::Sentinel { .. } => Some("sentinel".into()),
            crate::store::Topology::Cluster => Some("cluster".into()),
        });
        self.redis_topology = match mode.as_deref().map(str::trim) {
            None | Some("" | "standalone") => crate::store::Topology::Standalone,
            Some("cluster") => crate::store::Topology::Cluster,
            Some("sentinel") => crate::store::Topology::Sentinel {
                master: master
                    .filter(|name| !name.trim().is_empty())
                    .context("redis_mode = \"sentinel\" needs redis_sentinel_master, the name of the primary the sentinels watch")?,
            },
            Some(other) => anyhow::bail!(
                "redis_mode is standalone, sentinel or cluster, not {other:?}"
            ),
        };
        if let Some(file) = layer.redis_ca_file {
            self.redis_ca_file = if file.trim().is_empty() {
                None
            } else {
                Some(PathBuf::from(file))
            };
        }
        if let Some(prefix) = layer.key_prefix {
            self.key_prefix = prefix;
        }
        if let Some(keys) = layer.signing_keys {
            self.signing_keys = split_secrets(&keys);
        }
        if let Some(file) = layer.signing_keys_file {
            self.signing_keys = read_secrets(Path::new(&file))?;
        }
        if let Some(tokens) = layer.admin_tokens {
            self.admin_tokens = split_secrets(&tokens);
        }
        if let Some(file) = layer.admin_tokens_file {
            self.admin_tokens = read_secrets(Path::new(&file))?;
        }
        set(
            &mut self.templates_dir,
            layer.templates_dir.map(PathBuf::from),
        );
        set(&mut self.fonts_dir, layer.fonts_dir.map(PathBuf::from));
        set(&mut self.demo_dir, layer.demo_dir.map(PathBuf::from));
        set(
            &mut self.store_budget,
            layer.store_budget_ms.map(Duration::from_millis),
        );
        set(&mut self.cache_bytes, layer.cache_bytes);
        set(&mut self.shared_cache_bytes, layer.shared_cache_bytes);
        set(
            &mut self.shared_cache_ttl,
            layer.shared_cache_ttl_s.map(Duration::from_secs),
        );
        set(
            &mut self.shared_cache_max_entry_bytes,
            layer.shared_cache_max_entry_bytes,
        );
        if layer.warm_rate == Some(0) {
            anyhow::bail!("warm_rate must be at least 1");
        }
        set(&mut self.warm_rate, layer.warm_rate);
        set(&mut self.glyph_cache_bytes, layer.glyph_cache_bytes);
        set(&mut self.shape_cache_bytes, layer.shape_cache_bytes);
        set(&mut self.render_concurrency, layer.render_concurrency);
        set(&mut self.render_queue, layer.render_queue);
        set(
            &mut self.render_wait,
            layer.render_wait_ms.map(Duration::from_millis),
        );
        set(&mut self.max_connections, layer.max_connections);
        set(&mut self.max_header_bytes, layer.max_header_bytes);
        set(&mut self.max_url_bytes, layer.max_url_bytes);
        set(
            &mut self.header_read_timeout,
            layer.header_read_timeout_ms.map(Duration::from_millis),
        );
        set(
            &mut self.shutdown_grace,
            layer.shutdown_grace_ms.map(Duration::from_millis),
        );
        set(&mut self.watch_templates, layer.watch_templates);
        set(&mut self.event_buffer, layer.event_buffer);
        set_path(&mut self.opener_rules_file, layer.opener_rules_file);
        set_path(
            &mut self.apple_relay_ranges_file,
            layer.apple_relay_ranges_file,
        );
        set(&mut self.trusted_proxy_hops, layer.trusted_proxy_hops);
        if let Some(origins) = layer.remote_image_origins {
            self.remote_image_origins = split_secrets(&origins);
        }
        set(
            &mut self.remote_image_max_bytes,
            layer.remote_image_max_bytes,
        );
        set(
            &mut self.remote_image_timeout,
            layer.remote_image_timeout_ms.map(Duration::from_millis),
        );
        set(
            &mut self.remote_image_cache_bytes,
            layer.remote_image_cache_bytes,
        );
        set_path(&mut self.preferences_file, layer.preferences_file);
        if let Some(url) = layer.public_url {
            let url = url.trim().trim_end_matches('/').to_string();
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://"))
                || url.contains(['?', '#', ' '])
            {
                bail!(
                    "public_url must be an http(s) origin with an optional path, like https://ot.example.com; got {url:?}"
                );
            }
            self.public_url = Some(url);
        }
        if let Some(senders) = layer.amp_senders {
            self.amp_senders = split_secrets(&senders)
                .into_iter()
                .map(|sender| sender.to_ascii_lowercase())
                .collect();
            if let Some(bad) = self
                .amp_senders
                .iter()
                .find(|sender| !sender.contains('@') || sender.ends_with('@'))
            {
                bail!(
                    "amp_senders holds addresses (news@example.com) or domains (@example.com); got {bad:?}"
                );
            }
        }
        if self.event_buffer == 0 {
            bail!("event_buffer must be at least 1");
        }
        if self.max_connections == 0 {
            bail!("max_connections must be at least 1");
        }
        if self.store_budget.is_zero() {
            bail!("store_budget_ms must be at least 1");
        }
        Ok(())
    }
}

impl Layer {
    /// Reads `OPENTIME_<KEY>` for every key. `lookup` is the environment, a
    /// parameter so that tests need not touch the process's.
    fn from_env(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Layer> {
        let text = |key: &str| lookup(&format!("OPENTIME_{}", key.to_ascii_uppercase()));
        let number = |key: &str| -> anyhow::Result<Option<u64>> {
            text(key)
                .map(|value| {
                    value.trim().parse::<u64>().with_context(|| {
                        format!(
                            "OPENTIME_{}={value:?} is not a whole number",
                            key.to_ascii_uppercase()
                        )
                    })
                })
                .transpose()
        };
        let count = |key: &str| number(key).map(|value| value.map(|n| n as usize));
        let flag = |key: &str| -> anyhow::Result<Option<bool>> {
            text(key)
                .map(|value| match value.trim() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => bail!(
                        "OPENTIME_{}={value:?} is not true or false",
                        key.to_ascii_uppercase()
                    ),
                })
                .transpose()
        };
        Ok(Layer {
            listen: text("listen"),
            redis_url: text("redis_url"),
            redis_ca_file: text("redis_ca_file"),
            redis_mode: text("redis_mode"),
            redis_sentinel_master: text("redis_sentinel_master"),
            key_prefix: text("key_prefix"),
            signing_keys: text("signing_keys"),
            signing_keys_file: text("signing_keys_file"),
            admin_tokens: text("admin_tokens"),
            admin_tokens_file: text("admin_tokens_file"),
            templates_dir: text("templates_dir"),
            fonts_dir: text("fonts_dir"),
            demo_dir: text("demo_dir"),
            store_budget_ms: number("store_budget_ms")?,
            cache_bytes: number("cache_bytes")?,
            shared_cache_bytes: number("shared_cache_bytes")?,
            shared_cache_ttl_s: number("shared_cache_ttl_s")?,
            shared_cache_max_entry_bytes: count("shared_cache_max_entry_bytes")?,
            warm_rate: number("warm_rate")?.map(|rate: u64| rate.min(u64::from(u32::MAX)) as u32),
            glyph_cache_bytes: number("glyph_cache_bytes")?,
            shape_cache_bytes: number("shape_cache_bytes")?,
            render_concurrency: count("render_concurrency")?,
            render_queue: count("render_queue")?,
            render_wait_ms: number("render_wait_ms")?,
            max_connections: count("max_connections")?,
            max_header_bytes: count("max_header_bytes")?,
            max_url_bytes: count("max_url_bytes")?,
            header_read_timeout_ms: number("header_read_timeout_ms")?,
            shutdown_grace_ms: number("shutdown_grace_ms")?,
            watch_templates: flag("watch_templates")?,
            event_buffer: count("event_buffer")?,
            opener_rules_file: text("opener_rules_file"),
            apple_relay_ranges_file: text("apple_relay_ranges_file"),
            trusted_proxy_hops: count("trusted_proxy_hops")?,
            remote_image_origins: text("remote_image_origins"),
            remote_image_max_bytes: count("remote_image_max_bytes")?,
            remote_image_timeout_ms: number("remote_image_timeout_ms")?,
            remote_image_cache_bytes: number("remote_image_cache_bytes")?,
            public_url: text("public_url"),
            amp_senders: text("amp_senders"),
            preferences_file: text("preferences_file"),
        })
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// Sets an optional path; an empty value unsets it.
fn set_path(slot: &mut Option<PathBuf>, value: Option<String>) {
    if let Some(value) = value {
        *slot = (!value.trim().is_empty()).then(|| PathBuf::from(value));
    }
}

/// Splits a comma-separated list (of secrets, origins), dropping blanks.
fn split_secrets(list: &str) -> Vec<String> {
    list.split([',', '\n'])
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .map(str::to_string)
        .collect()
}

fn read_secrets(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading secrets file {}", path.display()))?;
    Ok(split_secrets(&text))
}

/// Hides a password in a Redis URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_layer(pairs: &[(&str, &str)]) -> anyhow::Result<Layer> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Layer::from_env(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let mut config = Config::default();
        let file: Layer = toml::from_str(
            "listen = \"0.0.0.0:9000\"\nkey_prefix = \"acme:\"\nstore_budget_ms = 50\n",
        )
        .unwrap();
        config.apply(file).unwrap();
        let env = env_layer(&[
            ("OPENTIME_LISTEN", "127.0.0.1:9100"),
            (
                "OPENTIME_SIGNING_KEYS",
                "new-key-0123456789, old-key-0123456789",
            ),
        ])
        .unwrap();
        config.apply(env).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(config.key_prefix, "acme:");
        assert_eq!(config.store_budget, Duration::from_millis(50));
        assert_eq!(
            config.signing_keys,
            ["new-key-0123456789", "old-key-0123456789"]
        );
        assert_eq!(config.templates_dir, PathBuf::from("assets/templates"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let error = env_layer(&[("OPENTIME_STORE_BUDGET_MS", "soon")])
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("OPENTIME_STORE_BUDGET_MS"),
            "{error}"
        );
        let mut config = Config::default();
        let error = config
            .apply(env_layer(&[("OPENTIME_LISTEN", "localhost")]).unwrap())
            .unwrap_err();
        assert!(error.to_string().contains("listen"), "{error}");
        let unknown: Result<Layer, _> = toml::from_str("lisen = \"x\"");
        assert!(unknown.unwrap_err().to_string().contains("lisen"));
    }

    #[test]
    fn public_url_and_amp_senders_are_checked_and_normalized() {
        let mut config = Config::default();
        config
            .apply(
                env_layer(&[
                    ("OPENTIME_PUBLIC_URL", "https://ot.example.com/"),
                    ("OPENTIME_AMP_SENDERS", "News@Example.com, @shop.example"),
                ])
                .unwrap(),
            )
            .unwrap();
        assert_eq!(config.public_url.as_deref(), Some("https://ot.example.com"));
        assert_eq!(config.amp_senders, ["news@example.com", "@shop.example"]);
        for (key, value) in [
            ("OPENTIME_PUBLIC_URL", "ot.example.com"),
            ("OPENTIME_PUBLIC_URL", "https://ot.example.com/?x=1"),
            ("OPENTIME_AMP_SENDERS", "example.com"),
            ("OPENTIME_AMP_SENDERS", "news@"),
        ] {
            let mut config = Config::default();
            let error = config.apply(env_layer(&[(key, value)]).unwrap());
            assert!(error.is_err(), "{key}={value}");
        }
    }

    #[test]
    fn the_demo_key_is_refused_outside_demo_mode() {
        let config = Config {
            redis_url: Some("redis://127.0.0.1:6379".into()),
            ..Config::default()
        };
        let error = config.key_ring().unwrap_err();
        assert!(
            error.to_string().contains("OPENTIME_SIGNING_KEYS"),
            "{error}"
        );
        assert!(Config::default().key_ring().is_ok());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = Config {
            signing_keys: vec!["very-secret-signing-key".into()],
            admin_tokens: vec!["very-secret-admin-token".into()],
            redis_url: Some("redis://user:hunter2@redis:6379/0".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://***@redis:6379/0"), "{shown}");
    }
}
