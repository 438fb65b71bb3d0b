//! Product feeds: catalogues (`[feeds.NAME]` in the configuration) fetched
//! on a schedule, not per open, kept in the store for every replica and
//! served from memory to expressions as `feed.NAME` and `feed_item('NAME',
//! ID)` (`docs/feeds.md`).
//!
//! Every replica runs one task per feed. Every few seconds it reads the
//! feed's meta from the store: when the generation moved it loads the new
//! items (and swaps them in whole, so an open sees the old feed or the new
//! one); when the feed is due it takes the feed's lock in the store and,
//! if it got it, refreshes: fetch, parse and write the items under a new
//! generation, then switch the meta to it in one step. One replica
//! refreshes a feed at a time, and a feed is fetched once per `refresh_s`
//! whatever the number of replicas. A failed refresh keeps the last good
//! items and records why.
//!
//! - `config.rs`: a feed as configured and checked.
//! - `pull.rs`: one pass from the source to batches of items, streaming.
//! - `xml.rs`, `tabular.rs`, `json_items.rs`: the formats' readers.
//! - `item.rs`: an item, its prices and its key.
//! - `refresh.rs`: the refresh under the lock, and the loads.

mod config;
mod item;
mod json_items;
mod pull;
mod refresh;
mod tabular;
mod xml;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use minijinja::Value;
use serde::Serialize;

pub use config::{
    DEFAULT_KEY, DEFAULT_REFRESH, FeedConfig, FeedFormat, FeedSource, MIN_REFRESH_S, check_feeds,
    parse_feeds,
};
pub use item::{Item, Price, parse_price};
pub use pull::{Counts, MAX_FEED_BYTES};
pub use refresh::RefreshOutcome;

use crate::expr::{FeedItems, FeedSet};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// How often a replica reads each feed's meta, at most: a new generation
/// serves within this long of its commit.
pub const POLL: Duration = Duration::from_secs(2);

/// How long a store call of the feeds may take: batches of items are
/// larger than a request's lookups, and nobody waits for them.
const STORE_BUDGET: Duration = Duration::from_secs(10);

/// The feeds of this replica: cheap to clone.
#[derive(Clone, Default)]
pub struct Feeds {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    configs: Vec<FeedConfig>,
    /// `None` without feeds.
    store: Option<Store>,
    metrics: Arc<Metrics>,
    loaded: ArcSwap<Loaded>,
    /// One load at a time: the task's and a refresh's own.
    loading: tokio::sync::Mutex<()>,
}

/// The items this replica serves.
#[derive(Default)]
struct Loaded {
    generations: BTreeMap<String, u64>,
    items: BTreeMap<String, Arc<FeedItems>>,
    /// The `feed` value of requests' contexts.
    value: Value,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .inner
            .configs
            .iter()
            .map(|feed| feed.name.as_str())
            .collect();
        f.debug_struct("Feeds")
            .field("feeds", &names)
            .finish_non_exhaustive()
    }
}

/// A feed as `GET /api/v1/feeds` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FeedReport {
    pub name: String,
    pub format: &'static str,
    /// A URL's origin (never its path or query) or a file's name.
    pub source: String,
    pub refresh_s: u64,
    pub key: String,
    /// Items of the current generation, as the store has it.
    pub items: u64,
    pub skipped: u64,
    /// Items this replica serves now.
    pub loaded: usize,
    pub generation: u64,
    pub last_refresh: Option<String>,
    pub last_refresh_ms: Option<u64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Whether the last refresh failed.
    pub failing: bool,
}

impl Feeds {
    /// Starts a task per feed on `store` (on a connection of its own),
    /// which keeps this replica's items in step and refreshes the feed
    /// when it is due. The tasks end once every handle is dropped.
    pub fn start(
        configs: Vec<FeedConfig>,
        store: &Store,
        metrics: Arc<Metrics>,
    ) -> Result<Feeds, StoreError> {
        if configs.is_empty() {
            return Ok(Feeds::default());
        }
        let store = store.own_connection()?.with_budget(STORE_BUDGET);
        let inner = Arc::new(Inner {
            configs,
            store: Some(store),
            metrics,
            loaded: ArcSwap::default(),
            loading: tokio::sync::Mutex::new(()),
        });
        for config in &inner.configs {
            tokio::spawn(watch(Arc::downgrade(&inner), config.clone()));
        }
        Ok(Feeds { inner })
    }

    pub fn configs(&self) -> &[FeedConfig] {
        &self.inner.configs
    }

    /// The `feed` value of a request's context, `None` without feeds.
    /// Cloning it is a reference count.
    pub fn value(&self) -> Option<Value> {
        if self.inner.configs.is_empty() {
            return None;
        }
        Some(self.inner.loaded.load().value.clone())
    }

    /// Items this replica serves for `name`.
    pub fn loaded_items(&self, name: &str) -> usize {
        self.inner
            .loaded
            .load()
            .items
            .get(name)
            .map_or(0, |items| items.len())
    }

    /// Refreshes `name` now, whether or not it is due, under its lock;
    /// `None` for a feed that is not configured.
    pub async fn refresh_now(&self, name: &str) -> Option<Result<RefreshOutcome, StoreError>> {
        let config = self.inner.configs.iter().find(|feed| feed.name == name)?;
        Some(refresh::refresh(&self.inner, config, true).await)
    }

    /// Every feed, with what the store says of its refreshes.
    pub async fn report(&self) -> Result<Vec<FeedReport>, StoreError> {
        let Some(store) = &self.inner.store else {
            return Ok(Vec::new());
        };
        let mut reports = Vec::with_capacity(self.inner.configs.len());
        for config in &self.inner.configs {
            let meta = store.feed_meta(&config.name).await?;
            let time = |ms: Option<i64>| {
                ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                    .map(|at| at.to_string())
            };
            reports.push(FeedReport {
                name: config.name.clone(),
                format: config.format.as_str(),
                source: config.source.describe(),
                refresh_s: config.refresh.as_secs(),
                key: config.key.clone(),
                items: meta.items,
                skipped: meta.skipped,
                loaded: self.loaded_items(&config.name),
                generation: meta.generation,
                last_refresh: time(meta.refreshed_at_ms),
                last_refresh_ms: meta.duration_ms,
                failing: meta.error_at_ms.is_some() && meta.error_at_ms >= meta.refreshed_at_ms,
                last_error: meta.error,
                last_error_at: time(meta.error_at_ms),
            });
        }
        Ok(reports)
    }
}

/// The demo's feed: `{demo_dir}/products.xml` as `products`, when the
/// file is there.
pub fn demo_feed(demo_dir: &Path) -> Option<FeedConfig> {
    let path = demo_dir.join("products.xml");
    path.is_file().then(|| FeedConfig {
        name: "products".to_string(),
        source: FeedSource::File(path),
        format: FeedFormat::GoogleMerchant,
        refresh: DEFAULT_REFRESH,
        key: DEFAULT_KEY.to_string(),
    })
}

/// A feed's task: every tick, loads a new generation and refreshes when
/// due; ends when the feeds are dropped.
async fn watch(inner: Weak<Inner>, config: FeedConfig) {
    // A quarter of the period, so that a due feed waits at most a quarter
    // more than `refresh_s`; at most `POLL`, so new items serve soon.
    let tick = (config.refresh / 4).clamp(Duration::from_millis(100), POLL);
    loop {
        {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            refresh::tick(&inner, &config).await;
        }
        tokio::time::sleep(tick).await;
    }
}

impl Inner {
    /// Swaps in `items` as feed `name`'s generation `generation`.
    fn install(&self, name: &str, generation: u64, items: Arc<FeedItems>) {
        let current = self.loaded.load();
        let mut generations = current.generations.clone();
        let mut feeds = current.items.clone();
        generations.insert(name.to_string(), generation);
        self.metrics
            .feed_items
            .with_label_values(&[name])
            .set(items.len() as i64);
        feeds.insert(name.to_string(), items);
        let value = FeedSet::new(feeds.clone()).into_value();
        self.loaded.store(Arc::new(Loaded {
            generations,
            items: feeds,
            value,
        }));
    }

    fn loaded_generation(&self, name: &str) -> u64 {
        self.loaded
            .load()
            .generations
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}
