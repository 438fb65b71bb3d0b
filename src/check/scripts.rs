//! The script scan of `opentime check`: every text layer of every variant,
//! resolved for every sample state as the server would resolve it, and each
//! script in it that no font of the layer's family can draw.
//!
//! A template stays valid whatever its fonts cover, because the renderer
//! leaves out a character it has no glyph for (and counts the render)
//! rather than failing the open; so these are warnings. They come from trying states rather than
//! from reading the template, because the text that needs a script is
//! mostly a recipient's name.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;
use unicode_script::{Script, UnicodeScript};

use super::samples::{SampleSource, SampleState};
use crate::expr::{Context, RequestFacts};
use crate::open::Target;
use crate::open::offline;
use crate::render::{FontBook, Layer, Weight};
use crate::template::Template;

/// One script that a layer's family cannot draw, with the first sample
/// state whose text needed it.
#[derive(Debug)]
pub struct ScriptWarning {
    pub file: PathBuf,
    pub variant_id: String,
    pub variant_index: usize,
    pub layer_index: usize,
    pub family: String,
    pub weight: Weight,
    /// The script's Unicode name ("Arabic"), or "emoji" or "symbols" for
    /// characters that belong to no script.
    pub script: String,
    pub first_state: SampleSource,
    /// The words of that state's text that hold the characters.
    pub excerpt: String,
    /// How many more sample states needed the same script in this layer.
    pub other_states: usize,
}

impl fmt::Display for ScriptWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weight = match self.weight {
            Weight::Regular => "regular",
            Weight::Bold => "bold",
        };
        write!(
            f,
            "{}: variant {:?}: variants[{}].layers[{}] (family {:?}, {weight}): no font has {}, used by {} ({:?})",
            self.file.display(),
            self.variant_id,
            self.variant_index,
            self.layer_index,
            self.family,
            self.script,
            self.first_state,
            self.excerpt,
        )?;
        match self.other_states {
            0 => Ok(()),
            1 => write!(f, " and 1 other state"),
            n => write!(f, " and {n} other states"),
        }
    }
}

/// Resolves every text layer of every variant of `templates` for every
/// state at the moment `now`, and returns one warning per template,
/// variant, layer and script that no font of the layer's family has, in
/// template, variant, layer and script order. A text whose expressions
/// fail for a state is skipped: the server would serve the template's
/// fallback image, which loading has already rendered.
pub fn find_unrenderable_scripts(
    templates: &[Template],
    fonts: &FontBook,
    states: &[SampleState],
    now: Timestamp,
) -> Vec<ScriptWarning> {
    let mut found: BTreeMap<(usize, usize, usize, String), ScriptWarning> = BTreeMap::new();
    for (template_index, template) in templates.iter().enumerate() {
        for state in states {
            let context = sample_context(template, state, now);
            for (variant_index, variant) in template.variants.iter().enumerate() {
                let target = Target {
                    scale: 1,
                    format: template.format,
                };
                let Ok(plan) = offline::plan(template, variant, &context, target) else {
                    continue;
                };
                // A plan has one layer per layer of the variant, in order,
                // so its indices are the ones the template file uses.
                for (layer_index, layer) in plan.layers.iter().enumerate() {
                    let Layer::Text(text) = layer else {
                        continue;
                    };
                    let style = &text.style;
                    let missing = fonts.missing_chars(&style.family, style.weight, &text.text);
                    for (script, chars) in group_by_script(&text.text, &missing) {
                        let key = (template_index, variant_index, layer_index, script.clone());
                        match found.entry(key) {
                            Entry::Occupied(mut entry) => entry.get_mut().other_states += 1,
                            Entry::Vacant(entry) => {
                                entry.insert(ScriptWarning {
                                    file: template.path.clone(),
                                    variant_id: variant.id.clone(),
                                    variant_index,
                                    layer_index,
                                    family: style.family.clone(),
                                    weight: style.weight,
                                    script,
                                    first_state: state.source.clone(),
                                    excerpt: excerpt(&text.text, &chars),
                                    other_states: 0,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    found.into_values().collect()
}

/// A User-Agent that reads as a person in a mail client nobody can name:
/// the opener is `human` and the device all `unknown`, the plainest open a
/// template is written for.
const SAMPLE_USER_AGENT: &str = "opentime-check";

/// Longest excerpt a warning quotes, in characters, so that a long text
/// does not drown the line.
const MAX_EXCERPT_CHARS: usize = 40;

/// The context of an open of `template` by the sample state, built as the
/// server builds it, with the template's default parameters.
pub(super) fn sample_context(template: &Template, state: &SampleState, now: Timestamp) -> Context {
    Context::new(&RequestFacts {
        profile: state.profile.clone(),
        query: template.default_query(),
        now,
        user_agent: Some(SAMPLE_USER_AGENT.to_string()),
        is_head: false,
        opener: None,
        geo: None,
    })
}

/// The `missing` characters of `text` by script name, in order of first
/// appearance. A combining mark counts in the script of the letter it sits
/// on, so an Arabic vowel sign is reported as Arabic, not as "Inherited".
fn group_by_script(text: &str, missing: &[char]) -> Vec<(String, Vec<char>)> {
    let mut groups: Vec<(String, Vec<char>)> = Vec::new();
    let mut base = "Inherited";
    for c in text.chars() {
        let script = match c.script() {
            Script::Inherited => base,
            Script::Common if is_pictograph(c) => "emoji",
            Script::Common => "symbols",
            script => script.full_name(),
        };
        base = script;
        if !missing.contains(&c) {
            continue;
        }
        match groups.iter_mut().find(|(name, _)| name == script) {
            Some((_, chars)) if !chars.contains(&c) => chars.push(c),
            Some(_) => {}
            None => groups.push((script.to_string(), vec![c])),
        }
    }
    groups
}

/// Whether a character of no script is drawn as emoji: the blocks of
/// pictographs, symbols and dingbats that emoji fonts cover.
fn is_pictograph(c: char) -> bool {
    matches!(
        c,
        '\u{2300}'..='\u{23FF}'
            | '\u{2600}'..='\u{27BF}'
            | '\u{2B00}'..='\u{2BFF}'
            | '\u{1F000}'..='\u{1FAFF}'
    )
}

/// The words of `text` that hold any of `chars`, each once, without the
/// ASCII punctuation around them, cut to [`MAX_EXCERPT_CHARS`].
fn excerpt(text: &str, chars: &[char]) -> String {
    let mut words: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| c.is_ascii_punctuation());
        if word.chars().any(|c| chars.contains(&c)) && !words.contains(&word) {
            words.push(word);
        }
    }
    let joined = words.join(" ");
    if joined.chars().count() <= MAX_EXCERPT_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(MAX_EXCERPT_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Device, Opener};

    #[test]
    fn missing_characters_group_by_the_script_a_reader_would_name() {
        // "Thank you, لَيْلى 🎉!" with its vowel marks: the marks are
        // Arabic with their letters, the emoji is not a script at all.
        let text = "Thank you, لَيْلى 🎉!";
        let missing: Vec<char> = text
            .chars()
            .filter(|c| !c.is_ascii() && !c.is_whitespace())
            .collect();
        let groups = group_by_script(text, &missing);
        let names: Vec<&str> = groups.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["Arabic", "emoji"]);
        assert_eq!(groups[0].1, ['ل', '\u{64E}', 'ي', '\u{652}', 'ى']);
        assert!(group_by_script("Anna", &[]).is_empty());
    }

    #[test]
    fn excerpts_quote_the_words_that_need_the_script() {
        let text = "Thank you, ليلى! Welcome, ليلى.";
        assert_eq!(excerpt(text, &['ل', 'ي', 'ى']), "ليلى");
        let long = "ש".repeat(60);
        let cut = excerpt(&long, &['ש']);
        assert_eq!(cut.chars().count(), MAX_EXCERPT_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn samples_open_as_a_person_on_an_unknown_device() {
        let facts = RequestFacts {
            user_agent: Some(SAMPLE_USER_AGENT.to_string()),
            ..RequestFacts::default()
        };
        let context = Context::new(&facts);
        assert_eq!(context.opener, Opener::Human);
        assert_eq!(context.device, Device::unknown());
    }
}
