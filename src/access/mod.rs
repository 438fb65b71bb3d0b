//! Recipient tokens and signed URLs: HMAC-SHA256, constant-time checks, key
//! rotation. (Skeleton: the implementation lands with access.)

use crate::recipient::RecipientId;

/// The signing keys: the first signs, every one verifies.
#[derive(Clone)]
pub struct KeyRing {}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(..)")
    }
}

/// The fixed key of demo mode. Refused outside demo mode.
pub const DEMO_KEY: &str = "opentime-demo-key-do-not-use-in-production";

impl KeyRing {
    pub fn new(secrets: Vec<Vec<u8>>) -> Result<KeyRing, AccessError> {
        let _ = secrets;
        Ok(KeyRing {})
    }
    pub fn sign_recipient(&self, recipient: &RecipientId) -> String {
        let _ = recipient;
        String::new()
    }
    pub fn verify_token(&self, token: &str) -> Result<RecipientId, AccessError> {
        let _ = token;
        Err(AccessError::BadToken)
    }
    /// The `s` value for a path and its query (without `s`).
    pub fn sign_url(&self, path: &str, query: &[(String, String)]) -> String {
        let _ = (path, query);
        String::new()
    }
    pub fn sign_url_string(&self, url: &str) -> Result<String, AccessError> {
        Ok(url.to_string())
    }
    pub fn sign_csv<R: std::io::Read, W: std::io::Write>(
        &self,
        input: R,
        output: W,
        id_column: &str,
        token_column: &str,
    ) -> Result<u64, AccessError> {
        let _ = (input, output, id_column, token_column);
        Ok(0)
    }
    /// Checks the `s` pair among `query` against the path and the rest.
    pub fn verify_url(&self, path: &str, query: &[(String, String)]) -> Result<(), AccessError> {
        let _ = (path, query);
        Err(AccessError::BadSignature)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("no signing key configured")]
    NoKeys,
    #[error("token is malformed or was not signed by any configured key")]
    BadToken,
    #[error("URL signature is missing, malformed or wrong")]
    BadSignature,
}
