//! What can go wrong in access control, in words an operator or a data
//! engineer can act on.
//!
//! No variant carries a secret, a token or a recipient id: these errors end up
//! in logs and on terminals. A bad token and a bad signature say nothing about
//! *why* they failed, so that a caller probing the server learns nothing either.

/// Every failure of [`super::KeyRing`]: configuring keys, checking requests,
/// and signing URLs.
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
    #[error("URL signature is missing, malformed or wrong")]
    BadSignature,
    /// The URL given to sign could not be split into a path and a query.
    #[error("cannot sign this URL: {0}")]
    InvalidUrl(&'static str),
}
