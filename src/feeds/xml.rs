//! RSS 2.0, Atom and Google Merchant feeds, read with quick-xml's streaming
//! reader: one event at a time into the item being built, so memory holds
//! one item and the reader's buffer, never the document.
//!
//! Each child element of an item (`<item>` in RSS, `<entry>` in Atom) is a
//! field named by its element: `title`, `link`, `dc:creator`. Google
//! Merchant's `g:` fields are named without the prefix (`g:price` is
//! `price`) and win over an unprefixed field of the same name. An element
//! with children is a map of them (`<author><name>` is `author.name`), a
//! repeated field a list, an empty element with an `href` or `url`
//! attribute that attribute (Atom's `<link href>`, RSS's `<enclosure
//! url>`). Text is unescaped (XML's five entities and character
//! references; another entity, which a DTD would define, stays as written)
//! and trimmed; CDATA is taken as it is. RSS has no `id`: an item without one
//! gets its `guid`, else its `link`.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::Value;

use super::config::FeedFormat;
use super::item::Item;

/// The most text one field keeps; the rest is dropped, so that one huge
/// description cannot hold a refresh's memory.
const MAX_FIELD_BYTES: usize = 256 * 1024;

/// How deep elements nest inside an item before deeper ones are ignored.
const MAX_DEPTH: usize = 8;

/// Reads every item of `reader` into `emit`, until the document ends or
/// `emit` answers false.
pub fn read_items(
    format: FeedFormat,
    reader: impl BufRead,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), String> {
    let item_element: &[u8] = match format {
        FeedFormat::Atom => b"entry",
        _ => b"item",
    };
    let strip_g = format == FeedFormat::GoogleMerchant;
    let mut reader = Reader::from_reader(reader);
    let mut buffer = Vec::with_capacity(8 * 1024);
    // The open elements inside the current item, innermost last; `None`
    // outside an item.
    let mut open: Option<Vec<Element>> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|error| format!("XML error near byte {position}: {error}"))?;
        match event {
            Event::Start(start) => match &mut open {
                None if local_name(&start) == item_element => {
                    open = Some(vec![Element::new((String::new(), false))]);
                }
                None => {}
                Some(stack) => stack.push(Element::new(field_name(&start, strip_g))),
            },
            Event::Empty(start) => {
                if let Some(stack) = &mut open {
                    let name = field_name(&start, strip_g);
                    if let Some(value) = empty_value(&start, format) {
                        let parent = stack.last_mut().expect("an item's stack holds the item");
                        add_field(parent, name, value, strip_g);
                    }
                } else if local_name(&start) == item_element && !emit(Item::new()) {
                    return Ok(());
                }
            }
            Event::Text(text) => {
                if let Some(element) = open.as_mut().and_then(|stack| stack.last_mut()) {
                    let text = text
                        .xml_content()
                        .map_err(|error| format!("XML text near byte {position}: {error}"))?;
                    element.push_text(&text);
                }
            }
            Event::CData(data) => {
                if let Some(element) = open.as_mut().and_then(|stack| stack.last_mut()) {
                    let text = data
                        .decode()
                        .map_err(|error| format!("XML CDATA near byte {position}: {error}"))?;
                    element.push_text(&text);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(element) = open.as_mut().and_then(|stack| stack.last_mut()) {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(character)) => character.to_string(),
                        Ok(None) => {
                            let name = reference.decode().unwrap_or_default();
                            quick_xml::escape::resolve_xml_entity(&name)
                                .map(str::to_string)
                                .unwrap_or_else(|| format!("&{name};"))
                        }
                        Err(error) => {
                            return Err(format!("XML reference near byte {position}: {error}"));
                        }
                    };
                    element.push_text(&resolved);
                }
            }
            Event::End(_) => {
                let Some(stack) = &mut open else {
                    continue;
                };
                let element = stack.pop().expect("an item's stack holds the item");
                let depth = stack.len();
                match stack.last_mut() {
                    Some(parent) => {
                        let name = element.name.clone();
                        if depth < MAX_DEPTH {
                            add_field(parent, name, element.into_value(), strip_g);
                        }
                    }
                    None => {
                        open = None;
                        let mut item = element.fields;
                        give_rss_id(&mut item, format);
                        if !emit(item) {
                            return Ok(());
                        }
                    }
                }
            }
            Event::Eof => {
                if open.is_some() {
                    return Err("the document ends inside an item".into());
                }
                return Ok(());
            }
            _ => {}
        }
        buffer.clear();
    }
}

/// An element being read inside an item.
struct Element {
    /// The field name, and whether it had Google Merchant's `g:`.
    name: (String, bool),
    text: String,
    fields: Item,
    /// Which fields came from a `g:` element, which an unprefixed one
    /// must not replace.
    prefixed: Vec<String>,
}

impl Element {
    fn new(name: (String, bool)) -> Element {
        Element {
            name,
            text: String::new(),
            fields: Item::new(),
            prefixed: Vec::new(),
        }
    }

    fn push_text(&mut self, text: &str) {
        let room = MAX_FIELD_BYTES.saturating_sub(self.text.len());
        if text.len() <= room {
            self.text.push_str(text);
        } else {
            let mut end = room;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&text[..end]);
        }
    }

    /// Its children as a map when it has any, else its text, trimmed.
    fn into_value(self) -> Value {
        if self.fields.is_empty() {
            Value::String(self.text.trim().to_string())
        } else {
            Value::Object(self.fields)
        }
    }
}

/// Adds a field to an element: a repeated name becomes a list, and a `g:`
/// field replaces an unprefixed one of the same name (never the reverse).
fn add_field(parent: &mut Element, name: (String, bool), value: Value, strip_g: bool) {
    let (name, was_prefixed) = name;
    if strip_g {
        let held_prefixed = parent.prefixed.contains(&name);
        if was_prefixed && !held_prefixed {
            parent.prefixed.push(name.clone());
            parent.fields.insert(name, value);
            return;
        }
        if !was_prefixed && held_prefixed {
            return;
        }
    }
    match parent.fields.get_mut(&name) {
        None => {
            parent.fields.insert(name, value);
        }
        Some(Value::Array(values)) => values.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// An element's name as a field: its qualified name, or for Google
/// Merchant without `g:` (and whether it had it).
fn field_name(start: &BytesStart<'_>, strip_g: bool) -> (String, bool) {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    match name.strip_prefix("g:") {
        Some(bare) if strip_g => (bare.to_string(), true),
        _ => (name, false),
    }
}

fn local_name(start: &BytesStart<'_>) -> Vec<u8> {
    start.local_name().as_ref().to_vec()
}

/// The value of an empty element: its `href` (Atom's link, only the
/// `alternate` one) or `url` attribute, else its attributes, else "".
fn empty_value(start: &BytesStart<'_>, format: FeedFormat) -> Option<Value> {
    let mut attributes = serde_json::Map::new();
    for attribute in start.attributes().flatten() {
        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
        let value = attribute
            .unescape_value()
            .map(|value| value.into_owned())
            .unwrap_or_default();
        attributes.insert(key, Value::String(value));
    }
    if format == FeedFormat::Atom && start.local_name().as_ref() == b"link" {
        let rel = attributes
            .get("rel")
            .and_then(Value::as_str)
            .unwrap_or("alternate");
        if rel != "alternate" {
            return None;
        }
    }
    for preferred in ["href", "url"] {
        if let Some(value) = attributes.get(preferred) {
            return Some(value.clone());
        }
    }
    if attributes.is_empty() {
        Some(Value::String(String::new()))
    } else {
        Some(Value::Object(attributes))
    }
}

/// RSS items carry a `guid`, not an `id`: the guid (else the link) is the
/// item's id unless it has one.
fn give_rss_id(item: &mut Item, format: FeedFormat) {
    if format != FeedFormat::Rss || item.contains_key("id") {
        return;
    }
    let id = ["guid", "link"]
        .iter()
        .find_map(|field| match item.get(*field) {
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            _ => None,
        });
    if let Some(id) = id {
        item.insert("id".to_string(), Value::String(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(format: FeedFormat, xml: &str) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        read_items(format, xml.as_bytes(), &mut |item| {
            items.push(item);
            true
        })?;
        Ok(items)
    }

    #[test]
    fn rss_items_with_cdata_entities_and_a_guid() {
        let xml = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
  <title>Shop news</title>
  <item>
    <title>Fish &amp; chips &#8211; &#x263A; &lt;3 &nbsp;</title>
    <description><![CDATA[<p>Bold & <b>new</b></p>]]></description>
    <guid isPermaLink="false">post-1</guid>
    <dc:creator>Ann</dc:creator>
    <category>a</category><category>b</category>
    <enclosure url="https://cdn.example/a.jpg" type="image/jpeg"/>
  </item>
  <item><title>Second</title><link>https://shop.example/2</link></item>
</channel></rss>"#;
        let items = items(FeedFormat::Rss, xml).expect("parses");
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0]["title"],
            json!("Fish & chips \u{2013} \u{263A} <3 &nbsp;")
        );
        assert_eq!(items[0]["description"], json!("<p>Bold & <b>new</b></p>"));
        assert_eq!(items[0]["id"], json!("post-1"));
        assert_eq!(items[0]["dc:creator"], json!("Ann"));
        assert_eq!(items[0]["category"], json!(["a", "b"]));
        assert_eq!(items[0]["enclosure"], json!("https://cdn.example/a.jpg"));
        assert_eq!(items[1]["id"], json!("https://shop.example/2"));
        // The channel's own title is no item's.
        assert!(items.iter().all(|item| item["title"] != json!("Shop news")));
    }

    #[test]
    fn atom_entries_take_the_alternate_link_and_nest_the_author() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><id>urn:1</id><title type="text">One</title>
<link rel="self" href="https://x.example/self"/><link href="https://x.example/1"/>
<updated>2026-11-01T10:00:00Z</updated><summary>S</summary>
<author><name>Ann</name><email>a@x.example</email></author></entry></feed>"#;
        let items = items(FeedFormat::Atom, xml).expect("parses");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], json!("urn:1"));
        assert_eq!(items[0]["link"], json!("https://x.example/1"));
        assert_eq!(items[0]["updated"], json!("2026-11-01T10:00:00Z"));
        assert_eq!(
            items[0]["author"],
            json!({"name": "Ann", "email": "a@x.example"})
        );
    }

    #[test]
    fn google_merchant_fields_lose_their_prefix_and_win() {
        let xml = r#"<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel>
<item><g:title>G title</g:title><title>Plain title</title><g:id>sku-1</g:id>
<g:price>49.90 EUR</g:price><description>d</description>
<g:shipping><g:country>DE</g:country><g:price>4.95 EUR</g:price></g:shipping></item>
</channel></rss>"#;
        let items = items(FeedFormat::GoogleMerchant, xml).expect("parses");
        assert_eq!(items[0]["title"], json!("G title"));
        assert_eq!(items[0]["id"], json!("sku-1"));
        assert_eq!(items[0]["price"], json!("49.90 EUR"));
        assert_eq!(items[0]["description"], json!("d"));
        assert_eq!(
            items[0]["shipping"],
            json!({"country": "DE", "price": "4.95 EUR"})
        );
    }

    #[test]
    fn broken_documents_are_errors_and_emit_can_stop() {
        let truncated = "<rss><channel><item><title>a</title>";
        assert!(items(FeedFormat::Rss, truncated).is_err());
        let mismatched = "<rss><channel><item><title>a</guid></item></channel></rss>";
        assert!(items(FeedFormat::Rss, mismatched).is_err());
        let two = "<rss><item><guid>1</guid></item><item><guid>2</guid></item></rss>";
        let mut seen = 0;
        read_items(FeedFormat::Rss, two.as_bytes(), &mut |_| {
            seen += 1;
            false
        })
        .expect("stops cleanly");
        assert_eq!(seen, 1);
    }
}
