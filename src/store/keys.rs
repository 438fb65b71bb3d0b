//! The Redis key scheme: the one place that knows how keys are spelled.
//!
//! Every key of a recipient starts with `{prefix}r:{ID}`, where the braces are
//! literal. Redis Cluster hashes only the text between the first `{` and the
//! next `}` (a "hash tag"), so every key of one recipient lands on one slot and
//! later features can touch several of them in one transaction or script.
//!
//! - profile hash: `{prefix}r:{ID}` (exactly; customers write it with `HSET`);
//! - any other per-recipient key: `{prefix}r:{ID}:{suffix}`, built with
//!   [`KeyScheme::recipient_key`], e.g. `ot:r:{alice}:prefs`:
//!   - `:shown`, a hash of what each template showed (the open record);
//!   - `:lock:{template}`, the render locked at the first human open
//!     (`:lock:{template}/{e}` for an email of a sequence);
//!   - `:code:{pool}`, the coupon code drawn from a pool (`:code:{pool}/{e}`
//!     for a template that draws one per email);
//!   - `:timer:{template}`, an evergreen timer's start;
//!   - `:last_click`, the previous click, to spot scanners' bursts;
//!   - `:engagement`, daily counts of opens and clicks;
//!   - `:prefs`, the recipient's email preferences, and `:prefs_history`,
//!     a list of their changes, newest first;
//! - keys of no recipient: `{prefix}pool:{name}` (a coupon pool's unused
//!   codes), `{prefix}events` (the events stream), and a poll's two keys,
//!   `{prefix}poll:{ID}:votes` (each recipient's vote) and
//!   `{prefix}poll:{ID}:tally` (counts by option), whose braces are a hash
//!   tag too, so that a vote and its tally change in one script on a
//!   Cluster; and a product feed's keys, `{prefix}feed:{NAME}:meta`,
//!   `:lock`, `:generation` and `:items:{N}`, on one slot by the same
//!   means; a template's report counters and unique sets,
//!   `{prefix}rep:{TEMPLATE}:{yyyymmdd}` and `...:{yyyymmdd}:u:{group}`,
//!   an experiment's sets and decision, `{prefix}exp:{ID}:{arm}:{set}` and
//!   `{prefix}exp:{ID}:winner`, each with its braces as the hash tag
//!   (`store/reports.rs`), and a counted conversion id,
//!   `{prefix}conv:{hash}`.
//!
//! The scheme is injective as long as a suffix is non-empty and holds no `}`:
//! the last `}` of a key then always closes the id, so two recipients (or a
//! profile and another key) can never share a key, whatever the ids contain.
//! Ids that themselves hold `}` only move their hash tag, which costs nothing
//! but slot balance.
//!
//! The keys that every open or its events name are joined with `concat`,
//! which sizes the string once, rather than `format!`, which grows it a
//! piece at a time through the formatting machinery.

use crate::recipient::RecipientId;

use super::StoreError;

/// The prefix of every key unless configured otherwise (`OPENTIME_KEY_PREFIX`).
pub const DEFAULT_KEY_PREFIX: &str = "ot:";

/// The key prefix of one deployment, and the functions that spell keys with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScheme {
    prefix: String,
}

impl KeyScheme {
    /// Accepts a prefix without braces: a brace in the prefix would become the
    /// hash tag of every key and put the whole data set on one Cluster slot.
    pub fn new(prefix: impl Into<String>) -> Result<KeyScheme, StoreError> {
        let prefix = prefix.into();
        if prefix.contains(['{', '}']) {
            return Err(StoreError::Config(
                "the key prefix must not contain `{` or `}`: Redis Cluster would read it as the hash tag of every key".into(),
            ));
        }
        Ok(KeyScheme { prefix })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The recipient's profile hash, `{prefix}r:{ID}`.
    pub fn profile_key(&self, recipient: &RecipientId) -> String {
        let id = recipient.as_str();
        // Sized up front: this runs on every open, and one allocation is enough.
        let mut key = String::with_capacity(self.prefix.len() + id.len() + 4);
        key.push_str(&self.prefix);
        key.push_str("r:{");
        key.push_str(id);
        key.push('}');
        key
    }

    /// Another key of the recipient, `{prefix}r:{ID}:{suffix}`, on the same
    /// Cluster slot as the profile. `suffix` is chosen by code, never by
    /// users, and must be non-empty and free of `}` (see the module doc).
    pub fn recipient_key(&self, recipient: &RecipientId, suffix: &str) -> String {
        debug_assert!(
            !suffix.is_empty() && !suffix.contains('}'),
            "a key suffix must be non-empty and free of `}}` to keep keys unambiguous"
        );
        let mut key = self.profile_key(recipient);
        key.reserve(suffix.len() + 1);
        key.push(':');
        key.push_str(suffix);
        key
    }
}

impl KeyScheme {
    /// The hash of what each template last showed the recipient.
    pub fn shown_key(&self, recipient: &RecipientId) -> String {
        self.recipient_key(recipient, "shown")
    }

    /// The render a template locked at the recipient's first human open.
    pub fn lock_key(&self, recipient: &RecipientId, template: &str) -> String {
        self.recipient_key(recipient, &["lock:", template].concat())
    }

    /// The code the recipient drew from a coupon pool.
    pub fn code_key(&self, recipient: &RecipientId, pool: &str) -> String {
        self.recipient_key(recipient, &["code:", pool].concat())
    }

    /// An evergreen timer's start.
    pub fn timer_key(&self, recipient: &RecipientId, template: &str) -> String {
        self.recipient_key(recipient, &["timer:", template].concat())
    }

    /// The recipient's previous click.
    pub fn last_click_key(&self, recipient: &RecipientId) -> String {
        self.recipient_key(recipient, "last_click")
    }

    /// Daily counts of the recipient's opens and clicks.
    pub fn engagement_key(&self, recipient: &RecipientId) -> String {
        self.recipient_key(recipient, "engagement")
    }

    /// The recipient's email preferences (see [`crate::prefs`]).
    pub fn prefs_key(&self, recipient: &RecipientId) -> String {
        self.recipient_key(recipient, "prefs")
    }

    /// The changes to the recipient's preferences, newest first.
    pub fn prefs_history_key(&self, recipient: &RecipientId) -> String {
        self.recipient_key(recipient, "prefs_history")
    }

    /// A coupon pool's unused codes. Pool names are identifiers (checked at
    /// template load and by the admin API), so they hold no brace.
    pub fn pool_key(&self, pool: &str) -> String {
        format!("{}pool:{pool}", self.prefix)
    }

    /// A poll's votes: a hash of recipient id to vote
    /// ([`super::polls::VoteRecord`]). Poll ids are identifiers, so they
    /// hold no brace.
    pub fn poll_votes_key(&self, poll: &str) -> String {
        format!("{}poll:{{{poll}}}:votes", self.prefix)
    }

    /// A poll's counts by option, on the same slot as its votes.
    pub fn poll_tally_key(&self, poll: &str) -> String {
        format!("{}poll:{{{poll}}}:tally", self.prefix)
    }

    /// The templates put through the admin API: a hash of name to JSON.
    /// It and its revision share a hash tag, so one transaction updates
    /// both on a Cluster too.
    pub fn templates_key(&self) -> String {
        format!("{}{{templates}}", self.prefix)
    }

    /// A counter raised by every change to the stored templates, which
    /// replicas poll to know when to reload.
    pub fn templates_revision_key(&self) -> String {
        format!("{}{{templates}}:revision", self.prefix)
    }

    /// A product feed's key of `part`: `{prefix}feed:{NAME}:meta` (a hash
    /// of [`super::feeds::FeedMeta`]), `:lock`, `:generation` (a counter)
    /// and `:items:{N}` (a list of JSON items). The name is the hash tag,
    /// so one transaction switches a feed on a Cluster too; feed names are
    /// identifiers, so they hold no brace.
    pub fn feed_key(&self, feed: &str, part: &str) -> String {
        format!("{}feed:{{{feed}}}:{part}", self.prefix)
    }

    /// A template's report counters of one UTC day (`20261201`): a hash
    /// of `{e}|{variant}|{arm}|{metric}` to counts (`super::reports`). The
    /// template is the hash tag, so a report's days are on one slot.
    pub fn report_key(&self, template: &str, day: &str) -> String {
        [self.prefix.as_str(), "rep:{", template, "}:", day].concat()
    }

    /// The HyperLogLog of the recipients behind one field group and set
    /// (`{e}|{variant}|{arm}|{set}`) of a template's day.
    pub fn report_unique_key(&self, template: &str, day: &str, group_set: &str) -> String {
        [
            self.prefix.as_str(),
            "rep:{",
            template,
            "}:",
            day,
            ":u:",
            group_set,
        ]
        .concat()
    }

    /// An experiment arm's HyperLogLog of the people in `set` (`exposed`,
    /// `click`, `conversion`); the experiment id is the hash tag.
    pub fn experiment_key(&self, experiment: &str, arm: &str, set: &str) -> String {
        [
            self.prefix.as_str(),
            "exp:{",
            experiment,
            "}:",
            arm,
            ":",
            set,
        ]
        .concat()
    }

    /// An experiment's decision: a hash of `winner`, `at` and `by`.
    pub fn experiment_winner_key(&self, experiment: &str) -> String {
        format!("{}exp:{{{experiment}}}:winner", self.prefix)
    }

    /// A conversion id already counted, kept as long as the reports.
    pub fn conversion_key(&self, id_hash: &str) -> String {
        format!("{}conv:{id_hash}", self.prefix)
    }

    /// The events stream.
    pub fn events_key(&self) -> String {
        format!("{}events", self.prefix)
    }
}

impl Default for KeyScheme {
    /// The documented default prefix, `ot:`.
    fn default() -> KeyScheme {
        KeyScheme {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> RecipientId {
        RecipientId::new(raw).expect("test ids are valid")
    }

    #[test]
    fn profile_key_is_exactly_the_documented_one() {
        let keys = KeyScheme::default();
        assert_eq!(keys.profile_key(&id("alice")), "ot:r:{alice}");
        let keys = KeyScheme::new("acme:prod:").expect("prefix without braces");
        assert_eq!(keys.profile_key(&id("42")), "acme:prod:r:{42}");
        assert_eq!(
            KeyScheme::new("")
                .expect("empty prefix")
                .profile_key(&id("a")),
            "r:{a}"
        );
    }

    #[test]
    fn other_keys_share_the_hash_tag() {
        let keys = KeyScheme::default();
        assert_eq!(
            keys.recipient_key(&id("alice"), "prefs"),
            "ot:r:{alice}:prefs"
        );
        assert!(
            keys.recipient_key(&id("alice"), "opens")
                .starts_with(&keys.profile_key(&id("alice")))
        );
    }

    #[test]
    fn ids_with_braces_cannot_collide_with_other_keys() {
        let keys = KeyScheme::default();
        // Without the "last brace closes the id" rule these two would be equal.
        let crafted = keys.profile_key(&id("alice}:prefs"));
        assert_ne!(crafted, keys.recipient_key(&id("alice"), "prefs"));
    }

    #[test]
    fn record_keys_are_the_documented_ones() {
        let keys = KeyScheme::default();
        let alice = id("alice");
        assert_eq!(keys.shown_key(&alice), "ot:r:{alice}:shown");
        assert_eq!(keys.lock_key(&alice, "card"), "ot:r:{alice}:lock:card");
        assert_eq!(keys.code_key(&alice, "bf"), "ot:r:{alice}:code:bf");
        assert_eq!(keys.timer_key(&alice, "offer"), "ot:r:{alice}:timer:offer");
        assert_eq!(keys.last_click_key(&alice), "ot:r:{alice}:last_click");
        assert_eq!(keys.engagement_key(&alice), "ot:r:{alice}:engagement");
        assert_eq!(keys.pool_key("bf"), "ot:pool:bf");
        assert_eq!(keys.prefs_key(&alice), "ot:r:{alice}:prefs");
        assert_eq!(keys.prefs_history_key(&alice), "ot:r:{alice}:prefs_history");
        assert_eq!(keys.events_key(), "ot:events");
        assert_eq!(keys.poll_votes_key("care"), "ot:poll:{care}:votes");
        assert_eq!(keys.poll_tally_key("care"), "ot:poll:{care}:tally");
    }

    #[test]
    fn braces_in_the_prefix_are_refused() {
        assert!(matches!(
            KeyScheme::new("{ot}:"),
            Err(StoreError::Config(_))
        ));
        assert!(matches!(KeyScheme::new("ot}"), Err(StoreError::Config(_))));
    }
}
