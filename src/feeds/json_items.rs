//! JSON feeds, read element by element with serde_json: a top-level array
//! of objects, or an object whose `items` member is one (its other members
//! are skipped unread into memory). Values keep their JSON types, nested
//! ones included; an element that is not an object is no item.

use std::fmt;
use std::io::Read;

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::item::Item;

/// What `emit` said when it wanted no more: the read ends there, cleanly.
const STOPPED: &str = "opentime: stopped by the reader";

/// Reads every element of `reader`'s items into `emit`, until the end or
/// until `emit` answers false. Answers how many elements were not objects.
pub fn read_items(reader: impl Read, emit: &mut dyn FnMut(Item) -> bool) -> Result<u64, String> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut not_objects = 0;
    let result = deserializer.deserialize_any(Document {
        emit,
        not_objects: &mut not_objects,
    });
    match result {
        Ok(()) => {}
        Err(error) if error.to_string().starts_with(STOPPED) => return Ok(not_objects),
        Err(error) => return Err(format!("JSON: {error}")),
    }
    deserializer
        .end()
        .map_err(|error| format!("JSON after the items: {error}"))?;
    Ok(not_objects)
}

/// The whole document: an array of items, or an object with `items`.
struct Document<'a> {
    emit: &'a mut dyn FnMut(Item) -> bool,
    not_objects: &'a mut u64,
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects, or an object with an \"items\" array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<Value>()? {
            match element {
                Value::Object(item) => {
                    if !(self.emit)(item) {
                        return Err(A::Error::custom(STOPPED));
                    }
                }
                _ => *self.not_objects += 1,
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        let Document { emit, not_objects } = self;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" && !found {
                found = true;
                map.next_value_seed(Items(Document {
                    emit: &mut *emit,
                    not_objects: &mut *not_objects,
                }))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !found {
            return Err(A::Error::custom("the object has no \"items\" array"));
        }
        Ok(())
    }
}

/// The `items` member, which must be an array.
struct Items<'a>(Document<'a>);

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(text: &str) -> Result<(Vec<Item>, u64), String> {
        let mut items = Vec::new();
        let not_objects = read_items(text.as_bytes(), &mut |item| {
            items.push(item);
            true
        })?;
        Ok((items, not_objects))
    }

    #[test]
    fn arrays_and_items_members_keep_their_types() {
        let (found, odd) =
            items(r#"[{"id": 1, "tags": ["a"], "price": {"amount": 2}}, 3, {"id": "b"}]"#).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0]["id"], json!(1));
        assert_eq!(found[0]["tags"], json!(["a"]));
        assert_eq!(found[0]["price"], json!({"amount": 2}));
        assert_eq!(odd, 1);
        let (found, _) = items(
            r#"{"title": "shop", "meta": {"x": [1,2]}, "items": [{"id": "a"}], "next": null}"#,
        )
        .unwrap();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn bad_documents_are_errors() {
        for text in [
            r#"{"products": []}"#,
            r#"{"items": {"id": 1}}"#,
            "[{\"id\": 1}",
            "\"text\"",
            "[] []",
        ] {
            assert!(items(text).is_err(), "{text}");
        }
    }

    #[test]
    fn emit_can_stop_the_read() {
        let mut seen = 0;
        read_items(
            r#"[{"id": 1}, {"id": 2}, {"id": 3}]"#.as_bytes(),
            &mut |_| {
                seen += 1;
                seen < 2
            },
        )
        .expect("a clean stop");
        assert_eq!(seen, 2);
    }
}
