//! The render cache shared by every replica, in Redis: rendered bytes at
//! `{prefix}render:{key}` with a TTL, and a byte budget per TTL window.
//!
//! The budget is what bounds the cache's size without a scan: every write
//! adds its size to the counter of the current window (`{prefix}render-
//! bytes:{n}`, n = now / TTL) and is refused when that passes half the
//! bound. An entry lives one TTL, so the entries alive at any moment were
//! written in this window or the one before: at most the bound, whatever
//! the number of replicas. Each key is on a slot of its own, so this works
//! on a Cluster too.

use redis::Value;

use super::StoreError;
use super::redis::RedisStore;

/// Why a render was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedWrite {
    Stored,
    /// This window's budget is spent.
    Full,
}

impl RedisStore {
    /// The bytes of a render, if a replica stored them.
    pub async fn shared_render(&self, key_hex: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = format!("{}render:{key_hex}", self.keys.prefix());
        self.bytes_at(&key, "a shared render").await
    }

    /// The bytes of the string at `key`, if there is one; `what` names it
    /// in the error when the key holds something else.
    async fn bytes_at(&self, key: &str, what: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut command = redis::cmd("GET");
        command.arg(key);
        let reply: Value = self.run_idempotent(&command).await?;
        match reply {
            Value::Nil => Ok(None),
            Value::BulkString(bytes) => Ok(Some(bytes)),
            other => Err(StoreError::Command(format!(
                "{what} is not a string: {other:?}"
            ))),
        }
    }

    /// Stores a render for `ttl_secs` if the window's budget allows it.
    pub async fn store_shared_render(
        &self,
        key_hex: &str,
        bytes: &[u8],
        ttl_secs: u64,
        window_budget: u64,
        now_secs: u64,
    ) -> Result<SharedWrite, StoreError> {
        let ttl_secs = ttl_secs.max(1);
        let window = format!("{}render-bytes:{}", self.keys.prefix(), now_secs / ttl_secs);
        let mut pipe = redis::pipe();
        pipe.cmd("INCRBY")
            .arg(&window)
            .arg(bytes.len())
            .cmd("EXPIRE")
            .arg(&window)
            .arg(2 * ttl_secs)
            .ignore();
        let (spent,): (u64,) = self.run_pipeline(&pipe, false).await?;
        if spent > window_budget {
            let mut undo = redis::cmd("DECRBY");
            undo.arg(&window).arg(bytes.len());
            // Once: repeated after a dropped connection it would take the
            // size off twice.
            let _: i64 = self.run_once(&undo).await?;
            return Ok(SharedWrite::Full);
        }
        let mut set = redis::cmd("SET");
        set.arg(format!("{}render:{key_hex}", self.keys.prefix()))
            .arg(bytes)
            .arg("EX")
            .arg(ttl_secs);
        let _: () = self.run_idempotent(&set).await?;
        Ok(SharedWrite::Stored)
    }
}

impl RedisStore {
    /// A source's answer (`{prefix}src:{hash}`), as a replica stored it.
    pub async fn source_answer(&self, key_hex: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = format!("{}src:{key_hex}", self.keys.prefix());
        self.bytes_at(&key, "a source's answer").await
    }

    /// Keeps a source's answer for `keep_s` seconds, its ttl and stale
    /// time: bounded by the sources' own answers, not by recipients.
    pub async fn put_source_answer(
        &self,
        key_hex: &str,
        bytes: &[u8],
        keep_s: u64,
    ) -> Result<(), StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(format!("{}src:{key_hex}", self.keys.prefix()))
            .arg(bytes)
            .arg("EX")
            .arg(keep_s.max(1));
        self.run_idempotent(&set).await
    }

    /// Keeps a cache warming job's progress (JSON) for `keep`, so that any
    /// replica can report it.
    pub async fn put_warm_progress(
        &self,
        job: &str,
        progress: &str,
        keep: std::time::Duration,
    ) -> Result<(), StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(format!("{}warm:{job}", self.keys.prefix()))
            .arg(progress)
            .arg("EX")
            .arg(keep.as_secs().max(1));
        self.run_idempotent(&command).await
    }

    /// A warming job's progress as a replica last kept it.
    pub async fn warm_progress(&self, job: &str) -> Result<Option<String>, StoreError> {
        let mut command = redis::cmd("GET");
        command.arg(format!("{}warm:{job}", self.keys.prefix()));
        self.run_idempotent(&command).await
    }
}
