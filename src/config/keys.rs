//! The one declaration of every configuration key: its name in the TOML
//! file, its `OPENTIME_*` environment variable, and the field of
//! [`Config`] it sets, whose kind says how its text is read. The file
//! layer, the environment layer, [`Config::environment_names`] and the test
//! of README.md's table all read [`KEYS`], so a key added here is a key
//! everywhere, and a key missing here exists nowhere.
//!
//! A field is named by a function returning a mutable reference to it, so
//! one plain function per key serves both to set it and to show it; only
//! the keys that need a parser or checks of their own (an address, the
//! Redis topology, a URL, the AMP senders) have a setter written out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::{Config, Secrets, secret::split_list};
use crate::store::{RedisUrl, Topology};
// The table below names fields by kind alone: `Usize(...)`, `Millis(...)`.
use Field::*;

/// One configuration key.
pub struct Key {
    /// The key in the TOML file, at its top level (`redis_url = "..."`).
    pub name: &'static str,
    /// The environment variable that overrides it: `OPENTIME_` and the
    /// name in upper case, spelled out so that a search for the variable
    /// lands here. These names are fixed (`SPEC.md`): deployments use them.
    pub env: &'static str,
    /// The field it sets, which also says how its value is written.
    field: Field,
}

/// Every key, grouped by the section of [`Config`] it sets.
///
/// Within one layer (the file, or the environment) keys are applied in
/// this order, which matters twice: a `_file` key comes after its inline
/// key, so that the file wins when both are given, and `redis_mode` comes
/// before `redis_sentinel_master`, which only counts in sentinel mode.
#[rustfmt::skip]
pub static KEYS: &[Key] = &[
    // server
    key("listen",                       "OPENTIME_LISTEN",                       Custom(set_listen, show_listen)),
    key("ops_listen",                   "OPENTIME_OPS_LISTEN",                   Custom(set_ops_listen, show_ops_listen)),
    key("max_connections",              "OPENTIME_MAX_CONNECTIONS",              Usize(|c| &mut c.server.max_connections)),
    key("max_header_bytes",             "OPENTIME_MAX_HEADER_BYTES",             Usize(|c| &mut c.server.max_header_bytes)),
    key("max_url_bytes",                "OPENTIME_MAX_URL_BYTES",                Usize(|c| &mut c.server.max_url_bytes)),
    key("header_read_timeout_ms",       "OPENTIME_HEADER_READ_TIMEOUT_MS",       Millis(|c| &mut c.server.header_read_timeout)),
    key("body_read_timeout_ms",         "OPENTIME_BODY_READ_TIMEOUT_MS",         Millis(|c| &mut c.server.body_read_timeout)),
    key("max_connections_per_ip",       "OPENTIME_MAX_CONNECTIONS_PER_IP",       Usize(|c| &mut c.server.max_connections_per_ip)),
    key("max_requests_per_connection",  "OPENTIME_MAX_REQUESTS_PER_CONNECTION",  Usize(|c| &mut c.server.max_requests_per_connection)),
    key("shutdown_grace_ms",            "OPENTIME_SHUTDOWN_GRACE_MS",            Millis(|c| &mut c.server.shutdown_grace)),
    key("trusted_proxy_hops",           "OPENTIME_TRUSTED_PROXY_HOPS",           Usize(|c| &mut c.server.trusted_proxy_hops)),
    key("public_url",                   "OPENTIME_PUBLIC_URL",                   Custom(set_public_url, show_public_url)),
    key("log_format",                   "OPENTIME_LOG_FORMAT",                   Text(|c| &mut c.server.log_format)),
    key("access_log",                   "OPENTIME_ACCESS_LOG",                   Flag(|c| &mut c.server.access_log)),
    // store
    key("redis_url",                    "OPENTIME_REDIS_URL",                    Custom(set_redis_url, show_redis_url)),
    key("redis_mode",                   "OPENTIME_REDIS_MODE",                   Custom(set_redis_mode, show_redis_mode)),
    key("redis_sentinel_master",        "OPENTIME_REDIS_SENTINEL_MASTER",        Custom(set_sentinel_master, show_sentinel_master)),
    key("redis_ca_file",                "OPENTIME_REDIS_CA_FILE",                OptionalFile(|c| &mut c.store.tls_ca_file)),
    key("key_prefix",                   "OPENTIME_KEY_PREFIX",                   Text(|c| &mut c.store.key_prefix)),
    key("store_budget_ms",              "OPENTIME_STORE_BUDGET_MS",              Millis(|c| &mut c.store.budget)),
    key("demo_dir",                     "OPENTIME_DEMO_DIR",                     Dir(|c| &mut c.store.demo_dir)),
    key("report_retention_days",        "OPENTIME_REPORT_RETENTION_DAYS",        U32(|c| &mut c.store.report_retention_days)),
    // access
    key("signing_keys",                 "OPENTIME_SIGNING_KEYS",                 SecretList(|c| &mut c.access.signing_keys)),
    key("signing_keys_file",            "OPENTIME_SIGNING_KEYS_FILE",            SecretFile(|c| &mut c.access.signing_keys)),
    key("legacy_tokens",                "OPENTIME_LEGACY_TOKENS",                Flag(|c| &mut c.access.legacy_tokens)),
    key("admin_tokens",                 "OPENTIME_ADMIN_TOKENS",                 SecretList(|c| &mut c.access.admin_tokens)),
    key("admin_tokens_file",            "OPENTIME_ADMIN_TOKENS_FILE",            SecretFile(|c| &mut c.access.admin_tokens)),
    // templates
    key("templates_dir",                "OPENTIME_TEMPLATES_DIR",                Dir(|c| &mut c.templates.dir)),
    key("watch_templates",              "OPENTIME_WATCH_TEMPLATES",              Flag(|c| &mut c.templates.watch)),
    key("api_template_render_limit_ms", "OPENTIME_API_TEMPLATE_RENDER_LIMIT_MS", Millis(|c| &mut c.templates.api_render_limit)),
    // render
    key("fonts_dir",                    "OPENTIME_FONTS_DIR",                    Dir(|c| &mut c.render.fonts_dir)),
    key("glyph_cache_bytes",            "OPENTIME_GLYPH_CACHE_BYTES",            U64(|c| &mut c.render.glyph_cache_bytes)),
    key("shape_cache_bytes",            "OPENTIME_SHAPE_CACHE_BYTES",            U64(|c| &mut c.render.shape_cache_bytes)),
    key("render_concurrency",           "OPENTIME_RENDER_CONCURRENCY",           Usize(|c| &mut c.render.concurrency)),
    key("render_queue",                 "OPENTIME_RENDER_QUEUE",                 Usize(|c| &mut c.render.queue)),
    key("render_wait_ms",               "OPENTIME_RENDER_WAIT_MS",               Millis(|c| &mut c.render.wait)),
    key("render_anonymous_share",       "OPENTIME_RENDER_ANONYMOUS_SHARE",       U32(|c| &mut c.render.anonymous_share)),
    // cache
    key("cache_bytes",                  "OPENTIME_CACHE_BYTES",                  U64(|c| &mut c.cache.bytes)),
    key("cache_recompress_png",         "OPENTIME_CACHE_RECOMPRESS_PNG",         Flag(|c| &mut c.cache.recompress_png)),
    key("shared_cache_bytes",           "OPENTIME_SHARED_CACHE_BYTES",           U64(|c| &mut c.cache.shared_bytes)),
    key("shared_cache_ttl_s",           "OPENTIME_SHARED_CACHE_TTL_S",           Seconds(|c| &mut c.cache.shared_ttl)),
    key("shared_cache_max_entry_bytes", "OPENTIME_SHARED_CACHE_MAX_ENTRY_BYTES", Usize(|c| &mut c.cache.shared_max_entry_bytes)),
    key("shared_cache_redis_url",       "OPENTIME_SHARED_CACHE_REDIS_URL",       Custom(set_shared_cache_redis_url, show_shared_cache_redis_url)),
    // remote_images
    key("remote_image_origins",         "OPENTIME_REMOTE_IMAGE_ORIGINS",         List(|c| &mut c.remote_images.allowed_origins)),
    key("remote_image_max_bytes",       "OPENTIME_REMOTE_IMAGE_MAX_BYTES",       Usize(|c| &mut c.remote_images.max_bytes)),
    key("remote_image_timeout_ms",      "OPENTIME_REMOTE_IMAGE_TIMEOUT_MS",      Millis(|c| &mut c.remote_images.timeout)),
    key("remote_image_cache_bytes",     "OPENTIME_REMOTE_IMAGE_CACHE_BYTES",     U64(|c| &mut c.remote_images.cache_bytes)),
    key("remote_image_max_concurrent_decodes", "OPENTIME_REMOTE_IMAGE_MAX_CONCURRENT_DECODES", Usize(|c| &mut c.remote_images.max_concurrent_decodes)),
    key("remote_image_decode_budget_bytes", "OPENTIME_REMOTE_IMAGE_DECODE_BUDGET_BYTES", U64(|c| &mut c.remote_images.decode_budget_bytes)),
    // sources
    key("source_hosts",                 "OPENTIME_SOURCE_HOSTS",                 List(|c| &mut c.sources.hosts)),
    key("source_budget_ms",             "OPENTIME_SOURCE_BUDGET_MS",             Millis(|c| &mut c.sources.budget)),
    key("source_max_bytes",             "OPENTIME_SOURCE_MAX_BYTES",             Usize(|c| &mut c.sources.max_bytes)),
    key("secrets",                      "OPENTIME_SECRETS",                      Tables(set_secrets)),
    // events
    key("event_buffer",                 "OPENTIME_EVENT_BUFFER",                 Usize(|c| &mut c.events.buffer)),
    key("attribution_days",             "OPENTIME_ATTRIBUTION_DAYS",             U32(|c| &mut c.events.attribution_days)),
    // openers
    key("opener_rules_file",            "OPENTIME_OPENER_RULES_FILE",            OptionalFile(|c| &mut c.openers.rules_file)),
    key("apple_relay_ranges_file",      "OPENTIME_APPLE_RELAY_RANGES_FILE",      OptionalFile(|c| &mut c.openers.apple_relay_ranges_file)),
    // geo
    key("geo_database",                 "OPENTIME_GEO_DATABASE",                 OptionalFile(|c| &mut c.geo.database)),
    // amp
    key("amp_senders",                  "OPENTIME_AMP_SENDERS",                  Custom(set_amp_senders, show_amp_senders)),
    // preferences
    key("preferences_file",             "OPENTIME_PREFERENCES_FILE",             OptionalFile(|c| &mut c.preferences.file)),
    // warm
    key("warm_rate",                    "OPENTIME_WARM_RATE",                    U32(|c| &mut c.warm.rate)),
    // webhooks
    key("webhooks",                     "OPENTIME_WEBHOOKS",                     Tables(set_webhooks)),
    // feeds
    key("feeds",                        "OPENTIME_FEEDS",                        Tables(set_feeds)),
];

/// A field of [`Config`], by its type. Numbers are whole numbers in the
/// file and the environment; durations are given in the unit the key's
/// name ends with (`_ms`, `_s`).
#[derive(Clone, Copy)]
enum Field {
    Usize(fn(&mut Config) -> &mut usize),
    U64(fn(&mut Config) -> &mut u64),
    /// Saturates at `u32::MAX` rather than refusing a larger number.
    U32(fn(&mut Config) -> &mut u32),
    Millis(fn(&mut Config) -> &mut Duration),
    Seconds(fn(&mut Config) -> &mut Duration),
    /// `true` or `false` in the file; also `1`, `yes`, `on` (and their
    /// opposites) in the environment.
    Flag(fn(&mut Config) -> &mut bool),
    Text(fn(&mut Config) -> &mut String),
    Dir(fn(&mut Config) -> &mut PathBuf),
    /// An empty value unsets it.
    OptionalFile(fn(&mut Config) -> &mut Option<PathBuf>),
    /// Comma- or line-separated; blanks are dropped.
    List(fn(&mut Config) -> &mut Vec<String>),
    /// Like a list, but never shown.
    SecretList(fn(&mut Config) -> &mut Secrets),
    /// The value names a file holding the secrets, so that they need not
    /// appear in the environment or the config file.
    SecretFile(fn(&mut Config) -> &mut Secrets),
    /// A list of tables: `[[name]]` in the file, a JSON array of objects
    /// in the environment, read and checked by its setter. Never shown:
    /// the tables hold secrets.
    Tables(fn(&mut Config, serde_json::Value) -> anyhow::Result<()>),
    /// Read and checked by a setter of its own, and shown by a function
    /// that writes the value as the file would, or `None` when it is unset.
    Custom(
        fn(&mut Config, String) -> anyhow::Result<()>,
        fn(&Config) -> Option<String>,
    ),
}

/// A value as a layer gives it, before it is put into its field. It has
/// no `Debug`: it may be a secret.
pub(super) enum Value {
    Text(String),
    Number(u64),
    Flag(bool),
    /// Tables, as JSON whichever layer they came from.
    Tables(serde_json::Value),
}

/// The [`Value`] kind a key takes.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Text,
    Number,
    Flag,
    Tables,
}

const fn key(name: &'static str, env: &'static str, field: Field) -> Key {
    Key { name, env, field }
}

impl Key {
    /// The place in [`KEYS`] of the key named `name` in the file.
    pub(super) fn position(name: &str) -> Option<usize> {
        KEYS.iter().position(|key| key.name == name)
    }

    pub(super) fn kind(&self) -> Kind {
        match self.field {
            Usize(_) | U64(_) | U32(_) | Millis(_) | Seconds(_) => Kind::Number,
            Flag(_) => Kind::Flag,
            Text(_) | Dir(_) | OptionalFile(_) | List(_) | SecretList(_) | SecretFile(_)
            | Custom(..) => Kind::Text,
            Tables(_) => Kind::Tables,
        }
    }

    /// Reads the text of this key's environment variable as its kind; a bad
    /// value is an error that names the variable.
    pub(super) fn parse_env(&self, text: String) -> anyhow::Result<Value> {
        match self.kind() {
            Kind::Text => Ok(Value::Text(text)),
            Kind::Number => text
                .trim()
                .parse()
                .map(Value::Number)
                .with_context(|| format!("{}={text:?} is not a whole number", self.env)),
            Kind::Flag => match text.trim() {
                "1" | "true" | "yes" | "on" => Ok(Value::Flag(true)),
                "0" | "false" | "no" | "off" => Ok(Value::Flag(false)),
                _ => bail!("{}={text:?} is not true or false", self.env),
            },
            // The value may hold secrets: the error names the variable and
            // where the JSON broke, never the text.
            Kind::Tables if text.trim().is_empty() => Ok(Value::Tables(serde_json::Value::Null)),
            Kind::Tables => serde_json::from_str(&text)
                .map(Value::Tables)
                .map_err(|error| {
                    anyhow::anyhow!(
                        "{} is not {} (line {}, column {})",
                        self.env,
                        if self.name == "feeds" {
                            "a JSON object of tables by name"
                        } else {
                            "a JSON array of tables"
                        },
                        error.line(),
                        error.column()
                    )
                }),
        }
    }

    /// Puts `value` into the key's field. A value of the wrong kind (text
    /// for a number, say, in the file) is an error that names the key.
    pub(super) fn assign(&self, config: &mut Config, value: Value) -> anyhow::Result<()> {
        match (self.field, value) {
            (Usize(field), Value::Number(n)) => {
                *field(config) = usize::try_from(n).unwrap_or(usize::MAX);
            }
            (U64(field), Value::Number(n)) => *field(config) = n,
            (U32(field), Value::Number(n)) => *field(config) = u32::try_from(n).unwrap_or(u32::MAX),
            (Millis(field), Value::Number(n)) => *field(config) = Duration::from_millis(n),
            (Seconds(field), Value::Number(n)) => *field(config) = Duration::from_secs(n),
            (Flag(field), Value::Flag(flag)) => *field(config) = flag,
            (Text(field), Value::Text(text)) => *field(config) = text,
            (Dir(field), Value::Text(text)) => *field(config) = PathBuf::from(text),
            (OptionalFile(field), Value::Text(text)) => {
                *field(config) = (!text.trim().is_empty()).then(|| PathBuf::from(text));
            }
            (List(field), Value::Text(text)) => *field(config) = split_list(&text),
            (SecretList(field), Value::Text(text)) => *field(config) = Secrets::split(&text),
            (SecretFile(field), Value::Text(path)) => {
                *field(config) = Secrets::read(Path::new(&path))?;
            }
            (Custom(set, _), Value::Text(text)) => set(config, text)?,
            (Tables(set), Value::Tables(tables)) => set(config, tables)?,
            _ => bail!(
                "{} must be {}",
                self.name,
                match self.kind() {
                    Kind::Text => "a string",
                    Kind::Number => "a whole number",
                    Kind::Flag => "true or false",
                    Kind::Tables if self.name == "feeds" => "tables, written [feeds.NAME]",
                    Kind::Tables => "a list of tables, written [[name]]",
                }
            ),
        }
        Ok(())
    }

    /// The key's value in `config` as the file would write it, for
    /// documentation; `None` when it is unset, and always for secrets.
    pub fn show(&self, config: &Config) -> Option<String> {
        // The field functions take `&mut Config` so that one function can
        // both set and read a field; reading works on a copy.
        let mut copy = config.clone();
        let copy = &mut copy;
        match self.field {
            Usize(field) => Some(field(copy).to_string()),
            U64(field) => Some(field(copy).to_string()),
            U32(field) => Some(field(copy).to_string()),
            Millis(field) => Some(field(copy).as_millis().to_string()),
            Seconds(field) => Some(field(copy).as_secs().to_string()),
            Flag(field) => Some(field(copy).to_string()),
            Text(field) => Some(field(copy).clone()),
            Dir(field) => Some(field(copy).display().to_string()),
            OptionalFile(field) => field(copy).as_ref().map(|path| path.display().to_string()),
            List(field) => {
                let list = field(copy);
                (!list.is_empty()).then(|| list.join(","))
            }
            SecretList(_) | SecretFile(_) | Tables(_) => None,
            Custom(_, show) => show(config),
        }
    }
}

fn set_listen(config: &mut Config, listen: String) -> anyhow::Result<()> {
    config.server.listen = listen
        .parse()
        .with_context(|| format!("listen: {listen:?} is not an address like 127.0.0.1:8080"))?;
    Ok(())
}

fn show_listen(config: &Config) -> Option<String> {
    Some(config.server.listen.to_string())
}

/// An address, or nothing (an empty value) for no second listener.
fn set_ops_listen(config: &mut Config, listen: String) -> anyhow::Result<()> {
    let listen = listen.trim();
    config.server.ops_listen = if listen.is_empty() {
        None
    } else {
        Some(listen.parse().with_context(|| {
            format!("ops_listen: {listen:?} is not an address like 127.0.0.1:9090")
        })?)
    };
    Ok(())
}

fn show_ops_listen(config: &Config) -> Option<String> {
    config.server.ops_listen.map(|address| address.to_string())
}

/// Keeps the origin and path, without a trailing slash, so that URLs are
/// written by appending `/p?...` and the like.
fn set_public_url(config: &mut Config, url: String) -> anyhow::Result<()> {
    let url = url.trim().trim_end_matches('/').to_string();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || url.contains(['?', '#', ' '])
    {
        bail!(
            "public_url must be an http(s) origin with an optional path, like https://ot.example.com; got {url:?}"
        );
    }
    config.server.public_url = Some(url);
    Ok(())
}

fn show_public_url(config: &Config) -> Option<String> {
    config.server.public_url.clone()
}

/// An empty URL means the embedded demo store, as no URL does.
fn set_redis_url(config: &mut Config, url: String) -> anyhow::Result<()> {
    config.store.redis_url = (!url.trim().is_empty()).then(|| RedisUrl::from(url));
    Ok(())
}

/// Without the password: shown values end up in documentation and logs.
fn show_redis_url(config: &Config) -> Option<String> {
    config.store.redis_url.as_ref().map(RedisUrl::redacted)
}

fn set_shared_cache_redis_url(config: &mut Config, url: String) -> anyhow::Result<()> {
    config.cache.shared_redis_url = (!url.trim().is_empty()).then(|| RedisUrl::from(url));
    Ok(())
}

/// Without the password, as for `redis_url`.
fn show_shared_cache_redis_url(config: &Config) -> Option<String> {
    config
        .cache
        .shared_redis_url
        .as_ref()
        .map(RedisUrl::redacted)
}

/// Sentinel mode keeps the primary's name already set, if any; a missing
/// name is refused once the whole layer is applied
/// ([`Config::validate`]), since `redis_sentinel_master` comes after.
fn set_redis_mode(config: &mut Config, mode: String) -> anyhow::Result<()> {
    config.store.topology = match mode.trim() {
        "" | "standalone" => Topology::Standalone,
        "cluster" => Topology::Cluster,
        "sentinel" => match &config.store.topology {
            Topology::Sentinel { master } => Topology::Sentinel {
                master: master.clone(),
            },
            _ => Topology::Sentinel {
                master: String::new(),
            },
        },
        other => bail!("redis_mode is standalone, sentinel or cluster, not {other:?}"),
    };
    Ok(())
}

/// The name only counts in sentinel mode; in the others it is ignored.
fn set_sentinel_master(config: &mut Config, name: String) -> anyhow::Result<()> {
    if let Topology::Sentinel { master } = &mut config.store.topology {
        *master = name;
    }
    Ok(())
}

fn show_redis_mode(config: &Config) -> Option<String> {
    let mode = match config.store.topology {
        Topology::Standalone => "standalone",
        Topology::Sentinel { .. } => "sentinel",
        Topology::Cluster => "cluster",
    };
    Some(mode.to_string())
}

fn show_sentinel_master(config: &Config) -> Option<String> {
    match &config.store.topology {
        Topology::Sentinel { master } => Some(master.clone()),
        Topology::Standalone | Topology::Cluster => None,
    }
}

/// Senders are compared in lower case; each is an address or an `@domain`.
fn set_amp_senders(config: &mut Config, senders: String) -> anyhow::Result<()> {
    let senders: Vec<String> = split_list(&senders)
        .into_iter()
        .map(|sender| sender.to_ascii_lowercase())
        .collect();
    if let Some(bad) = senders
        .iter()
        .find(|sender| !sender.contains('@') || sender.ends_with('@'))
    {
        bail!(
            "amp_senders holds addresses (news@example.com) or domains (@example.com); got {bad:?}"
        );
    }
    config.amp.senders = senders;
    Ok(())
}

fn show_amp_senders(config: &Config) -> Option<String> {
    (!config.amp.senders.is_empty()).then(|| config.amp.senders.join(","))
}

/// Every webhook, checked; a later layer's list replaces an earlier one's.
/// `[secrets]`: names and their text, for sources' headers and URLs;
/// `OPENTIME_SECRETS` is a JSON object of the same.
fn set_secrets(config: &mut Config, table: serde_json::Value) -> anyhow::Result<()> {
    let map = match table {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(map) => map,
        _ => bail!(
            "secrets is a table of names and their text: [secrets] in the file, a JSON object in OPENTIME_SECRETS"
        ),
    };
    let mut secrets = std::collections::BTreeMap::new();
    for (name, value) in map {
        let serde_json::Value::String(text) = value else {
            bail!("secrets.{name}: a secret is a string");
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bail!("secrets.{name}: a secret's name is letters, digits and '_'");
        }
        if text.is_empty() {
            bail!("secrets.{name}: a secret is not empty");
        }
        secrets.insert(name, text);
    }
    config.sources.secrets = crate::sources::SecretMap::new(secrets);
    Ok(())
}

fn set_webhooks(config: &mut Config, tables: serde_json::Value) -> anyhow::Result<()> {
    config.webhooks = crate::webhooks::parse_webhooks(tables).map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Every feed, checked; a later layer's set replaces an earlier one's.
fn set_feeds(config: &mut Config, tables: serde_json::Value) -> anyhow::Result<()> {
    config.feeds = crate::feeds::parse_feeds(tables).map_err(anyhow::Error::msg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::layer::Layer;

    /// A key declared twice would be set by its first entry only.
    #[test]
    fn every_key_is_declared_once() {
        for (index, key) in KEYS.iter().enumerate() {
            assert_eq!(Key::position(key.name), Some(index), "{}", key.name);
        }
    }

    /// Each default, written back as a value of its key, reads as the same
    /// default: the shown values (and README.md's, which are checked
    /// against them) are in the key's units.
    #[test]
    fn shown_defaults_read_back_as_the_defaults() {
        let defaults = Config::default();
        for key in KEYS {
            let Some(shown) = key.show(&defaults) else {
                continue;
            };
            let mut config = Config::default();
            let layer = Layer::from_env(|name| (name == key.env).then(|| shown.clone()));
            config.apply(layer.unwrap()).unwrap();
            assert_eq!(config, defaults, "{} = {shown:?}", key.name);
        }
    }

    #[test]
    fn the_file_wins_over_the_inline_secrets_of_the_same_layer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "from-the-file-admin-token\n").unwrap();
        let mut config = Config::default();
        let layer = Layer::from_env(|name| match name {
            "OPENTIME_ADMIN_TOKENS" => Some("inline-admin-token".to_string()),
            "OPENTIME_ADMIN_TOKENS_FILE" => Some(file.display().to_string()),
            _ => None,
        });
        config.apply(layer.unwrap()).unwrap();
        assert_eq!(config.access.admin_tokens, ["from-the-file-admin-token"]);
    }

    #[test]
    fn the_sentinel_master_counts_only_in_sentinel_mode() {
        let apply = |config: &mut Config, pairs: &[(&str, &str)]| {
            let layer = Layer::from_env(|name| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            });
            config.apply(layer.unwrap())
        };
        let mut config = Config::default();
        apply(
            &mut config,
            &[("OPENTIME_REDIS_SENTINEL_MASTER", "primary")],
        )
        .unwrap();
        assert_eq!(config.store.topology, Topology::Standalone);
        let error = apply(&mut config, &[("OPENTIME_REDIS_MODE", "sentinel")]).unwrap_err();
        assert!(
            error.to_string().contains("redis_sentinel_master"),
            "{error}"
        );
        let mut config = Config::default();
        apply(
            &mut config,
            &[
                ("OPENTIME_REDIS_SENTINEL_MASTER", "primary"),
                ("OPENTIME_REDIS_MODE", " sentinel "),
            ],
        )
        .unwrap();
        let sentinel = Topology::Sentinel {
            master: "primary".to_string(),
        };
        assert_eq!(config.store.topology, sentinel);
        apply(&mut config, &[("OPENTIME_REDIS_MODE", "sentinel")]).unwrap();
        assert_eq!(config.store.topology, sentinel);
        let error = apply(&mut config, &[("OPENTIME_REDIS_MODE", "primary")]).unwrap_err();
        assert!(error.to_string().contains("not \"primary\""), "{error}");
    }
}
