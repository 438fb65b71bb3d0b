//! A feed item as every format reads it: a map of field name to value
//! (text, or JSON's own types for JSON feeds), and what is done to every
//! item whatever its format: prices read into amount and currency, and the
//! key that names it.

use serde_json::{Map, Number, Value};

/// One item: field name to value.
pub type Item = Map<String, Value>;

/// The price fields and the currency field each gains.
const PRICE_FIELDS: [(&str, &str); 2] = [("price", "currency"), ("sale_price", "sale_currency")];

/// Makes `item` ready to keep: its prices become numbers beside their
/// currency, and its key is answered; `None` when it has no key, which
/// skips it.
pub fn finish(item: &mut Item, key: &str) -> Option<String> {
    for (price_field, currency_field) in PRICE_FIELDS {
        let Some(Value::String(text)) = item.get(price_field) else {
            continue;
        };
        let Some(price) = parse_price(text) else {
            continue;
        };
        let Some(amount) = Number::from_f64(price.amount) else {
            continue;
        };
        item.insert(price_field.to_string(), Value::Number(amount));
        if let Some(currency) = price.currency
            && !item.contains_key(currency_field)
        {
            item.insert(currency_field.to_string(), Value::String(currency));
        }
    }
    match item.get(key)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A price as written in a feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub amount: f64,
    /// An ISO 4217 code, when the text has one.
    pub currency: Option<String>,
}

/// Reads `49.90 EUR`, `EUR 49.90`, `49.90` (and a decimal comma, `49,90
/// EUR`): an amount, and a three-letter upper-case code before or after
/// it. Anything else (`from 10 EUR`, `1.299,00 EUR`, `call us`) is left
/// as the text it is.
pub fn parse_price(text: &str) -> Option<Price> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (amount, currency) = match words.as_slice() {
        [amount] => (*amount, None),
        [first, second] if is_currency(second) => (*first, Some(*second)),
        [first, second] if is_currency(first) => (*second, Some(*first)),
        _ => return None,
    };
    Some(Price {
        amount: parse_amount(amount)?,
        currency: currency.map(str::to_string),
    })
}

fn is_currency(word: &str) -> bool {
    word.len() == 3 && word.bytes().all(|b| b.is_ascii_uppercase())
}

/// Digits with at most one decimal mark, `.` or `,`.
fn parse_amount(text: &str) -> Option<f64> {
    let marks = text.bytes().filter(|b| matches!(b, b'.' | b',')).count();
    let valid = marks <= 1
        && text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b','));
    if !valid {
        return None;
    }
    text.replace(',', ".").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prices_read_as_amount_and_currency() {
        let price = |amount: f64, currency: Option<&str>| {
            Some(Price {
                amount,
                currency: currency.map(str::to_string),
            })
        };
        assert_eq!(parse_price("49.90 EUR"), price(49.9, Some("EUR")));
        assert_eq!(parse_price("EUR 49.90"), price(49.9, Some("EUR")));
        assert_eq!(parse_price("  12 USD "), price(12.0, Some("USD")));
        assert_eq!(parse_price("49,90 EUR"), price(49.9, Some("EUR")));
        assert_eq!(parse_price("49.90"), price(49.9, None));
        for text in [
            "",
            "EUR",
            "from 10 EUR",
            "1.299,00 EUR",
            "49.90 eur",
            "49.90 EURO",
            "call us",
            "1.2.3",
        ] {
            assert_eq!(parse_price(text), None, "{text:?}");
        }
    }

    #[test]
    fn finishing_converts_prices_and_reads_the_key() {
        let mut item: Item = serde_json::from_value(json!({
            "id": "sku-1", "price": "49.90 EUR", "sale_price": "39.90 EUR", "currency": "USD"
        }))
        .unwrap();
        assert_eq!(finish(&mut item, "id").as_deref(), Some("sku-1"));
        assert_eq!(item["price"], json!(49.9));
        // An item's own currency is kept.
        assert_eq!(item["currency"], json!("USD"));
        assert_eq!(item["sale_price"], json!(39.9));
        assert_eq!(item["sale_currency"], json!("EUR"));

        let mut numbered: Item = serde_json::from_value(json!({"sku": 42, "price": 10})).unwrap();
        assert_eq!(finish(&mut numbered, "sku").as_deref(), Some("42"));
        assert_eq!(numbered["price"], json!(10));

        let mut keyless: Item = serde_json::from_value(json!({"title": "x", "id": " "})).unwrap();
        assert_eq!(finish(&mut keyless, "id"), None);
        let mut odd_price: Item =
            serde_json::from_value(json!({"id": "a", "price": "on request"})).unwrap();
        finish(&mut odd_price, "id");
        assert_eq!(odd_price["price"], json!("on request"));
        assert!(!odd_price.contains_key("currency"));
    }
}
