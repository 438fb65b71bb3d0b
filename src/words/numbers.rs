//! Numbers as a locale writes them: its decimal mark, its group separator
//! (a no-break space in Russian and Polish, a narrow one in French) and its
//! grouping (India's lakh and crore: "12,34,567"; Polish and Spanish leave
//! four-digit numbers ungrouped).

use fixed_decimal::{SignedRoundingMode, UnsignedRoundingMode};
use icu_decimal::DecimalFormatter;
pub use icu_decimal::input::Decimal;

use super::Locale;

/// More fraction digits than this are never meaningful in an email, and
/// the cap keeps a typo from building a huge string.
pub const MAX_DECIMALS: u8 = 12;

/// A float as its shortest round-trip spelling (`0.1`, not
/// `0.1000000000000000055`); `None` for infinities and NaN.
pub fn decimal_from_float(float: f64) -> Option<Decimal> {
    if !float.is_finite() {
        return None;
    }
    // Rust prints floats without an exponent and with the fewest digits
    // that read back as the same float.
    Decimal::try_from_str(&float.to_string()).ok()
}

pub fn decimal_from_integer(integer: i128) -> Decimal {
    Decimal::from(integer)
}

/// A number written in text (`"1234.50"`, `"-3"`), as written: its
/// trailing zeros stay, since they are digits an author asked for.
pub fn decimal_from_text(text: &str) -> Option<Decimal> {
    let text = text.trim();
    // fixed_decimal reads exponents too; a profile field "1e400" is not a
    // number a person meant.
    if text.is_empty() || text.contains(['e', 'E']) {
        return None;
    }
    Decimal::try_from_str(text).ok()
}

/// `number` with exactly `decimals` fraction digits: rounded half away
/// from zero (2.675 to 2.68, as receipts round), or padded with zeros.
pub fn with_decimals(mut number: Decimal, decimals: u8) -> Decimal {
    let position = -i16::from(decimals.min(MAX_DECIMALS));
    number.round_with_mode(
        position,
        SignedRoundingMode::Unsigned(UnsignedRoundingMode::HalfExpand),
    );
    number.absolute.pad_end(position);
    // "-0.00" after rounding a tiny negative number reads as a mistake.
    if number.absolute.is_zero() {
        number.sign = fixed_decimal::Sign::None;
    }
    number
}

/// `number` in `locale`'s digits, marks and grouping.
pub fn format_number(locale: &Locale, number: &Decimal) -> String {
    match DecimalFormatter::try_new(locale.into(), Default::default()) {
        Ok(formatter) => formatter.format(number).to_string(),
        // Compiled data has symbols for every locale (root's at worst);
        // should that ever fail, the plain digits are still right.
        Err(_) => number.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::read_locale;

    fn formatted(locale: &str, text: &str, decimals: Option<u8>) -> String {
        let mut number = decimal_from_text(text).expect("a number");
        if let Some(decimals) = decimals {
            number = with_decimals(number, decimals);
        }
        format_number(&read_locale(locale), &number)
    }

    #[test]
    fn numbers_take_each_locales_marks_and_grouping() {
        // Hand-checked against CLDR's number symbols and patterns: the
        // group separator of ru and pl is U+00A0, of fr U+202F; hi-IN and
        // en-IN group by lakh and crore; pl leaves four digits ungrouped
        // (minimumGroupingDigits 2); ar writes Latin digits by default.
        let cases: &[(&str, &str, Option<u8>, &str)] = &[
            ("en", "1234.5", None, "1,234.5"),
            ("en-US", "1234567.891", None, "1,234,567.891"),
            ("de", "1234.5", None, "1.234,5"),
            ("de", "1234.5", Some(2), "1.234,50"),
            ("ru", "1234.5", None, "1\u{a0}234,5"),
            ("ru", "-1234567", None, "-1\u{a0}234\u{a0}567"),
            ("pl", "1234.5", None, "1234,5"),
            ("pl", "12345.5", None, "12\u{a0}345,5"),
            ("fr", "1234.5", None, "1\u{202f}234,5"),
            ("hi-IN", "123456", None, "1,23,456"),
            ("hi", "12345678.25", None, "1,23,45,678.25"),
            ("en-IN", "123456", None, "1,23,456"),
            ("ja", "1234567", None, "1,234,567"),
            ("ar", "1234.5", None, "1,234.5"),
            ("ar-EG", "1234.5", None, "١٬٢٣٤٫٥"),
            ("en", "2.675", Some(2), "2.68"),
            ("en", "2.5", Some(0), "3"),
            ("en", "-0.001", Some(2), "0.00"),
            ("en", "1234.50", None, "1,234.50"),
        ];
        for (locale, text, decimals, expected) in cases {
            assert_eq!(
                formatted(locale, text, *decimals),
                *expected,
                "{text} in {locale}, {decimals:?} decimals"
            );
        }
    }

    #[test]
    fn floats_read_as_their_shortest_spelling() {
        let spelled = |float: f64| decimal_from_float(float).map(|number| number.to_string());
        assert_eq!(spelled(0.1).as_deref(), Some("0.1"));
        assert_eq!(spelled(1234.5).as_deref(), Some("1234.5"));
        assert_eq!(spelled(1e21).as_deref(), Some("1000000000000000000000"));
        assert_eq!(spelled(f64::NAN), None);
        assert_eq!(decimal_from_text("1e5"), None);
        assert_eq!(decimal_from_text("twelve"), None);
    }
}
