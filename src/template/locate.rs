//! Where a field of a template's JSON sits in its text: the studio shows a
//! loading error or a warning at the line of the field it names
//! (`variants[0].layers[1].color`), as an author reads the file.

use jsonc_parser::ast::Value;
use jsonc_parser::common::Ranged as _;
use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};

/// A place in a text, both counted from 1; the column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where `field` (a path such as `variants[0].layers[1].color`) is
/// written in `text`: the property's name, or an array element's start.
/// A path that goes deeper than the text (a field left out) gives the
/// deepest part that is there, so an author sees where to add it. `None`
/// when the text is not JSON.
pub fn locate(text: &str, field: &str) -> Option<Position> {
    Locator::new(text)?.find(field)
}

/// A text read once, for finding many fields in it.
pub struct Locator<'t> {
    text: &'t str,
    root: Value<'t>,
}

impl<'t> Locator<'t> {
    /// `None` when the text is not JSON.
    pub fn new(text: &'t str) -> Option<Locator<'t>> {
        // Lenient: a text the loader reads is read the same, and one it
        // refuses for a trailing comma still has places to show.
        let parsed =
            parse_to_ast(text, &CollectOptions::default(), &ParseOptions::default()).ok()?;
        Some(Locator {
            text,
            root: parsed.value?,
        })
    }

    /// [`locate`] in this text.
    pub fn find(&self, field: &str) -> Option<Position> {
        let mut value = &self.root;
        let mut at = value.range().start;
        for step in steps(field) {
            let next = match (value, step) {
                (Value::Object(object), Step::Name(name)) => object
                    .properties
                    .iter()
                    .find(|property| property.name.as_str() == name)
                    .map(|property| (property.range.start, &property.value)),
                (Value::Array(array), Step::Index(index)) => array
                    .elements
                    .get(index)
                    .map(|element| (element.range().start, element)),
                _ => None,
            };
            let Some((start, child)) = next else { break };
            at = start;
            value = child;
        }
        Some(position_of(self.text, at))
    }
}

/// The line and column of byte `offset` of `text`.
pub fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..floor_char_boundary(text, offset)];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'p> {
    Name(&'p str),
    Index(usize),
}

/// The steps of a path: `a.b[2].c` is `a`, `b`, 2, `c`. The path ends at
/// the first thing that is neither (`: line 1` after an expression's
/// field).
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    let mut rest = path;
    loop {
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(rest.len());
        if name_end > 0 {
            steps.push(Step::Name(&rest[..name_end]));
        }
        rest = &rest[name_end..];
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                return steps;
            };
            let Ok(index) = inner[..close].parse() else {
                return steps;
            };
            steps.push(Step::Index(index));
            rest = &inner[close + 1..];
        }
        match rest.strip_prefix('.') {
            Some(after) => rest = after,
            None => return steps,
        }
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"name\": \"card\",\n  \"variants\": [\n    {\"id\": \"a\"},\n    {\n      \"id\": \"b\",\n      \"layers\": [{\"kind\": \"text\"}, {\"kind\": \"rect\", \"fill\": \"#zzz\"}]\n    }\n  ]\n}\n";

    #[test]
    fn a_field_is_found_at_its_name() {
        assert_eq!(locate(TEXT, "name"), Some(Position { line: 2, column: 3 }));
        assert_eq!(
            locate(TEXT, "variants[1].layers[1].fill"),
            Some(Position {
                line: 7,
                column: 53
            })
        );
        assert_eq!(
            locate(TEXT, "variants[0]"),
            Some(Position { line: 4, column: 5 })
        );
    }

    #[test]
    fn a_missing_field_is_shown_at_the_deepest_part_there() {
        assert_eq!(
            locate(TEXT, "variants[1].layers[1].radius"),
            Some(Position {
                line: 7,
                column: 36
            })
        );
        assert_eq!(
            locate(TEXT, "variants[7].link"),
            Some(Position { line: 3, column: 3 })
        );
    }

    #[test]
    fn what_follows_the_path_is_ignored() {
        assert_eq!(
            locate(TEXT, "variants[1].id: line 1, column 4"),
            Some(Position { line: 6, column: 7 })
        );
    }

    #[test]
    fn a_text_that_is_not_json_has_no_places() {
        assert_eq!(locate("{\"name\": ", "name"), None);
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(
            position_of("{\"ünï\": 1}", "{\"ünï\": ".len()),
            Position { line: 1, column: 9 }
        );
    }
}
