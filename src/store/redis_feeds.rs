//! Product feeds in Redis (the layout is in `feeds.rs` and `keys.rs`): a
//! meta hash, a generation counter, a lock taken with `SET NX PX` and let
//! go by its owner alone, and one list of JSON items per generation. A
//! generation being written expires by itself unless committed, so a
//! replica that dies mid-refresh leaves nothing behind for long.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use super::StoreError;
use super::feeds::{FeedCommit, FeedMeta, OLD_GENERATION_GRACE};
use super::redis::RedisStore;

/// Deletes the lock only when it still holds the caller's token: a lock
/// that expired and was taken by another replica is theirs.
static UNLOCK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

impl RedisStore {
    pub async fn feed_meta(&self, feed: &str) -> Result<FeedMeta, StoreError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.keys.feed_key(feed, "meta"));
        let fields: HashMap<String, String> = self.run_idempotent(&command).await?;
        let number = |name: &str| fields.get(name).and_then(|text| text.parse::<u64>().ok());
        let time = |name: &str| fields.get(name).and_then(|text| text.parse::<i64>().ok());
        Ok(FeedMeta {
            generation: number("generation").unwrap_or(0),
            items: number("items").unwrap_or(0),
            skipped: number("skipped").unwrap_or(0),
            refreshed_at_ms: time("refreshed_at_ms"),
            duration_ms: number("duration_ms"),
            attempted_at_ms: time("attempted_at_ms"),
            error: fields.get("error").cloned(),
            error_at_ms: time("error_at_ms"),
        })
    }

    pub async fn feed_lock(
        &self,
        feed: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.keys.feed_key(feed, "lock"))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        // Once: repeated after a dropped connection, a lock the first try
        // took would read as someone else's.
        let reply: Option<String> = self.run_once(&command).await?;
        Ok(reply.is_some())
    }

    pub async fn feed_unlock(&self, feed: &str, token: &str) -> Result<(), StoreError> {
        let mut invocation = UNLOCK.key(self.keys.feed_key(feed, "lock"));
        invocation.arg(token);
        let _: i64 = self.run_script(&invocation).await?;
        Ok(())
    }

    pub async fn feed_new_generation(&self, feed: &str) -> Result<u64, StoreError> {
        let mut command = redis::cmd("INCR");
        command.arg(self.keys.feed_key(feed, "generation"));
        self.run_once(&command).await
    }

    pub async fn feed_append(
        &self,
        feed: &str,
        generation: u64,
        items: &[String],
        keep: Duration,
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let key = self.keys.feed_key(feed, &format!("items:{generation}"));
        let mut pipe = redis::pipe();
        pipe.cmd("RPUSH")
            .arg(&key)
            .arg(items)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(keep.as_millis().max(1) as u64)
            .ignore();
        // Once: a repeated RPUSH would add the batch twice.
        self.run_pipeline::<()>(&pipe, false).await
    }

    /// The switch, in one transaction: the meta names the new generation,
    /// which is kept for good, and the old one expires after a grace.
    pub async fn feed_commit(&self, feed: &str, commit: &FeedCommit) -> Result<(), StoreError> {
        let items_key = self
            .keys
            .feed_key(feed, &format!("items:{}", commit.generation));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("PERSIST")
            .arg(&items_key)
            .ignore()
            .cmd("HSET")
            .arg(self.keys.feed_key(feed, "meta"))
            .arg("generation")
            .arg(commit.generation)
            .arg("items")
            .arg(commit.items)
            .arg("skipped")
            .arg(commit.skipped)
            .arg("refreshed_at_ms")
            .arg(commit.started_at_ms)
            .arg("duration_ms")
            .arg(commit.duration_ms)
            .arg("attempted_at_ms")
            .arg(commit.started_at_ms)
            .ignore();
        if commit.previous > 0 && commit.previous != commit.generation {
            pipe.cmd("PEXPIRE")
                .arg(
                    self.keys
                        .feed_key(feed, &format!("items:{}", commit.previous)),
                )
                .arg(OLD_GENERATION_GRACE.as_millis() as u64)
                .ignore();
        }
        self.run_pipeline::<()>(&pipe, true).await
    }

    pub async fn feed_failed(
        &self,
        feed: &str,
        generation: u64,
        error: &str,
        started_at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(self.keys.feed_key(feed, &format!("items:{generation}")))
            .ignore()
            .cmd("HSET")
            .arg(self.keys.feed_key(feed, "meta"))
            .arg("error")
            .arg(error)
            .arg("error_at_ms")
            .arg(started_at_ms)
            .arg("attempted_at_ms")
            .arg(started_at_ms)
            .ignore();
        self.run_pipeline::<()>(&pipe, true).await
    }

    pub async fn feed_items(
        &self,
        feed: &str,
        generation: u64,
        start: u64,
        count: u64,
    ) -> Result<Vec<String>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut command = redis::cmd("LRANGE");
        command
            .arg(self.keys.feed_key(feed, &format!("items:{generation}")))
            .arg(start)
            .arg(start + count - 1);
        self.run_idempotent(&command).await
    }
}
