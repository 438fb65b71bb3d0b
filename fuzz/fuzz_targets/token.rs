//! Recipient tokens and URL signatures: whatever arrives as `t` or `s`
//! must be refused or accepted, never panic, and nothing but a token the
//! key signed may verify.
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
        // Only what the key signs verifies, and it round-trips.
        assert_eq!(keys.sign_recipient(&recipient), text);
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
