//! The render cache shared by every replica, in Redis: rendered images at
//! `{prefix}render:v2:{key}` with a TTL, and a byte budget per TTL window.
//!
//! The budget is what bounds the cache's size without a scan: every write
//! adds its size to the counter of the current window (`{prefix}render-
//! bytes:{n}`, n = now / TTL) and is refused when that passes half the
//! bound. An entry lives one TTL, so the entries alive at any moment were
//! written in this window or the one before: at most the bound, whatever
//! the number of replicas.
//!
//! Writes come in batches ([`RedisStore::store_shared_renders`]), in two
//! round trips whatever their number: one pipeline of `INCRBY`s on the
//! window's counter, one per render, so that each is judged against the
//! bytes written before it by any replica; then one pipeline of the `SET`s
//! that fit, with one `DECRBY` giving back the sizes of those that did
//! not. The first pipeline is on one key, so it is one pipeline on a
//! Cluster too; the second spans the renders' slots, and the Cluster
//! connection splits it by slot and sends the parts at once.
//!
//! A value is one byte saying how the image is encoded ([`FAST`] or
//! [`COMPACT`]), then the image. Versions before that stored the bare
//! image at `{prefix}render:{key}`; those entries are not read (a replica
//! of that version would serve the byte in front as part of the image, so
//! the two formats must not share a key) and expire within the TTL, their
//! bytes still counted in their window.

use bytes::Bytes;
use redis::Value;

use super::StoreError;
use super::redis::RedisStore;

/// The first byte of a value whose image is as the render path wrote it.
const FAST: u8 = b'f';
/// The first byte of a value whose image is the compact encoding of a hot
/// render (`render::recompress`), which has an ETag of its own.
const COMPACT: u8 = b'z';

/// A render as the shared cache holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRender {
    pub bytes: Bytes,
    /// The bytes are the compact encoding of the render.
    pub compact: bool,
}

/// A render to store, by its key's hex.
#[derive(Debug, Clone, Copy)]
pub struct RenderToStore<'a> {
    pub key_hex: &'a str,
    pub bytes: &'a [u8],
    pub compact: bool,
}

impl RenderToStore<'_> {
    /// The bytes its value takes in Redis, which the window counts.
    fn stored_len(&self) -> usize {
        self.bytes.len() + 1
    }
}

/// What became of one render of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedWrite {
    Stored,
    /// This window's budget is spent.
    Full,
    /// Redis refused this render's `SET` (out of memory, say); the others
    /// of its batch may be stored.
    Refused,
}

/// How long renders live and how many bytes a window may take.
#[derive(Debug, Clone, Copy)]
pub struct SharedBudget {
    pub ttl_secs: u64,
    /// Half the cache's bound: see the module's documentation.
    pub window_bytes: u64,
}

impl RedisStore {
    /// A render, if a replica stored one.
    pub async fn shared_render(&self, key_hex: &str) -> Result<Option<SharedRender>, StoreError> {
        let key = self.shared_render_key(key_hex);
        match self.bytes_at(&key, "a shared render").await? {
            None => Ok(None),
            Some(value) => shared_render_of(value).map(Some),
        }
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

    /// Stores each of `renders` for the TTL if the window's budget allows
    /// it, in two round trips (see the module's documentation), and says
    /// what became of each, in order. `now_secs` picks the window. An
    /// error means the batch's fate is unknown: some renders may be stored.
    pub async fn store_shared_renders(
        &self,
        renders: &[RenderToStore<'_>],
        budget: SharedBudget,
        now_secs: u64,
    ) -> Result<Vec<SharedWrite>, StoreError> {
        if renders.is_empty() {
            return Ok(Vec::new());
        }
        let ttl_secs = budget.ttl_secs.max(1);
        let window = format!("{}render-bytes:{}", self.keys.prefix(), now_secs / ttl_secs);
        let mut count = redis::pipe();
        for render in renders {
            count.cmd("INCRBY").arg(&window).arg(render.stored_len());
        }
        count.cmd("EXPIRE").arg(&window).arg(2 * ttl_secs).ignore();
        let spent: Vec<u64> = self.run_pipeline(&count, false).await?;
        if spent.len() != renders.len() {
            return Err(StoreError::Command(
                "the window's counter answered fewer INCRBYs than were sent".into(),
            ));
        }
        let fits: Vec<bool> = spent
            .iter()
            .map(|&spent| spent <= budget.window_bytes)
            .collect();
        let refused_bytes: usize = renders
            .iter()
            .zip(&fits)
            .filter(|(_, fits)| !**fits)
            .map(|(render, _)| render.stored_len())
            .sum();
        let mut store = redis::pipe();
        store.ignore_errors();
        for (render, _) in renders.iter().zip(&fits).filter(|(_, fits)| **fits) {
            store
                .cmd("SET")
                .arg(self.shared_render_key(render.key_hex))
                .arg(shared_value(render))
                .arg("EX")
                .arg(ttl_secs);
        }
        if refused_bytes > 0 {
            store.cmd("DECRBY").arg(&window).arg(refused_bytes);
        }
        // With a DECRBY, once: repeated after a dropped connection it would
        // take the sizes off twice. `SET`s alone are safe to repeat.
        let replies: Vec<Value> = self.run_pipeline(&store, refused_bytes == 0).await?;
        super::error::server_was_not_ready(&replies)?;
        let mut set_replies = replies.iter();
        Ok(fits
            .iter()
            .map(|fits| match (fits, set_replies.next()) {
                (false, _) => SharedWrite::Full,
                (true, Some(Value::ServerError(_)) | None) => SharedWrite::Refused,
                (true, Some(_)) => SharedWrite::Stored,
            })
            .collect())
    }

    fn shared_render_key(&self, key_hex: &str) -> String {
        format!("{}render:v2:{key_hex}", self.keys.prefix())
    }
}

/// The value stored for `render`: its encoding's byte, then its bytes.
fn shared_value(render: &RenderToStore<'_>) -> Vec<u8> {
    let mut value = Vec::with_capacity(render.bytes.len() + 1);
    value.push(if render.compact { COMPACT } else { FAST });
    value.extend_from_slice(render.bytes);
    value
}

/// The render a stored value holds.
fn shared_render_of(value: Vec<u8>) -> Result<SharedRender, StoreError> {
    let compact = match value.first() {
        Some(&FAST) => false,
        Some(&COMPACT) => true,
        _ => {
            return Err(StoreError::Command(
                "a shared render starts with neither f nor z".into(),
            ));
        }
    };
    Ok(SharedRender {
        bytes: Bytes::from(value).slice(1..),
        compact,
    })
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
