//! Form keys: what the preference page's form carries so that a submission
//! is known to come from a page opentime served for that recipient, without
//! cookies. A cross-site page cannot read the key from our page, so it
//! cannot forge a submission.
//!
//! A key is `{unix seconds}.{tag}`: the moment the page was served and a MAC
//! of it with the recipient id, under its own domain prefix, so neither a
//! token nor a signed URL can pass as one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use super::KeyRing;
use super::keyring::{Domain, HmacSha256, TAG_LEN, tag_of};
use crate::recipient::RecipientId;

/// How long a served page's form may be submitted: long enough for a tab
/// left open over a weekend.
pub const FORM_KEY_LIFETIME_SECONDS: i64 = 7 * 24 * 3600;

/// Why a form key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKeyError {
    /// Not one we made for this recipient.
    Invalid,
    /// Ours, but older than [`FORM_KEY_LIFETIME_SECONDS`].
    Expired,
}

impl KeyRing {
    /// The key of a form served to `recipient` at `now` (Unix seconds).
    pub fn sign_form(&self, recipient: &RecipientId, now: i64) -> String {
        let mut mac = self.signer(Domain::Form);
        feed(&mut mac, recipient, now);
        format!("{now}.{}", URL_SAFE_NO_PAD.encode(tag_of(mac)))
    }

    /// Checks a form key for `recipient` at `now`.
    pub fn verify_form(
        &self,
        key: &str,
        recipient: &RecipientId,
        now: i64,
    ) -> Result<(), FormKeyError> {
        let (issued, encoded) = key.split_once('.').ok_or(FormKeyError::Invalid)?;
        let issued: i64 = issued
            .parse()
            .ok()
            .filter(|_| issued.len() <= 12)
            .ok_or(FormKeyError::Invalid)?;
        let tag: [u8; TAG_LEN] = URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(FormKeyError::Invalid)?;
        if !self.any_key_made(Domain::Form, |mac| feed(mac, recipient, issued), &tag) {
            return Err(FormKeyError::Invalid);
        }
        // A minute of clock difference between replicas is allowed.
        if issued > now + 60 {
            return Err(FormKeyError::Invalid);
        }
        if now - issued > FORM_KEY_LIFETIME_SECONDS {
            return Err(FormKeyError::Expired);
        }
        Ok(())
    }
}

fn feed(mac: &mut HmacSha256, recipient: &RecipientId, issued: i64) {
    mac.update(recipient.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(issued.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(vec![secret.as_bytes().to_vec()]).unwrap()
    }

    #[test]
    fn a_key_holds_for_its_recipient_and_its_lifetime_only() {
        let keys = ring("server-secret-0123456789");
        let ann = RecipientId::new("ann").unwrap();
        let bob = RecipientId::new("bob").unwrap();
        let key = keys.sign_form(&ann, 1_000_000);
        assert_eq!(keys.verify_form(&key, &ann, 1_000_100), Ok(()));
        assert_eq!(
            keys.verify_form(&key, &bob, 1_000_100),
            Err(FormKeyError::Invalid)
        );
        assert_eq!(
            keys.verify_form(&key, &ann, 1_000_000 + FORM_KEY_LIFETIME_SECONDS + 1),
            Err(FormKeyError::Expired)
        );
        assert_eq!(
            keys.verify_form(&key, &ann, 999_000),
            Err(FormKeyError::Invalid)
        );
        let forged = key.replacen("1000000", "1000500", 1);
        assert_eq!(
            keys.verify_form(&forged, &ann, 1_000_600),
            Err(FormKeyError::Invalid)
        );
        assert_eq!(
            ring("another-secret-0123456789").verify_form(&key, &ann, 1_000_100),
            Err(FormKeyError::Invalid)
        );
        for garbage in ["", ".", "1.", "x.y", "99999999999999999999.AAAA"] {
            assert_eq!(
                keys.verify_form(garbage, &ann, 1_000_100),
                Err(FormKeyError::Invalid)
            );
        }
        // A recipient's token is no form key.
        let token = keys.sign_recipient(&ann);
        assert_eq!(
            keys.verify_form(&token, &ann, 1_000_100),
            Err(FormKeyError::Invalid)
        );
    }
}
