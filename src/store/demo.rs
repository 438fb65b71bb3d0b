//! The demo recipients that seed the embedded store, read from
//! `{demo_dir}/recipients.json`.
//!
//! # Format
//! One JSON object whose keys are recipient ids and whose values are objects
//! of profile fields, exactly what `HSET {prefix}r:{ID} field value ...` would
//! hold in Redis:
//!
//! ```json
//! {
//!   "alice": { "first_name": "Alice", "renewed_at": "2025-03-01", "points": 120, "vip": true },
//!   "bob":   { "first_name": "Bob", "plan": "pro" }
//! }
//! ```
//!
//! Field values may be strings, numbers or booleans; numbers and booleans are
//! stored as their JSON spelling (`120`, `1.5`, `true`) because Redis holds
//! only strings and rules type them when they read them. Anything else
//! (`null`, arrays, nested objects) is refused rather than guessed at, with
//! the line and column of the offending value. Recipient ids follow the rules
//! of [`RecipientId::new`].
//!
//! # Coupon pools
//! `{demo_dir}/pools.json`, when present, holds the demo's coupon pools: an
//! object of pool names and arrays of codes, as `SADD {prefix}pool:{name}`
//! would load them.
//!
//! # Relative dates
//! So that the demo shows every variant whatever day it runs, a string value
//! may be written relative to the moment the store is seeded:
//! `"@date(+5)"` is the date five days from now (`YYYY-MM-DD`, UTC) and
//! `"@time(-1)"` the RFC 3339 timestamp one day ago. Only the demo file reads
//! this notation; Redis holds whatever the customer's systems wrote.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};

use crate::recipient::RecipientId;

use super::StoreError;

/// The file name inside the demo directory.
pub const DEMO_FILE_NAME: &str = "recipients.json";

/// The demo's coupon pools, inside the demo directory.
pub const POOLS_FILE_NAME: &str = "pools.json";

/// The demo's coupon pools; none when the file is absent.
pub fn load_demo_pools(demo_dir: &Path) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let path = demo_dir.join(POOLS_FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(error) => {
            return Err(StoreError::Config(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    serde_json::from_str(&text).map_err(|error| {
        StoreError::Config(format!(
            "{}: an object of pool names and arrays of codes: {error}",
            path.display()
        ))
    })
}

/// Reads and checks the demo file of `demo_dir`.
pub fn load_demo_recipients(
    demo_dir: &Path,
) -> Result<HashMap<RecipientId, BTreeMap<String, String>>, StoreError> {
    let path = demo_dir.join(DEMO_FILE_NAME);
    let problem =
        |what: String| StoreError::Config(format!("demo file {}: {what}", path.display()));
    let text = std::fs::read_to_string(&path).map_err(|error| problem(error.to_string()))?;
    parse_demo_recipients(&text).map_err(problem)
}

/// Parses the text of a demo file; the error is a sentence without the path.
pub fn parse_demo_recipients(
    text: &str,
) -> Result<HashMap<RecipientId, BTreeMap<String, String>>, String> {
    let raw: BTreeMap<String, BTreeMap<String, DemoValue>> =
        serde_json::from_str(text).map_err(|error| error.to_string())?;
    let now = jiff::Timestamp::now();
    raw.into_iter()
        .map(|(id, fields)| {
            // The id itself stays out of the message: ids are personal data
            // in real deployments, and a bad one here is empty or odd anyway.
            let id = RecipientId::new(id)
                .map_err(|error| format!("a recipient id is invalid: {error}"))?;
            let fields = fields
                .into_iter()
                .map(|(name, value)| {
                    let value = expand_relative_date(&value.0, now).unwrap_or(value.0);
                    (name, value)
                })
                .collect();
            Ok((id, fields))
        })
        .collect()
}

/// Expands `@date(+N)` and `@time(-N)` (days from `now`); `None` for any
/// other value, which is kept as written.
fn expand_relative_date(value: &str, now: jiff::Timestamp) -> Option<String> {
    let (kind, days) = value
        .strip_prefix('@')?
        .strip_suffix(')')?
        .split_once('(')?;
    let days: i64 = days.strip_prefix('+').unwrap_or(days).parse().ok()?;
    let at = now
        .checked_add(jiff::SignedDuration::from_hours(days.checked_mul(24)?))
        .ok()?;
    match kind {
        "date" => Some(at.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()),
        "time" => Some(at.round(jiff::Unit::Second).ok()?.to_string()),
        _ => None,
    }
}

/// A field value as the demo file may spell it, already turned into the
/// string Redis would hold.
struct DemoValue(String);

impl<'de> serde::Deserialize<'de> for DemoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DemoValue, D::Error> {
        deserializer.deserialize_any(DemoValueVisitor)
    }
}

struct DemoValueVisitor;

impl Visitor<'_> for DemoValueVisitor {
    type Value = DemoValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string, number or boolean field value")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<DemoValue, E> {
        Ok(DemoValue(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<DemoValue, E> {
        Ok(DemoValue(value))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<DemoValue, E> {
        Ok(DemoValue(value.to_string()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<DemoValue, E> {
        Ok(DemoValue(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<DemoValue, E> {
        Ok(DemoValue(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<DemoValue, E> {
        // Rust prints the shortest text that reads back as the same number,
        // so `1.5` stays `1.5` rather than becoming `1.5000000000000000`.
        Ok(DemoValue(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates_expand_from_now() {
        let now: jiff::Timestamp = "2026-11-22T10:30:00Z".parse().unwrap();
        let expand = |value: &str| expand_relative_date(value, now);
        assert_eq!(expand("@date(+5)").as_deref(), Some("2026-11-27"));
        assert_eq!(expand("@date(-2)").as_deref(), Some("2026-11-20"));
        assert_eq!(expand("@date(0)").as_deref(), Some("2026-11-22"));
        assert_eq!(expand("@time(-1)").as_deref(), Some("2026-11-21T10:30:00Z"));
        for kept in [
            "@date",
            "@date(x)",
            "@week(+1)",
            "date(+1)",
            "alice@example.com",
            "",
        ] {
            assert_eq!(expand(kept), None, "{kept}");
        }
    }

    fn field<'a>(
        recipients: &'a HashMap<RecipientId, BTreeMap<String, String>>,
        id: &str,
        name: &str,
    ) -> Option<&'a str> {
        let id = RecipientId::new(id).expect("test ids are valid");
        recipients.get(&id)?.get(name).map(String::as_str)
    }

    #[test]
    fn scalars_become_the_strings_redis_would_hold() {
        let recipients = parse_demo_recipients(
            r#"{ "alice": { "name": "Alice", "points": 120, "ratio": 1.5, "debt": -3, "vip": true },
                 "bob": {} }"#,
        )
        .expect("valid demo file");
        assert_eq!(field(&recipients, "alice", "name"), Some("Alice"));
        assert_eq!(field(&recipients, "alice", "points"), Some("120"));
        assert_eq!(field(&recipients, "alice", "ratio"), Some("1.5"));
        assert_eq!(field(&recipients, "alice", "debt"), Some("-3"));
        assert_eq!(field(&recipients, "alice", "vip"), Some("true"));
        assert_eq!(recipients.len(), 2);
    }

    #[test]
    fn other_values_are_refused_with_their_place() {
        let error = parse_demo_recipients("{\n \"alice\": { \"name\": null } }")
            .expect_err("null is refused");
        assert!(error.contains("string, number or boolean"), "{error}");
        assert!(error.contains("line 2"), "{error}");
        let error = parse_demo_recipients(r#"{ "alice": { "tags": ["a"] } }"#)
            .expect_err("arrays are refused");
        assert!(error.contains("string, number or boolean"), "{error}");
        assert!(parse_demo_recipients(r#"["alice"]"#).is_err());
        assert!(parse_demo_recipients(r#"{ "alice": "Alice" }"#).is_err());
    }

    #[test]
    fn bad_ids_are_refused_without_being_echoed() {
        let error = parse_demo_recipients(r#"{ "": { "name": "Nobody" } }"#).expect_err("empty id");
        assert!(error.contains("recipient id"), "{error}");
        assert!(!error.contains("Nobody"), "{error}");
    }

    #[test]
    fn a_missing_file_names_the_file() {
        let dir = std::env::temp_dir().join("opentime-no-such-demo-dir");
        let error = load_demo_recipients(&dir).expect_err("no file there");
        let message = error.to_string();
        assert!(matches!(error, StoreError::Config(_)));
        assert!(message.contains("recipients.json"), "{message}");
    }

    #[test]
    fn the_shipped_demo_file_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
        let recipients = load_demo_recipients(&dir).expect("assets/demo/recipients.json is valid");
        assert!(recipients.len() >= 3);
    }
}
