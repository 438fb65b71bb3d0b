//! Recipient tokens (`t`): the recipient id sealed with AES-SIV into one
//! URL-safe string that stays the same for a recipient across every URL and
//! email, and shows nothing of the id to whoever reads the URL.
//!
//! Tokens of the first format, which carried the id readably beside a MAC
//! (`legacy_token.rs`), verify beside these while the ring accepts them. The
//! two cannot be confused: a legacy token always holds a `.`, which neither
//! the prefix nor base64url ever does. The format is described, with the
//! exact bytes, in the [module documentation](super).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::keyring::{SIV_LEN, Sealed};
use super::{AccessError, KeyRing};
use crate::recipient::{MAX_RECIPIENT_ID_LEN, RecipientId};

/// The longest token looked at, in bytes. The longest valid token of either
/// format (an id of 256 bytes) is 365 bytes, so anything longer is refused
/// before any decoding, hashing or decryption.
pub const MAX_TOKEN_LEN: usize = 512;

/// What every token of the current format opens with: its version, so that
/// a later format can verify beside it, as this one does beside the first.
const TOKEN_PREFIX: &str = "v2";

/// The separator of the first format's two parts, which a current token
/// never holds.
const LEGACY_SEPARATOR: char = '.';

impl KeyRing {
    /// The token `t` of a recipient, sealed with the first key.
    ///
    /// Deterministic: the same recipient and key always give the same token,
    /// so an email platform can store it once as a profile attribute.
    pub fn sign_recipient(&self, recipient: &RecipientId) -> String {
        let mut token = String::new();
        self.write_token(recipient, &mut token);
        token
    }

    /// The recipient a token names, if any configured key made it: a token
    /// of the current format, or one of the first format while the ring
    /// accepts those ([`KeyRing::with_legacy_tokens`]).
    ///
    /// Every failure is the same [`AccessError::BadToken`]: a caller learns
    /// nothing about which check refused the token.
    pub fn verify_token(&self, token: &str) -> Result<RecipientId, AccessError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AccessError::BadToken);
        }
        let id_bytes = if token.contains(LEGACY_SEPARATOR) {
            if !self.accepts_legacy_tokens() {
                return Err(AccessError::BadToken);
            }
            self.open_legacy_token(token)?
        } else {
            self.open_token(token)?
        };
        // Checked even though a key made it: another deployment sharing the
        // key, or an older version, may have made a token of an id we no
        // longer accept.
        let id = String::from_utf8(id_bytes).map_err(|_| AccessError::BadToken)?;
        RecipientId::new(id).map_err(|_| AccessError::BadToken)
    }

    /// Appends the token of `recipient` to `out`. Shared with bulk CSV
    /// signing, which reuses one buffer for millions of rows; the id is
    /// sealed on the stack, so a row costs no allocation.
    pub(super) fn write_token(&self, recipient: &RecipientId, out: &mut String) {
        let id = recipient.as_str().as_bytes();
        let mut buffer = [0u8; SIV_LEN + MAX_RECIPIENT_ID_LEN];
        let sealed = &mut buffer[..SIV_LEN + id.len()];
        let (siv, ciphertext) = sealed.split_at_mut(SIV_LEN);
        ciphertext.copy_from_slice(id);
        siv.copy_from_slice(&self.seal(Sealed::Token, ciphertext));
        out.push_str(TOKEN_PREFIX);
        URL_SAFE_NO_PAD.encode_string(&*sealed, out);
    }

    /// The id bytes a token of the current format seals, if any key sealed
    /// them. Lengths are checked before any decryption: a sealed id is one
    /// synthetic IV and 1 to [`MAX_RECIPIENT_ID_LEN`] bytes.
    fn open_token(&self, token: &str) -> Result<Vec<u8>, AccessError> {
        let encoded = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(AccessError::BadToken)?;
        // The decoder refuses padding and non-canonical trailing bits, so a
        // sealed id has exactly one spelling.
        let sealed = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| AccessError::BadToken)?;
        if !(SIV_LEN + 1..=SIV_LEN + MAX_RECIPIENT_ID_LEN).contains(&sealed.len()) {
            return Err(AccessError::BadToken);
        }
        let (siv, ciphertext) = sealed.split_at(SIV_LEN);
        let siv: &[u8; SIV_LEN] = siv.try_into().map_err(|_| AccessError::BadToken)?;
        self.open_with_any_key(Sealed::Token, siv, ciphertext)
            .ok_or(AccessError::BadToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(vec![secret.as_bytes().to_vec()]).unwrap()
    }

    fn id(text: &str) -> RecipientId {
        RecipientId::new(text).unwrap()
    }

    /// A token sealing `id_bytes` under the ring's signing key, valid
    /// recipient id or not: what a key holder could make.
    fn seal_any(keys: &KeyRing, id_bytes: &[u8]) -> String {
        let mut sealed = vec![0u8; SIV_LEN];
        sealed.extend_from_slice(id_bytes);
        let siv = keys.seal(Sealed::Token, &mut sealed[SIV_LEN..]);
        sealed[..SIV_LEN].copy_from_slice(&siv);
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Re-encodes a token after letting `change` edit its sealed bytes.
    fn tamper(token: &str, change: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut sealed = URL_SAFE_NO_PAD
            .decode(token.strip_prefix(TOKEN_PREFIX).unwrap())
            .unwrap();
        change(&mut sealed);
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    #[test]
    fn a_signed_token_verifies_to_its_recipient() {
        let keys = ring("server-secret-0123456789");
        for text in [
            "alice",
            "crm:000123",
            "Zoë 🦀 李",
            &"x".repeat(MAX_RECIPIENT_ID_LEN),
        ] {
            let token = keys.sign_recipient(&id(text));
            assert!(token.len() <= MAX_TOKEN_LEN);
            assert_eq!(keys.verify_token(&token).unwrap().as_str(), text);
        }
    }

    #[test]
    fn the_longest_token_is_the_one_the_limit_names() {
        let keys = ring("server-secret-0123456789");
        let longest = keys.sign_recipient(&id(&"x".repeat(MAX_RECIPIENT_ID_LEN)));
        assert_eq!(longest.len(), 365);
        let legacy = keys.sign_recipient_legacy(&id(&"x".repeat(MAX_RECIPIENT_ID_LEN)));
        assert_eq!(legacy.len(), 365);
        assert_eq!(keys.verify_token(&longest), keys.verify_token(&legacy));
        assert!(longest.len() <= MAX_TOKEN_LEN);
    }

    #[test]
    fn tokens_are_deterministic_and_url_safe() {
        let keys = ring("server-secret-0123456789");
        let first = keys.sign_recipient(&id("a/b+c?d=e&f"));
        assert_eq!(first, keys.sign_recipient(&id("a/b+c?d=e&f")));
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{first}"
        );
        assert!(first.starts_with(TOKEN_PREFIX), "{first}");
        assert!(!first.contains('.'), "{first}");
    }

    #[test]
    fn a_token_shows_nothing_of_its_id() {
        let keys = ring("server-secret-0123456789");
        let address = "alice.smith@example.com";
        let token = keys.sign_recipient(&id(address));
        for shown in [address, "alice", "example", "smith"] {
            assert!(!token.contains(shown), "{token} shows {shown}");
        }
        // Nor its base64url, in any of the three alignments.
        for skip in 0..3 {
            let encoded = URL_SAFE_NO_PAD.encode(&address.as_bytes()[skip..]);
            assert!(!token.contains(&encoded[4..16]), "{token}");
        }
        // Ids that share a prefix share nothing visible in their tokens.
        let sibling = keys.sign_recipient(&id("alice.smith@example.org"));
        assert_ne!(token[..12], sibling[..12]);
    }

    #[test]
    fn a_tampered_id_is_refused() {
        let keys = ring("server-secret-0123456789");
        let token = keys.sign_recipient(&id("alice"));
        for byte in [SIV_LEN, SIV_LEN + 2, SIV_LEN + 4] {
            let flipped = tamper(&token, |sealed| sealed[byte] ^= 1);
            assert_eq!(keys.verify_token(&flipped), Err(AccessError::BadToken));
        }
        // Another token's ciphertext under this token's IV.
        let bob = keys.sign_recipient(&id("bobby"));
        let swapped = tamper(&token, |sealed| {
            let other = URL_SAFE_NO_PAD.decode(&bob[TOKEN_PREFIX.len()..]).unwrap();
            sealed[SIV_LEN..].copy_from_slice(&other[SIV_LEN..]);
        });
        assert_eq!(keys.verify_token(&swapped), Err(AccessError::BadToken));
    }

    #[test]
    fn a_tampered_iv_is_refused() {
        let keys = ring("server-secret-0123456789");
        let token = keys.sign_recipient(&id("alice"));
        for byte in [0, 7, 8, 12, SIV_LEN - 1] {
            let forged = tamper(&token, |sealed| sealed[byte] ^= 0x80);
            assert_eq!(keys.verify_token(&forged), Err(AccessError::BadToken));
        }
        let longer = tamper(&token, |sealed| sealed.push(0));
        assert_eq!(keys.verify_token(&longer), Err(AccessError::BadToken));
    }

    #[test]
    fn every_character_of_a_token_is_checked() {
        // "alice" seals to 21 bytes, which base64url fills exactly; "ann"
        // to 19, whose last character carries 4 unused bits, which must be
        // zero.
        let keys = ring("server-secret-0123456789");
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
        for text in ["alice", "ann"] {
            let token = keys.sign_recipient(&id(text));
            for (position, original) in token.char_indices() {
                for replacement in alphabet.chars().filter(|&c| c != original) {
                    let mut forged = token.clone();
                    forged.replace_range(position..position + 1, &replacement.to_string());
                    assert_eq!(
                        keys.verify_token(&forged),
                        Err(AccessError::BadToken),
                        "{forged}"
                    );
                }
            }
        }
    }

    #[test]
    fn truncated_or_malformed_tokens_are_refused() {
        let keys = ring("server-secret-0123456789");
        let token = keys.sign_recipient(&id("alice"));
        let body = &token[TOKEN_PREFIX.len()..];
        let refused = [
            &token[..token.len() - 1],
            &token[..token.len() - 4],
            &token[..TOKEN_PREFIX.len() + 22],
            TOKEN_PREFIX,
            body,
            &format!("v3{body}"),
            &format!("V2{body}"),
            &format!("{token}="),
            &format!("{token}AAAA"),
            &format!("{TOKEN_PREFIX}{TOKEN_PREFIX}{body}"),
            &token.replacen(|c: char| c.is_ascii_alphanumeric(), "*", 1),
            &format!("{token} "),
            "",
            "garbage",
        ];
        for bad in refused {
            assert_eq!(keys.verify_token(bad), Err(AccessError::BadToken), "{bad}");
        }
    }

    #[test]
    fn an_overlong_token_is_refused_before_any_work() {
        let keys = ring("server-secret-0123456789");
        let huge = format!("{TOKEN_PREFIX}{}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(keys.verify_token(&huge), Err(AccessError::BadToken));
        let huge_legacy = format!("{}.{}", "A".repeat(MAX_TOKEN_LEN), "A".repeat(22));
        assert_eq!(keys.verify_token(&huge_legacy), Err(AccessError::BadToken));
    }

    #[test]
    fn a_sealed_id_that_is_not_a_valid_recipient_is_refused() {
        // Correctly sealed bytes that `RecipientId::new` refuses (a control
        // character, invalid UTF-8, an empty or overlong id) must still not
        // produce a recipient.
        let keys = ring("server-secret-0123456789");
        let overlong = "x".repeat(MAX_RECIPIENT_ID_LEN + 1);
        for id_bytes in [&b"a\nb"[..], b"\xff\xfe", b"", overlong.as_bytes()] {
            let token = seal_any(&keys, id_bytes);
            assert_eq!(keys.verify_token(&token), Err(AccessError::BadToken));
        }
        // The same helper makes tokens that do verify, so the refusals above
        // are the ids' doing.
        assert_eq!(
            keys.verify_token(&seal_any(&keys, b"ab")).unwrap().as_str(),
            "ab"
        );
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let ours = ring("server-secret-0123456789");
        let theirs = ring("someone-else-0123456789");
        let token = theirs.sign_recipient(&id("alice"));
        assert_eq!(ours.verify_token(&token), Err(AccessError::BadToken));
    }

    #[test]
    fn keys_rotate_without_breaking_sent_tokens() {
        let old = b"old-secret-0123456789".to_vec();
        let new = b"new-secret-0123456789".to_vec();
        let sent = KeyRing::new(vec![old.clone()])
            .unwrap()
            .sign_recipient(&id("alice"));

        let rotating = KeyRing::new(vec![new.clone(), old]).unwrap();
        assert_eq!(rotating.verify_token(&sent).unwrap().as_str(), "alice");

        let rotated = KeyRing::new(vec![new]).unwrap();
        assert_eq!(rotated.verify_token(&sent), Err(AccessError::BadToken));

        // While rotating, new tokens are signed by the new key only.
        let fresh = rotating.sign_recipient(&id("alice"));
        assert_ne!(fresh, sent);
        assert_eq!(fresh, rotated.sign_recipient(&id("alice")));
    }

    #[test]
    fn legacy_tokens_verify_until_they_are_turned_off() {
        let keys = ring("server-secret-0123456789");
        assert!(keys.accepts_legacy_tokens());
        let legacy = keys.sign_recipient_legacy(&id("alice"));
        let current = keys.sign_recipient(&id("alice"));
        assert_eq!(keys.verify_token(&legacy).unwrap().as_str(), "alice");

        let strict = keys.with_legacy_tokens(false);
        assert!(!strict.accepts_legacy_tokens());
        assert_eq!(strict.verify_token(&legacy), Err(AccessError::BadToken));
        assert_eq!(strict.verify_token(&current).unwrap().as_str(), "alice");
        // Turning them off changes what verifies, never what is signed.
        assert_eq!(strict.sign_recipient(&id("alice")), current);
    }
}
