//! The sample states that `opentime check` resolves every template's texts
//! for: a recipient without state, each `--state` file, and each demo
//! recipient. They stand in for real recipients, whose states `check` never
//! sees, so that a name in a script the fonts lack shows up before an email
//! goes out rather than as boxes in someone's inbox.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::recipient::Profile;
use crate::store::demo::{DEMO_FILE_NAME, load_demo_recipients};

/// One state to resolve texts for, and where it came from.
#[derive(Debug, Clone)]
pub struct SampleState {
    pub source: SampleSource,
    /// `None` for the recipient without state, as the server sees an
    /// anonymous open.
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone)]
pub enum SampleSource {
    /// An open without state: it reaches the texts that read no profile,
    /// so a template's own wording is checked even without samples.
    NoState,
    /// A file given with `--state`.
    File(PathBuf),
    /// A recipient of the demo file, by id.
    Demo(String),
}

impl fmt::Display for SampleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleSource::NoState => write!(f, "a recipient without state"),
            SampleSource::File(path) => write!(f, "sample state {}", path.display()),
            SampleSource::Demo(id) => write!(f, "sample state {id}"),
        }
    }
}

/// The sample states in the order warnings name them: the recipient
/// without state, the `--state` files as given (the author asked about
/// those), then the demo recipients by id, so that output is the same on
/// every run. Demo `@date(+N)` values are resolved as the demo store does.
pub fn load_sample_states(
    demo_dir: &Path,
    state_files: &[PathBuf],
) -> anyhow::Result<Vec<SampleState>> {
    let mut states = vec![SampleState {
        source: SampleSource::NoState,
        profile: None,
    }];
    for path in state_files {
        states.push(SampleState {
            source: SampleSource::File(path.clone()),
            profile: Some(read_state(path)?),
        });
    }
    states.extend(demo_states(demo_dir)?);
    Ok(states)
}

/// Reads a state file: a JSON object whose values are strings, numbers or
/// booleans, stored as strings as Redis would hold them. `render --state`
/// reads the same files, so a state that renders is one that checks.
pub fn read_state(path: &Path) -> anyhow::Result<Profile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let fields: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: expected a JSON object of profile fields",
                path.display()
            )
        })?;
    fields
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                other => bail!(
                    "{}: field {name:?} is {other}; use a string, number or boolean",
                    path.display()
                ),
            };
            Ok((name, value))
        })
        .collect()
}

/// The demo recipients, by id. A deployment on Redis often has no demo
/// directory at all, so its absence means no demo states; a demo file that
/// exists but does not parse is an error, because the demo server would
/// refuse it too.
fn demo_states(demo_dir: &Path) -> anyhow::Result<Vec<SampleState>> {
    if !demo_dir.join(DEMO_FILE_NAME).is_file() {
        return Ok(Vec::new());
    }
    let mut recipients: Vec<_> = load_demo_recipients(demo_dir)
        .context("reading the demo recipients")?
        .into_iter()
        .collect();
    recipients.sort_by(|(a, _), (b, _)| a.cmp(b));
    Ok(recipients
        .into_iter()
        .map(|(id, fields)| SampleState {
            source: SampleSource::Demo(id.as_str().to_string()),
            profile: Some(Profile { fields }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_demo_dir_means_no_demo_states_and_files_come_first() {
        let work = tempfile::tempdir().expect("a temp dir");
        let state = work.path().join("layla.json");
        std::fs::write(&state, r#"{ "first_name": "ليلى", "points": 3 }"#).expect("write");
        let states = load_sample_states(&work.path().join("no-demo-here"), &[state])
            .expect("a missing demo dir is fine");
        assert_eq!(states.len(), 2);
        assert!(matches!(states[0].source, SampleSource::NoState));
        let profile = states[1].profile.as_ref().expect("the file's state");
        assert_eq!(profile.get("first_name"), Some("ليلى"));
        assert_eq!(profile.get("points"), Some("3"));
    }

    #[test]
    fn demo_recipients_come_by_id_with_relative_dates_resolved() {
        let work = tempfile::tempdir().expect("a temp dir");
        std::fs::write(
            work.path().join(DEMO_FILE_NAME),
            r#"{ "b-two": { "renews_on": "@date(+5)" }, "a-one": { "first_name": "Ann" } }"#,
        )
        .expect("write");
        let states = load_sample_states(work.path(), &[]).expect("a valid demo file");
        let names: Vec<String> = states.iter().map(|s| s.source.to_string()).collect();
        assert_eq!(
            names,
            [
                "a recipient without state",
                "sample state a-one",
                "sample state b-two"
            ]
        );
        let renews_on = states[2]
            .profile
            .as_ref()
            .and_then(|p| p.get("renews_on"))
            .expect("the field");
        assert!(!renews_on.starts_with('@'), "{renews_on}");
    }

    #[test]
    fn a_broken_demo_file_is_an_error() {
        let work = tempfile::tempdir().expect("a temp dir");
        std::fs::write(work.path().join(DEMO_FILE_NAME), "[1]").expect("write");
        let error = load_sample_states(work.path(), &[]).expect_err("not an object");
        assert!(format!("{error:#}").contains(DEMO_FILE_NAME), "{error:#}");
    }
}
