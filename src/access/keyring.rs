//! The server's signing keys, keyed once and ready to sign, seal and verify.
//!
//! Keys rotate by configuration: the first key signs, every key verifies, so
//! an operator adds a new key in front, waits until mail signed with the old
//! one no longer matters, then drops it. Raw secrets are not kept: each one is
//! turned into HMAC states and an AES-SIV key at start-up and then dropped,
//! which both keeps them out of any `Debug` output and spares every signature
//! the key schedule.

use std::fmt;
use std::sync::Arc;

use aes_siv::Key;
use aes_siv::siv::Aes128Siv;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::AccessError;

/// The fixed key of demo mode. Refused outside demo mode (by configuration,
/// which knows the mode).
pub const DEMO_KEY: &str = "opentime-demo-key-do-not-use-in-production";

/// The shortest secret accepted, in bytes. Shorter secrets can be guessed
/// offline from a single signed URL or legacy token, since the message it
/// signs is public.
pub const MIN_KEY_LEN: usize = 16;

/// The signing keys: the first signs, every one verifies.
///
/// Cloning is cheap (one `Arc`), so the application state can hold one.
#[derive(Clone)]
pub struct KeyRing {
    /// One entry per configured secret, in configuration order.
    keys: Arc<[KeyedSecret]>,
    /// Whether tokens of the first, readable format (`id.mac`) still verify.
    /// They do by default, since emails already sent carry them; an operator
    /// turns them off (`legacy_tokens = false`) once those emails no longer
    /// matter.
    legacy_tokens: bool,
}

impl fmt::Debug for KeyRing {
    /// Shows how many keys there are and nothing about them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.keys.len())
            .field("legacy_tokens", &self.legacy_tokens)
            .finish()
    }
}

impl KeyRing {
    /// Builds a ring from secrets in order of preference: the first signs.
    ///
    /// Refuses an empty list ([`AccessError::NoKeys`]) and any secret shorter
    /// than [`MIN_KEY_LEN`] bytes ([`AccessError::WeakKey`]).
    pub fn new(secrets: Vec<Vec<u8>>) -> Result<KeyRing, AccessError> {
        if secrets.is_empty() {
            return Err(AccessError::NoKeys);
        }
        let mut keys = Vec::with_capacity(secrets.len());
        for (index, secret) in secrets.iter().enumerate() {
            if secret.len() < MIN_KEY_LEN {
                return Err(AccessError::WeakKey {
                    position: index + 1,
                });
            }
            keys.push(KeyedSecret::new(secret));
        }
        Ok(KeyRing {
            keys: keys.into(),
            legacy_tokens: true,
        })
    }

    /// The same keys, accepting tokens of the first format (`id.mac`) or
    /// not. New tokens are never of that format either way.
    pub fn with_legacy_tokens(self, accepted: bool) -> KeyRing {
        KeyRing {
            legacy_tokens: accepted,
            ..self
        }
    }

    /// Whether tokens of the first format (`id.mac`) verify.
    pub fn accepts_legacy_tokens(&self) -> bool {
        self.legacy_tokens
    }

    /// Builds a ring from the value of `OPENTIME_SIGNING_KEYS`: secrets
    /// separated by commas, each trimmed of surrounding whitespace.
    ///
    /// An empty entry (as in `"a,,b"` or a trailing comma) is refused as a
    /// weak key rather than skipped: it is almost always a templating mistake
    /// in a deployment, and better caught at start-up.
    pub fn from_comma_separated(value: &str) -> Result<KeyRing, AccessError> {
        if value.trim().is_empty() {
            return Err(AccessError::NoKeys);
        }
        let secrets = value
            .split(',')
            .map(|secret| secret.trim().as_bytes().to_vec())
            .collect();
        KeyRing::new(secrets)
    }

    /// The ring of demo mode: [`DEMO_KEY`] alone.
    pub fn demo() -> KeyRing {
        KeyRing::new(vec![DEMO_KEY.as_bytes().to_vec()])
            .expect("the demo key is a single secret longer than the minimum")
    }

    /// How many keys verify (the first of them signs).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// A fresh MAC of the signing key, its domain prefix already absorbed.
    pub(super) fn signer(&self, domain: Domain) -> HmacSha256 {
        self.keys[0].for_domain(domain).clone()
    }

    /// Encrypts `message` in place with AES-SIV under the signing key's
    /// key for `sealed` (a token or a click id), and returns the synthetic
    /// IV that authenticates it.
    ///
    /// Deterministic on purpose: no nonce and no associated data, so the
    /// same message and key always give the same bytes.
    pub(super) fn seal(&self, sealed: Sealed, message: &mut [u8]) -> [u8; SIV_LEN] {
        self.keys[0]
            .cipher(sealed)
            .encrypt_in_place_detached(NO_ASSOCIATED_DATA, message)
            .expect("S2V fails only with more than 126 associated data items, and none are given")
            .into()
    }

    /// The plaintext of `ciphertext`, if any key's key for `sealed` sealed
    /// it with the synthetic IV `siv`.
    ///
    /// The check is constant-time within each key (the crate compares IVs
    /// with `subtle`); as with MACs, the time taken only reveals which key
    /// matched. Each key decrypts a copy, so a failed attempt leaves nothing
    /// half-decrypted for the next one.
    pub(super) fn open_with_any_key(
        &self,
        sealed: Sealed,
        siv: &[u8; SIV_LEN],
        ciphertext: &[u8],
    ) -> Option<Vec<u8>> {
        let siv = aes_siv::Tag::from(*siv);
        self.keys.iter().find_map(|key| {
            let mut plaintext = ciphertext.to_vec();
            key.cipher(sealed)
                .decrypt_in_place_detached(NO_ASSOCIATED_DATA, &mut plaintext, &siv)
                .ok()
                .map(|()| plaintext)
        })
    }

    /// Whether any key produced `tag` over the message that `feed` writes.
    ///
    /// Each comparison is constant-time (`verify_truncated_left` uses
    /// `subtle`), so the time taken reveals neither the tag nor how much of
    /// it matched; it only reveals which key matched, which is not a secret.
    pub(super) fn any_key_made(
        &self,
        domain: Domain,
        feed: impl Fn(&mut HmacSha256),
        tag: &[u8; TAG_LEN],
    ) -> bool {
        self.keys.iter().any(|key| {
            let mut mac = key.for_domain(domain).clone();
            feed(&mut mac);
            mac.verify_truncated_left(tag).is_ok()
        })
    }
}

/// The MAC of this module: HMAC-SHA256.
pub(super) type HmacSha256 = Hmac<Sha256>;

/// The length of every tag, in bytes: the first half of an HMAC-SHA256.
/// 128 bits is far beyond online guessing and keeps tokens short in URLs.
pub(super) const TAG_LEN: usize = 16;

/// The first [`TAG_LEN`] bytes of a finished MAC.
pub(super) fn tag_of(mac: HmacSha256) -> [u8; TAG_LEN] {
    let full = mac.finalize().into_bytes();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&full[..TAG_LEN]);
    tag
}

/// The length of AES-SIV's synthetic IV, which opens every sealed token and
/// is both its nonce and its authentication tag: 128 bits, like [`TAG_LEN`].
pub(super) const SIV_LEN: usize = 16;

/// The associated data of a sealed token or click id: none. Each key is
/// already bound to its one use by its label ([`TOKEN_KEY_LABEL`],
/// [`CLICK_KEY_LABEL`]), and without associated data the recipe in the
/// module documentation is one call of any AES-SIV library.
const NO_ASSOCIATED_DATA: [&[u8]; 0] = [];

/// The message whose HMAC-SHA256 under a secret is that secret's token key:
/// the 32-byte key of AES-SIV-CMAC-256 (RFC 5297), which seals recipient ids
/// into tokens. Part of the wire contract, like [`Domain::prefix`], and of
/// the same form, so that no message of any MAC domain is this label and no
/// tag can ever equal the key.
const TOKEN_KEY_LABEL: &[u8] = b"opentime/t/v2\n";

/// The message whose HMAC-SHA256 under a secret is that secret's click key,
/// which seals click ids. A key of its own rather than the token key, so
/// that a click id can never open as a token nor a token as a click id,
/// whatever bytes either seals.
const CLICK_KEY_LABEL: &[u8] = b"opentime/c/v1\n";

/// What an AES-SIV key seals: each has its own key, derived from the same
/// secret under its own label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sealed {
    /// A recipient token (`token.rs`).
    Token,
    /// A click id (`click_id.rs`).
    Click,
}

/// What a MAC is for. Each use signs under its own prefix, so a tag made for
/// one use can never be replayed as a tag for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Domain {
    Token,
    Url,
    Form,
}

impl Domain {
    /// The bytes that open every message of this domain. Part of the wire
    /// contract: changing them invalidates every email already sent.
    pub(super) const fn prefix(self) -> &'static [u8] {
        match self {
            Domain::Token => b"opentime/t/v1\n",
            Domain::Url => b"opentime/s/v1\n",
            Domain::Form => b"opentime/f/v1\n",
        }
    }
}

/// One secret, turned into what signs and seals: its HMAC states, keyed and
/// with each domain's prefix absorbed, and its token key.
///
/// Keying HMAC-SHA256 costs two SHA-256 compressions, as much as signing a
/// short id; cloning a keyed state per signature halves the work, which is
/// what makes signing millions of CSV rows quick.
struct KeyedSecret {
    token: HmacSha256,
    url: HmacSha256,
    form: HmacSha256,
    /// The AES-SIV key of tokens, HMAC-SHA256(secret, [`TOKEN_KEY_LABEL`]).
    /// Kept as bytes rather than as a cipher: the crate's cipher is neither
    /// `Clone` nor usable through `&self`, and building one from the key
    /// (two AES key schedules and CMAC's subkeys) costs about as little as
    /// sealing a short id.
    token_key: Key<Aes128Siv>,
    /// The AES-SIV key of click ids, HMAC-SHA256(secret, [`CLICK_KEY_LABEL`]).
    click_key: Key<Aes128Siv>,
}

impl KeyedSecret {
    fn new(secret: &[u8]) -> KeyedSecret {
        let keyed = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
        let mut token_key_mac = keyed.clone();
        token_key_mac.update(TOKEN_KEY_LABEL);
        let token_key = token_key_mac.finalize().into_bytes();
        let mut click_key_mac = keyed.clone();
        click_key_mac.update(CLICK_KEY_LABEL);
        let click_key = click_key_mac.finalize().into_bytes();
        let mut token = keyed.clone();
        token.update(Domain::Token.prefix());
        let mut url = keyed.clone();
        url.update(Domain::Url.prefix());
        let mut form = keyed;
        form.update(Domain::Form.prefix());
        KeyedSecret {
            token,
            url,
            form,
            token_key,
            click_key,
        }
    }

    /// A cipher of this secret's key for `sealed`, for one seal or one
    /// open.
    fn cipher(&self, sealed: Sealed) -> Aes128Siv {
        let key = match sealed {
            Sealed::Token => &self.token_key,
            Sealed::Click => &self.click_key,
        };
        // Named in full: `KeyInit` in scope would make HMAC's
        // `new_from_slice` ambiguous with `Mac`'s.
        <Aes128Siv as aes_siv::KeyInit>::new(key)
    }

    fn for_domain(&self, domain: Domain) -> &HmacSha256 {
        match domain {
            Domain::Token => &self.token,
            Domain::Url => &self.url,
            Domain::Form => &self.form,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_needs_at_least_one_key() {
        assert_eq!(KeyRing::new(vec![]).unwrap_err(), AccessError::NoKeys);
        assert_eq!(
            KeyRing::from_comma_separated("  ").unwrap_err(),
            AccessError::NoKeys
        );
    }

    #[test]
    fn short_keys_are_refused_with_their_position() {
        let long = b"0123456789abcdef".to_vec();
        let short = b"0123456789abcde".to_vec();
        assert!(KeyRing::new(vec![long.clone()]).is_ok());
        assert_eq!(
            KeyRing::new(vec![long, short]).unwrap_err(),
            AccessError::WeakKey { position: 2 }
        );
        assert_eq!(
            KeyRing::from_comma_separated("0123456789abcdef,").unwrap_err(),
            AccessError::WeakKey { position: 2 }
        );
    }

    #[test]
    fn comma_separated_keys_are_trimmed_and_kept_in_order() {
        let ring = KeyRing::from_comma_separated(" new-secret-0123456789 , old-secret-0123456789 ")
            .unwrap();
        assert_eq!(ring.key_count(), 2);
        let alone = KeyRing::new(vec![b"new-secret-0123456789".to_vec()]).unwrap();
        let id = crate::recipient::RecipientId::new("alice").unwrap();
        assert_eq!(ring.sign_recipient(&id), alone.sign_recipient(&id));
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let ring = KeyRing::new(vec![b"super-secret-signing-key".to_vec()]).unwrap();
        let shown = format!("{ring:?} {ring:#?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("keys: 1"), "{shown}");
    }

    #[test]
    fn a_ring_can_be_shared_across_threads() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<KeyRing>();
    }

    #[test]
    fn the_demo_ring_has_the_demo_key() {
        let demo = KeyRing::demo();
        let same = KeyRing::new(vec![DEMO_KEY.as_bytes().to_vec()]).unwrap();
        let id = crate::recipient::RecipientId::new("demo").unwrap();
        assert_eq!(demo.sign_recipient(&id), same.sign_recipient(&id));
    }
}
