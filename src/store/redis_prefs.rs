//! The Redis side of email preferences ([`crate::prefs`]): a hash of the
//! recipient's choices and a capped list of their changes, written in one
//! transaction on one slot.

use std::collections::BTreeMap;

use redis::Value;

use super::StoreError;
use super::redis::{RedisStore, profile_from_reply};
use crate::prefs::PrefsChange;
use crate::recipient::RecipientId;

/// Changes kept per recipient, newest first.
pub const HISTORY_KEEP: usize = 200;

impl RedisStore {
    /// The recipient's stored choices; empty when they never chose.
    pub async fn prefs(
        &self,
        recipient: &RecipientId,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.keys.prefs_key(recipient));
        let reply: Value = self.run_idempotent(&command).await?;
        Ok(profile_from_reply(reply)?
            .map(|fields| fields.fields)
            .unwrap_or_default())
    }

    /// Applies `change` and keeps it in the history, atomically.
    pub async fn save_prefs(
        &self,
        recipient: &RecipientId,
        change: &PrefsChange,
    ) -> Result<(), StoreError> {
        let entry = serde_json::to_string(change).expect("a change is plain strings");
        let history = self.keys.prefs_history_key(recipient);
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut set = redis::cmd("HSET");
        set.arg(self.keys.prefs_key(recipient));
        for (field, value) in change.fields() {
            set.arg(field).arg(value);
        }
        pipe.add_command(set).ignore();
        pipe.cmd("LPUSH").arg(&history).arg(entry).ignore();
        pipe.cmd("LTRIM")
            .arg(&history)
            .arg(0)
            .arg(HISTORY_KEEP - 1)
            .ignore();
        // Not repeated on a dropped connection: the history would hold the
        // change twice.
        let _: () = self.run_pipeline(&pipe, false).await?;
        Ok(())
    }

    /// The recipient's changes, newest first.
    pub async fn prefs_history(
        &self,
        recipient: &RecipientId,
    ) -> Result<Vec<PrefsChange>, StoreError> {
        let mut command = redis::cmd("LRANGE");
        command
            .arg(self.keys.prefs_history_key(recipient))
            .arg(0)
            .arg(-1);
        let entries: Vec<String> = self.run_idempotent(&command).await?;
        // An entry we cannot read was not written by us; it is left out.
        Ok(entries
            .iter()
            .filter_map(|entry| serde_json::from_str(entry).ok())
            .collect())
    }
}
