//! A feed's refresh under its lock in the store, and the load of a
//! generation into this replica's memory.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;

use super::Inner;
use super::config::FeedConfig;
use super::pull::pull;
use crate::expr::FeedItems;
use crate::metrics::TimerGuard;
use crate::store::{FeedCommit, FeedMeta, Store, StoreError};

/// How long one refresh may take, fetch, parse and writes together.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(300);

/// The lock outlives a refresh that ran its whole time, so it is never
/// taken from under one; a replica that died holding it frees it then.
const LOCK_TTL: Duration = Duration::from_secs(330);

/// Items read from the store per call while loading.
const LOAD_PAGE: u64 = 1000;

/// How a refresh went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The new items are current.
    Refreshed {
        items: u64,
        skipped: u64,
        generation: u64,
    },
    /// The fetch, the document or a write failed; the last good items stay.
    Failed(String),
    /// Another replica holds the lock: it is refreshing.
    Busy,
    /// Refreshed recently enough (by any replica).
    NotDue,
}

/// One tick of a feed's task: load a new generation, refresh when due.
pub(super) async fn tick(inner: &Inner, config: &FeedConfig) {
    let Some(store) = &inner.store else {
        return;
    };
    let meta = match store.feed_meta(&config.name).await {
        Ok(meta) => meta,
        Err(error) => {
            tracing::debug!(feed = %config.name, %error, "the feed's meta could not be read");
            return;
        }
    };
    if meta.generation != 0 && meta.generation != inner.loaded_generation(&config.name) {
        load(inner, store, config).await;
    }
    if is_due(&meta, config, now_ms())
        && let Err(error) = refresh(inner, config, false).await
    {
        tracing::warn!(feed = %config.name, %error, "the feed could not be refreshed: the store did not answer");
    }
}

/// Whether the last attempt, by any replica, started `refresh` ago or more.
fn is_due(meta: &FeedMeta, config: &FeedConfig, now_ms: i64) -> bool {
    let period = i64::try_from(config.refresh.as_millis()).unwrap_or(i64::MAX);
    meta.attempted_at_ms
        .is_none_or(|attempted| now_ms.saturating_sub(attempted) >= period)
}

/// Refreshes the feed if this replica gets its lock and (unless `force`)
/// it is still due once the lock is held.
pub(super) async fn refresh(
    inner: &Inner,
    config: &FeedConfig,
    force: bool,
) -> Result<RefreshOutcome, StoreError> {
    let Some(store) = &inner.store else {
        return Ok(RefreshOutcome::NotDue);
    };
    let token = lock_token();
    if !store.feed_lock(&config.name, &token, LOCK_TTL).await? {
        return Ok(RefreshOutcome::Busy);
    }
    let outcome = refresh_locked(inner, store, config, force).await;
    if let Err(error) = store.feed_unlock(&config.name, &token).await {
        tracing::debug!(feed = %config.name, %error, "the feed's lock was not let go; it expires by itself");
    }
    let outcome = outcome?;
    if matches!(outcome, RefreshOutcome::Refreshed { .. }) {
        load(inner, store, config).await;
    }
    Ok(outcome)
}

async fn refresh_locked(
    inner: &Inner,
    store: &Store,
    config: &FeedConfig,
    force: bool,
) -> Result<RefreshOutcome, StoreError> {
    let name = config.name.as_str();
    let meta = store.feed_meta(name).await?;
    let started_at_ms = now_ms();
    if !force && !is_due(&meta, config, started_at_ms) {
        return Ok(RefreshOutcome::NotDue);
    }
    let generation = store.feed_new_generation(name).await?;
    let started = Instant::now();
    let _timer = TimerGuard::new(
        inner
            .metrics
            .feed_refresh_seconds
            .with_label_values(&[name]),
    );
    let pulled = pull(config, REFRESH_TIMEOUT, |batch| async move {
        store
            .feed_append(name, generation, &batch, 2 * REFRESH_TIMEOUT)
            .await
            .map_err(|error| format!("writing items: {error}"))
    })
    .await;
    let result = match pulled {
        Ok(counts) => {
            let commit = FeedCommit {
                generation,
                previous: meta.generation,
                items: counts.items,
                skipped: counts.skipped,
                started_at_ms,
                duration_ms: started.elapsed().as_millis() as u64,
            };
            store.feed_commit(name, &commit).await?;
            tracing::info!(
                feed = name,
                items = counts.items,
                skipped = counts.skipped,
                "feed refreshed"
            );
            RefreshOutcome::Refreshed {
                items: counts.items,
                skipped: counts.skipped,
                generation,
            }
        }
        Err(error) => {
            tracing::warn!(feed = name, %error, "feed refresh failed; the last good items stay");
            store
                .feed_failed(name, generation, &error, started_at_ms)
                .await?;
            RefreshOutcome::Failed(error)
        }
    };
    let label = match result {
        RefreshOutcome::Refreshed { .. } => "ok",
        _ => "error",
    };
    inner
        .metrics
        .feed_refreshes
        .with_label_values(&[name, label])
        .inc();
    Ok(result)
}

/// Loads the feed's current generation into this replica, unless it is
/// the one already served. A generation that is let go while it is read
/// (a newer refresh committed) reads short, and is left for the next tick.
async fn load(inner: &Inner, store: &Store, config: &FeedConfig) {
    let _loading = inner.loading.lock().await;
    let name = config.name.as_str();
    let meta = match store.feed_meta(name).await {
        Ok(meta) => meta,
        Err(error) => {
            tracing::debug!(feed = name, %error, "the feed's meta could not be read");
            return;
        }
    };
    if meta.generation == 0 || meta.generation == inner.loaded_generation(name) {
        return;
    }
    let mut values: Vec<Value> = Vec::with_capacity(usize::try_from(meta.items).unwrap_or(0));
    while (values.len() as u64) < meta.items {
        let page = match store
            .feed_items(name, meta.generation, values.len() as u64, LOAD_PAGE)
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::debug!(feed = name, %error, "the feed's items could not be read");
                return;
            }
        };
        if page.is_empty() {
            tracing::debug!(
                feed = name,
                "the feed's generation went away while it was read"
            );
            return;
        }
        // Parsing JSON is CPU work: off the reactor.
        let parsed = tokio::task::spawn_blocking(move || {
            page.iter()
                .filter_map(|json| serde_json::from_str::<Value>(json).ok())
                .collect::<Vec<Value>>()
        })
        .await;
        match parsed {
            Ok(parsed) => values.extend(parsed),
            Err(error) => {
                tracing::error!(feed = name, %error, "parsing the feed's items failed");
                return;
            }
        }
    }
    let key = config.key.clone();
    let Ok(items) = tokio::task::spawn_blocking(move || FeedItems::new(values, &key)).await else {
        return;
    };
    inner.install(name, meta.generation, Arc::new(items));
    tracing::debug!(feed = name, generation = meta.generation, "feed loaded");
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A token no other replica's lock holds.
fn lock_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let random = RandomState::new().hash_one(nanos);
    format!("{}-{random:016x}-{nanos:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::{FeedFormat, FeedSource};

    #[test]
    fn a_feed_is_due_once_its_period_passed_since_any_attempt() {
        let config = FeedConfig {
            name: "p".into(),
            source: FeedSource::File("p.csv".into()),
            format: FeedFormat::Csv,
            refresh: Duration::from_secs(60),
            key: "id".into(),
        };
        let mut meta = FeedMeta::default();
        assert!(is_due(&meta, &config, 1_000));
        meta.attempted_at_ms = Some(1_000);
        assert!(!is_due(&meta, &config, 60_999));
        assert!(is_due(&meta, &config, 61_000));
        assert_ne!(lock_token(), lock_token());
    }
}
