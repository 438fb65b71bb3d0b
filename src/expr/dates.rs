//! The date helpers: `days_until`, `days_since`, `hours_until`,
//! `hours_since` and the `date` filter.
//!
//! They all read dates the same way ([`parse_moment`]) and relative to the
//! same clock: the request's `now`, looked up in the evaluation state, whose
//! zone is the recipient's. So `{{ days_until(profile.renews_on) }}` needs no
//! extra argument, and a recipient in Tokyo and one in Paris each see the
//! count of their own midnights.
//!
//! `date` writes a date either with a strftime format (`date("%d %B")`,
//! English names) or as a locale writes it (`date("ru")`, `date(locale=
//! "en-GB", year=true)`: "8 декабря", "8 December 2026"), from CLDR
//! (`words::dates`). A first argument with a `%` in it is a format;
//! otherwise it is a locale.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Unit, Zoned};
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};

use super::now::Now;
use crate::words::dates::{DateLength, DateStyle, format_date};
use crate::words::read_locale;

/// The format of the `date` filter when none is given.
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d";

/// Whole calendar days from today to the date, in the recipient's zone:
/// tomorrow is 1 whatever the hour, today 0, yesterday -1. Undefined in,
/// undefined out, so `days_until(profile.x) | default(...)` works.
pub(crate) fn days_until(state: &State, date: Option<Value>) -> Result<Value, Error> {
    between(state, date, "days_until", |now, target| {
        calendar_days_between(now.date(), target.date()).map(Value::from)
    })
}

/// `days_until` with the sign flipped: a date in the past gives a positive
/// count.
pub(crate) fn days_since(state: &State, date: Option<Value>) -> Result<Value, Error> {
    between(state, date, "days_since", |now, target| {
        calendar_days_between(target.date(), now.date()).map(Value::from)
    })
}

/// Whole hours from now to the moment, truncated toward zero (59 minutes is
/// 0). A bare date means its midnight in the recipient's zone.
pub(crate) fn hours_until(state: &State, date: Option<Value>) -> Result<Value, Error> {
    between(state, date, "hours_until", |now, target| {
        Ok(Value::from(whole_hours_between(
            now.timestamp(),
            target.timestamp(),
        )))
    })
}

/// `hours_until` with the sign flipped.
pub(crate) fn hours_since(state: &State, date: Option<Value>) -> Result<Value, Error> {
    between(state, date, "hours_since", |now, target| {
        Ok(Value::from(whole_hours_between(
            target.timestamp(),
            now.timestamp(),
        )))
    })
}

/// The shared part of the four helpers above: undefined in, undefined out;
/// otherwise the request's now and the parsed date, both in the recipient's
/// zone, handed to `measure`.
fn between(
    state: &State,
    date: Option<Value>,
    helper: &str,
    measure: impl FnOnce(&Zoned, &Zoned) -> Result<Value, Error>,
) -> Result<Value, Error> {
    let Some(date) = date else {
        return Ok(Value::UNDEFINED);
    };
    let now = request_now(state, helper)?;
    let target = parse_moment(&date, now.zoned().time_zone(), helper)?;
    measure(now.zoned(), &target)
}

/// `value | date(format)`: the moment shown in the recipient's zone with a
/// strftime-style format (jiff's `strftime`). Timestamps are converted to the
/// recipient's zone first, so an evening UTC deadline shows as the next day in
/// Tokyo, which is what that recipient's calendar says.
///
/// `value | date(locale, length="long", year=false, weekday=false)`: the
/// day and month of that same calendar day as the locale writes them.
pub(crate) fn date(
    state: &State,
    value: Value,
    format_or_locale: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let named_locale: Option<String> = kwargs.get("locale")?;
    let length: Option<String> = kwargs.get("length")?;
    let year: Option<bool> = kwargs.get("year")?;
    let weekday: Option<bool> = kwargs.get("weekday")?;
    kwargs.assert_all_used()?;
    let format = format_or_locale
        .as_deref()
        .filter(|text| text.contains('%') || text.is_empty());
    let positional_locale = format_or_locale.as_deref().filter(|_| format.is_none());
    let locale = match (named_locale.as_deref(), positional_locale) {
        (Some(_), Some(_)) => return Err(date_error("give the locale once")),
        (named, positional) => named.or(positional),
    };
    let asks_words = length.is_some() || year.is_some() || weekday.is_some();
    if format.is_some() && (locale.is_some() || asks_words) {
        return Err(date_error(
            "a strftime format and a locale exclude each other; give one",
        ));
    }
    if locale.is_none() && asks_words {
        return Err(date_error(
            "length, year and weekday need a locale: date(\"en-GB\", ...)",
        ));
    }
    let style = DateStyle {
        length: match length.as_deref() {
            None => DateLength::default(),
            Some(name) => DateLength::from_name(name)
                .ok_or_else(|| date_error("length is \"long\", \"medium\" or \"short\""))?,
        },
        year: year.unwrap_or(false),
        weekday: weekday.unwrap_or(false),
    };
    if value.is_undefined() || value.is_none() {
        return Ok(Value::UNDEFINED);
    }
    let now = request_now(state, "date")?;
    let moment = parse_moment(&value, now.zoned().time_zone(), "date")?;
    if let Some(locale) = locale {
        let day = moment.date();
        return format_date(
            &read_locale(locale),
            (i32::from(day.year()), day.month() as u8, day.day() as u8),
            style,
        )
        .map(Value::from)
        .ok_or_else(|| date_error("the date is outside the Gregorian calendar's range"));
    }
    let format = format.unwrap_or(DEFAULT_DATE_FORMAT);
    jiff::fmt::strtime::format(format, &moment)
        .map(Value::from)
        .map_err(|error| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("date: cannot format with {format:?}: {error}"),
            )
        })
}

fn date_error(message: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("date: {message}"))
}

/// Reads a date argument as a moment in `time_zone`:
///
/// - `"YYYY-MM-DD"`: the start of that day in `time_zone`;
/// - an RFC 3339 / ISO-8601 timestamp with an offset or `Z`
///   (`2025-03-14T09:30:00+01:00`): that instant;
/// - an ISO-8601 date and time without offset (`2025-03-14T09:30:00`): that
///   wall-clock time in `time_zone`;
/// - an integer: seconds since the Unix epoch;
/// - `now` itself.
///
/// The error never quotes the value: it may be a recipient's personal data,
/// and errors end up in logs.
pub(crate) fn parse_moment(
    value: &Value,
    time_zone: &TimeZone,
    helper: &str,
) -> Result<Zoned, Error> {
    if let Some(now) = value.downcast_object_ref::<Now>() {
        return Ok(now.zoned().with_time_zone(time_zone.clone()));
    }
    match value.kind() {
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default().trim();
            parse_text_moment(text, time_zone).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "{helper}: the string is not a date (expected YYYY-MM-DD, \
                         or an ISO-8601 timestamp such as 2025-03-14T09:30:00Z)"
                    ),
                )
            })
        }
        ValueKind::Number if value.is_integer() => value
            .as_i64()
            .and_then(|seconds| Timestamp::from_second(seconds).ok())
            .map(|timestamp| timestamp.to_zoned(time_zone.clone()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{helper}: the number is out of range for Unix seconds"),
                )
            }),
        kind => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{helper}: expected a date string, Unix seconds or now, got a {kind}"),
        )),
    }
}

fn parse_text_moment(text: &str, time_zone: &TimeZone) -> Option<Zoned> {
    // A bare date first: the timestamp parsers would reject it, and the
    // civil date-time parser would accept it, but the meaning is the same
    // start of day either way, so the order only saves work.
    if text.len() == 10
        && let Ok(date) = text.parse::<Date>()
    {
        return date.to_zoned(time_zone.clone()).ok();
    }
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Some(timestamp.to_zoned(time_zone.clone()));
    }
    if let Ok(date_time) = text.parse::<DateTime>() {
        return date_time.to_zoned(time_zone.clone()).ok();
    }
    None
}

/// The request's `now`, which the context always holds; only a template that
/// shadows it (`{% set now = 1 %}`) can make this fail.
fn request_now(state: &State, helper: &str) -> Result<Now, Error> {
    state
        .lookup("now")
        .and_then(|value| value.downcast_object_ref::<Now>().cloned())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{helper}: `now` is not the request time here (was it reassigned?)"),
            )
        })
}

fn calendar_days_between(from: Date, to: Date) -> Result<i64, Error> {
    from.until((Unit::Day, to))
        .map(|span| i64::from(span.get_days()))
        .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))
}

fn whole_hours_between(from: Timestamp, to: Timestamp) -> i64 {
    // Integer division truncates toward zero, in both directions.
    (to.as_second() - from.as_second()) / 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").expect("bundled tz database")
    }

    #[test]
    fn dates_timestamps_and_unix_seconds_are_read_in_the_recipients_zone() {
        let cases: &[(Value, &str)] = &[
            (
                Value::from("2025-03-14"),
                "2025-03-14T00:00:00+01:00[Europe/Paris]",
            ),
            (
                Value::from(" 2025-03-14 "),
                "2025-03-14T00:00:00+01:00[Europe/Paris]",
            ),
            (
                Value::from("2025-03-14T09:30:00Z"),
                "2025-03-14T10:30:00+01:00[Europe/Paris]",
            ),
            (
                Value::from("2025-03-14T09:30:00-05:00"),
                "2025-03-14T15:30:00+01:00[Europe/Paris]",
            ),
            (
                Value::from("2025-03-14 09:30:00Z"),
                "2025-03-14T10:30:00+01:00[Europe/Paris]",
            ),
            (
                Value::from("2025-03-14T09:30:00"),
                "2025-03-14T09:30:00+01:00[Europe/Paris]",
            ),
            (
                Value::from(1_741_944_600),
                "2025-03-14T10:30:00+01:00[Europe/Paris]",
            ),
        ];
        for (value, expected) in cases {
            let moment = parse_moment(value, &paris(), "test").expect("a readable date");
            assert_eq!(moment.to_string(), *expected, "reading {value:?}");
        }
    }

    #[test]
    fn unreadable_dates_are_errors_that_do_not_quote_the_value() {
        for value in [
            Value::from("14/03/2025"),
            Value::from("secret-value"),
            Value::from("2025-13-01"),
            Value::from(true),
            Value::from(1.5),
        ] {
            let error = parse_moment(&value, &paris(), "days_until").expect_err("not a date");
            let message = error.to_string();
            assert!(message.contains("days_until"), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }

    #[test]
    fn hours_truncate_toward_zero() {
        let at = |text: &str| text.parse::<Timestamp>().expect("valid timestamp");
        let now = at("2025-03-14T10:00:00Z");
        assert_eq!(whole_hours_between(now, at("2025-03-14T10:59:59Z")), 0);
        assert_eq!(whole_hours_between(now, at("2025-03-14T11:00:00Z")), 1);
        assert_eq!(whole_hours_between(now, at("2025-03-14T09:00:01Z")), 0);
        assert_eq!(whole_hours_between(now, at("2025-03-14T09:00:00Z")), -1);
    }
}
