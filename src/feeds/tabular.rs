//! CSV feeds, read record by record with the `csv` crate: the header row
//! names the fields, every later row is an item of text values. Quoted
//! fields may hold commas, quotes and line breaks; a row shorter than the
//! header lacks the last fields, and a field with an empty header name is
//! dropped.

use std::io::Read;

use serde_json::Value;

use super::item::Item;

/// Reads every row of `reader` into `emit`, until the end or until `emit`
/// answers false.
pub fn read_items(reader: impl Read, emit: &mut dyn FnMut(Item) -> bool) -> Result<(), String> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|error| format!("CSV header row: {error}"))?
        .clone();
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(error) => return Err(format!("CSV: {error}")),
        }
        let mut item = Item::new();
        for (name, value) in headers.iter().zip(record.iter()) {
            if !name.is_empty() {
                item.insert(name.to_string(), Value::String(value.to_string()));
            }
        }
        if !emit(item) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_become_items_with_quoted_fields_kept_whole() {
        let text = "id, title ,price,\nsku-1,\"Boots, \"\"winter\"\" edition\",49.90 EUR,x\nsku-2,\"two\nlines\"\nsku-3,Hat,9 EUR\n";
        let mut items = Vec::new();
        read_items(text.as_bytes(), &mut |item| {
            items.push(item);
            true
        })
        .expect("parses");
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["title"], json!("Boots, \"winter\" edition"));
        assert_eq!(items[0]["price"], json!("49.90 EUR"));
        assert!(!items[0].contains_key(""));
        assert_eq!(items[1]["title"], json!("two\nlines"));
        assert!(!items[1].contains_key("price"));
        assert_eq!(items[2]["id"], json!("sku-3"));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let text: &[u8] = b"id,title\n1,\xff\xfe\n";
        assert!(read_items(text, &mut |_| true).is_err());
    }
}
