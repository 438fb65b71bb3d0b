//! What can be wrong with an opener rules file or an Apple relay range file,
//! worded for the operator who wrote or downloaded it.
//!
//! The server refuses to start on any of these rather than classify with a
//! rule set the operator did not mean, so every message says where the
//! problem is: the file, the line, and the key as a path such as
//! `rule[3].opener` (rules counted from 0, in file order).

use std::path::PathBuf;

/// Why a rules file or a range file was refused. Each `place` is where the
/// problem is, already worded as the start of the message:
/// `"line 12, rule[3].opener: "`, `"line 12: "` or nothing.
#[derive(Debug, thiserror::Error)]
pub enum OpenerRulesError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A problem inside one file, with the file's name put in front.
    #[error("{}: {error}", path.display())]
    InFile {
        path: PathBuf,
        error: Box<OpenerRulesError>,
    },
    /// Not TOML, or TOML that does not fit the format: an unknown key, a
    /// value of the wrong type, a required key missing.
    #[error("{place}{message}")]
    Format { place: String, message: String },
    #[error(
        "{place}{label:?} is not an opener; use human, apple_proxy, gmail_proxy, yahoo_proxy or scanner"
    )]
    UnknownOpener { place: String, label: String },
    #[error(
        "{place}the rule has no matcher; give it user_agent_exact, user_agent_contains or user_agent_prefix"
    )]
    NoMatcher { place: String },
    #[error("{place}the range rule lists no ranges; give it at least one CIDR block")]
    NoRangesInRule { place: String },
    #[error("{place}an empty string would match every User-Agent")]
    EmptyMatcher { place: String },
    #[error("{place}{text:?} is not an IP range: {reason}")]
    BadRange {
        place: String,
        text: String,
        reason: String,
    },
    /// A range file without a single range is a failed download or the
    /// wrong file, not a wish to have none.
    #[error("the file holds no IP ranges")]
    NoRanges,
}

/// Where in a file a problem is, as the prefix of its message: the line
/// (from 1) and the key path when known, `"line 12, rule[3].opener: "`, or
/// `"line 12: "`, or nothing.
pub(super) fn place(line: Option<usize>, field: &str) -> String {
    let field = (!field.is_empty() && field != ".").then_some(field);
    match (line, field) {
        (Some(line), Some(field)) => format!("line {line}, {field}: "),
        (Some(line), None) => format!("line {line}: "),
        (None, Some(field)) => format!("{field}: "),
        (None, None) => String::new(),
    }
}

impl OpenerRulesError {
    /// This error, said to be in the file at `path`.
    pub(super) fn in_file(self, path: impl Into<PathBuf>) -> OpenerRulesError {
        OpenerRulesError::InFile {
            path: path.into(),
            error: Box::new(self),
        }
    }
}

/// The 1-based line of a byte offset in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}
