//! Dates as a locale writes them: day and month in its order and words
//! ("8 December" in en-GB, "December 8" in en-US, "8 декабря", "12月8日"),
//! optionally with the year or the weekday. Always in the Gregorian
//! calendar, which is what an email's dates mean.

use icu_calendar::{Date, Gregorian};
use icu_datetime::FixedCalendarDateTimeFormatter;
use icu_datetime::fieldsets::{MD, MDE, YMD, YMDE};
use icu_datetime::options::Length;

use super::Locale;

/// How long the month is written: `long` ("8 December"), `medium` ("8
/// Dec") or `short` (the locale's numeric form, "08/12" in en-GB: the only
/// one where CLDR pads days with a zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateLength {
    #[default]
    Long,
    Medium,
    Short,
}

impl DateLength {
    pub fn from_name(name: &str) -> Option<DateLength> {
        match name {
            "long" => Some(DateLength::Long),
            "medium" => Some(DateLength::Medium),
            "short" => Some(DateLength::Short),
            _ => None,
        }
    }

    fn icu(self) -> Length {
        match self {
            DateLength::Long => Length::Long,
            DateLength::Medium => Length::Medium,
            DateLength::Short => Length::Short,
        }
    }
}

/// Which fields a date shows besides day and month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateStyle {
    pub length: DateLength,
    pub year: bool,
    pub weekday: bool,
}

/// The civil date `year-month-day` in `locale`, or `None` when it is no
/// date of the Gregorian calendar.
pub fn format_date(
    locale: &Locale,
    (year, month, day): (i32, u8, u8),
    style: DateStyle,
) -> Option<String> {
    let date = Date::try_new_gregorian(year, month, day).ok()?;
    let length = style.length.icu();
    let prefs = locale.into();
    // One formatter type per field set: the set decides which patterns
    // are loaded.
    let formatted = match (style.year, style.weekday) {
        (false, false) => {
            FixedCalendarDateTimeFormatter::<Gregorian, _>::try_new(prefs, MD::for_length(length))
                .ok()?
                .format(&date)
                .to_string()
        }
        (true, false) => {
            FixedCalendarDateTimeFormatter::<Gregorian, _>::try_new(prefs, YMD::for_length(length))
                .ok()?
                .format(&date)
                .to_string()
        }
        (false, true) => {
            FixedCalendarDateTimeFormatter::<Gregorian, _>::try_new(prefs, MDE::for_length(length))
                .ok()?
                .format(&date)
                .to_string()
        }
        (true, true) => {
            FixedCalendarDateTimeFormatter::<Gregorian, _>::try_new(prefs, YMDE::for_length(length))
                .ok()?
                .format(&date)
                .to_string()
        }
    };
    Some(formatted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::read_locale;

    const DECEMBER_8: (i32, u8, u8) = (2026, 12, 8);

    fn long(locale: &str, year: bool) -> String {
        let style = DateStyle {
            year,
            ..DateStyle::default()
        };
        format_date(&read_locale(locale), DECEMBER_8, style).expect("a date")
    }

    #[test]
    fn day_and_month_follow_the_locale_without_a_padded_day() {
        // Hand-checked against CLDR's availableFormats MMMMd and yMMMMd:
        // Russian and Polish use the genitive month, German an ordinal
        // point, Japanese 月 and 日, Hindi Devanagari month names.
        let cases: &[(&str, &str, &str)] = &[
            ("en", "December 8", "December 8, 2026"),
            ("en-US", "December 8", "December 8, 2026"),
            ("en-GB", "8 December", "8 December 2026"),
            ("ru", "8 декабря", "8 декабря 2026\u{202f}г."),
            ("pl", "8 grudnia", "8 grudnia 2026"),
            ("de", "8. Dezember", "8. Dezember 2026"),
            ("ja", "12月8日", "2026年12月8日"),
            ("hi", "8 दिसंबर", "8 दिसंबर, 2026"),
            ("ar", "8 ديسمبر", "8 ديسمبر 2026"),
            ("fr", "8 décembre", "8 décembre 2026"),
        ];
        for (locale, day_and_month, with_year) in cases {
            assert_eq!(long(locale, false), *day_and_month, "{locale}");
            assert_eq!(long(locale, true), *with_year, "{locale} with the year");
        }
    }

    #[test]
    fn shorter_lengths_and_the_weekday() {
        let at = |locale: &str, style: DateStyle| {
            format_date(&read_locale(locale), DECEMBER_8, style).expect("a date")
        };
        let medium = DateStyle {
            length: DateLength::Medium,
            ..DateStyle::default()
        };
        let short = DateStyle {
            length: DateLength::Short,
            ..DateStyle::default()
        };
        let weekday = DateStyle {
            weekday: true,
            ..DateStyle::default()
        };
        assert_eq!(at("en-GB", medium), "8 Dec");
        assert_eq!(at("en-US", short), "12/8");
        assert_eq!(at("en-GB", short), "08/12");
        assert_eq!(at("de", short), "08.12.");
        // 2026-12-08 is a Tuesday.
        assert_eq!(at("en-GB", weekday), "Tuesday 8 December");
        assert_eq!(at("ru", weekday), "вторник, 8 декабря");
        assert_eq!(
            format_date(&read_locale("en"), (2026, 2, 30), weekday),
            None
        );
    }
}
