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

/// Click ids of [`KEY`]: `"c1"` and the base64url of AES-SIV's output over
/// `at template e variant experiment arm recipient`, whose key is
/// HMAC-SHA256(KEY, "opentime/c/v1\n"), that is
/// `69ce179d1cc6454d114d240bb73892452d6499abdd9aa1276188e484ae652f6f`.
const CLICKS: [(&str, &str); 2] = [
    (
        "1795428000 renewal  offer   alice",
        "c1vs7F9oY5P8Rx68Ut3gYrat6elLCi0X9GGnUqJKyQ1BzzrH6lvk_4u56FYYioBf_mtw",
    ),
    (
        "1795428000 renewal step-2 copy-b renewal-copy b cust-1",
        "c1Z0ny60jpi_30xAG_1CzPUCbOv--BkYmN49h_v10zhFVYE6MP-EiZVo8_rK4ZA8Bkvc8f7c6WZ6KF_nBNv6JySmuz8UW-Mg",
    ),
];

#[test]
fn click_ids_match_the_vectors() {
    let clicks = [
        super::ClickId {
            at: 1_795_428_000,
            template: "renewal".into(),
            email: String::new(),
            variant: "offer".into(),
            arm: None,
            recipient: recipient("alice"),
        },
        super::ClickId {
            at: 1_795_428_000,
            template: "renewal".into(),
            email: "step-2".into(),
            variant: "copy-b".into(),
            arm: Some(("renewal-copy".into(), "b".into())),
            recipient: recipient("cust-1"),
        },
    ];
    for (click, (text, id)) in clicks.into_iter().zip(CLICKS) {
        assert_eq!(ring().seal_click(&click), id, "{text}");
        assert_eq!(ring().open_click(id), Ok(click));
    }
}
