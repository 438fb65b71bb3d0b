//! Email preferences: what the preference center offers (topics,
//! frequencies, the words of each language, from `assets/preferences.toml`
//! or the `preferences_file` setting), and what a recipient chose.
//!
//! A recipient's choices are a hash of strings, as the store keeps them
//! (`{prefix}r:{ID}:prefs`):
//! - `topic:{id}` is `1` or `0`;
//! - `frequency` is one of the configured frequencies;
//! - `all` is `1` after "unsubscribe from all marketing";
//! - `updated_at` and `source` say when the last change was made, and by
//!   what (`preference_center`, `one_click`).
//!
//! What a recipient never chose reads as the configured default.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::Value;
use serde::Deserialize;

/// The shipped configuration, used when no `preferences_file` is set.
const BUILTIN: &str = include_str!("../../assets/preferences.toml");

/// Where each change came from, as `source` records it.
pub const SOURCE_PREFERENCE_CENTER: &str = "preference_center";
pub const SOURCE_ONE_CLICK: &str = "one_click";

/// The preference center's configuration, checked.
#[derive(Debug, Clone)]
pub struct PrefsConfig {
    pub privacy_url: String,
    pub topics: Vec<Topic>,
    pub frequencies: Vec<String>,
    pub default_frequency: String,
    pub default_language: String,
    pub languages: BTreeMap<String, Words>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    /// What a recipient who never chose receives.
    #[serde(default = "yes")]
    pub subscribed: bool,
}

fn yes() -> bool {
    true
}

/// The words of the pages in one language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Words {
    pub title: String,
    pub intro: String,
    pub topics_legend: String,
    pub frequency_legend: String,
    pub all_label: String,
    pub all_hint: String,
    pub transactional: String,
    pub save: String,
    pub saved: String,
    pub privacy: String,
    pub unsubscribe_title: String,
    pub unsubscribe_question: String,
    pub unsubscribe_button: String,
    pub unsubscribe_all_question: String,
    pub unsubscribed: String,
    pub manage: String,
    pub expired: String,
    pub invalid: String,
    pub unavailable: String,
    pub topics: BTreeMap<String, TopicWords>,
    pub frequencies: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicWords {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefsFile {
    privacy_url: String,
    topics: Vec<Topic>,
    frequencies: Vec<String>,
    default_frequency: String,
    default_language: String,
    languages: BTreeMap<String, Words>,
}

#[derive(Debug, thiserror::Error)]
#[error("preferences{place}: {message}")]
pub struct PrefsError {
    place: String,
    message: String,
}

impl PrefsConfig {
    /// The file at `path`, or the shipped configuration.
    pub fn load(path: Option<&Path>) -> Result<PrefsConfig, PrefsError> {
        match path {
            None => PrefsConfig::parse(BUILTIN),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| PrefsError {
                    place: format!(" {}", path.display()),
                    message: error.to_string(),
                })?;
                PrefsConfig::parse(&text).map_err(|error| PrefsError {
                    place: format!(" {}", path.display()),
                    message: error.message,
                })
            }
        }
    }

    /// Parses and checks: identifiers for topics, every topic and frequency
    /// worded in every language, the defaults among the choices.
    pub fn parse(text: &str) -> Result<PrefsConfig, PrefsError> {
        let fail = |message: String| PrefsError {
            place: String::new(),
            message,
        };
        let file: PrefsFile = toml::from_str(text).map_err(|error| fail(error.to_string()))?;
        let identifier = |id: &str| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        for (index, topic) in file.topics.iter().enumerate() {
            if !identifier(&topic.id) {
                return Err(fail(format!(
                    "topics[{index}].id {:?}: use lowercase letters, digits, '-' and '_'",
                    topic.id
                )));
            }
            if file.topics[..index]
                .iter()
                .any(|other| other.id == topic.id)
            {
                return Err(fail(format!("topic {:?} is there twice", topic.id)));
            }
        }
        if file.frequencies.is_empty() || !file.frequencies.contains(&file.default_frequency) {
            return Err(fail(
                "default_frequency must be one of frequencies, which must not be empty".into(),
            ));
        }
        if let Some(bad) = file
            .frequencies
            .iter()
            .find(|frequency| !identifier(frequency))
        {
            return Err(fail(format!(
                "frequency {bad:?}: use lowercase letters, digits, '-' and '_'"
            )));
        }
        if !file.languages.contains_key(&file.default_language) {
            return Err(fail(format!(
                "default_language {:?} has no [languages.{}]",
                file.default_language, file.default_language
            )));
        }
        for (language, words) in &file.languages {
            for topic in &file.topics {
                if !words.topics.contains_key(&topic.id) {
                    return Err(fail(format!(
                        "[languages.{language}.topics] has no words for {:?}",
                        topic.id
                    )));
                }
            }
            for frequency in &file.frequencies {
                if !words.frequencies.contains_key(frequency) {
                    return Err(fail(format!(
                        "[languages.{language}.frequencies] has no words for {frequency:?}"
                    )));
                }
            }
        }
        let lower = file.privacy_url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(fail("privacy_url must be an http(s) URL".into()));
        }
        Ok(PrefsConfig {
            privacy_url: file.privacy_url,
            topics: file.topics,
            frequencies: file.frequencies,
            default_frequency: file.default_frequency,
            default_language: file.default_language,
            languages: file.languages,
        })
    }

    pub fn topic(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|topic| topic.id == id)
    }

    /// The language for a recipient's `locale` field (`fr`, `fr-CA`,
    /// `fr_FR`), else the default one, with its code.
    pub fn words(&self, locale: Option<&str>) -> (&str, &Words) {
        let wanted = locale
            .map(|locale| locale.trim().to_ascii_lowercase().replace('_', "-"))
            .unwrap_or_default();
        let primary = wanted.split('-').next().unwrap_or_default();
        for candidate in [wanted.as_str(), primary] {
            if let Some((code, words)) = self.languages.get_key_value(candidate) {
                return (code, words);
            }
        }
        let code = self.default_language.as_str();
        (code, &self.languages[code])
    }

    /// What a recipient's stored choices amount to.
    pub fn view(&self, stored: &BTreeMap<String, String>) -> PrefsView {
        let unsubscribed_all = stored.get("all").is_some_and(|all| all == "1");
        let topics = self
            .topics
            .iter()
            .map(|topic| {
                let chosen = match stored
                    .get(&format!("topic:{}", topic.id))
                    .map(String::as_str)
                {
                    Some("1") => true,
                    Some("0") => false,
                    _ => topic.subscribed,
                };
                (topic.id.clone(), chosen)
            })
            .collect();
        let frequency = stored
            .get("frequency")
            .filter(|frequency| self.frequencies.contains(frequency))
            .cloned()
            .unwrap_or_else(|| self.default_frequency.clone());
        PrefsView {
            topics,
            frequency,
            unsubscribed_all,
            updated_at: stored.get("updated_at").cloned(),
        }
    }
}

/// A recipient's preferences as pages and rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefsView {
    /// Each configured topic and whether it is ticked, in order.
    pub topics: Vec<(String, bool)>,
    pub frequency: String,
    pub unsubscribed_all: bool,
    pub updated_at: Option<String>,
}

impl PrefsView {
    /// Whether the recipient gets `topic`: ticked, and not unsubscribed
    /// from all marketing.
    pub fn receives(&self, topic: &str) -> bool {
        !self.unsubscribed_all
            && self
                .topics
                .iter()
                .any(|(id, ticked)| id == topic && *ticked)
    }

    /// What rules and texts read as `prefs`: `prefs.topics.offers` (whether
    /// they get it), `prefs.frequency`, `prefs.unsubscribed_all`,
    /// `prefs.updated_at`.
    pub fn to_value(&self) -> Value {
        let topics = Value::from_pairs(
            self.topics
                .iter()
                .map(|(id, _)| (id.as_str(), Value::from(self.receives(id))))
                .collect::<Vec<_>>(),
        );
        let mut fields = vec![
            ("topics", topics),
            ("frequency", Value::from(self.frequency.as_str())),
            ("unsubscribed_all", Value::from(self.unsubscribed_all)),
        ];
        if let Some(at) = &self.updated_at {
            fields.push(("updated_at", Value::from(at.as_str())));
        }
        Value::from_pairs(fields)
    }
}

/// A change to a recipient's preferences: the fields to set, the moment
/// and the source. Kept in the recipient's history as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrefsChange {
    pub at: String,
    pub source: String,
    pub set: BTreeMap<String, String>,
}

impl PrefsChange {
    /// The fields written to the hash: the change's, and when and how.
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .set
            .iter()
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect();
        fields.push(("updated_at".to_string(), self.at.clone()));
        fields.push(("source".to_string(), self.source.clone()));
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_loads_and_has_english_and_french() {
        let config = PrefsConfig::load(None).expect("the shipped file is valid");
        assert_eq!(config.words(Some("fr-CA")).0, "fr");
        assert_eq!(config.words(Some("fr_FR")).0, "fr");
        assert_eq!(config.words(Some("de")).0, "en");
        assert_eq!(config.words(None).0, "en");
    }

    #[test]
    fn unset_choices_read_as_defaults_and_all_overrides_topics() {
        let config = PrefsConfig::load(None).unwrap();
        let mut stored = BTreeMap::new();
        let view = config.view(&stored);
        assert!(view.receives("offers"));
        assert_eq!(view.frequency, "weekly");
        stored.insert("topic:offers".to_string(), "0".to_string());
        stored.insert("frequency".to_string(), "hourly".to_string());
        let view = config.view(&stored);
        assert!(!view.receives("offers"));
        assert!(view.receives("news"));
        assert_eq!(
            view.frequency, "weekly",
            "an unknown frequency reads as the default"
        );
        stored.insert("all".to_string(), "1".to_string());
        assert!(!config.view(&stored).receives("news"));
    }

    #[test]
    fn a_topic_without_words_in_a_language_is_refused() {
        let text = BUILTIN.replace(
            "alerts = { name = \"Alertes\", description = \"Retours en stock et baisses de prix des articles que vous suivez.\" }",
            "",
        );
        let error = PrefsConfig::parse(&text).unwrap_err().to_string();
        assert!(
            error.contains("languages.fr.topics") && error.contains("alerts"),
            "{error}"
        );
        let error = PrefsConfig::parse(&BUILTIN.replace(
            "default_frequency = \"weekly\"",
            "default_frequency = \"hourly\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("default_frequency"), "{error}");
    }
}
