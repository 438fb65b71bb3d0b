//! Fixed inputs and the tokens and signatures they must give, computed
//! independently (Python's `hmac`, and `cryptography`'s `AESSIV` for opaque
//! tokens, following the recipes in the module documentation) and pinned
//! once this crate gave the same. Emails already sent depend on these bytes:
//! if a test here fails, the change broke the wire format, not the test.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{AccessError, KeyRing, canonical_query};
use crate::recipient::RecipientId;

const KEY: &[u8] = b"opentime-test-vector-key";

fn ring() -> KeyRing {
    KeyRing::new(vec![KEY.to_vec()]).expect("the test vector key is long enough")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// The opaque tokens of [`KEY`]: `"v2"` and the base64url of AES-SIV's
/// output, whose key is HMAC-SHA256(KEY, "opentime/t/v2\n"), that is
/// `7eccc5b910ddd3614901be8e5525f903027264e450eb985a43aa6934e5bdc4e3`.
const OPAQUE: [(&str, &str); 3] = [
    ("alice", "v2zypqtUAH0Ntb9OSImdJRoeeCmDzr"),
    ("Zoë 李", "v2g7xnToj5uNuWIraTbduEZ1ESsrl7NL2m"),
    (
        "alice@example.com",
        "v2GaXrWHN_VPx9GCs2VQOuYRzdFoqZAJ7k6BVJf-v9qupL",
    ),
];

/// The tokens of the first format for the same key, as sent before opaque
/// tokens: they must keep verifying while legacy tokens are accepted.
const LEGACY: [(&str, &str); 2] = [
    ("alice", "YWxpY2U.RM2WCQnENCHn8sLyW_PQgA"),
    ("Zoë 李", "Wm_DqyDmnY4.-H5lW78cP9_KhGuAeG0kSg"),
];

fn recipient(id: &str) -> RecipientId {
    RecipientId::new(id).expect("vector ids are valid")
}

#[test]
fn recipient_tokens_match_the_vectors() {
    for (id, token) in OPAQUE {
        assert_eq!(ring().sign_recipient(&recipient(id)), token, "{id}");
        assert_eq!(ring().verify_token(token), Ok(recipient(id)));
    }
}

#[test]
fn legacy_tokens_match_the_vectors_and_still_verify() {
    for (id, token) in LEGACY {
        assert_eq!(ring().sign_recipient_legacy(&recipient(id)), token, "{id}");
        assert_eq!(ring().verify_token(token), Ok(recipient(id)));
    }
}

#[test]
fn legacy_vectors_are_refused_once_turned_off_and_opaque_ones_are_not() {
    let strict = ring().with_legacy_tokens(false);
    for (_, token) in LEGACY {
        assert_eq!(strict.verify_token(token), Err(AccessError::BadToken));
    }
    for (id, token) in OPAQUE {
        assert_eq!(strict.verify_token(token), Ok(recipient(id)));
    }
}

#[test]
fn vector_tokens_verify_while_their_key_rotates_out() {
    let rotating = KeyRing::new(vec![b"a-newer-signing-key-0123".to_vec(), KEY.to_vec()])
        .expect("both keys are long enough");
    for (id, token) in OPAQUE.into_iter().chain(LEGACY) {
        assert_eq!(rotating.verify_token(token), Ok(recipient(id)));
        assert_ne!(rotating.sign_recipient(&recipient(id)), token);
    }
    let rotated =
        KeyRing::new(vec![b"a-newer-signing-key-0123".to_vec()]).expect("the key is long enough");
    for (_, token) in OPAQUE.into_iter().chain(LEGACY) {
        assert_eq!(rotated.verify_token(token), Err(AccessError::BadToken));
    }
}

#[test]
fn changing_any_character_of_a_vector_token_is_refused() {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (_, token) in OPAQUE {
        for (position, original) in token.char_indices() {
            for replacement in alphabet.chars().filter(|&c| c != original) {
                let mut forged = token.to_string();
                forged.replace_range(position..position + 1, &replacement.to_string());
                assert_eq!(
                    ring().verify_token(&forged),
                    Err(AccessError::BadToken),
                    "{forged}"
                );
            }
        }
    }
}

#[test]
fn opaque_vector_tokens_show_nothing_of_the_id() {
    for (id, token) in OPAQUE {
        assert!(!token.contains('.'), "{token}");
        for word in id.split(['@', '.', ' ']) {
            assert!(!token.contains(word), "{token} shows {word:?}");
        }
        // Nor the id's base64url, which is what the first format showed.
        let readable = URL_SAFE_NO_PAD.encode(id);
        assert!(!token.contains(&readable), "{token}");
    }
}

#[test]
fn url_signatures_match_the_vectors() {
    let campaign = pairs(&[("until", "2026-12-01T00:00:00Z"), ("campaign", "bf")]);
    assert_eq!(
        canonical_query(&campaign),
        "campaign=bf&until=2026-12-01T00%3A00%3A00Z"
    );
    assert_eq!(
        ring().sign_url("/i/sale.gif", &campaign),
        "84T5BR-2WWQng6LxIT-UMw"
    );

    let unicode = pairs(&[
        ("name", "Zoë & co"),
        ("until", "2026-12-01T00:00:00Z"),
        ("t", "x"),
    ]);
    assert_eq!(
        ring().sign_url("/i/sale.gif", &unicode),
        "uMvRUQW1JQHbLFLmHZhXbQ"
    );
    let mut request = unicode;
    request.push(("s".into(), "uMvRUQW1JQHbLFLmHZhXbQ".into()));
    assert_eq!(ring().verify_url("/i/sale.gif", &request), Ok(()));
    request[0].1 = "Zoe & co".into();
    assert_eq!(
        ring().verify_url("/i/sale.gif", &request),
        Err(AccessError::BadSignature)
    );
}

#[test]
fn a_pasted_url_signs_to_the_vector() {
    assert_eq!(
        ring()
            .sign_url_string(
                "https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z&campaign=bf"
            )
            .expect("a full URL signs"),
        "https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z&campaign=bf\
         &s=84T5BR-2WWQng6LxIT-UMw"
    );
}
