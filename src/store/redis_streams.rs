//! The events stream read back: consumer groups for webhooks (each group
//! reads every entry once, shared by its consumers on every replica) and
//! ranges for the preferences export.
//!
//! A consumer reads new entries with `XREADGROUP`; an entry stays pending
//! under its consumer until `XACK`. A consumer that is retrying a batch
//! keeps it by resetting the entries' idle time ([`RedisStore::hold_entries`]);
//! entries idle for longer belong to a consumer that is gone, and any
//! consumer takes them over with `XAUTOCLAIM`. A consumer that stops in
//! good order marks its entries as long idle, so the next claim takes them
//! at once.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Value;

use super::StoreError;
use super::redis::{RedisStore, text_of};

/// One entry of the events stream: its stream id and its `event` field,
/// the JSON of one event (empty for an entry without that field, which
/// opentime did not write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: String,
    pub event: String,
}

/// Where a consumer group stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupState {
    /// Entries read by a consumer and not yet acknowledged.
    pub pending: u64,
    /// Entries not yet read by the group; `None` when Redis cannot say
    /// (before 7.0, or after entries were deleted out of order).
    pub lag: Option<u64>,
}

/// Keeps or releases a consumer's entries: KEYS stream; ARGV group,
/// consumer, idle ms to set, first id, last id, then the ids. Only the
/// entries still pending under this consumer are touched (another
/// consumer may have claimed some); answers their ids.
static HOLD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local held = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[4], ARGV[5], 10000, ARGV[2]) \
         local wanted = {} \
         for i = 6, #ARGV do wanted[ARGV[i]] = true end \
         local mine = {} \
         for _, entry in ipairs(held) do \
           if wanted[entry[1]] then mine[#mine + 1] = entry[1] end \
         end \
         if #mine > 0 then \
           local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0'} \
           for _, id in ipairs(mine) do claim[#claim + 1] = id end \
           claim[#claim + 1] = 'IDLE' \
           claim[#claim + 1] = ARGV[3] \
           claim[#claim + 1] = 'JUSTID' \
           redis.call(unpack(claim)) \
         end \
         return mine",
    )
});

impl RedisStore {
    /// `XGROUP CREATE ... $ MKSTREAM`: a group that starts with the
    /// entries added from now on. True when it was created, false when it
    /// was there already (and keeps its place).
    pub async fn create_group(&self, group: &str) -> Result<bool, StoreError> {
        let mut command = redis::cmd("XGROUP");
        command
            .arg("CREATE")
            .arg(self.keys.events_key())
            .arg(group)
            .arg("$")
            .arg("MKSTREAM");
        match self.run_idempotent::<()>(&command).await {
            Ok(()) => Ok(true),
            Err(StoreError::Command(message)) if message.contains("BUSYGROUP") => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Up to `count` entries the group has not read yet, now pending under
    /// `consumer`, waiting up to `block` for one to arrive. Sent once: a
    /// lost reply leaves its entries pending, and a claim picks them up.
    pub async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(self.keys.events_key())
            .arg(">");
        let reply: Value = self.run_once(&command).await?;
        read_reply_entries(reply)
    }

    /// Up to `count` entries that have been pending under any consumer for
    /// at least `min_idle`, now pending under `consumer` (`XAUTOCLAIM`).
    /// Entries trimmed off the stream meanwhile are dropped from the
    /// group by Redis and not returned.
    pub async fn claim_idle_entries(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let mut command = redis::cmd("XAUTOCLAIM");
        command
            .arg(self.keys.events_key())
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count);
        let reply: Value = self.run_once(&command).await?;
        match reply {
            Value::Array(mut parts) if parts.len() >= 2 => entries_of(parts.swap_remove(1)),
            _ => Err(unexpected("XAUTOCLAIM")),
        }
    }

    /// Resets the idle time of those of `ids` still pending under
    /// `consumer` to `idle` (zero to keep them, long to hand them over),
    /// and answers those ids, in order. `ids` are in stream order.
    pub async fn hold_entries(
        &self,
        group: &str,
        consumer: &str,
        ids: &[String],
        idle: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
            return Ok(Vec::new());
        };
        let mut invocation = HOLD.key(self.keys.events_key());
        invocation
            .arg(group)
            .arg(consumer)
            .arg(idle.as_millis() as u64)
            .arg(first)
            .arg(last)
            .arg(ids);
        self.run_script(&invocation).await
    }

    /// `XACK`: the entries are done with, delivered or not.
    pub async fn ack_entries(&self, group: &str, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("XACK");
        command.arg(self.keys.events_key()).arg(group).arg(ids);
        let _acked: u64 = self.run_idempotent(&command).await?;
        Ok(())
    }

    /// The group's pending entries and lag (`XINFO GROUPS`); `None` when
    /// there is no such group.
    pub async fn group_state(&self, group: &str) -> Result<Option<GroupState>, StoreError> {
        let mut command = redis::cmd("XINFO");
        command.arg("GROUPS").arg(self.keys.events_key());
        let reply: Value = match self.run_idempotent(&command).await {
            Ok(reply) => reply,
            // No stream yet: no group either.
            Err(StoreError::Command(message)) if message.contains("no such key") => {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let Value::Array(groups) = reply else {
            return Err(unexpected("XINFO GROUPS"));
        };
        for fields in groups {
            let fields = pairs(fields)?;
            let text = |name: &str| {
                fields
                    .iter()
                    .find(|(field, _)| field == name)
                    .map(|(_, value)| value)
            };
            if text("name").and_then(as_text).as_deref() != Some(group) {
                continue;
            }
            let number = |name: &str| text(name).and_then(as_number);
            return Ok(Some(GroupState {
                pending: number("pending").unwrap_or(0),
                lag: number("lag"),
            }));
        }
        Ok(None)
    }

    /// Removes the group's consumers that hold no entry and have not been
    /// heard of for `idle` (those of stopped replicas); answers how many.
    /// A consumer with pending entries is kept: removing it would drop
    /// its entries from the group.
    pub async fn forget_idle_consumers(
        &self,
        group: &str,
        idle: Duration,
    ) -> Result<u64, StoreError> {
        let stream = self.keys.events_key();
        let mut command = redis::cmd("XINFO");
        command.arg("CONSUMERS").arg(&stream).arg(group);
        let Value::Array(consumers) = self.run_idempotent(&command).await? else {
            return Err(unexpected("XINFO CONSUMERS"));
        };
        let mut forgotten = 0;
        for fields in consumers {
            let fields = pairs(fields)?;
            let value = |name: &str| {
                fields
                    .iter()
                    .find(|(field, _)| field == name)
                    .map(|(_, value)| value)
            };
            let (Some(name), Some(pending), Some(quiet)) = (
                value("name").and_then(as_text),
                value("pending").and_then(as_number),
                value("idle").and_then(as_number),
            ) else {
                continue;
            };
            if pending == 0 && quiet >= idle.as_millis() as u64 {
                let mut delete = redis::cmd("XGROUP");
                delete.arg("DELCONSUMER").arg(&stream).arg(group).arg(name);
                let _held: u64 = self.run_idempotent(&delete).await?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// Up to `count` entries after the stream id `after` (all from the
    /// start without one), oldest first.
    pub async fn events_after(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let mut command = redis::cmd("XRANGE");
        command.arg(self.keys.events_key());
        match after {
            Some(id) => command.arg(format!("({id}")),
            None => command.arg("-"),
        };
        command.arg("+").arg("COUNT").arg(count);
        let reply: Value = self.run_idempotent(&command).await?;
        entries_of(reply)
    }

    /// The oldest entry the stream still holds, when entries were trimmed
    /// off before it (`XINFO STREAM`: its `entries-added` passes its
    /// `length`; Redis 7.0 and later). `None` when nothing was trimmed,
    /// Redis does not say, or there is no stream.
    pub async fn events_trimmed_before(&self) -> Result<Option<String>, StoreError> {
        let mut command = redis::cmd("XINFO");
        command.arg("STREAM").arg(self.keys.events_key());
        let reply: Value = match self.run_idempotent(&command).await {
            Ok(reply) => reply,
            Err(StoreError::Command(message)) if message.contains("no such key") => {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let fields = pairs(reply)?;
        let value = |name: &str| {
            fields
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value)
        };
        let (Some(length), Some(added)) = (
            value("length").and_then(as_number),
            value("entries-added").and_then(as_number),
        ) else {
            return Ok(None);
        };
        if added <= length {
            return Ok(None);
        }
        let first = match value("first-entry") {
            Some(Value::Array(entry)) => entry.first().and_then(as_text),
            _ => None,
        };
        Ok(first)
    }
}

/// The entries of an `XREADGROUP` reply: per stream, its name and entries;
/// nil when nothing arrived within the block.
fn read_reply_entries(reply: Value) -> Result<Vec<StreamEntry>, StoreError> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(mut parts) if parts.len() == 2 => Ok(parts.swap_remove(1)),
                _ => Err(unexpected("XREADGROUP")),
            })
            .collect::<Result<Vec<Value>, StoreError>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        _ => return Err(unexpected("XREADGROUP")),
    };
    let mut entries = Vec::new();
    for stream in streams {
        entries.extend(entries_of(stream)?);
    }
    Ok(entries)
}

/// A list of `[id, [field, value, ...]]`. An entry whose fields are nil
/// (deleted while pending) is left out.
fn entries_of(reply: Value) -> Result<Vec<StreamEntry>, StoreError> {
    let Value::Array(items) = reply else {
        return Err(unexpected("a stream read"));
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(mut parts) = item else {
            return Err(unexpected("a stream read"));
        };
        if parts.len() != 2 {
            return Err(unexpected("a stream read"));
        }
        let fields = parts.pop().expect("two parts");
        let id = text_of(parts.pop().expect("two parts"))?;
        if matches!(fields, Value::Nil) {
            continue;
        }
        let event = pairs(fields)?
            .into_iter()
            .find(|(field, _)| field == "event")
            .and_then(|(_, value)| as_text(&value))
            .unwrap_or_default();
        entries.push(StreamEntry { id, event });
    }
    Ok(entries)
}

/// A flat `[name, value, ...]` array (RESP2) or a map (RESP3), as pairs of
/// a name and its value.
fn pairs(reply: Value) -> Result<Vec<(String, Value)>, StoreError> {
    match reply {
        Value::Array(items) => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(name), Some(value)) = (items.next(), items.next()) {
                pairs.push((text_of(name)?, value));
            }
            Ok(pairs)
        }
        Value::Map(items) => items
            .into_iter()
            .map(|(name, value)| Ok((text_of(name)?, value)))
            .collect(),
        _ => Err(unexpected("a reply of fields")),
    }
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

fn as_number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(number) => u64::try_from(*number).ok(),
        other => as_text(other)?.parse().ok(),
    }
}

fn unexpected(command: &str) -> StoreError {
    StoreError::Command(format!(
        "{command} replied in a shape opentime does not know"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(resp: &str) -> Value {
        redis::parse_redis_value(resp.as_bytes()).expect("a RESP reply")
    }

    #[test]
    fn read_replies_give_entries_in_order_without_deleted_ones() {
        let read = reply(
            "*1\r\n*2\r\n$9\r\not:events\r\n*2\r\n\
             *2\r\n$3\r\n1-0\r\n*2\r\n$5\r\nevent\r\n$2\r\n{}\r\n\
             *2\r\n$3\r\n2-0\r\n*2\r\n$5\r\nother\r\n$1\r\nx\r\n",
        );
        assert_eq!(
            read_reply_entries(read).unwrap(),
            [
                StreamEntry {
                    id: "1-0".into(),
                    event: "{}".into()
                },
                StreamEntry {
                    id: "2-0".into(),
                    event: String::new()
                }
            ]
        );
        assert_eq!(read_reply_entries(Value::Nil).unwrap(), []);
        let claimed = reply(
            "*2\r\n*2\r\n$3\r\n3-0\r\n*-1\r\n*2\r\n$3\r\n4-0\r\n*2\r\n$5\r\nevent\r\n$2\r\n{}\r\n",
        );
        let entries = entries_of(claimed).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, "4-0");
        assert!(read_reply_entries(Value::Int(3)).is_err());
    }
}
