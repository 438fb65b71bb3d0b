//! The embedded in-memory store: what `opentime serve` uses when no Redis is
//! configured, so that the demo runs with nothing else installed.
//!
//! It behaves like the Redis store as callers see it (a profile is a hash of
//! strings, `set_fields` merges like `HSET`, a recipient without fields has no
//! profile) but keeps nothing across restarts and is not shared between
//! replicas, which is why it is for demos and tests only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use jiff::Timestamp;

use crate::recipient::{Profile, RecipientId};

use super::StoreError;
use super::demo::{load_demo_pools, load_demo_recipients};
use super::feeds::MemoryFeeds;
use super::memory_reports::MemoryReports;
use super::polls::{self, Tally, VoteRecord};
use super::records::{
    EngagementRecord, RecipientState, RecordWrite, ShownRecord, StateRequest, record_writes,
};
use crate::events::Event;
use crate::prefs::PrefsChange;

/// Profiles by recipient, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// A std lock, not a tokio one: it is never held across an `.await`, and
    /// every critical section is one map operation, so readers (every image
    /// request) barely ever wait.
    profiles: Arc<RwLock<HashMap<RecipientId, BTreeMap<String, String>>>>,
    /// Evergreen timers' starts, by recipient and template.
    timer_starts: Arc<RwLock<HashMap<(RecipientId, String), Timestamp>>>,
    /// Open records, locks, codes, pools, clicks, counts and events.
    records: Arc<std::sync::Mutex<Records>>,
    /// Product feeds' items, meta and refresh locks (`feeds.rs`).
    feeds: Arc<std::sync::Mutex<MemoryFeeds>>,
    /// Report counters, experiments and conversion ids
    /// (`memory_reports.rs`).
    reports: Arc<std::sync::Mutex<MemoryReports>>,
}

/// The per-recipient records, as the Redis store keeps them in keys of
/// their own.
#[derive(Debug, Default)]
struct Records {
    shown: HashMap<(RecipientId, String), String>,
    first_person_open: HashMap<(RecipientId, String), i64>,
    locks: HashMap<(RecipientId, String), String>,
    codes: HashMap<(RecipientId, String), String>,
    pools: HashMap<String, BTreeSet<String>>,
    last_click: HashMap<RecipientId, String>,
    engagement: HashMap<RecipientId, BTreeMap<String, u64>>,
    /// Votes by poll and recipient, and each poll's counts by option.
    votes: HashMap<(String, RecipientId), VoteRecord>,
    tallies: HashMap<String, BTreeMap<String, i64>>,
    /// Preferences and their changes, newest first.
    prefs: HashMap<RecipientId, BTreeMap<String, String>>,
    prefs_history: HashMap<RecipientId, Vec<PrefsChange>>,
    /// Templates put through the admin API, and their revision.
    templates: BTreeMap<String, Vec<u8>>,
    templates_revision: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The reports, locked for one operation (never across an `.await`).
    pub(super) fn reports(&self) -> std::sync::MutexGuard<'_, MemoryReports> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The feeds, locked for one operation (never across an `.await`).
    pub(super) fn feeds(&self) -> std::sync::MutexGuard<'_, MemoryFeeds> {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A store seeded from `{demo_dir}/recipients.json` (format in
    /// [`super::demo`]).
    pub fn from_demo_dir(demo_dir: &Path) -> Result<MemoryStore, StoreError> {
        let profiles = load_demo_recipients(demo_dir)?;
        let store = MemoryStore {
            profiles: Arc::new(RwLock::new(profiles)),
            ..MemoryStore::default()
        };
        for (pool, codes) in load_demo_pools(demo_dir)? {
            store.add_codes(&pool, &codes);
        }
        Ok(store)
    }

    pub fn profile(&self, recipient: &RecipientId) -> Option<Profile> {
        let profiles = self.read();
        let fields = profiles.get(recipient)?;
        // Redis has no empty hashes, so neither do we.
        (!fields.is_empty()).then(|| Profile {
            fields: fields.clone(),
        })
    }

    /// Merges the fields into the recipient's profile, like `HSET`.
    pub fn set_fields(&self, recipient: &RecipientId, fields: &[(String, String)]) {
        if fields.is_empty() {
            return;
        }
        let mut profiles = self.write();
        let profile = profiles.entry(recipient.clone()).or_default();
        for (name, value) in fields {
            profile.insert(name.clone(), value.clone());
        }
    }

    /// Merges and removes fields; a profile left without any is gone, as in
    /// Redis.
    pub fn upsert_profile(&self, row: &super::ProfileUpsert) {
        let mut profiles = self.write();
        let profile = profiles.entry(row.recipient.clone()).or_default();
        for (name, value) in &row.set {
            profile.insert(name.clone(), value.clone());
        }
        for name in &row.remove {
            profile.remove(name);
        }
        if profile.is_empty() {
            profiles.remove(&row.recipient);
        }
    }

    /// When the recipient's evergreen timer of `template` started, recording
    /// `now` as the start when `start` is set and there is none.
    pub fn timer_start(
        &self,
        recipient: &RecipientId,
        template: &str,
        now: Timestamp,
        start: bool,
    ) -> Option<Timestamp> {
        let key = (recipient.clone(), template.to_string());
        if !start {
            return self
                .timer_starts
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(&key)
                .copied();
        }
        let mut starts = self
            .timer_starts
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(*starts.entry(key).or_insert(now))
    }

    /// The profile and the records `request` names (see
    /// [`super::Store::state`]).
    pub fn state(&self, recipient: &RecipientId, request: &StateRequest<'_>) -> RecipientState {
        let profile = self.profile(recipient);
        let timer_start = request
            .timer
            .then(|| self.timer_start(recipient, request.template, Timestamp::UNIX_EPOCH, false))
            .flatten();
        let mut records = self.records();
        let key = (recipient.clone(), request.record().into_owned());
        let previous_click = match &request.click_mark {
            Some(mark) => records.last_click.insert(recipient.clone(), mark.clone()),
            None => None,
        };
        RecipientState {
            profile,
            timer_start,
            lock: request
                .lock
                .then(|| records.locks.get(&key).cloned())
                .flatten(),
            code: request
                .coupon_pool
                .and_then(|pool| {
                    records
                        .codes
                        .get(&(recipient.clone(), request.code_slot(pool).into_owned()))
                })
                .cloned(),
            shown: request
                .shown
                .then(|| {
                    records
                        .shown
                        .get(&key)
                        .and_then(|text| ShownRecord::decode(text))
                })
                .flatten(),
            previous_click,
            vote: request
                .poll
                .and_then(|poll| records.votes.get(&(poll.to_string(), recipient.clone())))
                .map(|vote| vote.option.clone()),
            prefs: if request.prefs {
                records.prefs.get(recipient).cloned().unwrap_or_default()
            } else {
                BTreeMap::new()
            },
            arm: request.experiment.and_then(|experiment| {
                records
                    .shown
                    .get(&(recipient.clone(), super::records::arm_field(experiment)))
                    .cloned()
            }),
        }
    }

    /// The stored templates and their revision.
    pub fn stored_templates(&self) -> (u64, BTreeMap<String, Vec<u8>>) {
        let records = self.records();
        (records.templates_revision, records.templates.clone())
    }

    /// Stores a template; answers the new revision.
    pub fn put_template(&self, name: &str, json: &[u8]) -> u64 {
        let mut records = self.records();
        records.templates.insert(name.to_string(), json.to_vec());
        records.templates_revision += 1;
        records.templates_revision
    }

    /// Removes a stored template; answers whether there was one, and the
    /// new revision.
    pub fn delete_template(&self, name: &str) -> (bool, u64) {
        let mut records = self.records();
        let removed = records.templates.remove(name).is_some();
        records.templates_revision += 1;
        (removed, records.templates_revision)
    }

    /// Forgets everything kept about the recipient, as `Store::erase`
    /// does in Redis; answers how many records went.
    pub fn erase(&self, recipient: &RecipientId) -> u64 {
        let mut removed = u64::from(self.write().remove(recipient).is_some());
        self.timer_starts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, _), _| id != recipient);
        let mut records = self.records();
        let records = &mut *records;
        let before = records.shown.len() + records.locks.len() + records.codes.len();
        records.shown.retain(|(id, _), _| id != recipient);
        records
            .first_person_open
            .retain(|(id, _), _| id != recipient);
        records.locks.retain(|(id, _), _| id != recipient);
        records.codes.retain(|(id, _), _| id != recipient);
        removed +=
            (before - records.shown.len() - records.locks.len() - records.codes.len()) as u64;
        removed += u64::from(records.last_click.remove(recipient).is_some());
        removed += u64::from(records.engagement.remove(recipient).is_some());
        removed += u64::from(records.prefs.remove(recipient).is_some());
        removed += u64::from(records.prefs_history.remove(recipient).is_some());
        let votes: Vec<(String, RecipientId)> = records
            .votes
            .keys()
            .filter(|(_, id)| id == recipient)
            .cloned()
            .collect();
        for key in votes {
            if let Some(vote) = records.votes.remove(&key) {
                let change = polls::TallyChange {
                    minus: Some(vote.option),
                    plus: None,
                };
                polls::apply(records.tallies.entry(key.0).or_default(), &change);
                removed += 1;
            }
        }
        removed
    }

    /// The recipient's stored preferences.
    pub fn prefs(&self, recipient: &RecipientId) -> BTreeMap<String, String> {
        self.records()
            .prefs
            .get(recipient)
            .cloned()
            .unwrap_or_default()
    }

    /// Applies a change and keeps it in the history.
    pub fn save_prefs(&self, recipient: &RecipientId, change: &PrefsChange) {
        let mut records = self.records();
        let stored = records.prefs.entry(recipient.clone()).or_default();
        for (field, value) in change.fields() {
            stored.insert(field, value);
        }
        let history = records.prefs_history.entry(recipient.clone()).or_default();
        history.insert(0, change.clone());
        history.truncate(super::redis_prefs::HISTORY_KEEP);
    }

    /// The recipient's changes, newest first.
    pub fn prefs_history(&self, recipient: &RecipientId) -> Vec<PrefsChange> {
        self.records()
            .prefs_history
            .get(recipient)
            .cloned()
            .unwrap_or_default()
    }

    /// Records a person's vote; true when the tally changed.
    pub fn cast_vote(&self, poll: &str, recipient: &RecipientId, option: &str, at_ms: i64) -> bool {
        let mut records = self.records();
        let key = (poll.to_string(), recipient.clone());
        let Some((record, change)) = polls::cast(records.votes.get(&key), option, at_ms) else {
            return false;
        };
        records.votes.insert(key, record);
        polls::apply(
            records.tallies.entry(poll.to_string()).or_default(),
            &change,
        );
        true
    }

    /// Takes back a vote cast at or after `since_ms`; true when one was.
    pub fn retract_vote(&self, poll: &str, recipient: &RecipientId, since_ms: i64) -> bool {
        let mut records = self.records();
        let key = (poll.to_string(), recipient.clone());
        let Some((restored, change)) = polls::retract(records.votes.get(&key), since_ms) else {
            return false;
        };
        match restored {
            Some(record) => records.votes.insert(key, record),
            None => records.votes.remove(&key),
        };
        polls::apply(
            records.tallies.entry(poll.to_string()).or_default(),
            &change,
        );
        true
    }

    /// A poll's counts by option.
    pub fn poll_tally(&self, poll: &str) -> Tally {
        let records = self.records();
        polls::tally_of(
            records
                .tallies
                .get(poll)
                .into_iter()
                .flatten()
                .map(|(option, count)| (option.clone(), *count)),
        )
    }

    /// Keeps `record` as the lock unless there is one; answers the lock.
    pub fn lock(&self, recipient: &RecipientId, template: &str, record: &str) -> String {
        self.records()
            .locks
            .entry((recipient.clone(), template.to_string()))
            .or_insert_with(|| record.to_string())
            .clone()
    }

    /// Replaces the lock if it is still `stale` (or gone); answers the lock.
    pub fn replace_lock(
        &self,
        recipient: &RecipientId,
        template: &str,
        stale: &str,
        record: &str,
    ) -> String {
        let mut records = self.records();
        let lock = records
            .locks
            .entry((recipient.clone(), template.to_string()))
            .or_insert_with(|| record.to_string());
        if lock == stale {
            *lock = record.to_string();
        }
        lock.clone()
    }

    /// The recipient's code from `pool`, drawing one if they have none.
    /// Which code is drawn is up to the set's order, as with `SPOP`.
    pub fn draw_code(&self, recipient: &RecipientId, pool: &str, slot: &str) -> Option<String> {
        let mut records = self.records();
        let key = (recipient.clone(), slot.to_string());
        if let Some(code) = records.codes.get(&key) {
            return Some(code.clone());
        }
        let code = records.pools.get_mut(pool)?.pop_first()?;
        records.codes.insert(key, code.clone());
        Some(code)
    }

    pub fn add_codes(&self, pool: &str, codes: &[String]) -> u64 {
        let mut records = self.records();
        let set = records.pools.entry(pool.to_string()).or_default();
        codes
            .iter()
            .filter(|code| set.insert((*code).clone()))
            .count() as u64
    }

    pub fn pool_size(&self, pool: &str) -> u64 {
        self.records()
            .pools
            .get(pool)
            .map_or(0, |set| set.len() as u64)
    }

    /// Applies a batch of events' records and counts as the Redis store's
    /// pipeline does. The demo has no stream: nobody could consume it.
    pub fn write_events(&self, events: &[Event]) {
        for event in events {
            let mut records = self.records();
            let at = crate::events::format_at(event.at);
            let Some(recipient) = &event.recipient else {
                continue;
            };
            let key = (recipient.clone(), event.record().into_owned());
            let mut profile_writes = Vec::new();
            for write in record_writes(event, &at) {
                match write {
                    RecordWrite::Shown(record) => {
                        records.shown.insert(key.clone(), record.encode());
                    }
                    RecordWrite::FirstPersonOpen(at) => {
                        records.first_person_open.entry(key.clone()).or_insert(at);
                    }
                    RecordWrite::Count(field) => {
                        *records
                            .engagement
                            .entry(recipient.clone())
                            .or_default()
                            .entry(field)
                            .or_default() += 1;
                    }
                    RecordWrite::Profile {
                        time_field,
                        count_field,
                        at,
                    } => profile_writes.push((time_field, count_field, at)),
                    RecordWrite::Arm { field, arm } => {
                        records.shown.insert((recipient.clone(), field), arm);
                    }
                    RecordWrite::Last { field, touch } => {
                        self.reports().remember(recipient, field, touch);
                    }
                }
            }
            drop(records);
            self.reports().count(event, recipient, &Event::day(&at));
            if profile_writes.is_empty() {
                continue;
            }
            let mut profiles = self.write();
            let profile = profiles.entry(recipient.clone()).or_default();
            for (time_field, count_field, at) in profile_writes {
                profile.insert(time_field.to_string(), at.to_string());
                let count = profile
                    .get(count_field)
                    .and_then(|count| count.parse::<u64>().ok())
                    .unwrap_or(0);
                profile.insert(count_field.to_string(), (count + 1).to_string());
            }
        }
    }

    /// The engagement records of several recipients.
    pub fn engagement(&self, recipients: &[RecipientId]) -> Vec<EngagementRecord> {
        recipients
            .iter()
            .map(|recipient| {
                let profile = self.profile(recipient);
                let field = |name: &str| {
                    profile
                        .as_ref()
                        .and_then(|profile| profile.get(name))
                        .map(str::to_string)
                };
                EngagementRecord {
                    counts: self
                        .records()
                        .engagement
                        .get(recipient)
                        .map(|counts| counts.iter().map(|(f, n)| (f.clone(), *n)).collect())
                        .unwrap_or_default(),
                    last_open_at: field("last_open_at"),
                    last_click_at: field("last_click_at"),
                }
            })
            .collect()
    }

    /// Forgets the recipient's profile; true when there was one.
    pub fn delete_profile(&self, recipient: &RecipientId) -> bool {
        self.write().remove(recipient).is_some()
    }

    /// How many recipients have a profile, for the demo banner.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // A panic while the lock was held cannot leave a map half-updated in a
    // way that matters (each write is one insert or remove), so a poisoned
    // lock is used as is rather than failing every later request.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<RecipientId, BTreeMap<String, String>>> {
        self.profiles.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<RecipientId, BTreeMap<String, String>>> {
        self.profiles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> RecipientId {
        RecipientId::new(raw).expect("test ids are valid")
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_fields_merges_like_hset() {
        let store = MemoryStore::new();
        store.set_fields(&id("alice"), &fields(&[("a", "1"), ("b", "2")]));
        store.set_fields(&id("alice"), &fields(&[("b", "3"), ("c", "4")]));
        let profile = store.profile(&id("alice")).expect("profile was written");
        assert_eq!(
            profile,
            Profile::from_iter([("a", "1"), ("b", "3"), ("c", "4")])
        );
        assert_eq!(store.profile(&id("bob")), None);
    }

    #[test]
    fn no_fields_means_no_profile() {
        let store = MemoryStore::new();
        store.set_fields(&id("alice"), &[]);
        assert_eq!(store.profile(&id("alice")), None);
        assert!(!store.delete_profile(&id("alice")));
    }

    #[test]
    fn delete_forgets_and_clones_share_state() {
        let store = MemoryStore::new();
        let clone = store.clone();
        store.set_fields(&id("alice"), &fields(&[("a", "1")]));
        assert!(clone.profile(&id("alice")).is_some());
        assert!(clone.delete_profile(&id("alice")));
        assert_eq!(store.profile(&id("alice")), None);
    }
}
