//! How a recipient's profile fields, strings in Redis, become typed values in
//! expressions.
//!
//! Customers write fields with plain `HSET`, so everything arrives as a
//! string, yet rules like `profile.points > 1000` or `profile.vip` must work.
//! The conversion is deliberately narrow so that identifiers that merely look
//! numeric keep their exact spelling:
//!
//! - `"42"`, `"-3"`, `"0"` become integers, if they have no leading zero
//!   (`"02134"` is a ZIP code) and fit in ±(2^53 − 1), the range where integers
//!   and floats agree (longer digit strings are account or card numbers).
//! - `"12.5"`, `"-0.75"` become floats, under the same leading-zero rule, with
//!   digits on both sides of the point and at most 15 significant digits, so
//!   the float reads back as the same decimal. No exponents, no `"+1"`, no
//!   spaces.
//! - `"true"` and `"false"` (lower case, exactly) become booleans.
//! - Everything else stays a string, including dates: ISO-8601 dates compare
//!   correctly as strings, and the date helpers parse them.

use minijinja::Value;

use super::fields::Fields;
use crate::recipient::Profile;

/// The largest integer that a float represents exactly (2^53 − 1).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The most significant digits a decimal may have and still survive the trip
/// through an `f64` unchanged.
const MAX_SAFE_DECIMAL_DIGITS: usize = 15;

/// The `profile` map of a context. With no profile it is an empty map, so
/// that `profile.x is defined` is false rather than an error.
pub fn profile_value(profile: Option<&Profile>) -> Value {
    let fields = profile
        .into_iter()
        .flat_map(|profile| profile.fields.iter());
    Fields::new(fields.map(|(name, raw)| (name.as_str(), typed_value(raw)))).into_value()
}

/// One field's value as rules see it (see the module documentation).
pub(crate) fn typed_value(raw: &str) -> Value {
    match raw {
        "true" => return Value::from(true),
        "false" => return Value::from(false),
        _ => {}
    }
    if let Some(integer) = parse_safe_integer(raw) {
        return Value::from(integer);
    }
    if let Some(float) = parse_safe_decimal(raw) {
        return Value::from(float);
    }
    Value::from(raw)
}

/// The digits of a number after an optional minus sign, if they are written
/// the way a number (not an identifier) is written: no leading zero unless the
/// integer part is exactly "0".
fn unsigned_part(raw: &str) -> &str {
    raw.strip_prefix('-').unwrap_or(raw)
}

fn is_plain_integer_part(digits: &str) -> bool {
    !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

fn parse_safe_integer(raw: &str) -> Option<i64> {
    if !is_plain_integer_part(unsigned_part(raw)) {
        return None;
    }
    // Parsing fails beyond i64, which is beyond the safe range anyway.
    let value: i64 = raw.parse().ok()?;
    (value.abs() <= MAX_SAFE_INTEGER).then_some(value)
}

fn parse_safe_decimal(raw: &str) -> Option<f64> {
    let (integer_part, fraction) = unsigned_part(raw).split_once('.')?;
    if !is_plain_integer_part(integer_part)
        || fraction.is_empty()
        || !fraction.bytes().all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    let significant = format!("{integer_part}{fraction}");
    let significant_digits = significant.trim_start_matches('0').len();
    if significant_digits > MAX_SAFE_DECIMAL_DIGITS {
        return None;
    }
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_typed_only_when_they_read_unambiguously_as_numbers_or_booleans() {
        let cases: &[(&str, Value)] = &[
            ("42", Value::from(42)),
            ("-3", Value::from(-3)),
            ("0", Value::from(0)),
            ("9007199254740991", Value::from(9_007_199_254_740_991_i64)),
            ("-9007199254740991", Value::from(-9_007_199_254_740_991_i64)),
            ("12.5", Value::from(12.5)),
            ("-0.75", Value::from(-0.75)),
            ("0.1", Value::from(0.1)),
            ("true", Value::from(true)),
            ("false", Value::from(false)),
            // Identifiers and other things that only look numeric.
            ("02134", Value::from("02134")),
            ("00.5", Value::from("00.5")),
            ("+33612345678", Value::from("+33612345678")),
            ("9007199254740992", Value::from("9007199254740992")),
            ("4111111111111111111", Value::from("4111111111111111111")),
            (
                "123456789012345678901234567890",
                Value::from("123456789012345678901234567890"),
            ),
            ("1.2345678901234567", Value::from("1.2345678901234567")),
            ("1e5", Value::from("1e5")),
            ("1.", Value::from("1.")),
            (".5", Value::from(".5")),
            ("-", Value::from("-")),
            ("", Value::from("")),
            (" 42", Value::from(" 42")),
            ("1,000", Value::from("1,000")),
            ("True", Value::from("True")),
            ("yes", Value::from("yes")),
            ("2025-03-14", Value::from("2025-03-14")),
            ("NaN", Value::from("NaN")),
        ];
        for (raw, expected) in cases {
            let got = typed_value(raw);
            assert_eq!(
                (got.kind(), &got),
                (expected.kind(), expected),
                "typing of {raw:?}"
            );
        }
    }

    #[test]
    fn a_missing_profile_is_an_empty_map() {
        let value = profile_value(None);
        assert_eq!(value.len(), Some(0));
        assert!(value.get_attr("anything").unwrap().is_undefined());
    }
}
