//! Secrets in the configuration (signing keys, admin tokens), kept in a type
//! whose `Debug` prints how many there are and nothing else, so that the
//! configuration can derive `Debug` and be logged without leaking them.

use std::fmt;
use std::path::Path;

use anyhow::Context as _;

/// A list of secrets. Only [`Secrets::iter`] (and iterating a `&Secrets`)
/// hands out their text, for the code that signs or compares with them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// Splits a comma- or line-separated list, dropping blanks.
    pub fn split(list: &str) -> Secrets {
        Secrets(split_list(list))
    }

    /// Reads a list from a file (one per line, or comma-separated), so that
    /// secrets need not appear in the environment or on a command line.
    pub fn read(path: &Path) -> anyhow::Result<Secrets> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading secrets file {}", path.display()))?;
        Ok(Secrets::split(&text))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secrets' text, in the configured order (the first signing key
    /// signs).
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} secret(s)]", self.0.len())
    }
}

impl From<Vec<String>> for Secrets {
    fn from(secrets: Vec<String>) -> Secrets {
        Secrets(secrets)
    }
}

impl<'a> IntoIterator for &'a Secrets {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Tests compare the secrets with the expected list directly; `assert_eq!`
/// then prints only the count when they differ.
impl<const N: usize> PartialEq<[&str; N]> for Secrets {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.0.iter().map(String::as_str).eq(other.iter().copied())
    }
}

/// Splits a comma- or line-separated list (of secrets, origins, senders),
/// trimming each item and dropping blanks.
pub(super) fn split_list(list: &str) -> Vec<String> {
    list.split([',', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_count_only() {
        let secrets = Secrets::split(" first-secret,\nsecond-secret, ,");
        assert_eq!(format!("{secrets:?}"), "[2 secret(s)]");
        assert_eq!(secrets, ["first-secret", "second-secret"]);
    }
}
