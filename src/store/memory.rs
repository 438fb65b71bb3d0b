//! The embedded in-memory store: what `opentime serve` uses when no Redis is
//! configured, so that the demo runs with nothing else installed.
//!
//! It behaves like the Redis store as callers see it (a profile is a hash of
//! strings, `set_fields` merges like `HSET`, a recipient without fields has no
//! profile) but keeps nothing across restarts and is not shared between
//! replicas, which is why it is for demos and tests only.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use jiff::Timestamp;

use crate::recipient::{Profile, RecipientId};

use super::StoreError;
use super::demo::load_demo_recipients;

/// Profiles by recipient, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// A std lock, not a tokio one: it is never held across an `.await`, and
    /// every critical section is one map operation, so readers (every image
    /// request) barely ever wait.
    profiles: Arc<RwLock<HashMap<RecipientId, BTreeMap<String, String>>>>,
    /// Evergreen timers' starts, by recipient and template.
    timer_starts: Arc<RwLock<HashMap<(RecipientId, String), Timestamp>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store seeded from `{demo_dir}/recipients.json` (format in
    /// [`super::demo`]).
    pub fn from_demo_dir(demo_dir: &Path) -> Result<MemoryStore, StoreError> {
        let profiles = load_demo_recipients(demo_dir)?;
        Ok(MemoryStore {
            profiles: Arc::new(RwLock::new(profiles)),
            timer_starts: Arc::default(),
        })
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
