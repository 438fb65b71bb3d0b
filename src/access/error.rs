//! What can go wrong in access control, in words an operator or a data
//! engineer can act on.
//!
//! No variant carries a secret, a token or a recipient id: these errors end up
//! in logs and on terminals. A bad token and a bad signature say nothing about
//! *why* they failed, so that a caller probing the server learns nothing either.

/// Every failure of [`super::KeyRing`]: configuring keys, checking requests,
/// signing URLs and CSV files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("no signing key configured")]
    NoKeys,
    /// Counted from 1, in the order the keys were given.
    #[error(
        "signing key number {position} is shorter than {min} bytes; use a long random secret",
        min = super::MIN_KEY_LEN
    )]
    WeakKey { position: usize },
    #[error("token is malformed or was not signed by any configured key")]
    BadToken,
    /// A conversion's click id (`access/click_id.rs`): the same error
    /// whether it was cut short, altered or sealed by a key no longer
    /// configured.
    #[error(
        "the click id is malformed, was altered, or was not made by any configured signing key"
    )]
    BadClickId,
    #[error("URL signature is missing, malformed or wrong")]
    BadSignature,
    /// The URL given to sign could not be split into a path and a query.
    #[error("cannot sign this URL: {0}")]
    InvalidUrl(&'static str),
    #[error("the CSV header has no column named {0:?}")]
    CsvMissingColumn(String),
    /// Refused rather than overwritten or duplicated, so that a file is never
    /// silently given two token columns or lose one it already had.
    #[error("the CSV header already has a column named {0:?}")]
    CsvColumnExists(String),
    /// The id itself is left out: it is personal data, and the line is
    /// enough to find it.
    #[error(
        "CSV line {line}: the {column:?} field is not a valid recipient id \
         (1 to 256 bytes of UTF-8, no control characters)"
    )]
    CsvInvalidId { line: u64, column: String },
    /// Reading or writing the CSV failed (malformed CSV, rows of unequal
    /// length, I/O). The message names the line when the `csv` crate knows it.
    #[error("{0}")]
    Csv(String),
}
