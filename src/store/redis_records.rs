//! The Redis side of the per-recipient records ([`super::records`]), the
//! coupon pools and the events stream.
//!
//! Reads a request needs are sent as one pipeline with the profile's
//! `HGETALL`, so a template with a lock, a coupon or an evergreen timer
//! still costs one round trip per open. Writes that only the first human
//! open makes (a lock, a code, a timer's start) are single atomic commands;
//! everything else is written by the events writer in batches.

use std::borrow::Cow;

use redis::{Pipeline, Value};

use super::StoreError;
use super::polls::VoteRecord;
use super::records::{
    EngagementRecord, LAST_CLICK_KEEP, RECORD_KEEP, RecipientState, RecordWrite, ShownRecord,
    StateRequest, arm_field, record_writes,
};
use super::redis::{RedisStore, profile_from_reply, text_of};
use crate::events::Event;
use crate::recipient::RecipientId;

/// What a recipient's code key holds while their code is being drawn. It
/// has a space, which no code has (the admin API refuses them).
const DRAWING: &str = "drawing now";

/// How long a claim to draw a code lasts if its holder never finishes.
const CLAIM_KEEP: std::time::Duration = std::time::Duration::from_secs(10);

/// Longest events stream kept, approximately (`XTRIM ... MAXLEN ~` after
/// each batch): at a few hundred bytes an entry, about a gigabyte at most.
pub const EVENTS_MAX_LEN: u64 = 2_000_000;

impl RedisStore {
    /// The profile and the records `request` names, in one round trip.
    pub async fn state(
        &self,
        recipient: &RecipientId,
        request: &StateRequest<'_>,
    ) -> Result<RecipientState, StoreError> {
        if request.profile_only() {
            // One command costs less than a pipeline of one, on both ends.
            return Ok(RecipientState {
                profile: self.profile(recipient).await?,
                ..RecipientState::default()
            });
        }
        let keys = &self.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL").arg(keys.profile_key(recipient));
        if request.timer {
            pipe.cmd("GET")
                .arg(keys.timer_key(recipient, request.template));
        }
        let record = request.record();
        if request.lock {
            pipe.cmd("GET").arg(keys.lock_key(recipient, &record));
        }
        if let Some(pool) = request.coupon_pool {
            pipe.cmd("GET")
                .arg(keys.code_key(recipient, &request.code_slot(pool)));
        }
        if request.shown {
            pipe.cmd("HGET")
                .arg(keys.shown_key(recipient))
                .arg(record.as_ref());
        }
        if let Some(mark) = &request.click_mark {
            // Repeating this after a dropped connection at worst reads our
            // own mark back, which names the same link and so is no burst.
            pipe.cmd("SET")
                .arg(keys.last_click_key(recipient))
                .arg(mark)
                .arg("GET")
                .arg("EX")
                .arg(LAST_CLICK_KEEP.as_secs());
        }
        if let Some(poll) = request.poll {
            pipe.cmd("HGET")
                .arg(keys.poll_votes_key(poll))
                .arg(recipient.as_str());
        }
        if request.prefs {
            pipe.cmd("HGETALL").arg(keys.prefs_key(recipient));
        }
        if let Some(experiment) = request.experiment {
            pipe.cmd("HGET")
                .arg(keys.shown_key(recipient))
                .arg(arm_field(experiment));
        }
        let replies: Vec<Value> = self.run_pipeline(&pipe, true).await?;
        let mut replies = replies.into_iter();
        let mut next = || replies.next().ok_or_else(short_reply);
        let mut state = RecipientState {
            profile: profile_from_reply(next()?)?,
            ..RecipientState::default()
        };
        if request.timer {
            // A start that does not parse was not written by us; it counts
            // as no start.
            state.timer_start = optional_text(next()?)?.and_then(|text| text.parse().ok());
        }
        if request.lock {
            state.lock = optional_text(next()?)?;
        }
        if request.coupon_pool.is_some() {
            // A draw in progress is no code yet: `draw_code` waits for it.
            state.code = optional_text(next()?)?.filter(|code| is_code(code));
        }
        if request.shown {
            state.shown = optional_text(next()?)?
                .as_deref()
                .and_then(ShownRecord::decode);
        }
        if request.click_mark.is_some() {
            state.previous_click = optional_text(next()?)?;
        }
        if request.poll.is_some() {
            state.vote = optional_text(next()?)?
                .as_deref()
                .and_then(VoteRecord::decode)
                .map(|vote| vote.option);
        }
        if request.prefs {
            state.prefs = profile_from_reply(next()?)?
                .map(|fields| fields.fields)
                .unwrap_or_default();
        }
        if request.experiment.is_some() {
            state.arm = optional_text(next()?)?;
        }
        Ok(state)
    }

    /// Stores `record` as the template's lock for the recipient unless one
    /// is there, and answers the lock that holds: ours, or the one a
    /// concurrent first open stored a moment before.
    pub async fn lock(
        &self,
        recipient: &RecipientId,
        template: &str,
        record: &str,
    ) -> Result<String, StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.keys.lock_key(recipient, template))
            .arg(record)
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(RECORD_KEEP.as_secs());
        let previous: Option<String> = self.run_idempotent(&command).await?;
        Ok(previous.unwrap_or_else(|| record.to_string()))
    }

    /// The recipient's code from `pool`, drawing one if they have none;
    /// `None` when the pool is empty.
    ///
    /// The recipient's key is claimed first (`SET ... NX` of a placeholder
    /// no code can equal), so of two concurrent first opens only one pops a
    /// code; the other waits, within its budget, for that code to appear.
    /// The pool and the recipient's key live on different Cluster slots,
    /// which is why this is a few commands and not one script. A claim whose
    /// holder died expires in seconds.
    pub async fn draw_code(
        &self,
        recipient: &RecipientId,
        pool: &str,
        slot: &str,
    ) -> Result<Option<String>, StoreError> {
        let code_key = self.keys.code_key(recipient, slot);
        let mut claim = redis::cmd("SET");
        claim
            .arg(&code_key)
            .arg(DRAWING)
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(CLAIM_KEEP.as_secs());
        // Sent once: repeated after a dropped connection it would read back
        // its own claim and wait for itself.
        let held: Option<String> = self.run_once(&claim).await?;
        match held {
            Some(code) if is_code(&code) => return Ok(Some(code)),
            Some(_) => return self.await_code(&code_key).await,
            None => {}
        }
        let mut pop = redis::cmd("SPOP");
        pop.arg(self.keys.pool_key(pool));
        // Not repeated on a dropped connection: a second SPOP would take a
        // second code.
        let popped: Option<String> = match self.run_once(&pop).await {
            Ok(popped) => popped,
            Err(error) => {
                self.release_claim(&code_key).await;
                return Err(error);
            }
        };
        let Some(code) = popped else {
            // Empty: let a later open try again, once the pool is refilled.
            self.release_claim(&code_key).await;
            return Ok(None);
        };
        let mut keep = redis::cmd("SET");
        keep.arg(&code_key)
            .arg(&code)
            .arg("EX")
            .arg(RECORD_KEEP.as_secs());
        self.run_idempotent::<()>(&keep).await?;
        Ok(Some(code))
    }

    /// Waits for a concurrent open's draw to finish, within the budget.
    async fn await_code(&self, code_key: &str) -> Result<Option<String>, StoreError> {
        let deadline = tokio::time::Instant::now() + self.budget;
        let mut read = redis::cmd("GET");
        read.arg(code_key);
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            let held: Option<String> = self.run_idempotent(&read).await?;
            match held {
                Some(code) if is_code(&code) => return Ok(Some(code)),
                // The other draw found the pool empty.
                None => return Ok(None),
                Some(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(StoreError::Timeout(self.budget));
                }
                Some(_) => {}
            }
        }
    }

    /// Deletes the recipient's key if it still holds our claim, never a code
    /// stored since: compare and delete in one script, on one key, so it
    /// runs on a Cluster too.
    async fn release_claim(&self, code_key: &str) {
        static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            )
        });
        let mut invocation = RELEASE.key(code_key);
        invocation.arg(DRAWING);
        if let Err(error) = self.run_script::<i64>(&invocation).await {
            tracing::debug!(%error, "a coupon claim was not released; it expires by itself");
        }
    }

    /// Replaces a lock that no longer fits the template (an edit removed
    /// its variant) with `record`, unless another open replaced it first;
    /// answers the lock that holds.
    pub async fn replace_lock(
        &self,
        recipient: &RecipientId,
        template: &str,
        stale: &str,
        record: &str,
    ) -> Result<String, StoreError> {
        static REPLACE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                "local held = redis.call('GET', KEYS[1]) \
                 if held == ARGV[1] or not held then \
                   redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return ARGV[2] end \
                 return held",
            )
        });
        let mut invocation = REPLACE.key(self.keys.lock_key(recipient, template));
        invocation.arg(stale).arg(record).arg(RECORD_KEEP.as_secs());
        self.run_script(&invocation).await
    }

    /// A privacy erasure (see `Store::erase`): every key of the recipient
    /// in one `DEL` on their slot, then their vote in each poll, on the
    /// poll's slot.
    pub async fn erase(
        &self,
        recipient: &RecipientId,
        templates: &[&str],
        pools: &[&str],
        polls: &[&str],
    ) -> Result<u64, StoreError> {
        let keys = &self.keys;
        // The records of emails of a sequence (`{template}/{e}`) are named
        // in the open record's fields: their locks and codes go too.
        let mut fields = redis::cmd("HKEYS");
        fields.arg(keys.shown_key(recipient));
        let fields: Vec<String> = self.run_idempotent(&fields).await?;
        let emails = sequence_records(&fields);
        let mut command = redis::cmd("DEL");
        command
            .arg(keys.profile_key(recipient))
            .arg(keys.prefs_key(recipient))
            .arg(keys.prefs_history_key(recipient))
            .arg(keys.shown_key(recipient))
            .arg(keys.last_click_key(recipient))
            .arg(keys.engagement_key(recipient));
        for template in templates {
            command
                .arg(keys.lock_key(recipient, template))
                .arg(keys.timer_key(recipient, template));
        }
        for pool in pools {
            command.arg(keys.code_key(recipient, pool));
        }
        for (record, email) in &emails {
            command.arg(keys.lock_key(recipient, record));
            for pool in pools {
                command
                    .arg(keys.code_key(recipient, &crate::recipient::code_slot(pool, Some(email))));
            }
        }
        let mut removed: u64 = self.run_idempotent(&command).await?;
        for poll in polls {
            removed += u64::from(self.erase_vote(poll, recipient).await?);
        }
        Ok(removed)
    }

    /// Adds codes to a pool; answers how many were new.
    pub async fn add_codes(&self, pool: &str, codes: &[String]) -> Result<u64, StoreError> {
        let mut added = 0;
        for chunk in codes.chunks(1000) {
            let mut command = redis::cmd("SADD");
            command.arg(self.keys.pool_key(pool)).arg(chunk);
            let count: u64 = self.run_idempotent(&command).await?;
            added += count;
        }
        Ok(added)
    }

    /// How many unused codes a pool holds.
    pub async fn pool_size(&self, pool: &str) -> Result<u64, StoreError> {
        let mut command = redis::cmd("SCARD");
        command.arg(self.keys.pool_key(pool));
        self.run_idempotent(&command).await
    }

    /// Writes a batch of events in one pipeline: the stream entries, the
    /// open records, the profile counters and the daily counts. Answers how
    /// many commands Redis refused: the customer owns the profile hash, and
    /// an `opens` field that is not a number makes its `HINCRBY` fail. Such a
    /// refusal is final, so the batch counts as written (sending it again
    /// would repeat everything else in it and block the queue behind it).
    pub async fn write_events(&self, events: &[Event]) -> Result<u64, StoreError> {
        let keys = &self.keys;
        let stream = keys.events_key();
        // Numbers every event repeats, spelled once per batch.
        let record_keep = RECORD_KEEP.as_secs().to_string();
        // The reports' counters and sets, summed over the batch.
        let mut reports = super::redis_reports::ReportBatch::default();
        let mut pipe = redis::Pipeline::with_capacity(events.len() * 4 + 8);
        pipe.ignore_errors();
        for event in events {
            let at = crate::events::format_at(event.at);
            let entry = event.to_json(&at);
            let mut xadd = redis::Cmd::with_capacity(5, 32 + stream.len() + entry.len());
            xadd.arg("XADD")
                .arg(&stream)
                .arg("*")
                .arg("event")
                .arg(entry);
            pipe.add_command(xadd);
            let Some(recipient) = &event.recipient else {
                continue;
            };
            // Each key's writes in as few commands as they allow: one
            // `HSET` of all the open records' fields and one `EXPIRE` per
            // hash, rather than one of each per field.
            let mut shown_fields: Vec<(Cow<str>, String)> = Vec::new();
            let mut shown_expires = false;
            let mut engagement_key = None;
            let mut first_open = None;
            for write in record_writes(event, &at) {
                match write {
                    RecordWrite::Shown(record) => {
                        shown_fields.push((event.record(), record.encode()));
                        shown_expires = true;
                    }
                    RecordWrite::FirstPersonOpen(at) => first_open = Some(at),
                    RecordWrite::Profile {
                        time_field,
                        count_field,
                        at,
                    } => {
                        let key = keys.profile_key(recipient);
                        pipe.add_command(command("HSET"))
                            .arg(&key)
                            .arg(time_field)
                            .arg(at);
                        pipe.add_command(command("HINCRBY"))
                            .arg(&key)
                            .arg(count_field)
                            .arg(1);
                    }
                    RecordWrite::Count(field) => {
                        let key =
                            engagement_key.get_or_insert_with(|| keys.engagement_key(recipient));
                        pipe.add_command(command("HINCRBY"))
                            .arg(&*key)
                            .arg(field)
                            .arg(1);
                    }
                    RecordWrite::Arm { field, arm } => shown_fields.push((field.into(), arm)),
                    RecordWrite::Last { field, touch } => {
                        shown_fields.push((field.into(), touch.encode()));
                    }
                }
            }
            if let Some(key) = engagement_key {
                pipe.add_command(command("EXPIRE"))
                    .arg(key)
                    .arg(&record_keep);
            }
            if !shown_fields.is_empty() || first_open.is_some() {
                let key = keys.shown_key(recipient);
                if !shown_fields.is_empty() {
                    let hset = pipe.add_command(command("HSET")).arg(&key);
                    for (field, value) in &shown_fields {
                        hset.arg(field.as_ref()).arg(value);
                    }
                }
                if shown_expires {
                    pipe.add_command(command("EXPIRE"))
                        .arg(&key)
                        .arg(&record_keep);
                }
                if let Some(at) = first_open {
                    pipe.add_command(command("HSETNX"))
                        .arg(&key)
                        .arg(["first:", &event.record()].concat())
                        .arg(at);
                }
            }
            self.add_report_writes(&mut reports, event, recipient, &at);
        }
        reports.write(&mut pipe);
        // One trim per batch rather than a `MAXLEN` on every `XADD`: the
        // stream may pass its bound by one batch until this runs, and each
        // entry is cheaper to add.
        pipe.add_command(command("XTRIM"))
            .arg(&stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(EVENTS_MAX_LEN);
        // A batch is sent once: the writer resends it when it fails.
        let replies: Vec<Value> = self.run_pipeline(&pipe, false).await?;
        super::error::server_was_not_ready(&replies)?;
        let refused = replies
            .iter()
            .filter(|reply| matches!(reply, Value::ServerError(_)))
            .count();
        Ok(refused as u64)
    }

    /// The engagement records of several recipients, in one round trip.
    pub async fn engagement(
        &self,
        recipients: &[RecipientId],
    ) -> Result<Vec<EngagementRecord>, StoreError> {
        let mut pipe = redis::pipe();
        for recipient in recipients {
            pipe.cmd("HGETALL").arg(self.keys.engagement_key(recipient));
            pipe.cmd("HMGET")
                .arg(self.keys.profile_key(recipient))
                .arg("last_open_at")
                .arg("last_click_at");
        }
        let replies: Vec<Value> = self.run_pipeline(&pipe, true).await?;
        let mut replies = replies.into_iter();
        let mut records = Vec::with_capacity(recipients.len());
        for _ in recipients {
            let counts = replies.next().ok_or_else(short_reply)?;
            let times = replies.next().ok_or_else(short_reply)?;
            let counts = profile_from_reply(counts)?
                .map(|hash| {
                    hash.fields
                        .into_iter()
                        .filter_map(|(field, count)| Some((field, count.parse().ok()?)))
                        .collect()
                })
                .unwrap_or_default();
            let mut times = match times {
                Value::Array(items) => items.into_iter(),
                _ => return Err(short_reply()),
            };
            records.push(EngagementRecord {
                counts,
                last_open_at: times.next().map(optional_text).transpose()?.flatten(),
                last_click_at: times.next().map(optional_text).transpose()?.flatten(),
            });
        }
        Ok(records)
    }

    /// Sends a pipeline within the budget; with `retry`, once more if the
    /// shared connection turns out to have died (see `run_idempotent`).
    pub(super) async fn run_pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &Pipeline,
        retry: bool,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        let attempts = async {
            match connection.query_pipeline(pipe).await {
                Err(error) if retry && error.is_connection_dropped() => {
                    connection.query_pipeline(pipe).await
                }
                result => result,
            }
        };
        match tokio::time::timeout(self.budget, attempts).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_elapsed) => {
                self.connection.after_timeout();
                Err(StoreError::Timeout(self.budget))
            }
        }
    }

    /// Sends a command that must not run twice, within the budget.
    pub(super) async fn run_once<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        match tokio::time::timeout(self.budget, command.query_async(&mut connection)).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_elapsed) => {
                self.connection.after_timeout();
                Err(StoreError::Timeout(self.budget))
            }
        }
    }
}

/// A command for a batch that is written at every open, with room for a
/// few keys and values: built with no room, its buffers grew by doubling,
/// several reallocations a command.
pub(super) fn command(name: &str) -> redis::Cmd {
    let mut command = redis::Cmd::with_capacity(6, 192);
    command.arg(name);
    command
}

/// Whether a code key's value is a code, not a claim in progress.
fn is_code(value: &str) -> bool {
    !value.is_empty() && value != DRAWING
}

fn optional_text(value: Value) -> Result<Option<String>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => text_of(other).map(Some),
    }
}

fn short_reply() -> StoreError {
    StoreError::Command("a pipeline replied with fewer items than it sent".into())
}

/// The records of emails of a sequence among the open record's fields
/// (`renewal/step-2`, `first:renewal/step-2`): each record name once, with
/// its email.
pub(super) fn sequence_records(fields: &[String]) -> Vec<(String, String)> {
    let mut records: Vec<(String, String)> = fields
        .iter()
        .map(|field| field.strip_prefix("first:").unwrap_or(field))
        .filter_map(|record| {
            let (_, email) = record.split_once('/')?;
            Some((record.to_string(), email.to_string()))
        })
        .collect();
    records.sort();
    records.dedup();
    records
}
