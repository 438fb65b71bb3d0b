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
use super::fields::{Fields, Names};
use super::now::Now;
use super::opener::{Opener, classify};
use super::profile::profile_value;
use crate::geo::Location;
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
    /// Where the reader is, when the request came straight from them and
    /// a city database knows their address; `geo` is empty otherwise.
    pub geo: Option<Location>,
}

/// The evaluated context of one request.
#[derive(Debug, Clone)]
pub struct Context {
    pub opener: Opener,
    pub device: Device,
    /// `now` in the recipient's zone, as expressions see it.
    pub now: Now,
    /// The root value expressions evaluate against: a map of `profile`,
    /// `query`, `now`, `device`, `opener` and `geo` (and `timer`, `coupon`,
    /// `poll` or `prefs` for the templates that have them).
    /// Always a [`Names`], whose entries `with_all` starts from.
    value: Value,
}

impl Context {
    pub fn new(facts: &RequestFacts) -> Context {
        let user_agent = facts.user_agent.as_deref();
        let opener = facts
            .opener
            .unwrap_or_else(|| classify(user_agent, facts.is_head));
        let device = Device::from_user_agent(user_agent);
        let geo = facts.geo.as_ref();
        let now = Now::new(
            facts.now,
            facts.profile.as_ref(),
            geo.and_then(|geo| geo.time_zone.as_deref()),
        );
        let query = Fields::new(
            facts
                .query
                .iter()
                .map(|(name, value)| (name.as_str(), Value::from(value.as_str()))),
        )
        .into_value();
        let fields = vec![
            ("profile", profile_value(facts.profile.as_ref())),
            ("query", query),
            ("now", now.to_value()),
            ("device", device.to_value()),
            ("opener", Value::from(opener.as_str())),
            ("geo", geo_value(geo)),
        ];
        Context {
            opener,
            device,
            now,
            value: Names::value(fields),
        }
    }

    /// This context with one more top-level name, such as `timer`.
    pub fn with(&self, name: &'static str, value: Value) -> Context {
        self.with_all([(name, value)])
    }

    /// This context with several more top-level names, built once.
    pub fn with_all(&self, entries: impl IntoIterator<Item = (&'static str, Value)>) -> Context {
        let mut fields = self
            .value
            .downcast_object_ref::<Names>()
            .map_or_else(Vec::new, |names| names.entries().to_vec());
        for (name, value) in entries {
            fields.retain(|(existing, _)| *existing != name);
            fields.push((name, value));
        }
        Context {
            opener: self.opener,
            device: self.device,
            now: self.now.clone(),
            value: Names::value(fields),
        }
    }

    /// This context with another opener class, for a click that its timing
    /// shows to be a scanner's: whose address says nothing of the reader,
    /// so `geo` is emptied too (`now` keeps its zone).
    pub fn with_opener(&self, opener: Opener) -> Context {
        let mut context = self
            .with("opener", Value::from(opener.as_str()))
            .with("geo", geo_value(None));
        context.opener = opener;
        context
    }

    /// The root value, for evaluation. Cloning it is a reference count.
    pub(crate) fn value(&self) -> Value {
        self.value.clone()
    }
}

/// `geo` as rules read it: a map of the fields the database knows, so that
/// a missing one is undefined (`geo.country | default("US")`), and an empty
/// map when the reader was not located.
fn geo_value(location: Option<&Location>) -> Value {
    let fields = location.map(Location::fields).unwrap_or_default();
    Fields::new(
        fields
            .into_iter()
            .map(|(name, value)| (name, Value::from(value))),
    )
    .into_value()
}
