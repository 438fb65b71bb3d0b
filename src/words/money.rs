//! Amounts of money: the digits as the locale writes them (icu_decimal),
//! rounded to the currency's minor units, with the currency's symbol where
//! the locale puts it: "$1,234.50", "1.234,50 €", "¥1,235", "₹1,23,456.00".
//!
//! ICU4X has no stable currency formatter yet (icu_experimental's is
//! unstable by its own description), so the symbols and placements are a
//! small table here, transcribed from CLDR 46 (`currencyFormats` standard
//! pattern and each language's `currencies` symbols), and the minor units
//! from ISO 4217. It covers the languages en, de, fr, es, it, pl, ru, uk,
//! cs, ar, hi, ja, zh and ko and the currencies USD, EUR, GBP, JPY, INR,
//! RUB, PLN and CNY. Elsewhere:
//!
//! - another well-formed currency code is shown as its code, with a
//!   no-break space between code and digits ("CHF 12.00"), and two
//!   decimals unless ISO 4217 says otherwise (the exceptions below);
//! - another language puts the symbol before the digits, as English does,
//!   still with its own digits and marks.

use super::Locale;
use super::numbers::{Decimal, format_number, with_decimals};

/// Why an amount could not be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("the currency must be an ISO 4217 code of three letters, such as EUR")]
    Currency,
}

/// `amount` of `currency` (an ISO 4217 code, any case) as `locale` writes
/// it, rounded half away from zero to the currency's minor units, or to
/// `decimals` when given.
pub fn format_money(
    locale: &Locale,
    amount: &Decimal,
    currency: &str,
    decimals: Option<u8>,
) -> Result<String, MoneyError> {
    let code = currency.trim().to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return Err(MoneyError::Currency);
    }
    let decimals = decimals.unwrap_or_else(|| minor_units(&code));
    let digits = format_number(locale, &with_decimals(amount.clone(), decimals));
    let symbol = symbol(locale, &code);
    let placement = placement(locale.id.language.as_str());
    Ok(match placement {
        Placement::Before => {
            // The sign goes before the symbol: "-$5.00", not "$-5.00".
            let digits_start = digits
                .char_indices()
                .find(|(_, character)| character.is_numeric())
                .map_or(0, |(index, _)| index);
            let (sign, unsigned) = digits.split_at(digits_start);
            // CLDR's currency spacing: a symbol that ends in a letter or
            // an ideograph is kept off the digits ("PLN 12.00", "元 12.00").
            let spacing = if symbol.chars().last().is_some_and(char::is_alphabetic) {
                "\u{a0}"
            } else {
                ""
            };
            format!("{sign}{symbol}{spacing}{unsigned}")
        }
        Placement::After => format!("{digits}\u{a0}{symbol}"),
        // Arabic's pattern opens with a right-to-left mark, so the amount
        // and its symbol keep their order inside right-to-left text.
        Placement::AfterRightToLeft => format!("\u{200f}{digits}\u{a0}{symbol}"),
    })
}

/// ISO 4217 minor units: two, but for these.
fn minor_units(code: &str) -> u8 {
    match code {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "PYG" | "XAF" | "XOF" | "XPF" | "RWF"
        | "KMF" | "GNF" | "DJF" | "VUV" | "BIF" => 0,
        "KWD" | "BHD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// `¤#,##0.00`
    Before,
    /// `#,##0.00 ¤`, with a no-break space.
    After,
    /// `‏#,##0.00 ¤`, opening with U+200F.
    AfterRightToLeft,
}

fn placement(language: &str) -> Placement {
    match language {
        "de" | "fr" | "es" | "it" | "pl" | "ru" | "uk" | "cs" => Placement::After,
        "ar" => Placement::AfterRightToLeft,
        _ => Placement::Before,
    }
}

/// The symbol `locale` writes for `code`: the table's, else the code.
fn symbol(locale: &Locale, code: &str) -> String {
    let language = locale.id.language.as_str();
    let found = match code {
        "EUR" => Some("€"),
        "USD" => Some(match language {
            // en-001 and its regions write "US$"; the United States "$".
            "en" => match locale.id.region.map(|region| region.to_string()) {
                None => "$",
                Some(region) if region == "US" => "$",
                Some(_) => "US$",
            },
            "hi" | "ja" | "de" | "ru" | "es" | "it" | "uk" | "ko" => "$",
            "fr" => "$US",
            "pl" | "cs" => "USD",
            _ => "US$",
        }),
        "GBP" => Some(match language {
            "fr" => "£GB",
            "ar" => "UK£",
            "pl" | "cs" => "GBP",
            _ => "£",
        }),
        // Japanese CLDR data has the full-width ￥; the narrow ¥ is what
        // Japanese shops print, and the one every font has.
        "JPY" => Some(match language {
            "ja" | "en" | "de" | "ru" | "es" | "it" | "uk" | "ko" => "¥",
            "fr" | "pl" | "cs" => "JPY",
            _ => "JP¥",
        }),
        "INR" => Some(match language {
            "pl" | "cs" => "INR",
            _ => "₹",
        }),
        "RUB" => Some(match language {
            "ru" => "₽",
            _ => "RUB",
        }),
        "PLN" => Some(match language {
            "pl" => "zł",
            _ => "PLN",
        }),
        "CNY" => Some(match language {
            "zh" => "¥",
            "ja" => "元",
            "fr" | "pl" | "cs" => "CNY",
            _ => "CN¥",
        }),
        _ => None,
    };
    found.unwrap_or(code).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::numbers::decimal_from_text;
    use crate::words::read_locale;

    fn money(amount: &str, currency: &str, locale: &str) -> String {
        let amount = decimal_from_text(amount).expect("an amount");
        format_money(&read_locale(locale), &amount, currency, None).expect("a currency")
    }

    #[test]
    fn amounts_take_the_locales_symbol_placement_and_digits() {
        // Hand-checked against CLDR: the standard currency pattern of each
        // language, its symbols, and ISO 4217's minor units (JPY 0).
        let cases: &[(&str, &str, &str, &str)] = &[
            ("1234.5", "USD", "en-US", "$1,234.50"),
            ("1234.5", "USD", "en", "$1,234.50"),
            ("1234.5", "USD", "en-GB", "US$1,234.50"),
            ("-5", "USD", "en", "-$5.00"),
            ("1234.5", "GBP", "en-GB", "£1,234.50"),
            ("1234.5", "EUR", "de", "1.234,50\u{a0}€"),
            ("1234.5", "EUR", "de-DE", "1.234,50\u{a0}€"),
            ("1234.5", "EUR", "fr", "1\u{202f}234,50\u{a0}€"),
            ("1234.5", "JPY", "ja", "¥1,235"),
            ("1234.4", "JPY", "en", "¥1,234"),
            ("123456", "INR", "hi-IN", "₹1,23,456.00"),
            ("123456", "INR", "en-IN", "₹1,23,456.00"),
            ("123456", "INR", "hi", "₹1,23,456.00"),
            ("1234.5", "RUB", "ru", "1\u{a0}234,50\u{a0}₽"),
            ("1234.5", "RUB", "en", "RUB\u{a0}1,234.50"),
            ("1234.5", "PLN", "pl", "1234,50\u{a0}zł"),
            ("12345.5", "PLN", "pl", "12\u{a0}345,50\u{a0}zł"),
            ("1234.5", "EUR", "pl", "1234,50\u{a0}€"),
            // CLDR's currency spacing keeps a symbol that is no symbol character
            // (a letter, an ideograph) off the digits.
            ("1234.5", "CNY", "ja", "元\u{a0}1,234.50"),
            ("1234.5", "CNY", "en", "CN¥1,234.50"),
            ("1234.5", "EUR", "ar", "\u{200f}1,234.50\u{a0}€"),
            ("1234.5", "USD", "ar", "\u{200f}1,234.50\u{a0}US$"),
            // Not in the table: the code, kept off the digits.
            ("12", "chf", "en", "CHF\u{a0}12.00"),
            ("12", "KWD", "de", "12,000\u{a0}KWD"),
            // An unreadable locale writes English.
            ("1234.5", "EUR", "not a locale", "€1,234.50"),
        ];
        for (amount, currency, locale, expected) in cases {
            assert_eq!(
                money(amount, currency, locale),
                *expected,
                "{amount} {currency} in {locale}"
            );
        }
    }

    #[test]
    fn a_currency_that_is_no_code_is_an_error_and_decimals_can_be_asked() {
        let amount = decimal_from_text("12").expect("an amount");
        let english = read_locale("en");
        for currency in ["", "EURO", "€", "E1R"] {
            assert_eq!(
                format_money(&english, &amount, currency, None),
                Err(MoneyError::Currency),
                "{currency:?}"
            );
        }
        assert_eq!(
            format_money(&english, &amount, "USD", Some(0)).as_deref(),
            Ok("$12")
        );
    }
}
