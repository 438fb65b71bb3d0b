//! Recipient tokens and URL signatures: whatever arrives as `t` or `s`
//! must be refused or accepted, never panic, and nothing but a token the
//! key made, opaque or (while accepted) of the first format, may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentime::access::KeyRing;
use opentime::http::QueryPairs;
use opentime::recipient::RecipientId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = KeyRing::demo();
    if let Ok(recipient) = keys.verify_token(text) {
        // Only what the key made verifies, and it round-trips: an opaque
        // token, or one of the first format while those are accepted.
        assert!(
            keys.sign_recipient(&recipient) == text
                || keys.sign_recipient_legacy(&recipient) == text
        );
    }
    // Without legacy tokens, only the opaque token of a recipient verifies.
    let strict = keys.clone().with_legacy_tokens(false);
    if let Ok(recipient) = strict.verify_token(text) {
        assert_eq!(strict.sign_recipient(&recipient), text);
    }
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let pairs = QueryPairs::parse(Some(query));
    let _ = keys.verify_url(path, &pairs.0);
    // Signing any id and verifying it gives the id back.
    if let Ok(recipient) = RecipientId::new(text) {
        let token = keys.sign_recipient(&recipient);
        assert_eq!(keys.verify_token(&token).unwrap(), recipient);
    }
});
