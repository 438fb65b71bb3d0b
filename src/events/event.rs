//! One engagement event, and how the events stream spells it.
//!
//! The stream fields are a contract with downstream consumers
//! (`docs/events.md`): their names and values only ever grow.

use jiff::Timestamp;

use crate::expr::{Device, Opener};
use crate::recipient::RecipientId;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// An image was fetched.
    Open,
    /// A click-through was followed.
    Click,
    /// A poll option was chosen.
    Vote,
    /// A recipient left a list, or all marketing.
    Unsubscribe,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Open => "open",
            EventKind::Click => "click",
            EventKind::Vote => "vote",
            EventKind::Unsubscribe => "unsubscribe",
        }
    }
}

/// One event, as the handlers record it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    /// The template (or poll) the event is about.
    pub template: String,
    /// The variant shown or followed; empty when there is none.
    pub variant: String,
    /// `None` for requests without a verified recipient (test sends).
    pub recipient: Option<RecipientId>,
    pub at: Timestamp,
    pub opener: Opener,
    /// Whether a person is behind it (see `OpenerRules::is_person`): only
    /// such events update `last_open_at`, `opens`, `last_click_at` and
    /// `clicks`.
    pub person: bool,
    pub device: Device,
    /// The render key of an open's image, in hex; empty for other events.
    pub render: String,
    /// Further fields some kinds carry (a vote's option, an unsubscribe's
    /// list), in order.
    pub extra: Vec<(&'static str, String)>,
    /// A random id, so that consumers can drop the duplicates at-least-once
    /// delivery may bring.
    pub id: String,
}

impl Event {
    /// An event of `kind` now, with a fresh id and no extra fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: EventKind,
        template: &str,
        variant: &str,
        recipient: Option<RecipientId>,
        at: Timestamp,
        opener: Opener,
        person: bool,
        device: Device,
    ) -> Event {
        Event {
            kind,
            template: template.to_string(),
            variant: variant.to_string(),
            recipient,
            at,
            opener,
            person,
            device,
            render: String::new(),
            extra: Vec::new(),
            id: random_id(),
        }
    }

    /// The stream entry's fields and values, in the documented order.
    pub fn stream_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("type", self.kind.as_str().to_string()),
            ("template", self.template.clone()),
            ("variant", self.variant.clone()),
            (
                "recipient",
                self.recipient
                    .as_ref()
                    .map(|recipient| recipient.as_str().to_string())
                    .unwrap_or_default(),
            ),
            ("at", format_at(self.at)),
            ("opener", self.opener.as_str().to_string()),
            ("person", if self.person { "1" } else { "0" }.to_string()),
            ("device", self.device.kind.to_string()),
            ("os", self.device.os.to_string()),
            ("client", self.device.client.to_string()),
        ];
        if !self.render.is_empty() {
            fields.push(("render", self.render.clone()));
        }
        fields.extend(self.extra.iter().cloned());
        fields.push(("id", self.id.clone()));
        fields
    }

    /// The day of the event in UTC, as the engagement counters key it
    /// (`20261201`).
    pub fn day(&self) -> String {
        self.at.strftime("%Y%m%d").to_string()
    }
}

/// RFC 3339 in UTC with milliseconds: sortable as text, and what every
/// consumer's date parser reads.
pub fn format_at(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// 64 random bits in hex, from the process's hasher keys (random per
/// process) and a counter: unique enough to deduplicate, and no extra
/// dependency.
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static STATE: std::sync::LazyLock<std::collections::hash_map::RandomState> =
        std::sync::LazyLock::new(std::collections::hash_map::RandomState::new);
    let mut hasher = STATE.build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_fields_are_the_documented_ones_in_order() {
        let mut event = Event::new(
            EventKind::Open,
            "renewal",
            "renewed",
            Some(RecipientId::new("cust-1").expect("valid id")),
            "2026-12-01T09:30:00.25Z".parse().expect("valid time"),
            Opener::Human,
            true,
            Device::from_user_agent(Some(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            )),
        );
        event.render = "ab12".into();
        let fields = event.stream_fields();
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "type",
                "template",
                "variant",
                "recipient",
                "at",
                "opener",
                "person",
                "device",
                "os",
                "client",
                "render",
                "id"
            ]
        );
        assert_eq!(fields[3].1, "cust-1");
        assert_eq!(fields[4].1, "2026-12-01T09:30:00.250Z");
        assert_eq!(fields[7].1, "mobile");
        assert_eq!(fields[8].1, "ios");
        assert_eq!(event.day(), "20261201");
    }

    #[test]
    fn ids_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
