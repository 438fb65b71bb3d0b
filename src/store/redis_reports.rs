//! The reports' and experiments' Redis commands: the counting an event
//! batch adds to its pipeline, and the reads of reports, experiments,
//! conversions and their credit.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use redis::{Pipeline, Value};

use super::StoreError;
use super::records::{LAST_CLICK, LAST_OPEN, LastTouch};
use super::redis::RedisStore;
use super::redis_records::command;
use super::reports::{ReportWrite, report_writes};
use crate::events::Event;
use crate::recipient::RecipientId;

/// An experiment's decision, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub arm: String,
    /// Unix seconds.
    pub at: i64,
    /// `rule` or `manual`.
    pub by: String,
}

/// What a batch of events adds to the reports and experiments, gathered
/// before it is written: a send's opens of one template and variant all
/// add to the same few counters and sets, so the batch sends one
/// `HINCRBY` per counter field with the sum, one `PFADD` per set with
/// every member, and one `EXPIREAT` per key, rather than commands for
/// each event.
#[derive(Default)]
pub(super) struct ReportBatch {
    /// (key, field) to the sum to add, in the order first met.
    counts: Vec<((String, String), i64)>,
    count_index: HashMap<(String, String), usize>,
    /// Set key to the recipients to add, in the order first met.
    members: Vec<(String, Vec<String>)>,
    member_index: HashMap<String, usize>,
    /// Every key with its end of life (the end of its day plus the
    /// retention), in the order first met.
    expiring: Vec<(String, i64)>,
    expiring_keys: HashSet<String>,
}

impl ReportBatch {
    fn count(&mut self, key: String, field: String, by: i64) {
        match self.count_index.entry((key, field)) {
            Entry::Occupied(entry) => self.counts[*entry.get()].1 += by,
            Entry::Vacant(entry) => {
                self.counts.push((entry.key().clone(), by));
                entry.insert(self.counts.len() - 1);
            }
        }
    }

    fn member(&mut self, key: String, recipient: &RecipientId) {
        let member = recipient.as_str().to_string();
        match self.member_index.entry(key) {
            Entry::Occupied(entry) => self.members[*entry.get()].1.push(member),
            Entry::Vacant(entry) => {
                self.members.push((entry.key().clone(), vec![member]));
                entry.insert(self.members.len() - 1);
            }
        }
    }

    fn expire(&mut self, key: &str, end_of_life: i64) {
        if !self.expiring_keys.contains(key) {
            self.expiring_keys.insert(key.to_string());
            self.expiring.push((key.to_string(), end_of_life));
        }
    }

    /// The gathered writes, added to `pipe`.
    pub(super) fn write(self, pipe: &mut Pipeline) {
        for ((key, field), by) in self.counts {
            pipe.add_command(command("HINCRBY"))
                .arg(key)
                .arg(field)
                .arg(by);
        }
        for (key, members) in self.members {
            pipe.add_command(command("PFADD")).arg(key).arg(members);
        }
        for (key, end_of_life) in self.expiring {
            pipe.add_command(command("EXPIREAT"))
                .arg(key)
                .arg(end_of_life);
        }
    }
}

impl RedisStore {
    /// Adds what `event` counts for the reports and experiments to a
    /// batch's gathered writes.
    pub(super) fn add_report_writes(
        &self,
        batch: &mut ReportBatch,
        event: &Event,
        recipient: &RecipientId,
        at: &str,
    ) {
        let writes = report_writes(event);
        if writes.is_empty() {
            return;
        }
        let keys = &self.keys;
        let day = Event::day(at);
        let day_start = event.at.as_second() - event.at.as_second().rem_euclid(86_400);
        let end_of_life = day_start + 86_400 * (i64::from(self.report_days) + 1);
        for write in writes {
            let key = match write {
                ReportWrite::Count { field, by } => {
                    let key = keys.report_key(&event.template, &day);
                    batch.count(key.clone(), field, by);
                    key
                }
                ReportWrite::Unique { group_set } => {
                    let key = keys.report_unique_key(&event.template, &day, &group_set);
                    batch.member(key.clone(), recipient);
                    key
                }
                ReportWrite::Experiment { set } => {
                    let key = keys.experiment_key(&event.experiment, &event.arm, set);
                    batch.member(key.clone(), recipient);
                    key
                }
            };
            batch.expire(&key, end_of_life);
        }
    }

    /// Each day's report counters of `template`, in the order of `days`
    /// (`20261201`), in one round trip.
    pub async fn report_counters(
        &self,
        template: &str,
        days: &[String],
    ) -> Result<Vec<Vec<(String, i64)>>, StoreError> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for day in days {
            pipe.cmd("HGETALL").arg(self.keys.report_key(template, day));
        }
        let replies: Vec<Vec<(String, i64)>> = self.run_pipeline(&pipe, true).await?;
        Ok(replies)
    }

    /// The estimated number of distinct people in each union of unique
    /// sets: each entry of `unions` lists `(day, group_set)` pairs of
    /// `template`. One round trip for all.
    pub async fn report_uniques(
        &self,
        template: &str,
        unions: &[Vec<(String, String)>],
    ) -> Result<Vec<u64>, StoreError> {
        let mut pipe = redis::pipe();
        let mut asked = Vec::with_capacity(unions.len());
        for union in unions {
            asked.push(!union.is_empty());
            if union.is_empty() {
                continue;
            }
            let command = pipe.cmd("PFCOUNT");
            for (day, group_set) in union {
                command.arg(self.keys.report_unique_key(template, day, group_set));
            }
        }
        let counts: Vec<u64> = if asked.iter().any(|asked| *asked) {
            self.run_pipeline(&pipe, true).await?
        } else {
            Vec::new()
        };
        let mut counts = counts.into_iter();
        Ok(asked
            .into_iter()
            .map(|asked| if asked { counts.next().unwrap_or(0) } else { 0 })
            .collect())
    }

    /// For each arm, the people exposed, who clicked and who converted.
    pub async fn experiment_counts(
        &self,
        experiment: &str,
        arms: &[&str],
    ) -> Result<Vec<[u64; 3]>, StoreError> {
        let mut pipe = redis::pipe();
        for arm in arms {
            for set in ["exposed", "click", "conversion"] {
                pipe.cmd("PFCOUNT")
                    .arg(self.keys.experiment_key(experiment, arm, set));
            }
        }
        let counts: Vec<u64> = self.run_pipeline(&pipe, true).await?;
        Ok(counts
            .chunks(3)
            .map(|chunk| [chunk[0], chunk[1], chunk[2]])
            .collect())
    }

    /// The decisions of `experiments`, in order, in one round trip.
    pub async fn experiment_decisions(
        &self,
        experiments: &[&str],
    ) -> Result<Vec<Option<Decision>>, StoreError> {
        if experiments.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for experiment in experiments {
            pipe.cmd("HMGET")
                .arg(self.keys.experiment_winner_key(experiment))
                .arg("winner")
                .arg("at")
                .arg("by");
        }
        let replies: Vec<Vec<Option<String>>> = self.run_pipeline(&pipe, true).await?;
        Ok(replies
            .into_iter()
            .map(|reply| {
                let mut fields = reply.into_iter();
                let arm = fields.next().flatten()?;
                let at = fields.next().flatten()?.parse().ok()?;
                let by = fields.next().flatten().unwrap_or_default();
                Some(Decision { arm, at, by })
            })
            .collect())
    }

    /// Records `decision` for `experiment`: only if none is recorded yet,
    /// unless `replace` (a decision by hand overrules). Answers whether it
    /// was recorded, so that of several replicas reaching the same verdict
    /// only one announces it.
    pub async fn decide_experiment(
        &self,
        experiment: &str,
        decision: &Decision,
        replace: bool,
    ) -> Result<bool, StoreError> {
        let key = self.keys.experiment_winner_key(experiment);
        let script = redis::Script::new(
            r"if ARGV[4] == '0' and redis.call('HEXISTS', KEYS[1], 'winner') == 1 then return 0 end
              redis.call('HSET', KEYS[1], 'winner', ARGV[1], 'at', ARGV[2], 'by', ARGV[3])
              return 1",
        );
        let mut invocation = script.key(key);
        invocation
            .arg(&decision.arm)
            .arg(decision.at)
            .arg(&decision.by)
            .arg(if replace { "1" } else { "0" });
        let recorded: i64 = self.run_script(&invocation).await?;
        Ok(recorded == 1)
    }

    /// Claims a conversion id (a hash of the caller's `id`) for `keep_s`
    /// seconds: true the first time, false for a repeat, on every replica.
    pub async fn claim_conversion(&self, id_hash: &str, keep_s: u64) -> Result<bool, StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.keys.conversion_key(id_hash))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(keep_s.max(1));
        let reply: Value = self.run_once(&command).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    /// Gives a claimed conversion id back, when its conversion could not be
    /// written, so that sending it again counts.
    pub async fn release_conversion(&self, id_hash: &str) -> Result<(), StoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.keys.conversion_key(id_hash));
        let _: i64 = self.run_idempotent(&command).await?;
        Ok(())
    }

    /// The recipient's last person's click and open.
    pub async fn last_touches(
        &self,
        recipient: &RecipientId,
    ) -> Result<(Option<LastTouch>, Option<LastTouch>), StoreError> {
        let mut command = redis::cmd("HMGET");
        command
            .arg(self.keys.shown_key(recipient))
            .arg(LAST_CLICK)
            .arg(LAST_OPEN);
        let reply: Vec<Option<String>> = self.run_idempotent(&command).await?;
        let mut touches = reply
            .into_iter()
            .map(|value| value.as_deref().and_then(LastTouch::decode));
        Ok((touches.next().flatten(), touches.next().flatten()))
    }
}
