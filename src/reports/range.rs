//! A report's days: a range of UTC dates asked for as `from` and `to`
//! (`YYYY-MM-DD`, both included), checked against today and against what
//! the store still keeps (`report_retention_days`).

use jiff::civil::Date;

/// How many days a report covers when it is asked for without `from`.
pub const DEFAULT_DAYS: i32 = 30;

/// Days of UTC, `from` to `to`, both included, `from <= to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: Date,
    pub to: Date,
}

/// Why a range was refused; each message names the value and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("{field} is a date like 2026-12-01 (YYYY-MM-DD, UTC), not {text:?}")]
    NotADate { field: &'static str, text: String },
    #[error("{field} ({date}) is after today ({today}, UTC): no day ahead has counts")]
    Ahead {
        field: &'static str,
        date: Date,
        today: Date,
    },
    #[error("from ({from}) is after to ({to})")]
    Reversed { from: Date, to: Date },
    #[error(
        "from ({from}) is before {oldest}, the oldest day kept: counts are kept for \
         report_retention_days ({days}) days"
    )]
    TooOld { from: Date, oldest: Date, days: u32 },
}

impl DateRange {
    /// The range a request asks for. Without `to` it ends today; without
    /// `from` it is the [`DEFAULT_DAYS`] days ending at `to`. Neither end
    /// may be after `today`, and `from` may not be before the oldest day
    /// the store keeps, `retention_days` before today.
    pub fn asked(
        from: Option<&str>,
        to: Option<&str>,
        today: Date,
        retention_days: u32,
    ) -> Result<DateRange, RangeError> {
        let from = from.map(|text| parse_day("from", text)).transpose()?;
        let to = to.map(|text| parse_day("to", text)).transpose()?;
        for (field, date) in [("from", from), ("to", to)] {
            if let Some(date) = date
                && date > today
            {
                return Err(RangeError::Ahead { field, date, today });
            }
        }
        let to = to.unwrap_or(today);
        let oldest = days_before(today, i64::from(retention_days));
        let from = match from {
            Some(from) => from,
            // Never further back than the store keeps.
            None => days_before(to, i64::from(DEFAULT_DAYS - 1)).max(oldest.min(to)),
        };
        if from > to {
            return Err(RangeError::Reversed { from, to });
        }
        if from < oldest {
            return Err(RangeError::TooOld {
                from,
                oldest,
                days: retention_days,
            });
        }
        Ok(DateRange { from, to })
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> Vec<Date> {
        let mut days = Vec::new();
        let mut day = self.from;
        while day <= self.to {
            days.push(day);
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        days
    }
}

/// A date as the store spells a day in its keys: `20261201`.
pub fn store_day(date: Date) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month(), date.day())
}

/// `YYYY-MM-DD` and nothing else: no time, no zone, no other spelling.
fn parse_day(field: &'static str, text: &str) -> Result<Date, RangeError> {
    let refused = || RangeError::NotADate {
        field,
        text: text.chars().take(40).collect(),
    };
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(index, byte)| match index {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return Err(refused());
    }
    text.parse::<Date>().map_err(|_| refused())
}

/// `days` days before `date`, or the earliest date there is.
fn days_before(date: Date, days: i64) -> Date {
    date.checked_sub(jiff::Span::new().days(days))
        .unwrap_or(Date::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        text.parse().expect("a date")
    }

    const TODAY: &str = "2026-11-22";

    fn asked(from: Option<&str>, to: Option<&str>) -> Result<DateRange, RangeError> {
        DateRange::asked(from, to, date(TODAY), 400)
    }

    #[test]
    fn without_dates_a_report_is_the_last_thirty_days_ending_today() {
        let range = asked(None, None).expect("valid");
        assert_eq!(range.from, date("2026-10-24"));
        assert_eq!(range.to, date(TODAY));
        assert_eq!(range.days().len(), 30);
        let ending = asked(None, Some("2026-11-01")).expect("valid");
        assert_eq!(
            (ending.from, ending.to),
            (date("2026-10-03"), date("2026-11-01"))
        );
        let starting = asked(Some("2026-11-20"), None).expect("valid");
        assert_eq!(
            starting.days(),
            [date("2026-11-20"), date("2026-11-21"), date("2026-11-22")]
        );
        // A short retention shortens the default range rather than refuse it.
        let short = DateRange::asked(None, None, date(TODAY), 7).expect("valid");
        assert_eq!(short.from, date("2026-11-15"));
    }

    #[test]
    fn bad_dates_reversed_ranges_days_ahead_and_days_gone_are_refused_precisely() {
        let cases = [
            (
                Some("2026-11-31"),
                None,
                "from is a date like 2026-12-01 (YYYY-MM-DD, UTC), not \"2026-11-31\"",
            ),
            (
                None,
                Some("20261120"),
                "to is a date like 2026-12-01 (YYYY-MM-DD, UTC), not \"20261120\"",
            ),
            (
                Some("2026-11-20T00:00"),
                None,
                "from is a date like 2026-12-01 (YYYY-MM-DD, UTC), not \"2026-11-20T00:00\"",
            ),
            (
                Some("2026-11-21"),
                Some("2026-11-20"),
                "from (2026-11-21) is after to (2026-11-20)",
            ),
            (
                None,
                Some("2026-11-23"),
                "to (2026-11-23) is after today (2026-11-22, UTC): no day ahead has counts",
            ),
            (
                Some("2025-10-17"),
                Some("2025-10-20"),
                "from (2025-10-17) is before 2025-10-18, the oldest day kept: counts are \
                 kept for report_retention_days (400) days",
            ),
        ];
        for (from, to, message) in cases {
            let refused = asked(from, to).expect_err("refused");
            assert_eq!(refused.to_string(), message, "{from:?} {to:?}");
        }
        // The oldest day kept is still fine.
        assert!(asked(Some("2025-10-18"), None).is_ok());
        assert_eq!(store_day(date("2026-01-05")), "20260105");
    }
}
