//! Where recipient state lives: Redis, or the embedded in-memory demo store.
//!
//! Nothing outside this module speaks Redis. Callers get a [`Store`], a cheap
//! `Clone` handle that hides which backend is behind it:
//! - [`RedisStore`] when a Redis URL is configured: one self-healing
//!   multiplexed connection, every call bounded by the configured budget;
//! - [`MemoryStore`] otherwise: the demo recipients of
//!   `{demo_dir}/recipients.json` (format in [`demo`]), in memory.
//!
//! # Layout
//! - `keys`: how Redis keys are spelled (`{prefix}r:{ID}` and friends).
//! - `records`: what is kept per recipient beyond the profile (open
//!   records, locks, codes, clicks, engagement counts), for both backends.
//! - `polls`: votes and tallies, for both backends.
//! - `feeds`: product feeds' items, meta and refresh locks, for both
//!   backends (the embedded store's kept there too); `redis_feeds`: in
//!   Redis.
//! - `redis`: the Redis backend and its connection policy;
//!   `redis_records`: its records, pools and events stream;
//!   `redis_polls`: its votes and tallies; `redis_prefs`: its email
//!   preferences; `redis_templates`: the templates put through the API;
//!   `redis_renders`: the render cache shared by replicas;
//!   `redis_streams`: the events stream read back, by webhooks' consumer
//!   groups and the preferences export.
//! - `memory`: the in-memory backend.
//! - `demo`: the demo file format and its loader.
//! - `redis_url`: the configured URL, whose `Debug` hides the password.
//! - `error`: what can go wrong, as [`StoreError`].

pub mod demo;
pub mod error;
pub mod feeds;
pub mod keys;
pub mod memory;
pub mod memory_reports;
pub mod polls;
pub mod records;
pub mod redis;
pub mod redis_connection;
pub mod redis_feeds;
pub mod redis_polls;
pub mod redis_prefs;
pub mod redis_records;
pub mod redis_renders;
pub mod redis_reports;
pub mod redis_streams;
pub mod redis_templates;
pub mod redis_url;
pub mod reports;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::events::{Event, EventSink, SinkError};
use crate::prefs::PrefsChange;
use crate::recipient::{Profile, RecipientId};

pub use self::error::StoreError;
pub use self::feeds::{FeedCommit, FeedMeta};
pub use self::keys::{DEFAULT_KEY_PREFIX, KeyScheme};
pub use self::memory::MemoryStore;
pub use self::polls::Tally;
pub use self::records::{EngagementRecord, LastTouch, RecipientState, ShownRecord, StateRequest};
pub use self::redis::RedisStore;
pub use self::redis_reports::Decision;
pub use self::redis_streams::StreamEntry;
pub use self::redis_url::RedisUrl;

/// One line of a bulk import: fields to merge into a recipient's profile
/// and fields to remove from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileUpsert {
    pub recipient: RecipientId,
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// How the Redis servers of `redis_url` are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Topology {
    /// One server (or a proxy in front of several).
    #[default]
    Standalone,
    /// `redis_url` lists the sentinels; `master` names the primary they
    /// watch.
    Sentinel { master: String },
    /// `redis_url` lists seed nodes of a Redis Cluster.
    Cluster,
}

/// How to reach the store: the `store` section of the server's
/// configuration, handed to [`Store::open`] as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `redis://`, `rediss://` or `redis+unix://`; `None` selects the
    /// embedded store seeded from `demo_dir`.
    pub redis_url: Option<RedisUrl>,
    /// Standalone, Sentinel or Cluster.
    pub topology: Topology,
    /// Prefix of every key, `ot:` by default.
    pub key_prefix: String,
    /// How long one request may wait for the store before it gives up and
    /// the default variant is served.
    pub budget: Duration,
    /// Where the demo recipients are (`assets/demo`).
    pub demo_dir: PathBuf,
    /// For `rediss://`: a PEM file of the certificate authority that signed
    /// the server's certificate, when it is not one the system trusts.
    pub tls_ca_file: Option<PathBuf>,
    /// How many days report counters are kept.
    pub report_retention_days: u32,
}

impl StoreConfig {
    /// The certificate authority of `tls_ca_file`, read.
    fn tls_ca(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(path) = &self.tls_ca_file else {
            return Ok(None);
        };
        let pem = std::fs::read(path).map_err(|error| {
            StoreError::Config(format!(
                "cannot read the Redis CA file {}: {error}",
                path.display()
            ))
        })?;
        Ok(Some(pem))
    }
}

impl Default for StoreConfig {
    /// The embedded demo store; with a URL, a standalone Redis, keys under
    /// `ot:` and 30 ms per request.
    fn default() -> StoreConfig {
        StoreConfig {
            redis_url: None,
            topology: Topology::Standalone,
            key_prefix: DEFAULT_KEY_PREFIX.to_string(),
            budget: Duration::from_millis(30),
            demo_dir: PathBuf::from("assets/demo"),
            tls_ca_file: None,
            report_retention_days: redis::DEFAULT_REPORT_DAYS,
        }
    }
}

/// The recipient state store, as the rest of the program sees it.
#[derive(Debug, Clone)]
pub enum Store {
    Redis(RedisStore),
    Memory(MemoryStore),
}

impl Store {
    /// Redis when `redis_url` is set, else the demo store. Succeeds even when
    /// Redis is down (calls then fail fast until it is back); fails only on
    /// configuration that can never work.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        match &config.redis_url {
            Some(url) => {
                let keys = KeyScheme::new(config.key_prefix.clone())?;
                Ok(Store::Redis(
                    RedisStore::connect(
                        url.as_str().trim(),
                        config.tls_ca()?,
                        &config.topology,
                        keys,
                        config.budget,
                    )
                    .await?
                    .with_report_days(config.report_retention_days),
                ))
            }
            None => Ok(Store::Memory(MemoryStore::from_demo_dir(&config.demo_dir)?)),
        }
    }

    /// A standalone Redis at `url` for the shared render cache alone, with
    /// the store's key prefix, CA file and budget: one that may evict, kept
    /// apart from the store's records, which must not be evicted.
    pub async fn open_cache(
        config: &StoreConfig,
        url: &RedisUrl,
    ) -> Result<RedisStore, StoreError> {
        let keys = KeyScheme::new(config.key_prefix.clone())?;
        RedisStore::connect(
            url.as_str().trim(),
            config.tls_ca()?,
            &Topology::Standalone,
            keys,
            config.budget,
        )
        .await
    }

    /// True for the embedded store, which the server announces loudly.
    pub fn is_demo(&self) -> bool {
        matches!(self, Store::Memory(_))
    }

    /// The recipient's profile, or `None` when they have no fields at all.
    pub async fn profile(&self, recipient: &RecipientId) -> Result<Option<Profile>, StoreError> {
        match self {
            Store::Redis(redis) => redis.profile(recipient).await,
            Store::Memory(memory) => Ok(memory.profile(recipient)),
        }
    }

    /// The profile and the records `request` names, in one round trip.
    pub async fn state(
        &self,
        recipient: &RecipientId,
        request: &StateRequest<'_>,
    ) -> Result<RecipientState, StoreError> {
        match self {
            Store::Redis(redis) => redis.state(recipient, request).await,
            Store::Memory(memory) => Ok(memory.state(recipient, request)),
        }
    }

    /// Keeps `record` as the template's lock for the recipient unless one
    /// is already kept, atomically; answers the lock that holds.
    pub async fn lock(
        &self,
        recipient: &RecipientId,
        template: &str,
        record: &str,
    ) -> Result<String, StoreError> {
        match self {
            Store::Redis(redis) => redis.lock(recipient, template, record).await,
            Store::Memory(memory) => Ok(memory.lock(recipient, template, record)),
        }
    }

    /// The recipient's code from a coupon pool, kept as `slot` (the pool's
    /// name, or [`crate::recipient::code_slot`] for one code per email), drawn now if they
    /// have none; `None` when the pool is empty. A recipient never gets two
    /// in one slot.
    pub async fn draw_code(
        &self,
        recipient: &RecipientId,
        pool: &str,
        slot: &str,
    ) -> Result<Option<String>, StoreError> {
        match self {
            Store::Redis(redis) => redis.draw_code(recipient, pool, slot).await,
            Store::Memory(memory) => Ok(memory.draw_code(recipient, pool, slot)),
        }
    }

    /// Adds unused codes to a pool; answers how many were new.
    pub async fn add_codes(&self, pool: &str, codes: &[String]) -> Result<u64, StoreError> {
        match self {
            Store::Redis(redis) => redis.add_codes(pool, codes).await,
            Store::Memory(memory) => Ok(memory.add_codes(pool, codes)),
        }
    }

    /// How many unused codes a pool holds.
    pub async fn pool_size(&self, pool: &str) -> Result<u64, StoreError> {
        match self {
            Store::Redis(redis) => redis.pool_size(pool).await,
            Store::Memory(memory) => Ok(memory.pool_size(pool)),
        }
    }

    /// Records a person's vote for `option` (last vote wins: a re-vote
    /// moves the count), atomically with the poll's tally; true when the
    /// tally changed.
    pub async fn cast_vote(
        &self,
        poll: &str,
        recipient: &RecipientId,
        option: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Redis(redis) => redis.cast_vote(poll, recipient, option, at_ms).await,
            Store::Memory(memory) => Ok(memory.cast_vote(poll, recipient, option, at_ms)),
        }
    }

    /// Takes back the recipient's vote if it was cast at or after
    /// `since_ms` (a scanner's burst began with it), restoring their
    /// earlier choice; true when one was taken back.
    pub async fn retract_vote(
        &self,
        poll: &str,
        recipient: &RecipientId,
        since_ms: i64,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Redis(redis) => redis.retract_vote(poll, recipient, since_ms).await,
            Store::Memory(memory) => Ok(memory.retract_vote(poll, recipient, since_ms)),
        }
    }

    /// The recipient's stored email preferences; empty when they never
    /// chose.
    pub async fn prefs(
        &self,
        recipient: &RecipientId,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        match self {
            Store::Redis(redis) => redis.prefs(recipient).await,
            Store::Memory(memory) => Ok(memory.prefs(recipient)),
        }
    }

    /// Applies a change to the recipient's preferences and keeps it in
    /// their history, atomically.
    pub async fn save_prefs(
        &self,
        recipient: &RecipientId,
        change: &PrefsChange,
    ) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.save_prefs(recipient, change).await,
            Store::Memory(memory) => {
                memory.save_prefs(recipient, change);
                Ok(())
            }
        }
    }

    /// The changes to the recipient's preferences, newest first (the last
    /// 200).
    pub async fn prefs_history(
        &self,
        recipient: &RecipientId,
    ) -> Result<Vec<PrefsChange>, StoreError> {
        match self {
            Store::Redis(redis) => redis.prefs_history(recipient).await,
            Store::Memory(memory) => Ok(memory.prefs_history(recipient)),
        }
    }

    /// A poll's counts by option.
    pub async fn poll_tally(&self, poll: &str) -> Result<Tally, StoreError> {
        match self {
            Store::Redis(redis) => redis.poll_tally(poll).await,
            Store::Memory(memory) => Ok(memory.poll_tally(poll)),
        }
    }

    /// Writes a batch of events: stream entries, open records, profile
    /// counters and daily counts. Answers how many of its commands the store
    /// refused for good (a profile counter that is not a number).
    pub async fn write_events(&self, events: &[Event]) -> Result<u64, StoreError> {
        match self {
            Store::Redis(redis) => redis.write_events(events).await,
            Store::Memory(memory) => {
                memory.write_events(events);
                Ok(0)
            }
        }
    }

    /// Up to `count` entries of the events stream after the stream id
    /// `after` (from its start without one), oldest first. The embedded
    /// store keeps no stream: none.
    pub async fn events_after(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        match self {
            Store::Redis(redis) => redis.events_after(after, count).await,
            Store::Memory(_) => Ok(Vec::new()),
        }
    }

    /// The oldest entry of the events stream when entries were trimmed
    /// off before it, as far as Redis says.
    pub async fn events_trimmed_before(&self) -> Result<Option<String>, StoreError> {
        match self {
            Store::Redis(redis) => redis.events_trimmed_before().await,
            Store::Memory(_) => Ok(None),
        }
    }

    /// Replaces a lock that no longer fits its template with `record`,
    /// unless another open replaced it first; answers the lock that holds.
    pub async fn replace_lock(
        &self,
        recipient: &RecipientId,
        template: &str,
        stale: &str,
        record: &str,
    ) -> Result<String, StoreError> {
        match self {
            Store::Redis(redis) => redis.replace_lock(recipient, template, stale, record).await,
            Store::Memory(memory) => Ok(memory.replace_lock(recipient, template, stale, record)),
        }
    }

    /// The engagement records of several recipients, in order.
    pub async fn engagement(
        &self,
        recipients: &[RecipientId],
    ) -> Result<Vec<EngagementRecord>, StoreError> {
        match self {
            Store::Redis(redis) => redis.engagement(recipients).await,
            Store::Memory(memory) => Ok(memory.engagement(recipients)),
        }
    }

    /// Merges fields into the recipient's profile, like `HSET`.
    pub async fn set_fields(
        &self,
        recipient: &RecipientId,
        fields: &[(String, String)],
    ) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.set_fields(recipient, fields).await,
            Store::Memory(memory) => {
                memory.set_fields(recipient, fields);
                Ok(())
            }
        }
    }

    /// Applies a batch of upserts in one pipeline. Answers, for each, `None`
    /// when it was written or the store's refusal (a profile key that holds
    /// something other than a hash).
    pub async fn upsert_profiles(
        &self,
        rows: &[ProfileUpsert],
    ) -> Result<Vec<Option<String>>, StoreError> {
        match self {
            Store::Redis(redis) => redis.upsert_profiles(rows).await,
            Store::Memory(memory) => {
                for row in rows {
                    memory.upsert_profile(row);
                }
                Ok(vec![None; rows.len()])
            }
        }
    }

    /// The revision of the stored templates (0 before the first put).
    pub async fn templates_revision(&self) -> Result<u64, StoreError> {
        match self {
            Store::Redis(redis) => redis.templates_revision().await,
            Store::Memory(memory) => Ok(memory.stored_templates().0),
        }
    }

    /// The templates put through the admin API, by name, and their revision.
    pub async fn stored_templates(&self) -> Result<(u64, BTreeMap<String, Vec<u8>>), StoreError> {
        match self {
            Store::Redis(redis) => redis.stored_templates().await,
            Store::Memory(memory) => Ok(memory.stored_templates()),
        }
    }

    /// Stores a template for every replica; answers the new revision.
    pub async fn put_template(&self, name: &str, json: &[u8]) -> Result<u64, StoreError> {
        match self {
            Store::Redis(redis) => redis.put_template(name, json).await,
            Store::Memory(memory) => Ok(memory.put_template(name, json)),
        }
    }

    /// Removes a stored template; answers whether there was one, and the
    /// new revision.
    pub async fn delete_template(&self, name: &str) -> Result<(bool, u64), StoreError> {
        match self {
            Store::Redis(redis) => redis.delete_template(name).await,
            Store::Memory(memory) => Ok(memory.delete_template(name)),
        }
    }

    /// Keeps a cache warming job's progress for the other replicas; the
    /// embedded store has none, so nothing is kept.
    pub async fn put_warm_progress(
        &self,
        job: &str,
        progress: &str,
        keep: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.put_warm_progress(job, progress, keep).await,
            Store::Memory(_) => Ok(()),
        }
    }

    /// A source's answer as a replica stored it (`sources/`), by the hash
    /// of its resolved URL. The embedded store keeps none: one process
    /// has its own cache.
    pub async fn source_answer(&self, key_hex: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Redis(redis) => redis.source_answer(key_hex).await,
            Store::Memory(_) => Ok(None),
        }
    }

    /// Keeps a source's answer for every replica for `keep_s` seconds.
    pub async fn put_source_answer(
        &self,
        key_hex: &str,
        bytes: &[u8],
        keep_s: u64,
    ) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.put_source_answer(key_hex, bytes, keep_s).await,
            Store::Memory(_) => Ok(()),
        }
    }

    /// A warming job's progress as another replica kept it.
    pub async fn warm_progress(&self, job: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Redis(redis) => redis.warm_progress(job).await,
            Store::Memory(_) => Ok(None),
        }
    }

    /// A privacy erasure: the recipient's profile, preferences and their
    /// history, open records, locks, codes, timer starts, clicks, daily
    /// counts, and their votes in `polls` (taken out of the tallies).
    /// `templates` and `pools` name the per-template and per-pool keys to
    /// delete. Answers how many keys and votes were removed. A code drawn
    /// from a pool is not put back: it was shown to someone.
    pub async fn erase(
        &self,
        recipient: &RecipientId,
        templates: &[&str],
        pools: &[&str],
        polls: &[&str],
    ) -> Result<u64, StoreError> {
        match self {
            Store::Redis(redis) => redis.erase(recipient, templates, pools, polls).await,
            Store::Memory(memory) => Ok(memory.erase(recipient)),
        }
    }

    /// Deletes the recipient's profile; true when there was one.
    pub async fn delete_profile(&self, recipient: &RecipientId) -> Result<bool, StoreError> {
        match self {
            Store::Redis(redis) => redis.delete_profile(recipient).await,
            Store::Memory(memory) => Ok(memory.delete_profile(recipient)),
        }
    }

    /// When the recipient's evergreen timer of `template` started. With
    /// `start` (a human open), `now` becomes the start if there is none
    /// yet, atomically; without it (a proxy or scanner fetch) nothing is
    /// written. Redis keeps a start for `keep`.
    pub async fn timer_start(
        &self,
        recipient: &RecipientId,
        template: &str,
        now: jiff::Timestamp,
        start: bool,
        keep: Duration,
    ) -> Result<Option<jiff::Timestamp>, StoreError> {
        match self {
            Store::Redis(redis) => {
                redis
                    .timer_start(recipient, template, now, start, keep)
                    .await
            }
            Store::Memory(memory) => Ok(memory.timer_start(recipient, template, now, start)),
        }
    }

    /// Readiness: Ok when the store answers within the budget.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.ping().await,
            Store::Memory(_) => Ok(()),
        }
    }

    /// The same store on a connection of its own (see
    /// [`RedisStore::own_connection`]); the embedded store is shared as is.
    pub fn own_connection(&self) -> Result<Store, StoreError> {
        match self {
            Store::Redis(redis) => Ok(Store::Redis(redis.own_connection()?)),
            Store::Memory(memory) => Ok(Store::Memory(memory.clone())),
        }
    }

    /// The same store with another budget, for callers that may wait longer
    /// than an image request (admin writes, bulk imports, probes).
    pub fn with_budget(&self, budget: Duration) -> Store {
        match self {
            Store::Redis(redis) => Store::Redis(redis.with_budget(budget)),
            Store::Memory(memory) => Store::Memory(memory.clone()),
        }
    }
}

/// The events writer writes through the store: each batch in one
/// [`Store::write_events`], within the budget of the handle it was given.
impl EventSink for Store {
    async fn write_batch(&self, events: &[Event]) -> Result<u64, SinkError> {
        self.write_events(events)
            .await
            .map_err(|error| SinkError::new(error.code(), error))
    }
}
