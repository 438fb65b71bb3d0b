//! `now`: the request time as expressions see it, in the recipient's time
//! zone.
//!
//! It is an object rather than a string so that rules can ask for its parts
//! (`now.hour < 12`, `now.weekday >= 6`) without parsing, while `{{ now }}`
//! still prints something sensible: an RFC 3339 timestamp with the offset of
//! the recipient's zone. The date helpers read the zone from it, which is how
//! they know where the recipient's midnight is.

use std::fmt;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

use crate::recipient::Profile;

/// The profile field holding the recipient's IANA time zone name.
pub const TIME_ZONE_FIELD: &str = "time_zone";

/// The attributes of `now`, in the order `{{ now | list }}` would show.
const ATTRIBUTES: &[&str] = &[
    "year", "month", "day", "hour", "minute", "second", "weekday", "iso", "unix", "date",
];

/// The request time in the recipient's zone, to the second.
#[derive(Debug, Clone)]
pub struct Now {
    zoned: Zoned,
}

impl Now {
    /// `now` for a request at `timestamp` by a recipient with `profile`,
    /// located in `located_zone` (`geo.time_zone`) if at all. The zone is,
    /// in order: the one the profile's `time_zone` field names when it is
    /// a valid IANA name (what the sender knows beats a guess from an
    /// address), the located one when it is valid, else UTC.
    pub fn new(timestamp: Timestamp, profile: Option<&Profile>, located_zone: Option<&str>) -> Now {
        let zone_named = |name: &str| TimeZone::get(name.trim()).ok();
        let time_zone = profile
            .and_then(|profile| profile.get(TIME_ZONE_FIELD))
            .and_then(zone_named)
            .or_else(|| located_zone.and_then(zone_named))
            .unwrap_or(TimeZone::UTC);
        Now::in_zone(timestamp, time_zone)
    }

    /// `now` at `timestamp` in `time_zone`. Sub-second precision is dropped:
    /// nothing an email shows needs it, and whole seconds keep `{{ now }}`
    /// short.
    pub fn in_zone(timestamp: Timestamp, time_zone: TimeZone) -> Now {
        let whole_seconds =
            Timestamp::from_second(timestamp.as_second()).unwrap_or(Timestamp::UNIX_EPOCH);
        Now {
            zoned: whole_seconds.to_zoned(time_zone),
        }
    }

    /// The instant with the recipient's zone, for the date helpers.
    pub fn zoned(&self) -> &Zoned {
        &self.zoned
    }

    /// RFC 3339 with the zone's offset, e.g. `2025-03-14T09:30:00+01:00`.
    pub fn iso(&self) -> String {
        self.zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// The value an expression sees as `now`.
    pub fn to_value(&self) -> Value {
        Value::from_object(self.clone())
    }
}

impl Object for Now {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        // Plain, not Map: `{{ now }}` must print the timestamp, not a dict.
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let zoned = &self.zoned;
        let value = match key.as_str()? {
            "year" => Value::from(zoned.year()),
            "month" => Value::from(zoned.month()),
            "day" => Value::from(zoned.day()),
            "hour" => Value::from(zoned.hour()),
            "minute" => Value::from(zoned.minute()),
            "second" => Value::from(zoned.second()),
            "weekday" => Value::from(zoned.weekday().to_monday_one_offset()),
            "iso" => Value::from(self.iso()),
            "unix" => Value::from(zoned.timestamp().as_second()),
            "date" => Value::from(zoned.date().to_string()),
            _ => return None,
        };
        Some(value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(ATTRIBUTES)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iso())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn profile_in(time_zone: &str) -> Profile {
        Profile {
            fields: BTreeMap::from([(TIME_ZONE_FIELD.to_string(), time_zone.to_string())]),
        }
    }

    fn attribute(now: &Now, name: &str) -> Value {
        now.to_value().get_attr(name).expect("attribute lookup")
    }

    #[test]
    fn now_is_in_the_recipients_zone_when_it_is_known() {
        let timestamp: Timestamp = "2025-03-14T23:30:15.250Z".parse().expect("valid timestamp");
        let paris = Now::new(timestamp, Some(&profile_in("Europe/Paris")), None);
        assert_eq!(paris.to_value().to_string(), "2025-03-15T00:30:15+01:00");
        assert_eq!(attribute(&paris, "date"), Value::from("2025-03-15"));
        assert_eq!(attribute(&paris, "day"), Value::from(15));
        assert_eq!(attribute(&paris, "hour"), Value::from(0));
        assert_eq!(attribute(&paris, "minute"), Value::from(30));
        assert_eq!(attribute(&paris, "second"), Value::from(15));
        // 15 March 2025 is a Saturday.
        assert_eq!(attribute(&paris, "weekday"), Value::from(6));
        assert_eq!(
            attribute(&paris, "unix"),
            Value::from(timestamp.as_second())
        );
        assert_eq!(
            attribute(&paris, "iso"),
            Value::from("2025-03-15T00:30:15+01:00")
        );
        assert!(attribute(&paris, "nope").is_undefined());

        for unknown in [None, Some(profile_in("Mars/Olympus")), Some(profile_in(""))] {
            let utc = Now::new(timestamp, unknown.as_ref(), None);
            assert_eq!(utc.iso(), "2025-03-14T23:30:15+00:00");
            assert_eq!(attribute(&utc, "weekday"), Value::from(5));
            assert_eq!(attribute(&utc, "year"), Value::from(2025));
            assert_eq!(attribute(&utc, "month"), Value::from(3));
        }
    }

    #[test]
    fn the_profiles_zone_comes_before_the_located_one_and_utc_last() {
        let timestamp: Timestamp = "2025-07-01T12:00:00Z".parse().expect("valid timestamp");
        let zone_of = |profile: Option<Profile>, located: Option<&str>| {
            Now::new(timestamp, profile.as_ref(), located).iso()
        };
        let tokyo = Some("Asia/Tokyo");
        assert_eq!(
            zone_of(Some(profile_in("Europe/Paris")), tokyo),
            "2025-07-01T14:00:00+02:00"
        );
        assert_eq!(zone_of(None, tokyo), "2025-07-01T21:00:00+09:00");
        // A profile zone that is no zone counts as none.
        assert_eq!(
            zone_of(Some(profile_in("Mars/Olympus")), tokyo),
            "2025-07-01T21:00:00+09:00"
        );
        assert_eq!(
            zone_of(None, Some("Nowhere/Land")),
            "2025-07-01T12:00:00+00:00"
        );
        assert_eq!(zone_of(None, None), "2025-07-01T12:00:00+00:00");
    }
}
