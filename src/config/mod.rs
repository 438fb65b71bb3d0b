//! The server's configuration: one typed struct of sections, loaded in
//! layers.
//!
//! The layers are, lowest first: built-in defaults, a TOML file (`--config`),
//! then `OPENTIME_*` environment variables, one per key (the key's name in
//! upper case: `listen` is `OPENTIME_LISTEN`). Secrets (signing keys, admin
//! tokens) may also come from a file named by `OPENTIME_SIGNING_KEYS_FILE` or
//! `OPENTIME_ADMIN_TOKENS_FILE` (or the `_file` keys of the TOML file), so
//! that they never have to appear on a command line.
//!
//! The keys are flat (`redis_url`, `render_wait_ms`), as deployments write
//! them; each sets a field of one section, and each section is what one
//! part of the server reads. The two exceptions are `webhooks`, a list of
//! tables: `[[webhooks]]` in the file, a JSON array of the same tables in
//! `OPENTIME_WEBHOOKS`; and `feeds`, tables by name: `[feeds.NAME]` in the
//! file, a JSON object of the same tables in `OPENTIME_FEEDS`.
//!
//! - `keys.rs`: [`KEYS`], the one declaration of every key.
//! - `layer.rs`: a layer of values, read from the file or the environment.
//! - `sections.rs`: the sections and their defaults.
//! - `secret.rs`: [`Secrets`], whose `Debug` hides them.

mod keys;
mod layer;
mod secret;
mod sections;

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::access::{DEMO_KEY, KeyRing};
use crate::feeds::FeedConfig;
use crate::remote::RemoteImageConfig;
use crate::sources::SourcesConfig;
use crate::store::{StoreConfig, Topology};
use crate::webhooks::WebhookConfig;

pub use keys::{KEYS, Key};
pub use secret::Secrets;
pub use sections::{
    AccessConfig, AmpConfig, CacheConfig, EventsConfig, GeoConfig, OpenersConfig,
    PreferencesConfig, RenderConfig, ServerConfig, TemplatesConfig, WarmConfig,
};

use layer::Layer;

/// The demo shop API's origin (`http::demo_api`), which the demo templates
/// call in demo mode.
pub const DEMO_API_ORIGIN: &str = "http://127.0.0.1:8089";

/// Every setting of the server, with its default, by the part of the server
/// that reads it. `Debug` hides the secrets and the Redis password.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    /// How to reach Redis, or the embedded demo store without a URL.
    pub store: StoreConfig,
    pub access: AccessConfig,
    pub templates: TemplatesConfig,
    pub render: RenderConfig,
    pub cache: CacheConfig,
    pub remote_images: RemoteImageConfig,
    /// Templates' calls to the customer's APIs (`docs/sources.md`).
    pub sources: SourcesConfig,
    pub events: EventsConfig,
    pub openers: OpenersConfig,
    pub geo: GeoConfig,
    pub amp: AmpConfig,
    pub preferences: PreferencesConfig,
    pub warm: WarmConfig,
    /// Where events go back to the sender's systems (`docs/webhooks.md`).
    pub webhooks: Vec<WebhookConfig>,
    /// Product feeds refreshed on a schedule (`docs/feeds.md`).
    pub feeds: Vec<FeedConfig>,
}

impl Config {
    /// Loads defaults, then the TOML file if given, then the environment.
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
        config.demo_defaults();
        Ok(config)
    }

    /// In demo mode, the demo shop API that `opentime serve` starts is a
    /// host sources may call and remote images may come from, so the demo
    /// templates show live data with nothing to set up. Nothing changes
    /// outside demo mode, and calling it twice changes nothing more.
    pub fn demo_defaults(&mut self) {
        if !self.is_demo() {
            return;
        }
        for list in [
            &mut self.sources.hosts,
            &mut self.remote_images.allowed_origins,
        ] {
            if !list.iter().any(|origin| origin == DEMO_API_ORIGIN) {
                list.push(DEMO_API_ORIGIN.to_string());
            }
        }
    }

    /// Every `OPENTIME_*` variable opentime reads, for checking deployment
    /// files against the real settings.
    pub fn environment_names() -> Vec<String> {
        KEYS.iter().map(|key| key.env.to_string()).collect()
    }

    /// Whether the server runs on the embedded demo store.
    pub fn is_demo(&self) -> bool {
        self.store.redis_url.is_none()
    }

    /// The key ring for tokens and signed URLs, accepting tokens of the
    /// first format as `legacy_tokens` says. Without configured keys the
    /// demo key is used, which is refused outside demo mode.
    pub fn key_ring(&self) -> anyhow::Result<KeyRing> {
        if !self.is_demo()
            && self
                .access
                .signing_keys
                .iter()
                .any(|key| key.as_str() == DEMO_KEY)
        {
            bail!(
                "OPENTIME_SIGNING_KEYS holds the public demo key, which anyone can sign with: \
                 a real store needs secret signing keys"
            );
        }
        let secrets = if self.access.signing_keys.is_empty() {
            if !self.is_demo() {
                bail!(
                    "OPENTIME_SIGNING_KEYS is not set: a real store needs real signing keys \
                     (the demo key is only for demo mode)"
                );
            }
            vec![DEMO_KEY.as_bytes().to_vec()]
        } else {
            self.access
                .signing_keys
                .iter()
                .map(|key| key.as_bytes().to_vec())
                .collect()
        };
        Ok(KeyRing::new(secrets)?.with_legacy_tokens(self.access.legacy_tokens))
    }

    pub fn uses_demo_key(&self) -> bool {
        self.access.signing_keys.is_empty()
    }

    /// Applies a layer's keys in the order of [`KEYS`], then checks what no
    /// single key can: the limits that must not be zero, and that sentinel
    /// mode names its primary.
    fn apply(&mut self, layer: Layer) -> anyhow::Result<()> {
        for (key, value) in layer.values() {
            key.assign(self, value)?;
        }
        self.validate()
    }

    /// Checks what no single key can: the limits that must not be zero,
    /// that sentinel mode names its primary, and that admin tokens are long
    /// and name only scopes that exist. Loading runs it after each layer;
    /// a configuration built in code runs it before serving.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Topology::Sentinel { master } = &self.store.topology
            && master.trim().is_empty()
        {
            bail!(
                "redis_mode = \"sentinel\" needs redis_sentinel_master, the name of the primary the sentinels watch"
            );
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            bail!(
                "log_format is \"text\" or \"json\", not {:?}",
                self.server.log_format
            );
        }
        if self.server.ops_listen == Some(self.server.listen) {
            bail!(
                "ops_listen must differ from listen ({}): the operations endpoints get an address of their own",
                self.server.listen
            );
        }
        if self.templates.api_render_limit.is_zero() {
            bail!("api_template_render_limit_ms must be at least 1");
        }
        if self.render.anonymous_share > 100 {
            bail!(
                "render_anonymous_share is a percentage of the render slots, 0 to 100, not {}",
                self.render.anonymous_share
            );
        }
        if !(1..=3660).contains(&self.store.report_retention_days) {
            bail!(
                "report_retention_days is 1 to 3660 (ten years), not {}",
                self.store.report_retention_days
            );
        }
        if self.warm.rate == 0 {
            bail!("warm_rate must be at least 1");
        }
        if self.events.buffer == 0 {
            bail!("event_buffer must be at least 1");
        }
        if !(1..=365).contains(&self.events.attribution_days) {
            bail!(
                "attribution_days is 1 to 365, not {}",
                self.events.attribution_days
            );
        }
        if self.server.max_connections == 0 {
            bail!("max_connections must be at least 1");
        }
        if self.store.budget.is_zero() {
            bail!("store_budget_ms must be at least 1");
        }
        self.remote_images
            .check_decode_limits()
            .map_err(anyhow::Error::msg)?;
        crate::sources::SourcePolicy::new(&self.sources).map_err(anyhow::Error::msg)?;
        if self.sources.budget.is_zero() {
            bail!("source_budget_ms must be at least 1");
        }
        if self.sources.max_bytes < 1024 {
            bail!("source_max_bytes must be at least 1024");
        }
        if let Some(path) = &self.geo.database {
            check_geo_database(path)?;
        }
        crate::feeds::check_feeds(&self.feeds).map_err(anyhow::Error::msg)?;
        for (position, entry) in self.access.admin_tokens.iter().enumerate() {
            crate::access::check_admin_token(entry).map_err(|problem| {
                anyhow::anyhow!("admin_tokens, number {}: {problem}", position + 1)
            })?;
        }
        Ok(())
    }
}

/// A `geo_database` that names no readable file is refused when the
/// configuration loads, before a server starts with rules that would find
/// no reader anywhere; its contents are checked when it is opened
/// ([`crate::geo::GeoDatabase::open`]).
fn check_geo_database(path: &Path) -> anyhow::Result<()> {
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("geo_database {}: cannot read it", path.display()))?;
    if !metadata.is_file() {
        bail!(
            "geo_database {} is not a file: it names a city database such as GeoLite2-City.mmdb",
            path.display()
        );
    }
    std::fs::File::open(path)
        .with_context(|| format!("geo_database {}: cannot read it", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

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
        assert_eq!(config.server.listen, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(config.store.key_prefix, "acme:");
        assert_eq!(config.store.budget, Duration::from_millis(50));
        assert_eq!(
            config.access.signing_keys,
            ["new-key-0123456789", "old-key-0123456789"]
        );
        assert_eq!(config.templates.dir, PathBuf::from("assets/templates"));
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
    fn the_attribution_window_is_read_and_bounded() {
        let mut config = Config::default();
        assert_eq!(config.events.attribution_days, 7);
        config
            .apply(env_layer(&[("OPENTIME_ATTRIBUTION_DAYS", "30")]).unwrap())
            .unwrap();
        assert_eq!(config.events.attribution_days, 30);
        config.validate().expect("30 days is a window");
        for days in [0, 366] {
            config.events.attribution_days = days;
            let error = config.validate().unwrap_err().to_string();
            assert_eq!(error, format!("attribution_days is 1 to 365, not {days}"));
        }
    }

    #[test]
    fn remote_image_decode_limits_are_read_and_checked() {
        let mut config = Config::default();
        let file: Layer = toml::from_str(
            "remote_image_max_concurrent_decodes = 4\nremote_image_decode_budget_bytes = 268435456\n",
        )
        .unwrap();
        config.apply(file).unwrap();
        assert_eq!(config.remote_images.max_concurrent_decodes, 4);
        assert_eq!(config.remote_images.decode_budget_bytes, 256 * 1024 * 1024);
        for (variable, value, key) in [
            (
                "OPENTIME_REMOTE_IMAGE_MAX_CONCURRENT_DECODES",
                "0",
                "remote_image_max_concurrent_decodes",
            ),
            (
                "OPENTIME_REMOTE_IMAGE_DECODE_BUDGET_BYTES",
                "65536",
                "remote_image_decode_budget_bytes",
            ),
        ] {
            let error = Config::default()
                .apply(env_layer(&[(variable, value)]).unwrap())
                .unwrap_err();
            assert!(error.to_string().contains(key), "{error}");
        }
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
        assert_eq!(
            config.server.public_url.as_deref(),
            Some("https://ot.example.com")
        );
        assert_eq!(config.amp.senders, ["news@example.com", "@shop.example"]);
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
    fn feeds_are_tables_by_name_in_the_file_and_json_in_the_environment() {
        let mut config = Config::default();
        let layer: Layer = toml::from_str(
            "[feeds.products]\n\
             url = \"https://shop.example/feed.xml?key=hunter2\"\n\
             format = \"google_merchant\"\n\
             refresh_s = 300\n",
        )
        .unwrap();
        config.apply(layer).unwrap();
        assert_eq!(config.feeds.len(), 1);
        assert_eq!(config.feeds[0].name, "products");
        assert_eq!(config.feeds[0].refresh, Duration::from_secs(300));
        config
            .apply(
                env_layer(&[(
                    "OPENTIME_FEEDS",
                    r#"{"news": {"file": "/srv/news.csv", "format": "csv", "key": "sku"}}"#,
                )])
                .unwrap(),
            )
            .unwrap();
        assert_eq!(config.feeds.len(), 1);
        assert_eq!(config.feeds[0].key, "sku");
        let error = toml::from_str::<Layer>("[feeds.products]\nformat = \"rss\"\n")
            .map(|layer| Config::default().apply(layer))
            .unwrap()
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("[feeds.products]: needs a url or a file"),
            "{error:#}"
        );
        let string: Result<Layer, _> = toml::from_str("feeds = \"x\"");
        assert!(
            string
                .unwrap_err()
                .to_string()
                .contains("[feeds.NAME] tables")
        );
        let broken = env_layer(&[("OPENTIME_FEEDS", "[")])
            .map(|_| ())
            .unwrap_err();
        assert!(
            broken.to_string().contains("JSON object of tables"),
            "{broken}"
        );
    }

    #[test]
    fn webhooks_are_tables_in_the_file_and_json_in_the_environment() {
        let file: Layer = toml::from_str(
            "[[webhooks]]\n\
             url = \"https://crm.example.com/hooks/opentime\"\n\
             events = [\"unsubscribe\", \"preferences\"]\n\
             secret = \"a-long-enough-hook-secret\"\n",
        )
        .unwrap();
        let mut config = Config::default();
        config.apply(file).unwrap();
        assert_eq!(config.webhooks.len(), 1);
        assert_eq!(config.webhooks[0].events, ["unsubscribe", "preferences"]);
        assert_eq!(config.webhooks[0].url.origin(), "https://crm.example.com");
        let env = env_layer(&[(
            "OPENTIME_WEBHOOKS",
            r#"[{"url": "http://127.0.0.1:9000/hook", "events": ["open", "click"], "secret": "a-long-enough-hook-secret", "name": "local"}]"#,
        )])
        .unwrap();
        config.apply(env).unwrap();
        assert_eq!(
            config.webhooks.len(),
            1,
            "the environment's list replaces the file's"
        );
        assert_eq!(config.webhooks[0].name, "local");
        assert!(!format!("{config:?}").contains("a-long-enough-hook-secret"));

        let typo: Layer = toml::from_str(
            "[[webhooks]]\nurl = \"https://crm.example.com/\"\nevents = [\"opne\"]\nsecret = \"a-long-enough-hook-secret\"\n",
        )
        .unwrap();
        let error = format!("{:#}", Config::default().apply(typo).unwrap_err());
        assert!(
            error.contains("[[webhooks]] number 1: events: \"opne\" is not an event type"),
            "{error}"
        );
        let string: Result<Layer, _> = toml::from_str("webhooks = \"https://crm.example.com/\"");
        assert!(
            string
                .err()
                .unwrap()
                .to_string()
                .contains("[[webhooks]] tables")
        );
        let not_a_table: Result<Layer, _> = toml::from_str("listen = [\"127.0.0.1:1\"]");
        assert!(not_a_table.is_err());
        let broken = env_layer(&[("OPENTIME_WEBHOOKS", r#"[{"secret": "hunter2"#)])
            .err()
            .unwrap()
            .to_string();
        assert!(
            broken.contains("OPENTIME_WEBHOOKS") && !broken.contains("hunter2"),
            "{broken}"
        );
        let mut config = Config::default();
        config
            .apply(env_layer(&[("OPENTIME_WEBHOOKS", " ")]).unwrap())
            .unwrap();
        assert!(config.webhooks.is_empty());
    }

    #[test]
    fn the_demo_key_is_refused_outside_demo_mode() {
        let config = Config {
            store: StoreConfig {
                redis_url: Some("redis://127.0.0.1:6379".into()),
                ..StoreConfig::default()
            },
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
    fn weak_admin_tokens_and_the_demo_key_with_redis_are_refused() {
        let layer = env_layer;
        let mut config = Config::default();
        let short = config.apply(layer(&[("OPENTIME_ADMIN_TOKENS", "short")]).unwrap());
        assert!(format!("{:#}", short.unwrap_err()).contains("16 characters"));
        let mut config = Config::default();
        let typo = config.apply(
            layer(&[(
                "OPENTIME_ADMIN_TOKENS",
                "pool+engagement:a-long-enough-secret",
            )])
            .unwrap(),
        );
        assert!(format!("{:#}", typo.unwrap_err()).contains("\"pool\""));
        let mut config = Config::default();
        config
            .apply(
                layer(&[
                    ("OPENTIME_REDIS_URL", "redis://127.0.0.1:6379"),
                    ("OPENTIME_SIGNING_KEYS", DEMO_KEY),
                ])
                .unwrap(),
            )
            .unwrap();
        let refused = config.key_ring().unwrap_err().to_string();
        assert!(refused.contains("public demo key"), "{refused}");
        let mut config = Config::default();
        let format = config.apply(layer(&[("OPENTIME_LOG_FORMAT", "yaml")]).unwrap());
        assert!(format!("{:#}", format.unwrap_err()).contains("log_format"));
    }

    #[test]
    fn legacy_tokens_verify_until_the_setting_turns_them_off() {
        let recipient = crate::recipient::RecipientId::new("ann").unwrap();
        let mut config = Config::default();
        assert!(config.access.legacy_tokens);
        let legacy = config.key_ring().unwrap().sign_recipient_legacy(&recipient);
        let current = config.key_ring().unwrap().sign_recipient(&recipient);
        assert_eq!(
            config.key_ring().unwrap().verify_token(&legacy),
            Ok(recipient.clone())
        );

        config
            .apply(env_layer(&[("OPENTIME_LEGACY_TOKENS", "false")]).unwrap())
            .unwrap();
        assert!(!config.access.legacy_tokens);
        let keys = config.key_ring().unwrap();
        assert!(!keys.accepts_legacy_tokens());
        assert!(keys.verify_token(&legacy).is_err());
        assert_eq!(keys.verify_token(&current), Ok(recipient));

        let file: Layer = toml::from_str("legacy_tokens = true\n").unwrap();
        config.apply(file).unwrap();
        assert!(config.key_ring().unwrap().accepts_legacy_tokens());
        let wrong: Layer = toml::from_str("legacy_tokens = \"no\"\n").unwrap();
        assert!(Config::default().apply(wrong).is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = Config {
            access: AccessConfig {
                signing_keys: vec!["very-secret-signing-key".into()].into(),
                admin_tokens: vec!["very-secret-admin-token".into()].into(),
                ..AccessConfig::default()
            },
            store: StoreConfig {
                redis_url: Some("redis://user:hunter2@redis:6379/0".into()),
                ..StoreConfig::default()
            },
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://***@redis:6379/0"), "{shown}");
    }
}
