//! The Redis side of polls ([`super::polls`]): a vote and its tally change
//! in one script, on two keys that share a Cluster slot.

use std::sync::LazyLock;

use super::StoreError;
use super::polls::{Tally, tally_of};
use super::redis::RedisStore;
use crate::recipient::RecipientId;

/// [`super::polls::cast`]: KEYS votes, tally; ARGV recipient, option, ms.
/// Answers 1 when the tally changed, 0 for the option already chosen.
static CAST: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local held = redis.call('HGET', KEYS[1], ARGV[1]) \
         local before = held and string.match(held, '^(%S+)') \
         if before == ARGV[2] then return 0 end \
         redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. (before or '-')) \
         if before then redis.call('HINCRBY', KEYS[2], before, -1) end \
         redis.call('HINCRBY', KEYS[2], ARGV[2], 1) \
         return 1",
    )
});

/// [`super::polls::retract`]: KEYS votes, tally; ARGV recipient, since ms.
/// Answers 1 when a vote was taken back.
static RETRACT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local held = redis.call('HGET', KEYS[1], ARGV[1]) \
         if not held then return 0 end \
         local option, at, before = string.match(held, '^(%S+) (%d+) (%S+)$') \
         if not option or tonumber(at) == 0 or tonumber(at) < tonumber(ARGV[2]) then return 0 end \
         redis.call('HINCRBY', KEYS[2], option, -1) \
         if before == '-' then redis.call('HDEL', KEYS[1], ARGV[1]) \
         else \
           redis.call('HSET', KEYS[1], ARGV[1], before .. ' 0 -') \
           redis.call('HINCRBY', KEYS[2], before, 1) \
         end \
         return 1",
    )
});

/// A privacy erasure's part of a poll: KEYS votes, tally; ARGV recipient.
/// Takes the recipient's vote out of the tally and forgets it.
static ERASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local held = redis.call('HGET', KEYS[1], ARGV[1]) \
         if not held then return 0 end \
         local option = string.match(held, '^(%S+)') \
         if option then redis.call('HINCRBY', KEYS[2], option, -1) end \
         return redis.call('HDEL', KEYS[1], ARGV[1])",
    )
});

impl RedisStore {
    /// Takes the recipient's vote out of `poll`; true when there was one.
    pub async fn erase_vote(
        &self,
        poll: &str,
        recipient: &RecipientId,
    ) -> Result<bool, StoreError> {
        let mut invocation = ERASE.key(self.keys.poll_votes_key(poll));
        invocation
            .key(self.keys.poll_tally_key(poll))
            .arg(recipient.as_str());
        Ok(self.run_script::<i64>(&invocation).await? == 1)
    }

    /// Records a person's vote; true when the tally changed.
    pub async fn cast_vote(
        &self,
        poll: &str,
        recipient: &RecipientId,
        option: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut invocation = CAST.key(self.keys.poll_votes_key(poll));
        invocation
            .key(self.keys.poll_tally_key(poll))
            .arg(recipient.as_str())
            .arg(option)
            .arg(at_ms);
        Ok(self.run_script::<i64>(&invocation).await? == 1)
    }

    /// Takes back the recipient's vote if it was cast at or after
    /// `since_ms`; true when one was.
    pub async fn retract_vote(
        &self,
        poll: &str,
        recipient: &RecipientId,
        since_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut invocation = RETRACT.key(self.keys.poll_votes_key(poll));
        invocation
            .key(self.keys.poll_tally_key(poll))
            .arg(recipient.as_str())
            .arg(since_ms);
        Ok(self.run_script::<i64>(&invocation).await? == 1)
    }

    /// A poll's counts by option.
    pub async fn poll_tally(&self, poll: &str) -> Result<Tally, StoreError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.keys.poll_tally_key(poll));
        let raw: std::collections::HashMap<String, i64> = self.run_idempotent(&command).await?;
        Ok(tally_of(raw))
    }
}
