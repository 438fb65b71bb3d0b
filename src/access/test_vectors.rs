//! Fixed inputs and the tokens and signatures they must give, computed
//! independently (Python's `hmac`, following the recipe in the module
//! documentation). Emails already sent depend on these bytes: if a test here
//! fails, the change broke the wire format, not the test.

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

#[test]
fn recipient_tokens_match_the_vectors() {
    for (id, token) in [
        ("alice", "YWxpY2U.RM2WCQnENCHn8sLyW_PQgA"),
        ("Zoë 李", "Wm_DqyDmnY4.-H5lW78cP9_KhGuAeG0kSg"),
    ] {
        let recipient = RecipientId::new(id).expect("vector ids are valid");
        assert_eq!(ring().sign_recipient(&recipient), token, "{id}");
        assert_eq!(ring().verify_token(token), Ok(recipient));
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
