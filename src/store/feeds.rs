//! Product feeds as the store keeps them, for both backends: each feed's
//! items under a generation, the meta that points readers at the current
//! one, and the lock that lets one replica at a time refresh it.
//!
//! A refresh writes its items under a new generation, in batches, and then
//! switches the meta to it in one step, so a reader sees the old items or
//! the new ones, never half a feed; the old generation is then let go.
//! Items are kept as JSON text, in feed order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// What the store knows of a feed: where its items are and how its last
/// refreshes went. All zero and `None` before the first refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedMeta {
    /// The generation readers load; 0 when none was ever committed.
    pub generation: u64,
    pub items: u64,
    /// Items left out because they had no key.
    pub skipped: u64,
    /// When the last successful refresh started, in Unix milliseconds.
    pub refreshed_at_ms: Option<i64>,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// When the last refresh, good or bad, started: what "due" counts from.
    pub attempted_at_ms: Option<i64>,
    /// The last failed refresh's reason, and when it started.
    pub error: Option<String>,
    pub error_at_ms: Option<i64>,
}

/// A finished refresh, to make current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCommit {
    pub generation: u64,
    /// The generation it replaces (0 for none), let go.
    pub previous: u64,
    pub items: u64,
    pub skipped: u64,
    pub started_at_ms: i64,
    pub duration_ms: u64,
}

/// How long a replaced generation stays readable, for a replica that was
/// loading it when the switch came.
pub const OLD_GENERATION_GRACE: Duration = Duration::from_secs(30);

impl Store {
    /// The feed's meta; the default one before its first refresh.
    pub async fn feed_meta(&self, feed: &str) -> Result<FeedMeta, StoreError> {
        match self {
            Store::Redis(redis) => redis.feed_meta(feed).await,
            Store::Memory(memory) => Ok(memory.feeds().meta(feed)),
        }
    }

    /// Takes the feed's refresh lock as `token` for `ttl`, unless someone
    /// holds it; true when taken.
    pub async fn feed_lock(
        &self,
        feed: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Redis(redis) => redis.feed_lock(feed, token, ttl).await,
            Store::Memory(memory) => Ok(memory.feeds().lock(feed, token, ttl)),
        }
    }

    /// Lets the lock go, if `token` still holds it.
    pub async fn feed_unlock(&self, feed: &str, token: &str) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.feed_unlock(feed, token).await,
            Store::Memory(memory) => {
                memory.feeds().unlock(feed, token);
                Ok(())
            }
        }
    }

    /// A generation number no refresh of the feed has used.
    pub async fn feed_new_generation(&self, feed: &str) -> Result<u64, StoreError> {
        match self {
            Store::Redis(redis) => redis.feed_new_generation(feed).await,
            Store::Memory(memory) => Ok(memory.feeds().new_generation(feed)),
        }
    }

    /// Appends items (JSON) to a generation being written; it is let go
    /// by itself after `keep` unless committed.
    pub async fn feed_append(
        &self,
        feed: &str,
        generation: u64,
        items: &[String],
        keep: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.feed_append(feed, generation, items, keep).await,
            Store::Memory(memory) => {
                memory.feeds().append(feed, generation, items);
                Ok(())
            }
        }
    }

    /// Makes a written generation the feed's current one, in one step.
    pub async fn feed_commit(&self, feed: &str, commit: &FeedCommit) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.feed_commit(feed, commit).await,
            Store::Memory(memory) => {
                memory.feeds().commit(feed, commit);
                Ok(())
            }
        }
    }

    /// Records a failed refresh, started at `started_at_ms`, and drops what
    /// it wrote; the current generation stays.
    pub async fn feed_failed(
        &self,
        feed: &str,
        generation: u64,
        error: &str,
        started_at_ms: i64,
    ) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => {
                redis
                    .feed_failed(feed, generation, error, started_at_ms)
                    .await
            }
            Store::Memory(memory) => {
                memory
                    .feeds()
                    .failed(feed, generation, error, started_at_ms);
                Ok(())
            }
        }
    }

    /// Up to `count` items of a generation from `start`, in feed order.
    pub async fn feed_items(
        &self,
        feed: &str,
        generation: u64,
        start: u64,
        count: u64,
    ) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Redis(redis) => redis.feed_items(feed, generation, start, count).await,
            Store::Memory(memory) => Ok(memory.feeds().items(feed, generation, start, count)),
        }
    }
}

/// The embedded store's feeds.
#[derive(Debug, Default)]
pub struct MemoryFeeds {
    meta: HashMap<String, FeedMeta>,
    locks: HashMap<String, (String, Instant)>,
    generations: HashMap<String, u64>,
    items: HashMap<(String, u64), Vec<String>>,
}

impl MemoryFeeds {
    fn meta(&self, feed: &str) -> FeedMeta {
        self.meta.get(feed).cloned().unwrap_or_default()
    }

    fn lock(&mut self, feed: &str, token: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        if let Some((_, until)) = self.locks.get(feed)
            && *until > now
        {
            return false;
        }
        self.locks
            .insert(feed.to_string(), (token.to_string(), now + ttl));
        true
    }

    fn unlock(&mut self, feed: &str, token: &str) {
        if self
            .locks
            .get(feed)
            .is_some_and(|(holder, _)| holder == token)
        {
            self.locks.remove(feed);
        }
    }

    fn new_generation(&mut self, feed: &str) -> u64 {
        let generation = self.generations.entry(feed.to_string()).or_default();
        *generation += 1;
        *generation
    }

    fn append(&mut self, feed: &str, generation: u64, items: &[String]) {
        self.items
            .entry((feed.to_string(), generation))
            .or_default()
            .extend_from_slice(items);
    }

    fn commit(&mut self, feed: &str, commit: &FeedCommit) {
        self.items.remove(&(feed.to_string(), commit.previous));
        self.items
            .entry((feed.to_string(), commit.generation))
            .or_default();
        let meta = self.meta.entry(feed.to_string()).or_default();
        meta.generation = commit.generation;
        meta.items = commit.items;
        meta.skipped = commit.skipped;
        meta.refreshed_at_ms = Some(commit.started_at_ms);
        meta.duration_ms = Some(commit.duration_ms);
        meta.attempted_at_ms = Some(commit.started_at_ms);
    }

    fn failed(&mut self, feed: &str, generation: u64, error: &str, started_at_ms: i64) {
        self.items.remove(&(feed.to_string(), generation));
        let meta = self.meta.entry(feed.to_string()).or_default();
        meta.error = Some(error.to_string());
        meta.error_at_ms = Some(started_at_ms);
        meta.attempted_at_ms = Some(started_at_ms);
    }

    fn items(&self, feed: &str, generation: u64, start: u64, count: u64) -> Vec<String> {
        let Some(items) = self.items.get(&(feed.to_string(), generation)) else {
            return Vec::new();
        };
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(items.len());
        let end = start
            .saturating_add(usize::try_from(count).unwrap_or(usize::MAX))
            .min(items.len());
        items[start..end].to_vec()
    }
}
