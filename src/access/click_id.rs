//! Click ids: what a click was (template, email of a sequence, variant,
//! experiment arm, recipient, time) sealed with AES-SIV into one URL-safe
//! string, which the click's redirect hands to the customer's site and the
//! customer's backend hands back with a conversion. Only a configured key
//! opens one, and it shows nothing of what it seals, the recipient id least
//! of all. The format is described, with the exact bytes, in the
//! [module documentation](super).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::keyring::{SIV_LEN, Sealed};
use super::{AccessError, KeyRing};
use crate::recipient::{MAX_RECIPIENT_ID_LEN, RecipientId};

/// What every click id of this format opens with: its version.
const CLICK_ID_PREFIX: &str = "c1";

/// The longest part besides the recipient id, in bytes: template names,
/// variant ids, experiment ids and arms are identifiers of at most 64
/// bytes, and so is `e`.
const MAX_PART_LEN: usize = 64;

/// The longest sealed text: a time of at most 19 digits, five parts of at
/// most [`MAX_PART_LEN`], the recipient id and six spaces.
const MAX_CLICK_TEXT_LEN: usize = 19 + 5 * MAX_PART_LEN + MAX_RECIPIENT_ID_LEN + 6;

/// The longest click id looked at, in bytes: the longest valid one is 825
/// (a sealed text of 601 bytes), so anything longer is refused before any
/// decoding or decryption.
pub const MAX_CLICK_ID_LEN: usize = 1024;

/// One click, as its id seals it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickId {
    /// When the click was, in Unix seconds: the second of its event's `at`.
    pub at: i64,
    pub template: String,
    /// The email of a sequence the click's URL named (`e`); empty for none.
    pub email: String,
    /// The variant the click followed.
    pub variant: String,
    /// The experiment and the recipient's arm in it, when the variant
    /// followed was an arm's.
    pub arm: Option<(String, String)>,
    pub recipient: RecipientId,
}

impl KeyRing {
    /// The click id of `click`, sealed with the first key. Deterministic:
    /// the same click in the same second gives the same id.
    pub fn seal_click(&self, click: &ClickId) -> String {
        let (experiment, arm) = click
            .arm
            .as_ref()
            .map_or(("", ""), |(experiment, arm)| (experiment, arm));
        let text = format!(
            "{} {} {} {} {experiment} {arm} {}",
            click.at,
            click.template,
            click.email,
            click.variant,
            click.recipient.as_str()
        );
        let mut sealed = vec![0u8; SIV_LEN];
        sealed.extend_from_slice(text.as_bytes());
        let siv = self.seal(Sealed::Click, &mut sealed[SIV_LEN..]);
        sealed[..SIV_LEN].copy_from_slice(&siv);
        let mut id = String::with_capacity(CLICK_ID_PREFIX.len() + sealed.len() * 4 / 3 + 3);
        id.push_str(CLICK_ID_PREFIX);
        URL_SAFE_NO_PAD.encode_string(&sealed, &mut id);
        id
    }

    /// The click an id seals, if a configured key made it. Every failure
    /// is the same [`AccessError::BadClickId`].
    pub fn open_click(&self, id: &str) -> Result<ClickId, AccessError> {
        if id.len() > MAX_CLICK_ID_LEN {
            return Err(AccessError::BadClickId);
        }
        let encoded = id
            .strip_prefix(CLICK_ID_PREFIX)
            .ok_or(AccessError::BadClickId)?;
        let sealed = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| AccessError::BadClickId)?;
        // The shortest text is a time, a template, a variant, a recipient
        // and six spaces.
        if !(SIV_LEN + 10..=SIV_LEN + MAX_CLICK_TEXT_LEN).contains(&sealed.len()) {
            return Err(AccessError::BadClickId);
        }
        let (siv, ciphertext) = sealed.split_at(SIV_LEN);
        let siv: &[u8; SIV_LEN] = siv.try_into().map_err(|_| AccessError::BadClickId)?;
        let text = self
            .open_with_any_key(Sealed::Click, siv, ciphertext)
            .ok_or(AccessError::BadClickId)?;
        let text = String::from_utf8(text).map_err(|_| AccessError::BadClickId)?;
        // Checked even though a key made it, as tokens are: another
        // deployment sharing the key may have sealed other text.
        decode_text(&text).ok_or(AccessError::BadClickId)
    }
}

/// The click in `at template e variant experiment arm recipient`.
fn decode_text(text: &str) -> Option<ClickId> {
    let mut parts = text.splitn(7, ' ');
    let at: i64 = parts.next()?.parse().ok().filter(|at| *at >= 0)?;
    let mut part = || parts.next().filter(|part| is_part(part));
    let (template, email, variant) = (part()?, part()?, part()?);
    let (experiment, arm) = (part()?, part()?);
    let recipient = RecipientId::new(parts.next()?).ok()?;
    if template.is_empty() || variant.is_empty() || experiment.is_empty() != arm.is_empty() {
        return None;
    }
    Some(ClickId {
        at,
        template: template.to_string(),
        email: email.to_string(),
        variant: variant.to_string(),
        arm: (!arm.is_empty()).then(|| (experiment.to_string(), arm.to_string())),
        recipient,
    })
}

/// A part other than the recipient: empty, or at most [`MAX_PART_LEN`]
/// letters, digits, `.`, `_` and `-`, which holds every identifier and
/// every `e`, and never a space, `|`, `:` or a brace, which the store's keys
/// and report fields use as separators.
fn is_part(part: &str) -> bool {
    part.len() <= MAX_PART_LEN
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(vec![secret.as_bytes().to_vec()]).unwrap()
    }

    fn click(recipient: &str) -> ClickId {
        ClickId {
            at: 1_795_428_000,
            template: "renewal".into(),
            email: "step-2".into(),
            variant: "copy-b".into(),
            arm: Some(("renewal-copy".into(), "b".into())),
            recipient: RecipientId::new(recipient).unwrap(),
        }
    }

    /// An id sealing `text` under the ring's first key, valid or not: what
    /// a key holder could make.
    fn seal_text(keys: &KeyRing, text: &str) -> String {
        let mut sealed = vec![0u8; SIV_LEN];
        sealed.extend_from_slice(text.as_bytes());
        let siv = keys.seal(Sealed::Click, &mut sealed[SIV_LEN..]);
        sealed[..SIV_LEN].copy_from_slice(&siv);
        format!("{CLICK_ID_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    #[test]
    fn a_sealed_click_opens_to_itself_and_is_url_safe() {
        let keys = ring("server-secret-0123456789");
        for recipient in ["cust-1", "Zoë 李 with spaces", &"x".repeat(256)] {
            let click = click(recipient);
            let id = keys.seal_click(&click);
            assert!(id.starts_with("c1"), "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{id}"
            );
            assert_eq!(keys.open_click(&id), Ok(click));
        }
        let plain = ClickId {
            email: String::new(),
            arm: None,
            ..click("cust-1")
        };
        let id = keys.seal_click(&plain);
        assert_eq!(keys.open_click(&id), Ok(plain));
    }

    #[test]
    fn the_longest_click_id_is_within_the_limit() {
        let keys = ring("server-secret-0123456789");
        let long = "y".repeat(MAX_PART_LEN);
        let longest = ClickId {
            at: i64::MAX,
            template: long.clone(),
            email: long.clone(),
            variant: long.clone(),
            arm: Some((long.clone(), long)),
            recipient: RecipientId::new("x".repeat(MAX_RECIPIENT_ID_LEN)).unwrap(),
        };
        let id = keys.seal_click(&longest);
        assert_eq!(id.len(), 825);
        assert_eq!(keys.open_click(&id), Ok(longest));
    }

    #[test]
    fn a_click_id_shows_nothing_it_seals() {
        let keys = ring("server-secret-0123456789");
        let id = keys.seal_click(&click("alice.smith@example.com"));
        for shown in ["alice", "smith", "example", "renewal", "copy"] {
            assert!(!id.contains(shown), "{id} shows {shown}");
        }
        for skip in 0..3 {
            let encoded = URL_SAFE_NO_PAD.encode(&b"alice.smith@example.com"[skip..]);
            assert!(!id.contains(&encoded[4..16]), "{id}");
        }
    }

    #[test]
    fn a_click_id_is_not_a_token_nor_a_token_a_click_id() {
        let keys = ring("server-secret-0123456789");
        let recipient = RecipientId::new("alice").unwrap();
        let token = keys.sign_recipient(&recipient);
        assert_eq!(keys.open_click(&token), Err(AccessError::BadClickId));
        let as_click = format!("{CLICK_ID_PREFIX}{}", &token[2..]);
        assert_eq!(keys.open_click(&as_click), Err(AccessError::BadClickId));
        // The same text under the token key does not open as a click.
        let text = "1 renewal  offer   alice";
        let mut sealed = vec![0u8; SIV_LEN];
        sealed.extend_from_slice(text.as_bytes());
        let siv = keys.seal(Sealed::Token, &mut sealed[SIV_LEN..]);
        sealed[..SIV_LEN].copy_from_slice(&siv);
        let under_token_key = format!("{CLICK_ID_PREFIX}{}", URL_SAFE_NO_PAD.encode(&sealed));
        assert_eq!(
            keys.open_click(&under_token_key),
            Err(AccessError::BadClickId)
        );
        assert!(keys.open_click(&seal_text(&keys, text)).is_ok());
        let click_id = keys.seal_click(&click("alice"));
        assert_eq!(
            keys.verify_token(&format!("v2{}", &click_id[2..])),
            Err(AccessError::BadToken)
        );
    }

    #[test]
    fn every_character_of_a_click_id_is_checked() {
        let keys = ring("server-secret-0123456789");
        let id = keys.seal_click(&click("ann"));
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
        for (position, original) in id.char_indices() {
            for replacement in alphabet.chars().filter(|&c| c != original) {
                let mut forged = id.clone();
                forged.replace_range(position..position + 1, &replacement.to_string());
                assert_eq!(keys.open_click(&forged), Err(AccessError::BadClickId));
            }
        }
        for bad in [
            &id[..id.len() - 1],
            &id[2..],
            &format!("{id}="),
            &format!("{id} "),
            "",
            "c1",
            &format!("c1{}", "A".repeat(MAX_CLICK_ID_LEN)),
        ] {
            assert_eq!(keys.open_click(bad), Err(AccessError::BadClickId), "{bad}");
        }
    }

    #[test]
    fn sealed_text_that_is_no_click_is_refused() {
        let keys = ring("server-secret-0123456789");
        for text in [
            "",
            "soon renewal e offer   alice",
            "-1 renewal  offer   alice",
            "1  e offer   alice",
            "1 renewal e    alice",
            "1 renewal e offer x  alice",
            "1 renewal e offer  b alice",
            "1 ren{ewal e offer   alice",
            "1 renewal e offer   ",
            "1 renewal e offer   a\nb",
            "1 renewal e offer",
        ] {
            assert_eq!(
                keys.open_click(&seal_text(&keys, text)),
                Err(AccessError::BadClickId),
                "{text:?}"
            );
        }
    }

    #[test]
    fn keys_rotate_without_breaking_sent_click_ids() {
        let old = b"old-secret-0123456789".to_vec();
        let new = b"new-secret-0123456789".to_vec();
        let sent = KeyRing::new(vec![old.clone()])
            .unwrap()
            .seal_click(&click("alice"));
        let rotating = KeyRing::new(vec![new.clone(), old]).unwrap();
        assert_eq!(rotating.open_click(&sent), Ok(click("alice")));
        let fresh = rotating.seal_click(&click("alice"));
        assert_ne!(fresh, sent);
        let rotated = KeyRing::new(vec![new]).unwrap();
        assert_eq!(rotated.open_click(&fresh), Ok(click("alice")));
        assert_eq!(rotated.open_click(&sent), Err(AccessError::BadClickId));
    }
}
