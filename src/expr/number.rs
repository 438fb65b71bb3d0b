//! The `number` filter: numbers grouped by thousands for people to read.
//!
//! `{{ profile.points | number }}` gives `12,480`. The arguments are
//! positional, to stay short inside a text: the group separator (default
//! `","`), the number of decimals (default: as many as the number has), and
//! the decimal mark. The decimal mark defaults to `","` when the separator is
//! `"."` or a space, as in most of Europe (`number(".")` gives `12.480,5`,
//! `number(" ", 2)` gives `12 480,50`), and to `"."` otherwise.
//!
//! Given a locale instead (`number("de")`, `number(locale="hi-IN",
//! decimals=2)`), the number is written as CLDR says that locale writes
//! numbers (`words::numbers`): `1.234,5` in German, `1 234,5` with a
//! no-break space in Russian, `1,23,456` in India. A first argument that
//! starts with a letter is a locale; separators never do.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

use crate::words::numbers::{
    Decimal, decimal_from_float, decimal_from_integer, decimal_from_text, format_number,
    with_decimals,
};
use crate::words::read_locale;

/// More decimals than this are never meaningful in an email, and the cap
/// keeps a typo like `number(",", 1000000)` from building a huge string.
const MAX_DECIMALS: usize = 12;

pub(crate) fn number(
    value: Value,
    separator: Option<String>,
    decimals: Option<usize>,
    decimal_mark: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let named_locale: Option<String> = kwargs.get("locale")?;
    let named_decimals: Option<usize> = kwargs.get("decimals")?;
    kwargs.assert_all_used()?;
    let positional_locale = separator
        .as_deref()
        .filter(|separator| separator.starts_with(|c: char| c.is_ascii_alphabetic()));
    if let Some(locale) = named_locale.as_deref().or(positional_locale) {
        if decimal_mark.is_some() || (positional_locale.is_none() && separator.is_some()) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "number: a locale sets the separators; give either a locale or separators",
            ));
        }
        if value.is_undefined() || value.is_none() {
            return Ok(Value::UNDEFINED);
        }
        let decimals = named_decimals.or(decimals);
        return Ok(Value::from(localized(&value, locale, decimals)?));
    }
    let decimals = named_decimals.or(decimals);
    if value.is_undefined() || value.is_none() {
        return Ok(Value::UNDEFINED);
    }
    let separator = separator.unwrap_or_else(|| ",".to_string());
    let decimal_mark = decimal_mark.unwrap_or_else(|| default_decimal_mark(&separator).to_string());
    let decimals = decimals.map(|decimals| decimals.min(MAX_DECIMALS));
    let plain = match read_number(&value)? {
        Number::Integer(integer) => match decimals {
            Some(decimals) if decimals > 0 => format!("{integer}.{}", "0".repeat(decimals)),
            _ => integer.to_string(),
        },
        Number::Float(float) if !float.is_finite() => return Ok(Value::from(float.to_string())),
        Number::Float(float) => match decimals {
            Some(decimals) => format!("{float:.decimals$}"),
            None => float.to_string(),
        },
    };
    Ok(Value::from(group(&plain, &separator, &decimal_mark)))
}

/// `value` as `locale` writes numbers, with `decimals` fraction digits
/// when given, else as many as it has.
fn localized(value: &Value, locale: &str, decimals: Option<usize>) -> Result<String, Error> {
    let mut number = read_decimal(value, "number")?;
    if let Some(decimals) = decimals {
        number = with_decimals(number, decimals.min(MAX_DECIMALS) as u8);
    }
    Ok(format_number(&read_locale(locale), &number))
}

/// A number, or a string that holds one, as an exact decimal: a string
/// keeps the digits it was written with (`"12.50"`). `helper` names the
/// caller in errors, which never quote the value.
pub(crate) fn read_decimal(value: &Value, helper: &str) -> Result<Decimal, Error> {
    let refused = |what: &str| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{helper}: expected a number, got {what}"),
        )
    };
    match value.kind() {
        ValueKind::Number if value.is_integer() => i128::try_from(value.clone())
            .map(decimal_from_integer)
            .map_err(|_| refused("an integer out of range")),
        ValueKind::Number => f64::try_from(value.clone())
            .ok()
            .and_then(decimal_from_float)
            .ok_or_else(|| refused("a number it cannot write")),
        ValueKind::String => decimal_from_text(value.as_str().unwrap_or_default())
            .ok_or_else(|| refused("a string that is not a number")),
        kind => Err(refused(&format!("a {kind}"))),
    }
}

enum Number {
    Integer(i128),
    Float(f64),
}

/// Numbers, and strings that hold one (a field kept as a string because of a
/// leading zero, say, or a query parameter).
fn read_number(value: &Value) -> Result<Number, Error> {
    match value.kind() {
        ValueKind::Number if value.is_integer() => i128::try_from(value.clone())
            .map(Number::Integer)
            .map_err(|_| not_a_number("an integer out of range")),
        ValueKind::Number => f64::try_from(value.clone())
            .map(Number::Float)
            .map_err(|_| not_a_number("a number it cannot read")),
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default().trim();
            if let Ok(integer) = text.parse::<i128>() {
                Ok(Number::Integer(integer))
            } else {
                match text.parse::<f64>() {
                    Ok(float) if float.is_finite() => Ok(Number::Float(float)),
                    _ => Err(not_a_number("a string that is not a number")),
                }
            }
        }
        kind => Err(not_a_number(&format!("a {kind}"))),
    }
}

/// The error never quotes the value: it may be personal data.
fn not_a_number(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("number: expected a number, got {what}"),
    )
}

fn default_decimal_mark(separator: &str) -> &'static str {
    let european =
        separator == "." || (!separator.is_empty() && separator.chars().all(char::is_whitespace));
    if european { "," } else { "." }
}

/// `12480` as `12,480`, the way the `number` filter spells it by default.
pub fn group_thousands(count: u64) -> String {
    group(&count.to_string(), ",", ".")
}

/// Inserts `separator` every three digits of the integer part of `plain` (as
/// Rust prints numbers: optional minus, digits, optional point and digits)
/// and swaps the point for `decimal_mark`.
fn group(plain: &str, separator: &str, decimal_mark: &str) -> String {
    let (sign, unsigned) = match plain.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", plain),
    };
    let (integer_digits, fraction) = match unsigned.split_once('.') {
        Some((integer_digits, fraction)) => (integer_digits, Some(fraction)),
        None => (unsigned, None),
    };
    // "-0.00" after rounding a tiny negative number reads as a mistake.
    let is_zero = unsigned.bytes().all(|byte| byte == b'0' || byte == b'.');
    let mut grouped = String::with_capacity(plain.len() + plain.len() / 3 * separator.len());
    if !is_zero {
        grouped.push_str(sign);
    }
    for (index, digit) in integer_digits.chars().enumerate() {
        if index > 0 && (integer_digits.len() - index) % 3 == 0 {
            grouped.push_str(separator);
        }
        grouped.push(digit);
    }
    if let Some(fraction) = fraction {
        grouped.push_str(decimal_mark);
        grouped.push_str(fraction);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_keywords() -> Kwargs {
        Kwargs::from_iter(Vec::<(&str, Value)>::new())
    }

    fn formatted(
        value: Value,
        separator: Option<&str>,
        decimals: Option<usize>,
        mark: Option<&str>,
    ) -> String {
        number(
            value,
            separator.map(str::to_string),
            decimals,
            mark.map(str::to_string),
            no_keywords(),
        )
        .expect("a number")
        .to_string()
    }

    #[test]
    fn numbers_are_grouped_by_thousands_with_locale_marks() {
        // The filter's arguments: separator, decimals, decimal mark.
        type Arguments = (Option<&'static str>, Option<usize>, Option<&'static str>);
        const NONE: Arguments = (None, None, None);
        let cases: &[(Value, Arguments, &str)] = &[
            (Value::from(12480), NONE, "12,480"),
            (Value::from(0), NONE, "0"),
            (Value::from(999), NONE, "999"),
            (Value::from(1000), NONE, "1,000"),
            (Value::from(-1234567), NONE, "-1,234,567"),
            (Value::from(12480.5), NONE, "12,480.5"),
            (Value::from(12480.5), (Some("."), None, None), "12.480,5"),
            (
                Value::from(12480.5),
                (Some(" "), Some(2), None),
                "12 480,50",
            ),
            (
                Value::from(12480.5),
                (Some("\u{202f}"), Some(2), None),
                "12\u{202f}480,50",
            ),
            (
                Value::from(12480.5),
                (Some("'"), Some(2), None),
                "12'480.50",
            ),
            (Value::from(12480), (Some(","), Some(2), None), "12,480.00"),
            (Value::from(2.675), (None, Some(0), None), "3"),
            (Value::from(-0.001), (None, Some(2), None), "0.00"),
            (
                Value::from(1234.5),
                (Some(" "), Some(1), Some(".")),
                "1 234.5",
            ),
            (Value::from("02134"), NONE, "2,134"),
            (Value::from("1234.25"), NONE, "1,234.25"),
            (
                Value::from(9_007_199_254_740_993_i64),
                NONE,
                "9,007,199,254,740,993",
            ),
        ];
        for (value, (separator, decimals, mark), expected) in cases {
            assert_eq!(
                formatted(value.clone(), *separator, *decimals, *mark),
                *expected,
                "{value:?} | number({separator:?}, {decimals:?}, {mark:?})"
            );
        }
    }

    #[test]
    fn undefined_stays_undefined_and_non_numbers_are_errors() {
        assert!(
            number(Value::UNDEFINED, None, None, None, no_keywords())
                .expect("undefined")
                .is_undefined()
        );
        for value in [Value::from("twelve"), Value::from(true), Value::from("inf")] {
            let error = number(value, None, None, None, no_keywords()).expect_err("not a number");
            assert!(!error.to_string().contains("twelve"), "{error}");
        }
    }
}
