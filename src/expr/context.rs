//! The context of one request: the facts the server knows, turned once into
//! the values that every condition and text of the request reads.
//!
//! Building it is the only per-request cost of the expression language beyond
//! evaluation itself (profile fields are typed here, the User-Agent is read
//! here), so conditions and texts evaluated against it share one cheap,
//! reference-counted value.

use std::collections::BTreeMap;

use jiff::Timestamp;
use minijinja::Value;

use super::device::Device;
use super::now::Now;
use super::opener::{Opener, classify};
use super::profile::profile_value;
use crate::recipient::Profile;

/// What is known about one request, before it is turned into a context.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    /// `None` when there is no recipient or no state for them.
    pub profile: Option<Profile>,
    /// The template's declared query parameters, already length-checked.
    pub query: BTreeMap<String, String>,
    pub now: Timestamp,
    pub user_agent: Option<String>,
    /// HEAD requests are a scanner's mark.
    pub is_head: bool,
    /// Who is behind the request, when the server has classified it with
    /// its configured rules and the client's address; `None` classifies the
    /// User-Agent and method with the shipped rules.
    pub opener: Option<Opener>,
}

/// The evaluated context of one request.
#[derive(Debug, Clone)]
pub struct Context {
    pub opener: Opener,
    pub device: Device,
    /// `now` in the recipient's zone, as expressions see it.
    pub now: Now,
    /// The root value expressions evaluate against: a map of `profile`,
    /// `query`, `now`, `device` and `opener` (and `timer`, `coupon`,
    /// `poll` or `prefs` for the templates that have them).
    value: Value,
    /// The entries of `value`, to add one.
    fields: Vec<(&'static str, Value)>,
}

impl Context {
    pub fn new(facts: &RequestFacts) -> Context {
        let user_agent = facts.user_agent.as_deref();
        let opener = facts
            .opener
            .unwrap_or_else(|| classify(user_agent, facts.is_head));
        let device = Device::from_user_agent(user_agent);
        let now = Now::new(facts.now, facts.profile.as_ref());
        let query = Value::from_pairs(
            facts
                .query
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        let fields = vec![
            ("profile", profile_value(facts.profile.as_ref())),
            ("query", query),
            ("now", now.to_value()),
            ("device", device.to_value()),
            ("opener", Value::from(opener.as_str())),
        ];
        Context {
            opener,
            device,
            now,
            value: Value::from_pairs(fields.clone()),
            fields,
        }
    }

    /// This context with one more top-level name, such as `timer`.
    pub fn with(&self, name: &'static str, value: Value) -> Context {
        let mut fields = self.fields.clone();
        fields.retain(|(existing, _)| *existing != name);
        fields.push((name, value));
        Context {
            opener: self.opener,
            device: self.device,
            now: self.now.clone(),
            value: Value::from_pairs(fields.clone()),
            fields,
        }
    }

    /// This context with another opener class, for a click that its timing
    /// shows to be a scanner's.
    pub fn with_opener(&self, opener: Opener) -> Context {
        let mut context = self.with("opener", Value::from(opener.as_str()));
        context.opener = opener;
        context
    }

    /// The root value, for evaluation. Cloning it is a reference count.
    pub(crate) fn value(&self) -> Value {
        self.value.clone()
    }
}
