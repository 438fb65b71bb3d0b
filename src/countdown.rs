//! Deadlines of countdown templates, and the timer state that rules read.
//!
//! A template's `timer.until` is a text template, so the deadline can come
//! from the template itself (`"2026-12-01T00:00:00Z"`), a signed URL
//! parameter (`"{{ query.until }}"`) or the recipient's profile
//! (`"{{ profile.renews_on }}"`). It resolves per request to an RFC 3339
//! moment with an offset, a date and time with its zone in brackets
//! (`2026-12-01T18:00[America/New_York]`), or a civil date or date and time
//! read in an IANA time zone: the template's `time_zone`, else the recipient's
//! (their `time_zone` field, else the zone they were located in, else UTC:
//! `now`'s; the caller picks it). The time left is counted from the request's
//! moment on the server's clock, never from anything the mail client says.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use minijinja::Value;

/// Why a deadline could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("the deadline is empty")]
    Empty,
    #[error(
        "the deadline {0:?} is not an RFC 3339 moment, a date (2026-12-01) or a date and time (2026-12-01T18:00)"
    )]
    Unparsable(String),
}

/// Reads a resolved deadline; one without an offset is read in `zone`.
pub fn parse_deadline(text: &str, zone: &TimeZone) -> Result<Timestamp, DeadlineError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DeadlineError::Empty);
    }
    if let Ok(moment) = text.parse::<Timestamp>() {
        return Ok(moment);
    }
    if let Ok(zoned) = text.parse::<Zoned>() {
        return Ok(zoned.timestamp());
    }
    let civil = if let Ok(datetime) = text.parse::<DateTime>() {
        datetime
    } else if let Ok(date) = text.parse::<Date>() {
        date.to_datetime(jiff::civil::Time::midnight())
    } else {
        return Err(DeadlineError::Unparsable(shorten(text)));
    };
    civil
        .to_zoned(zone.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|_| DeadlineError::Unparsable(shorten(text)))
}

/// Where a request stands against its template's deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerState {
    /// `None` when the deadline did not resolve or parse.
    pub deadline: Option<Timestamp>,
    /// Whole seconds left at the request, 0 once the deadline has passed.
    pub seconds_left: i64,
}

impl TimerState {
    /// The state at `now` of a deadline that resolved (or did not).
    pub fn at(deadline: Option<Timestamp>, now: Timestamp) -> TimerState {
        let seconds_left = deadline.map_or(0, |deadline| {
            // Whole seconds, rounded down: at 10.9 s left the timer shows
            // 10, and it reaches 0 exactly at the deadline.
            (deadline.as_millisecond() - now.as_millisecond())
                .max(0)
                .div_euclid(1000)
        });
        TimerState {
            deadline,
            seconds_left,
        }
    }

    /// At or after the deadline, or without one: the template's rules show
    /// its expired variant (`"when": "timer.expired"`), never a row of
    /// zeros unless the template asks for them.
    pub fn expired(&self) -> bool {
        self.deadline.is_none() || self.seconds_left <= 0
    }

    /// The `timer` object of expressions: `expired`, `seconds_left`,
    /// `valid` (the deadline parsed) and `deadline` (RFC 3339, or none).
    pub fn to_value(&self) -> Value {
        Value::from_pairs([
            ("expired", Value::from(self.expired())),
            ("seconds_left", Value::from(self.seconds_left)),
            ("valid", Value::from(self.deadline.is_some())),
            (
                "deadline",
                self.deadline.map_or(Value::from(()), |deadline| {
                    Value::from(deadline.to_string())
                }),
            ),
        ])
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn deadlines_read_as_moments_dates_and_zoned_times() {
        let zone = |name: &str| TimeZone::get(name).expect("a zone");
        let utc = TimeZone::UTC;
        let cases = [
            ("2026-12-01T00:00:00Z", &utc, "2026-12-01T00:00:00Z"),
            ("2026-12-01T09:30:00+09:00", &utc, "2026-12-01T00:30:00Z"),
            ("2026-12-01", &utc, "2026-12-01T00:00:00Z"),
            ("2026-12-01", &zone("Europe/Paris"), "2026-11-30T23:00:00Z"),
            (
                "2026-12-01T18:00",
                &zone("America/New_York"),
                "2026-12-01T23:00:00Z",
            ),
            (" 2026-12-01 ", &utc, "2026-12-01T00:00:00Z"),
            (
                "2026-12-01T00:00:00+01:00[Europe/Paris]",
                &utc,
                "2026-11-30T23:00:00Z",
            ),
            // A zone in brackets wins over the default zone: one signed
            // URL parameter can carry a local time and its zone.
            (
                "2026-12-01T18:00[America/New_York]",
                &utc,
                "2026-12-01T23:00:00Z",
            ),
            (
                "2026-12-01T18:00:00[Asia/Tokyo]",
                &utc,
                "2026-12-01T09:00:00Z",
            ),
            // An offset wins over the zone.
            (
                "2026-12-01T00:00:00Z",
                &zone("Asia/Tokyo"),
                "2026-12-01T00:00:00Z",
            ),
        ];
        for (text, zone, expected) in cases {
            assert_eq!(parse_deadline(text, zone), Ok(at(expected)), "{text}");
        }
    }

    #[test]
    fn bad_deadlines_say_what_is_wrong() {
        let utc = TimeZone::UTC;
        assert_eq!(parse_deadline("  ", &utc), Err(DeadlineError::Empty));
        for text in [
            "next tuesday",
            "2026-13-45",
            "2026-12-01T25:00",
            "1733011200",
        ] {
            assert!(
                matches!(
                    parse_deadline(text, &utc),
                    Err(DeadlineError::Unparsable(_))
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn seconds_left_round_down_and_stop_at_zero() {
        let deadline = at("2026-12-01T00:00:00Z");
        let state = TimerState::at(Some(deadline), at("2026-11-30T23:59:49.100Z"));
        assert_eq!(state.seconds_left, 10);
        assert!(!state.expired());
        let state = TimerState::at(Some(deadline), deadline);
        assert_eq!(state.seconds_left, 0);
        assert!(state.expired());
        let state = TimerState::at(Some(deadline), at("2026-12-02T00:00:00Z"));
        assert_eq!(state.seconds_left, 0);
        assert!(TimerState::at(None, deadline).expired());
    }
}
