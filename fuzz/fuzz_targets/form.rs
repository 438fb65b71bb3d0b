//! Form bodies: the preference form and RFC 8058 one-click unsubscribe,
//! urlencoded or multipart, with any Content-Type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentime::http::form_fields;

fuzz_target!(|data: &[u8]| {
    // The first line is the Content-Type, the rest the body.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let content_type = std::str::from_utf8(&data[..split]).ok();
    let body = data.get(split + 1..).unwrap_or_default();
    if let Ok(fields) = form_fields(content_type, body) {
        for (name, value) in fields {
            assert!(name.len() <= body.len() * 3 + 64);
            let _ = value;
        }
    }
});
