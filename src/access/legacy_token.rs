//! Recipient tokens of the first format, `base64url(id).base64url(mac)`:
//! still verified, since emails already sent carry them, but no longer
//! made for mail, because anyone holding the URL can read the id in them.
//!
//! [`KeyRing::verify_token`] sends a token here when it holds a `.` and the
//! ring accepts legacy tokens; `legacy_tokens = false` turns them off. The
//! format is described, with the exact bytes, in the [module
//! documentation](super).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use super::keyring::{Domain, TAG_LEN, tag_of};
use super::{AccessError, KeyRing};
use crate::recipient::RecipientId;

/// The length of the MAC part of a legacy token: [`TAG_LEN`] bytes in
/// unpadded base64url.
const ENCODED_TAG_LEN: usize = 22;

impl KeyRing {
    /// The token of a recipient in the first format, signed by the first
    /// key. Mail should carry [`KeyRing::sign_recipient`]'s tokens instead;
    /// this one is for tests and tools that check tokens already sent.
    pub fn sign_recipient_legacy(&self, recipient: &RecipientId) -> String {
        let id = recipient.as_str();
        let mut mac = self.signer(Domain::Token);
        mac.update(id.as_bytes());
        let mut token = URL_SAFE_NO_PAD.encode(id);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag_of(mac), &mut token);
        token
    }

    /// The id bytes a legacy token names, if any configured key signed them.
    /// The caller has already checked the length and whether legacy tokens
    /// are accepted, and checks that the bytes are a recipient id.
    pub(super) fn open_legacy_token(&self, token: &str) -> Result<Vec<u8>, AccessError> {
        let (encoded_id, encoded_tag) = token.split_once('.').ok_or(AccessError::BadToken)?;
        if encoded_tag.len() != ENCODED_TAG_LEN {
            return Err(AccessError::BadToken);
        }
        let tag: [u8; TAG_LEN] = URL_SAFE_NO_PAD
            .decode(encoded_tag)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(AccessError::BadToken)?;
        let id_bytes = URL_SAFE_NO_PAD
            .decode(encoded_id)
            .map_err(|_| AccessError::BadToken)?;
        if !self.any_key_made(Domain::Token, |mac| mac.update(&id_bytes), &tag) {
            return Err(AccessError::BadToken);
        }
        Ok(id_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::MAX_TOKEN_LEN;
    use crate::recipient::MAX_RECIPIENT_ID_LEN;

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(vec![secret.as_bytes().to_vec()]).unwrap()
    }

    fn id(text: &str) -> RecipientId {
        RecipientId::new(text).unwrap()
    }

    /// Re-encodes a token after letting `change` edit its decoded parts.
    fn tamper(token: &str, change: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) -> String {
        let (encoded_id, encoded_tag) = token.split_once('.').unwrap();
        let mut id_bytes = URL_SAFE_NO_PAD.decode(encoded_id).unwrap();
        let mut tag = URL_SAFE_NO_PAD.decode(encoded_tag).unwrap();
        change(&mut id_bytes, &mut tag);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(id_bytes),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    #[test]
    fn a_legacy_token_verifies_to_its_recipient() {
        let keys = ring("server-secret-0123456789");
        for text in [
            "alice",
            "crm:000123",
            "Zoë 🦀 李",
            &"x".repeat(MAX_RECIPIENT_ID_LEN),
        ] {
            let token = keys.sign_recipient_legacy(&id(text));
            assert!(token.len() <= MAX_TOKEN_LEN);
            assert_eq!(keys.verify_token(&token).unwrap().as_str(), text);
        }
    }

    #[test]
    fn legacy_tokens_are_deterministic_and_url_safe() {
        let keys = ring("server-secret-0123456789");
        let first = keys.sign_recipient_legacy(&id("a/b+c?d=e&f"));
        assert_eq!(first, keys.sign_recipient_legacy(&id("a/b+c?d=e&f")));
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{first}"
        );
    }

    #[test]
    fn a_tampered_id_is_refused() {
        let keys = ring("server-secret-0123456789");
        let token = keys.sign_recipient_legacy(&id("alice"));
        let bob = tamper(&token, |id_bytes, _| *id_bytes = b"bob".to_vec());
        assert_eq!(keys.verify_token(&bob), Err(AccessError::BadToken));
        let flipped = tamper(&token, |id_bytes, _| id_bytes[0] ^= 1);
        assert_eq!(keys.verify_token(&flipped), Err(AccessError::BadToken));
    }

    #[test]
    fn a_tampered_mac_is_refused() {
        let keys = ring("server-secret-0123456789");
        let token = keys.sign_recipient_legacy(&id("alice"));
        for byte in [0, 7, TAG_LEN - 1] {
            let forged = tamper(&token, |_, tag| tag[byte] ^= 0x80);
            assert_eq!(keys.verify_token(&forged), Err(AccessError::BadToken));
        }
        let longer = tamper(&token, |_, tag| tag.push(0));
        assert_eq!(keys.verify_token(&longer), Err(AccessError::BadToken));
    }

    #[test]
    fn truncated_or_malformed_tokens_are_refused() {
        let keys = ring("server-secret-0123456789");
        let token = keys.sign_recipient_legacy(&id("alice"));
        let refused = [
            &token[..token.len() - 1],
            &token[..token.len() - 4],
            token.split_once('.').unwrap().0,
            &token.replace('.', ""),
            &format!("{token}="),
            &format!("{token}.x"),
            &format!(".{}", token.split_once('.').unwrap().1),
            &token.replacen(|c: char| c.is_ascii_alphanumeric(), "*", 1),
            "",
            ".",
        ];
        for bad in refused {
            assert_eq!(keys.verify_token(bad), Err(AccessError::BadToken), "{bad}");
        }
    }

    #[test]
    fn a_signed_id_that_is_not_a_valid_recipient_is_refused() {
        // A correct MAC over bytes that `RecipientId::new` refuses (a control
        // character) must still not produce a recipient.
        let keys = ring("server-secret-0123456789");
        let mut mac = keys.signer(Domain::Token);
        mac.update(b"a\nb");
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(b"a\nb"),
            URL_SAFE_NO_PAD.encode(tag_of(mac))
        );
        assert_eq!(keys.verify_token(&token), Err(AccessError::BadToken));
    }

    #[test]
    fn a_legacy_token_from_another_key_is_refused() {
        let ours = ring("server-secret-0123456789");
        let theirs = ring("someone-else-0123456789");
        let token = theirs.sign_recipient_legacy(&id("alice"));
        assert_eq!(ours.verify_token(&token), Err(AccessError::BadToken));
    }

    #[test]
    fn keys_rotate_without_breaking_sent_legacy_tokens() {
        let old = b"old-secret-0123456789".to_vec();
        let new = b"new-secret-0123456789".to_vec();
        let sent = KeyRing::new(vec![old.clone()])
            .unwrap()
            .sign_recipient_legacy(&id("alice"));

        let rotating = KeyRing::new(vec![new.clone(), old]).unwrap();
        assert_eq!(rotating.verify_token(&sent).unwrap().as_str(), "alice");

        let rotated = KeyRing::new(vec![new]).unwrap();
        assert_eq!(rotated.verify_token(&sent), Err(AccessError::BadToken));

        // Turned off, even a token of a configured key is refused.
        let strict = rotating.with_legacy_tokens(false);
        assert_eq!(strict.verify_token(&sent), Err(AccessError::BadToken));
    }
}
