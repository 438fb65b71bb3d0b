//! The `plural` filter and the `money` filter and function: CLDR's words
//! for a number (`words::plural`) and for an amount of money
//! (`words::money`), in a locale the text names.
//!
//! `{{ n }} {{ n | plural("ru", one="день", few="дня", many="дней",
//! other="дня") }}` gives "3 дня" and "5 дней"; `{{ order.total |
//! money("EUR", "de") }}` gives "1.234,50 €". A locale CLDR cannot read
//! writes English (`words::read_locale`), so a profile's odd `locale` field
//! never costs an image.

use minijinja::value::Kwargs;
use minijinja::{Error, ErrorKind, Value};

use super::number::read_decimal;
use crate::words::money::format_money;
use crate::words::numbers::MAX_DECIMALS;
use crate::words::plural::{PluralCategory, PluralChooser, PluralForms};
use crate::words::{english, read_locale};

/// `n | plural(locale, zero=, one=, two=, few=, many=, other=)`: the form
/// of CLDR's cardinal category of `n` in `locale` (English when left
/// out), or `other`'s when that category has no form. `other` is
/// required; a name that is no category is an error at the first render,
/// which `opentime check` reports.
pub(crate) fn plural(value: Value, locale: Option<String>, forms: Kwargs) -> Result<Value, Error> {
    let mut given = Vec::new();
    for name in forms.args() {
        let category = PluralCategory::from_name(name).ok_or_else(|| {
            plural_error(&format!(
                "{name:?} is no plural category (zero, one, two, few, many, other)"
            ))
        })?;
        let words: String = forms.get(name)?;
        given.push((category, words));
    }
    let forms = PluralForms::new(given).ok_or_else(|| {
        plural_error("give the `other` form, which any category can fall back to")
    })?;
    if value.is_undefined() || value.is_none() {
        return Ok(Value::UNDEFINED);
    }
    let number = read_decimal(&value, "plural")?;
    let locale = locale.as_deref().map_or_else(english, read_locale);
    let category = PluralChooser::new(&locale).category_of(&number);
    Ok(Value::from(forms.pick(category)))
}

/// `money(amount, currency, locale, decimals=)`, also a filter:
/// `amount | money("EUR", "de")`. The locale is English when left out.
pub(crate) fn money(
    amount: Value,
    currency: String,
    locale: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let decimals: Option<usize> = kwargs.get("decimals")?;
    kwargs.assert_all_used()?;
    if amount.is_undefined() || amount.is_none() {
        return Ok(Value::UNDEFINED);
    }
    let amount = read_decimal(&amount, "money")?;
    let locale = locale.as_deref().map_or_else(english, read_locale);
    let decimals = decimals.map(|decimals| decimals.min(usize::from(MAX_DECIMALS)) as u8);
    format_money(&locale, &amount, &currency, decimals)
        .map(Value::from)
        .map_err(|error| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("money: {error}, not {:?}", shorten(&currency)),
            )
        })
}

fn plural_error(message: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("plural: {message}"))
}

fn shorten(text: &str) -> String {
    text.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiff::Timestamp;

    use crate::expr::{Context, RequestFacts, TextSet};
    use crate::recipient::Profile;

    /// Renders `source` for a recipient in Moscow at a fixed moment.
    fn render(source: &str) -> Result<String, String> {
        let facts = RequestFacts {
            profile: Some(Profile {
                fields: [("time_zone", "Europe/Moscow"), ("locale", "ru")]
                    .into_iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect(),
            }),
            query: BTreeMap::new(),
            now: "2026-12-07T22:30:00Z"
                .parse::<Timestamp>()
                .expect("a timestamp"),
            user_agent: None,
            is_head: false,
            opener: None,
            geo: None,
        };
        let mut texts = TextSet::new();
        let id = texts.add(source).map_err(|error| error.to_string())?;
        texts
            .render(id, &Context::new(&facts))
            .map_err(|error| error.to_string())
    }

    const RUSSIAN_DAYS: &str = r#"one="день", few="дня", many="дней", other="дня""#;

    #[test]
    fn plural_picks_the_locales_form_for_the_number_shown() {
        let cases: &[(&str, &str)] = &[
            (
                &format!("{{{{ 3 | plural('ru', {RUSSIAN_DAYS}) }}}}"),
                "дня",
            ),
            (
                &format!("{{{{ 5 | plural('ru', {RUSSIAN_DAYS}) }}}}"),
                "дней",
            ),
            (
                &format!("{{{{ 21 | plural('ru', {RUSSIAN_DAYS}) }}}}"),
                "день",
            ),
            (
                &format!("{{{{ 11 | plural('ru', {RUSSIAN_DAYS}) }}}}"),
                "дней",
            ),
            // The padded number a countdown shows is still three.
            (
                &format!("03 {{{{ '03' | plural('ru', {RUSSIAN_DAYS}) }}}}"),
                "03 дня",
            ),
            // The locale from the profile, as texts usually take it.
            (
                &format!("{{{{ 2 | plural(profile.locale, {RUSSIAN_DAYS}) }}}}"),
                "дня",
            ),
            ("{{ 1 | plural(one='day', other='days') }}", "day"),
            ("{{ 0 | plural('en', one='day', other='days') }}", "days"),
            ("{{ 1.5 | plural('en', one='day', other='days') }}", "days"),
            (
                "{{ 22 | plural('pl', one='dzień', few='dni', many='dni', other='dnia') }}",
                "dni",
            ),
            ("{{ 7 | plural('ja', other='日') }}", "日"),
            // Arabic's six forms.
            (
                "{% for n in [0, 1, 2, 3, 11, 100] %}{{ n | plural('ar', zero='z', one='o', two='t', few='f', many='m', other='x') }}{% endfor %}",
                "zotfmx",
            ),
            // Hindi: 0 and 1 are one.
            ("{{ 0 | plural('hi', one='दिन', other='दिन') }}", "दिन"),
            // A locale nobody knows writes English.
            (
                "{{ 1 | plural('klingon!', one='day', other='days') }}",
                "day",
            ),
            ("{{ profile.missing | plural('en', other='x') }}", ""),
        ];
        for (source, expected) in cases {
            assert_eq!(render(source).as_deref(), Ok(*expected), "{source}");
        }
    }

    #[test]
    fn plural_needs_other_and_real_categories() {
        for source in [
            "{{ 1 | plural('en', one='day') }}",
            "{{ 1 | plural('en', single='day', other='days') }}",
            "{{ 'many' | plural('en', other='days') }}",
        ] {
            let error = render(source).expect_err("refused");
            assert!(error.contains("plural"), "{source}: {error}");
        }
    }

    #[test]
    fn money_dates_and_numbers_follow_the_locale() {
        let cases: &[(&str, &str)] = &[
            ("{{ 1234.5 | money('EUR', 'de') }}", "1.234,50\u{a0}€"),
            ("{{ money(1234.5, 'JPY', 'ja') }}", "¥1,235"),
            ("{{ money(123456, 'INR', 'hi-IN') }}", "₹1,23,456.00"),
            ("{{ money('1234.5', 'USD', 'en-US') }}", "$1,234.50"),
            ("{{ money(1234.5, 'EUR', 'fr') }}", "1\u{202f}234,50\u{a0}€"),
            (
                "{{ money(1234.5, 'RUB', profile.locale) }}",
                "1\u{a0}234,50\u{a0}₽",
            ),
            ("{{ money(19.99, 'USD') }}", "$19.99"),
            ("{{ money(19.99, 'USD', 'en', decimals=0) }}", "$20"),
            ("{{ 1234.5 | number('de') }}", "1.234,5"),
            ("{{ 1234.5 | number(locale='ru') }}", "1\u{a0}234,5"),
            ("{{ 123456 | number('hi-IN') }}", "1,23,456"),
            ("{{ 1234.5 | number('en', 2) }}", "1,234.50"),
            ("{{ 1234.5 | number(locale='pl', decimals=2) }}", "1234,50"),
            ("{{ 12480 | number }}", "12,480"),
            // 22:30 UTC on the 7th is already the 8th in Moscow.
            ("{{ now | date('ru') }}", "8 декабря"),
            ("{{ now | date('en-GB') }}", "8 December"),
            ("{{ now | date('en-US') }}", "December 8"),
            ("{{ now | date('ja') }}", "12月8日"),
            ("{{ now | date('de', year=true) }}", "8. Dezember 2026"),
            ("{{ '2026-03-01' | date(locale='pl') }}", "1 marca"),
            ("{{ now | date('en-GB', length='short') }}", "08/12"),
            ("{{ now | date('%d %B') }}", "08 December"),
            ("{{ now | date('nowhere') }}", "December 8"),
        ];
        for (source, expected) in cases {
            assert_eq!(render(source).as_deref(), Ok(*expected), "{source}");
        }
    }

    #[test]
    fn words_helpers_refuse_what_they_cannot_mean() {
        for source in [
            "{{ money(12, 'EURO', 'de') }}",
            "{{ money('twelve', 'EUR', 'de') }}",
            "{{ now | date('%d', locale='ru') }}",
            "{{ now | date(year=true) }}",
            "{{ now | date('ru', length='tiny') }}",
            "{{ 12 | number('de', ',', ',') }}",
        ] {
            assert!(render(source).is_err(), "{source}");
        }
    }
}
