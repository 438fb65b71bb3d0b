//! What the server's configuration says about sources: the hosts they may
//! call (`source_hosts`), the secrets their headers may read
//! (`[secrets]`), how long an open waits for them all
//! (`source_budget_ms`) and how large an answer may be
//! (`source_max_bytes`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use minijinja::Value;

use crate::remote::SourceHosts;
use crate::template::SourceRules;

/// The `sources` part of the server's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcesConfig {
    /// The origins sources may call, as `remote_image_allowed_origins`
    /// writes them.
    pub hosts: Vec<String>,
    pub secrets: SecretMap,
    pub budget: Duration,
    pub max_bytes: usize,
}

impl Default for SourcesConfig {
    fn default() -> SourcesConfig {
        SourcesConfig {
            hosts: Vec::new(),
            secrets: SecretMap::default(),
            budget: Duration::from_millis(400),
            max_bytes: 256 * 1024,
        }
    }
}

/// Named secrets; `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretMap(BTreeMap<String, String>);

impl SecretMap {
    pub fn new(secrets: BTreeMap<String, String>) -> SecretMap {
        SecretMap(secrets)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every secret's text, for a check that no output holds one.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }
}

impl fmt::Debug for SecretMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The configuration, checked: what templates' sources are held to.
#[derive(Debug)]
pub struct SourcePolicy {
    hosts: SourceHosts,
    secrets: SecretMap,
    budget: Duration,
    max_bytes: usize,
}

impl SourcePolicy {
    pub fn new(config: &SourcesConfig) -> Result<SourcePolicy, String> {
        Ok(SourcePolicy {
            hosts: SourceHosts::parse(&config.hosts)?,
            secrets: config.secrets.clone(),
            budget: config.budget,
            max_bytes: config.max_bytes,
        })
    }

    pub(super) fn hosts(&self) -> &SourceHosts {
        &self.hosts
    }

    pub(super) fn budget(&self) -> Duration {
        self.budget
    }

    pub(super) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The secrets as a source's texts read them, by `secret('NAME')`.
    pub(super) fn secrets_value(&self) -> Value {
        Value::from_pairs(
            self.secrets
                .0
                .iter()
                .map(|(name, value)| (name.clone(), Value::from(value.as_str()))),
        )
    }
}

impl SourceRules for SourcePolicy {
    fn check_url(&self, url_text: &str) -> Result<(), String> {
        self.hosts.check_written(url_text)
    }

    fn has_secret(&self, name: &str) -> bool {
        self.secrets.0.contains_key(name)
    }
}
