//! Recipients as every subsystem sees them: an opaque id and a profile.
//!
//! A recipient id is whatever the customer's systems use (a CRM id, a hash of
//! an address). It is personal data, so its `Debug` and `Display` never show
//! it: logs name a recipient by [`RecipientId::log_tag`] instead.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

/// The longest recipient id accepted, in bytes. Ids travel in URLs inside
/// tokens, so anything longer is a mistake, not a customer's real id.
pub const MAX_RECIPIENT_ID_LEN: usize = 256;

/// An opaque recipient id, as written by the customer's systems.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipientId(String);

impl RecipientId {
    /// Accepts a non-empty id of at most [`MAX_RECIPIENT_ID_LEN`] bytes with
    /// no control characters.
    pub fn new(id: impl Into<String>) -> Result<RecipientId, InvalidRecipientId> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_RECIPIENT_ID_LEN || id.chars().any(char::is_control) {
            return Err(InvalidRecipientId);
        }
        Ok(RecipientId(id))
    }

    /// The id itself. Only the store and the token signer should need it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short, stable tag for logs: the first 8 bytes of a SHA-256 of the id,
    /// in hex. It lets an operator follow one recipient through the logs
    /// without the logs holding the id.
    pub fn log_tag(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..8])
    }
}

impl fmt::Debug for RecipientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientId(#{})", self.log_tag())
    }
}

impl fmt::Display for RecipientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.log_tag())
    }
}

/// A recipient id was empty, too long, or held control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("recipient id must be 1 to 256 bytes with no control characters")]
pub struct InvalidRecipientId;

/// A recipient's profile: the fields of their Redis hash, as strings.
///
/// Fields are kept sorted so that everything derived from a profile is
/// deterministic. Typing ("42" as a number, "true" as a boolean) happens in
/// [`crate::expr`], where rules read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub fields: BTreeMap<String, String>,
}

impl Profile {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Profile {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Profile {
        Profile {
            fields: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// The name of a template's records (the lock, the open record) for one
/// email of a sequence: the template's own without `e`, so one template
/// sent once keeps its records where they always were, and `{template}/{e}`
/// with it. Template names hold no `/`, so the two never meet.
pub fn record_name<'a>(template: &'a str, email: Option<&str>) -> Cow<'a, str> {
    match email {
        None => Cow::Borrowed(template),
        Some(email) => Cow::Owned(format!("{template}/{email}")),
    }
}

/// The name a recipient's code from `pool` goes by: the pool's, or
/// `{pool}/{e}` for a template that draws a code per email.
pub fn code_slot<'a>(pool: &'a str, email: Option<&str>) -> Cow<'a, str> {
    record_name(pool, email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_print_in_clear() {
        let id = RecipientId::new("alice@example.com").unwrap();
        assert!(!format!("{id:?}").contains("alice"));
        assert!(!format!("{id}").contains("alice"));
        assert_eq!(id.log_tag().len(), 16);
    }

    #[test]
    fn bad_ids_are_refused() {
        assert!(RecipientId::new("").is_err());
        assert!(RecipientId::new("a\nb").is_err());
        assert!(RecipientId::new("x".repeat(257)).is_err());
        assert!(RecipientId::new("x".repeat(256)).is_ok());
    }
}
