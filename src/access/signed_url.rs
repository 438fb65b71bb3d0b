//! Signed URLs (`s`): a MAC over a URL's path and canonical query, for
//! templates whose parameters must be trusted (a countdown's deadline, say).
//!
//! The format, with the exact bytes and a recipe for other languages, is in
//! the [module documentation](super).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::keyring::{Domain, TAG_LEN, tag_of};
use super::{AccessError, KeyRing};

/// The longest URL verified, counting the path and every query key and value,
/// in bytes. Real email URLs are a few hundred bytes; anything past this is
/// refused before any work.
pub const MAX_SIGNED_URL_LEN: usize = 8192;

/// The query parameters a signature does not cover.
///
/// `s` is the signature itself. `t` is left out on purpose: a marketer signs a
/// campaign URL once and the email platform then appends each recipient's
/// token, which must not break the signature.
pub const UNSIGNED_PARAMS: [&str; 2] = ["s", "t"];

/// Bytes left as they are in canonical keys and values: RFC 3986 unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`). Every other byte of the UTF-8 text is
/// written `%XX` with upper-case hex. This is what most languages' strict URL
/// encoders produce (Python's `quote(x, safe="")`, JavaScript's
/// `encodeURIComponent` plus `!'()*`), so customers can reproduce it.
const QUERY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The same, keeping `/` so that a path reads as itself.
const PATH_ENCODE_SET: &AsciiSet = &QUERY_ENCODE_SET.remove(b'/');

/// The length of `s`: [`TAG_LEN`] bytes in unpadded base64url.
const ENCODED_SIGNATURE_LEN: usize = 22;

impl KeyRing {
    /// The `s` value for a path and its decoded query, signed by the first key.
    /// Any `s` or `t` among `query` is ignored, as verification ignores them.
    pub fn sign_url(&self, path: &str, query: &[(String, String)]) -> String {
        let mut mac = self.signer(Domain::Url);
        mac.update(string_to_sign(path, query).as_bytes());
        URL_SAFE_NO_PAD.encode(tag_of(mac))
    }

    /// Checks the `s` pair among `query` against the path and the other
    /// pairs, with every key. `path` is the request's path (escaped or not);
    /// `query` is its whole query decoded as `form_urlencoded::parse` does,
    /// in any order.
    ///
    /// Refuses a query with no `s` or with more than one: with two, which one
    /// a later reader would trust is anyone's guess.
    pub fn verify_url(&self, path: &str, query: &[(String, String)]) -> Result<(), AccessError> {
        let url_len = query.iter().fold(path.len(), |len, (key, value)| {
            len + key.len() + value.len()
        });
        if url_len > MAX_SIGNED_URL_LEN {
            return Err(AccessError::BadSignature);
        }
        let mut signatures = query.iter().filter(|(key, _)| key == "s");
        let signature = match (signatures.next(), signatures.next()) {
            (Some((_, signature)), None) => signature,
            _ => return Err(AccessError::BadSignature),
        };
        if signature.len() != ENCODED_SIGNATURE_LEN {
            return Err(AccessError::BadSignature);
        }
        let tag: [u8; TAG_LEN] = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(AccessError::BadSignature)?;
        let message = string_to_sign(path, query);
        if self.any_key_made(Domain::Url, |mac| mac.update(message.as_bytes()), &tag) {
            Ok(())
        } else {
            Err(AccessError::BadSignature)
        }
    }

    /// Signs a URL as a marketer pastes it: a full URL
    /// (`https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z`) or a
    /// path with a query (`/i/sale.gif?until=...`). Returns it as written with
    /// `s=...` appended; an `s` already present is replaced.
    ///
    /// The host is not signed, so one signed URL works on every host that
    /// shares the keys. Placeholders of the email platform (`{{...}}`) belong
    /// in `t` only: any other parameter is signed as written.
    pub fn sign_url_string(&self, url: &str) -> Result<String, AccessError> {
        let url = url.trim();
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((before, fragment)) => (before, Some(fragment)),
            None => (url, None),
        };
        let (base, query) = before_fragment
            .split_once('?')
            .unwrap_or((before_fragment, ""));
        let path = path_of(base)?;

        let kept_query = query
            .split('&')
            .filter(|segment| !is_signature(segment))
            .collect::<Vec<_>>()
            .join("&");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(kept_query.as_bytes())
            .into_owned()
            .collect();
        let signature = self.sign_url(path, &pairs);

        let mut signed = String::with_capacity(url.len() + ENCODED_SIGNATURE_LEN + 4);
        signed.push_str(base);
        signed.push('?');
        if !kept_query.is_empty() {
            signed.push_str(&kept_query);
            signed.push('&');
        }
        signed.push_str("s=");
        signed.push_str(&signature);
        if let Some(fragment) = fragment {
            signed.push('#');
            signed.push_str(fragment);
        }
        Ok(signed)
    }
}

/// The path as signed: percent-decoded, then re-encoded with the path set, so
/// that `/i/a%7Eb.gif` and `/i/a~b.gif` sign alike whichever form a proxy or
/// the HTTP layer hands over. A plain ASCII path such as `/i/sale.gif` is
/// unchanged.
pub fn canonical_path(path: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(path).collect();
    percent_encoding::percent_encode(&decoded, PATH_ENCODE_SET).collect()
}

/// The query as signed: every pair but [`UNSIGNED_PARAMS`], key and value
/// each encoded with the query set, sorted by encoded key then encoded value
/// (plain ASCII order, which every language sorts alike), written `k=v` and
/// joined by `&`. An empty query gives an empty string.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(key, _)| !UNSIGNED_PARAMS.contains(&key.as_str()))
        .map(|(key, value)| {
            (
                utf8_percent_encode(key, QUERY_ENCODE_SET).collect(),
                utf8_percent_encode(value, QUERY_ENCODE_SET).collect(),
            )
        })
        .collect();
    pairs.sort_unstable();
    let mut canonical = String::new();
    for (key, value) in &pairs {
        if !canonical.is_empty() {
            canonical.push('&');
        }
        canonical.push_str(key);
        canonical.push('=');
        canonical.push_str(value);
    }
    canonical
}

/// What follows the domain prefix in the MAC: canonical path, a newline,
/// canonical query. Neither part can hold a raw newline, so the split between
/// them is unambiguous.
fn string_to_sign(path: &str, query: &[(String, String)]) -> String {
    let mut message = canonical_path(path);
    message.push('\n');
    message.push_str(&canonical_query(query));
    message
}

/// The path of a full URL, a scheme-relative URL, or a path.
fn path_of(base: &str) -> Result<&str, AccessError> {
    let after_scheme = if let Some((scheme, rest)) = base.split_once("://") {
        let scheme_is_valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_is_valid {
            return Err(AccessError::InvalidUrl(
                "the scheme before :// is malformed",
            ));
        }
        rest
    } else if let Some(rest) = base.strip_prefix("//") {
        rest
    } else if base.starts_with('/') {
        return Ok(base);
    } else {
        return Err(AccessError::InvalidUrl(
            "give a full URL (https://host/path?query) or a path starting with /",
        ));
    };
    // A URL with no path (`https://host?x=1`) is fetched as `/`.
    Ok(after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]))
}

/// Whether a raw query segment (`k=v`, still encoded) is an `s` pair.
fn is_signature(segment: &str) -> bool {
    form_urlencoded::parse(segment.as_bytes())
        .next()
        .is_some_and(|(key, _)| key == "s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(vec![secret.as_bytes().to_vec()]).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// The decoded query of a URL, as the HTTP layer hands it over.
    fn query_of(url: &str) -> (String, Vec<(String, String)>) {
        let (base, query) = url.split_once('?').unwrap();
        let path = path_of(base).unwrap().to_string();
        let query = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        (path, query)
    }

    fn with_signature(mut query: Vec<(String, String)>, signature: &str) -> Vec<(String, String)> {
        query.push(("s".into(), signature.into()));
        query
    }

    const PATH: &str = "/i/sale.gif";

    fn campaign() -> Vec<(String, String)> {
        pairs(&[("until", "2026-12-01T00:00:00Z"), ("campaign", "bf")])
    }

    #[test]
    fn a_signed_url_verifies() {
        let keys = ring("server-secret-0123456789");
        let signature = keys.sign_url(PATH, &campaign());
        assert_eq!(signature.len(), ENCODED_SIGNATURE_LEN);
        assert_eq!(
            keys.verify_url(PATH, &with_signature(campaign(), &signature)),
            Ok(())
        );
    }

    #[test]
    fn a_changed_parameter_or_path_is_refused() {
        let keys = ring("server-secret-0123456789");
        let signature = keys.sign_url(PATH, &campaign());
        let changed_value = pairs(&[("until", "2027-12-01T00:00:00Z"), ("campaign", "bf")]);
        let added = pairs(&[
            ("until", "2026-12-01T00:00:00Z"),
            ("campaign", "bf"),
            ("extra", ""),
        ]);
        let removed = pairs(&[("until", "2026-12-01T00:00:00Z")]);
        let renamed = pairs(&[("until", "2026-12-01T00:00:00Z"), ("campaigN", "bf")]);
        for query in [changed_value, added, removed, renamed] {
            assert_eq!(
                keys.verify_url(PATH, &with_signature(query.clone(), &signature)),
                Err(AccessError::BadSignature),
                "{query:?}"
            );
        }
        assert_eq!(
            keys.verify_url("/i/other.gif", &with_signature(campaign(), &signature)),
            Err(AccessError::BadSignature)
        );
    }

    #[test]
    fn a_key_and_value_cannot_trade_places() {
        // `a=b&c=` and `a=&b=c`-style shuffles must not share a signature.
        let keys = ring("server-secret-0123456789");
        let signature = keys.sign_url(PATH, &pairs(&[("a", "b=c")]));
        assert_eq!(
            keys.verify_url(PATH, &with_signature(pairs(&[("a=b", "c")]), &signature)),
            Err(AccessError::BadSignature)
        );
        let signature = keys.sign_url(PATH, &pairs(&[("a", "1&b=2")]));
        assert_eq!(
            keys.verify_url(
                PATH,
                &with_signature(pairs(&[("a", "1"), ("b", "2")]), &signature)
            ),
            Err(AccessError::BadSignature)
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let keys = ring("server-secret-0123456789");
        let forward = pairs(&[("a", "1"), ("b", "2"), ("a", "0")]);
        let backward = pairs(&[("a", "0"), ("b", "2"), ("a", "1")]);
        let signature = keys.sign_url(PATH, &forward);
        assert_eq!(signature, keys.sign_url(PATH, &backward));
        assert_eq!(
            keys.verify_url(PATH, &with_signature(backward, &signature)),
            Ok(())
        );
    }

    #[test]
    fn a_token_appended_later_keeps_the_signature() {
        let keys = ring("server-secret-0123456789");
        let signature = keys.sign_url(PATH, &campaign());
        let mut query = with_signature(campaign(), &signature);
        query.push(("t".into(), "YWxpY2U.AAAAAAAAAAAAAAAAAAAAAA".into()));
        assert_eq!(keys.verify_url(PATH, &query), Ok(()));
    }

    #[test]
    fn a_missing_or_repeated_signature_is_refused() {
        let keys = ring("server-secret-0123456789");
        let signature = keys.sign_url(PATH, &campaign());
        assert_eq!(
            keys.verify_url(PATH, &campaign()),
            Err(AccessError::BadSignature)
        );
        let twice = with_signature(with_signature(campaign(), &signature), &signature);
        assert_eq!(
            keys.verify_url(PATH, &twice),
            Err(AccessError::BadSignature)
        );
        let once = with_signature(campaign(), &signature);
        assert_eq!(keys.verify_url(PATH, &once), Ok(()));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let keys = ring("server-secret-0123456789");
        let signature = keys.sign_url(PATH, &campaign());
        let flipped = {
            let mut tag = URL_SAFE_NO_PAD.decode(&signature).unwrap();
            tag[3] ^= 1;
            URL_SAFE_NO_PAD.encode(tag)
        };
        for bad in [
            flipped.as_str(),
            &signature[..21],
            &format!("{signature}A"),
            &format!("{signature}=="),
            &signature.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1),
            "",
        ] {
            assert_eq!(
                keys.verify_url(PATH, &with_signature(campaign(), bad)),
                Err(AccessError::BadSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_signature_from_another_key_is_refused_and_rotation_keeps_it() {
        let old = b"old-secret-0123456789".to_vec();
        let new = b"new-secret-0123456789".to_vec();
        let signature = KeyRing::new(vec![old.clone()])
            .unwrap()
            .sign_url(PATH, &campaign());
        let query = with_signature(campaign(), &signature);
        let rotating = KeyRing::new(vec![new.clone(), old]).unwrap();
        assert_eq!(rotating.verify_url(PATH, &query), Ok(()));
        let rotated = KeyRing::new(vec![new]).unwrap();
        assert_eq!(
            rotated.verify_url(PATH, &query),
            Err(AccessError::BadSignature)
        );
    }

    #[test]
    fn an_overlong_url_is_refused() {
        let keys = ring("server-secret-0123456789");
        let long = pairs(&[("pad", &"x".repeat(MAX_SIGNED_URL_LEN))]);
        let signature = keys.sign_url(PATH, &long);
        assert_eq!(
            keys.verify_url(PATH, &with_signature(long, &signature)),
            Err(AccessError::BadSignature)
        );
    }

    #[test]
    fn the_canonical_query_is_encoded_and_sorted() {
        let query = pairs(&[
            ("until", "2026-12-01T00:00:00Z"),
            ("t", "token"),
            ("s", "sig"),
            ("name", "Zoë & co"),
            ("a b", "~x+y/z"),
            ("name", "Adam"),
        ]);
        assert_eq!(
            canonical_query(&query),
            "a%20b=~x%2By%2Fz&name=Adam&name=Zo%C3%AB%20%26%20co&until=2026-12-01T00%3A00%3A00Z"
        );
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn the_canonical_path_ignores_how_it_was_escaped() {
        assert_eq!(canonical_path("/i/sale.gif"), "/i/sale.gif");
        assert_eq!(canonical_path("/i/a%7eb.gif"), "/i/a~b.gif");
        assert_eq!(canonical_path("/i/caf%C3%A9 x.gif"), "/i/caf%C3%A9%20x.gif");
        assert_eq!(canonical_path("/i/café x.gif"), "/i/caf%C3%A9%20x.gif");
    }

    #[test]
    fn sign_url_string_signs_an_absolute_url() {
        let keys = ring("server-secret-0123456789");
        let url = "https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z&campaign=bf";
        let signed = keys.sign_url_string(url).unwrap();
        let expected = keys.sign_url(PATH, &campaign());
        assert_eq!(signed, format!("{url}&s={expected}"));
        let (path, query) = query_of(&signed);
        assert_eq!(keys.verify_url(&path, &query), Ok(()));
    }

    #[test]
    fn sign_url_string_signs_a_path() {
        let keys = ring("server-secret-0123456789");
        let signed = keys
            .sign_url_string("/i/sale.gif?campaign=bf&until=2026-12-01T00:00:00Z")
            .unwrap();
        assert!(signed.starts_with("/i/sale.gif?campaign=bf&until=2026-12-01T00:00:00Z&s="));
        let (path, query) = query_of(&signed);
        assert_eq!(keys.verify_url(&path, &query), Ok(()));
    }

    #[test]
    fn sign_url_string_replaces_an_old_signature_and_keeps_the_rest() {
        let keys = ring("server-secret-0123456789");
        let signed = keys
            .sign_url_string("//img.example.com/i/sale.gif?s=old&name=Zo%C3%AB+x&t={{token}}#top")
            .unwrap();
        let signature = keys.sign_url(PATH, &pairs(&[("name", "Zoë x")]));
        assert_eq!(
            signed,
            format!(
                "//img.example.com/i/sale.gif?name=Zo%C3%AB+x&t={{{{token}}}}&s={signature}#top"
            )
        );
    }

    #[test]
    fn sign_url_string_handles_urls_without_query_or_path() {
        let keys = ring("server-secret-0123456789");
        let signature = keys.sign_url("/", &[]);
        assert_eq!(
            keys.sign_url_string("https://img.example.com").unwrap(),
            format!("https://img.example.com?s={signature}")
        );
        let signature = keys.sign_url("/i/x.png", &[]);
        assert_eq!(
            keys.sign_url_string(" /i/x.png?s=old\n").unwrap(),
            format!("/i/x.png?s={signature}")
        );
    }

    #[test]
    fn sign_url_string_refuses_what_is_not_a_url() {
        let keys = ring("server-secret-0123456789");
        for bad in ["img.example.com/i/x.png", "", "1http://x/y", "?a=1"] {
            assert!(
                matches!(keys.sign_url_string(bad), Err(AccessError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }
}
