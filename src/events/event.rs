//! One engagement event, and how the events stream spells it.
//!
//! Each stream entry holds one field, `event`: a JSON object of the event's
//! fields. That object is a contract with downstream consumers
//! (`docs/events.md`): its names and values only ever grow.

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
    /// A recipient saved the preference center's form.
    Preferences,
    /// The customer's backend reported a sale or sign-up
    /// (`POST /api/v1/conversions`), credited to a click or an open.
    Conversion,
    /// An experiment's winner was declared, by its rule or by hand.
    Experiment,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Open => "open",
            EventKind::Click => "click",
            EventKind::Vote => "vote",
            EventKind::Unsubscribe => "unsubscribe",
            EventKind::Preferences => "preferences",
            EventKind::Conversion => "conversion",
            EventKind::Experiment => "experiment",
        }
    }
}

/// A conversion's value in one currency: as reported (`text`, a plain
/// decimal), and in millionths, which the reports add up exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    pub text: String,
    pub micros: i64,
    /// An ISO 4217 code, upper case.
    pub currency: String,
}

impl Amount {
    /// A value with at most six decimals and a three-letter currency code;
    /// `None` for anything else (a negative value is a refund, kept).
    pub fn new(value: f64, currency: &str) -> Option<Amount> {
        let valid_code = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic());
        if !value.is_finite() || value.abs() > 1e12 || !valid_code {
            return None;
        }
        let micros = (value * 1_000_000.0).round() as i64;
        Some(Amount {
            text: micros_text(micros),
            micros,
            currency: currency.to_ascii_uppercase(),
        })
    }
}

/// Millionths as a plain decimal with no trailing zeros: `49900000` is
/// `49.9`, `-500000` is `-0.5`.
pub fn micros_text(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let whole = micros.unsigned_abs() / 1_000_000;
    let fraction = micros.unsigned_abs() % 1_000_000;
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{fraction:06}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
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
    /// The email of a sequence the URL named (`e`); empty for none.
    pub email: String,
    /// The experiment the variant shown or followed belongs to, and the
    /// recipient's arm in it; both empty outside experiments.
    pub experiment: String,
    pub arm: String,
    /// A conversion's value, when it has one.
    pub amount: Option<Amount>,
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
            email: String::new(),
            experiment: String::new(),
            arm: String::new(),
            amount: None,
            extra: Vec::new(),
            id: random_id(),
        }
    }

    /// The event's fields and values, in the documented order; `at` is its
    /// time as [`format_at`] spells it.
    pub fn fields<'e>(&'e self, at: &'e str) -> Vec<(&'static str, &'e str)> {
        let mut fields = Vec::with_capacity(17 + self.extra.len());
        fields.extend([
            ("type", self.kind.as_str()),
            ("template", self.template.as_str()),
            ("variant", self.variant.as_str()),
            (
                "recipient",
                self.recipient
                    .as_ref()
                    .map_or("", |recipient| recipient.as_str()),
            ),
            ("at", at),
            ("opener", self.opener.as_str()),
            ("person", if self.person { "1" } else { "0" }),
            ("device", self.device.kind),
            ("os", self.device.os),
            ("client", self.device.client),
        ]);
        if !self.render.is_empty() {
            fields.push(("render", self.render.as_str()));
        }
        if !self.email.is_empty() {
            fields.push(("e", self.email.as_str()));
        }
        if !self.experiment.is_empty() {
            fields.push(("experiment", self.experiment.as_str()));
            fields.push(("arm", self.arm.as_str()));
        }
        if let Some(amount) = &self.amount {
            fields.push(("value", amount.text.as_str()));
            fields.push(("currency", amount.currency.as_str()));
        }
        fields.extend(
            self.extra
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
        );
        fields.push(("id", self.id.as_str()));
        fields
    }

    /// The stream entry's `event` value: [`Event::fields`] as one JSON
    /// object of strings. One field rather than a field per name: Redis
    /// adds the entry for about half the work, and a consumer decodes it
    /// with any JSON parser.
    pub fn to_json(&self, at: &str) -> String {
        struct Fields<'e>(Vec<(&'static str, &'e str)>);
        impl serde::Serialize for Fields<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (name, value) in &self.0 {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
        // Sized for the fields as they are (escapes aside), where
        // serde_json's own buffer would grow a few times an event.
        let fields = self.fields(at);
        let room = 2 + fields
            .iter()
            .map(|(name, value)| name.len() + value.len() + 6)
            .sum::<usize>();
        let mut json = Vec::with_capacity(room);
        serde_json::to_writer(&mut json, &Fields(fields))
            .expect("a map of strings always serializes");
        String::from_utf8(json).expect("serde_json writes UTF-8")
    }

    /// The event for the email `email` of a sequence.
    pub fn for_email(mut self, email: Option<&str>) -> Event {
        self.email = email.unwrap_or_default().to_string();
        self
    }

    /// The name of the template's records this event writes: the
    /// template's, or `{template}/{e}` for an email of a sequence.
    pub fn record(&self) -> std::borrow::Cow<'_, str> {
        crate::recipient::record_name(
            &self.template,
            Some(self.email.as_str()).filter(|e| !e.is_empty()),
        )
    }

    /// The day of the event in UTC, as the engagement counters key it
    /// (`20261201`), from its [`format_at`] text.
    pub fn day(at: &str) -> String {
        at.get(..10).unwrap_or_default().replace('-', "")
    }
}

/// RFC 3339 in UTC with milliseconds: sortable as text, and what every
/// consumer's date parser reads. The digits are written one by one: this
/// runs for every event, and `format!` with padded arguments costs
/// several times as much.
pub fn format_at(at: Timestamp) -> String {
    let time = jiff::tz::TimeZone::UTC.to_datetime(at);
    let Ok(year) = u32::try_from(time.year()) else {
        // Before year 0: never a clock's time, spelled as jiff does.
        return format!("{}Z", time.strftime("%Y-%m-%dT%H:%M:%S%.3f"));
    };
    let mut text = String::with_capacity(24);
    let mut digits = |value: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            text.push(char::from(b'0' + digit as u8));
        }
        text.push(after);
    };
    digits(year, 4, '-');
    digits(u32::from(time.month() as u8), 2, '-');
    digits(u32::from(time.day() as u8), 2, 'T');
    digits(u32::from(time.hour() as u8), 2, ':');
    digits(u32::from(time.minute() as u8), 2, ':');
    digits(u32::from(time.second() as u8), 2, '.');
    digits((time.subsec_nanosecond() / 1_000_000) as u32, 3, 'Z');
    text
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
    fn times_are_spelled_in_utc_to_the_millisecond() {
        for (at, text) in [
            ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000Z"),
            ("2026-12-31T23:59:59.999Z", "2026-12-31T23:59:59.999Z"),
            ("1999-02-28T12:00:00.05+02:00", "1999-02-28T10:00:00.050Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ] {
            let at: Timestamp = at.parse().expect("valid");
            assert_eq!(format_at(at), text);
        }
    }

    #[test]
    fn fields_are_the_documented_ones_in_order() {
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
        let at = format_at(event.at);
        let fields = event.fields(&at);
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
        assert_eq!(Event::day(&at), "20261201");
        let json = event.to_json(&at);
        assert!(
            json.starts_with(r#"{"type":"open","template":"renewal","variant":"renewed","recipient":"cust-1","at":"2026-12-01T09:30:00.250Z","#),
            "{json}"
        );
        let decoded: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(decoded.len(), fields.len());
        assert!(decoded.values().all(serde_json::Value::is_string));
        assert_eq!(
            format_at("2026-01-02T03:04:05Z".parse().expect("valid")),
            "2026-01-02T03:04:05.000Z"
        );
    }

    #[test]
    fn amounts_are_exact_millionths() {
        let amount = Amount::new(49.9, "eur").expect("valid");
        assert_eq!(
            (
                amount.micros,
                amount.text.as_str(),
                amount.currency.as_str()
            ),
            (49_900_000, "49.9", "EUR")
        );
        assert_eq!(Amount::new(-0.5, "USD").expect("a refund").text, "-0.5");
        assert_eq!(Amount::new(12.0, "JPY").expect("valid").text, "12");
        assert_eq!(
            Amount::new(0.1234567, "USD").expect("valid").text,
            "0.123457"
        );
        assert!(Amount::new(1.0, "EURO").is_none());
        assert!(Amount::new(f64::NAN, "EUR").is_none());
        assert!(Amount::new(1e13, "EUR").is_none());
    }

    #[test]
    fn ids_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
