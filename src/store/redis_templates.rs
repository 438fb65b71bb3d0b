//! The templates put through the admin API, in Redis: a hash of name to
//! JSON and a revision counter beside it, changed together in one
//! transaction, so a replica that reads the revision and the hash at once
//! never sees one without the other.

use std::collections::BTreeMap;

use redis::Value;

use super::StoreError;
use super::redis::RedisStore;

impl RedisStore {
    /// The revision alone: what replicas poll.
    pub async fn templates_revision(&self) -> Result<u64, StoreError> {
        let mut command = redis::cmd("GET");
        command.arg(self.keys.templates_revision_key());
        let revision: Option<u64> = self.run_idempotent(&command).await?;
        Ok(revision.unwrap_or(0))
    }

    /// The revision and every stored template, read in one transaction.
    pub async fn stored_templates(&self) -> Result<(u64, BTreeMap<String, Vec<u8>>), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("GET")
            .arg(self.keys.templates_revision_key())
            .cmd("HGETALL")
            .arg(self.keys.templates_key());
        let (revision, templates): (Option<u64>, BTreeMap<String, Vec<u8>>) =
            self.run_pipeline(&pipe, true).await?;
        Ok((revision.unwrap_or(0), templates))
    }

    /// Stores a template and raises the revision; answers the new one.
    pub async fn put_template(&self, name: &str, json: &[u8]) -> Result<u64, StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(self.keys.templates_key())
            .arg(name)
            .arg(json)
            .ignore()
            .cmd("INCR")
            .arg(self.keys.templates_revision_key());
        let (revision,): (u64,) = self.run_pipeline(&pipe, false).await?;
        Ok(revision)
    }

    /// Removes a stored template and raises the revision; answers whether
    /// there was one, and the new revision.
    pub async fn delete_template(&self, name: &str) -> Result<(bool, u64), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HDEL")
            .arg(self.keys.templates_key())
            .arg(name)
            .cmd("INCR")
            .arg(self.keys.templates_revision_key());
        let replies: Vec<Value> = self.run_pipeline(&pipe, false).await?;
        match replies.as_slice() {
            [Value::Int(removed), Value::Int(revision)] => Ok((*removed > 0, *revision as u64)),
            _ => Err(StoreError::Command(format!(
                "unexpected reply to a template delete: {replies:?}"
            ))),
        }
    }
}
