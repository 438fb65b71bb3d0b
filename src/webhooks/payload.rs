//! What a delivery sends: the events a webhook wants out of a read, the
//! body (a JSON array of them, each with its stream id) and the signature.
//! Pure: no I/O.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::WebhookConfig;
use crate::store::redis_streams::StreamEntry;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "opentime-signature";

/// Splits a read into the entries `hook` wants, in order, and the ids of
/// the rest, which are acknowledged without a delivery. An entry whose
/// `event` is not a JSON object with a `type` was not written by opentime
/// and is never delivered.
pub fn select(entries: Vec<StreamEntry>, hook: &WebhookConfig) -> (Vec<StreamEntry>, Vec<String>) {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: String,
    }
    let mut wanted = Vec::with_capacity(entries.len());
    let mut others = Vec::new();
    for entry in entries {
        let kind = serde_json::from_str::<Kind>(&entry.event).ok();
        if kind.is_some_and(|kind| hook.wants(&kind.kind)) {
            wanted.push(entry);
        } else {
            others.push(entry.id);
        }
    }
    (wanted, others)
}

/// `[{...event fields..., "stream_id": "1764578400000-0"}, ...]`: each
/// event's object as the stream holds it, its fields in their order, with
/// the entry's stream id added last.
pub fn body(entries: &[StreamEntry]) -> Bytes {
    let mut body = String::with_capacity(
        2 + entries
            .iter()
            .map(|entry| entry.event.len() + entry.id.len() + 16)
            .sum::<usize>(),
    );
    body.push('[');
    for (index, entry) in entries.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        push_with_stream_id(&mut body, entry);
    }
    body.push(']');
    Bytes::from(body)
}

/// Appends the entry's JSON object with `"stream_id"` as its last field.
/// The object was checked by [`select`]; a stream id is digits and one
/// `-`, which need no escaping.
pub fn push_with_stream_id(out: &mut String, entry: &StreamEntry) {
    let object = entry.event.trim();
    let inner = object
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_default()
        .trim();
    out.push('{');
    if !inner.is_empty() {
        out.push_str(inner);
        out.push(',');
    }
    out.push_str("\"stream_id\":\"");
    out.push_str(&entry.id);
    out.push_str("\"}");
}

/// `t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(secret, "UNIX_SECONDS." + body))`.
pub fn signature(secret: &[u8], unix_seconds: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::parse_webhooks;

    fn entry(id: &str, event: &str) -> StreamEntry {
        StreamEntry {
            id: id.into(),
            event: event.into(),
        }
    }

    #[test]
    fn only_wanted_types_are_delivered_each_with_its_stream_id() {
        let hook = parse_webhooks(serde_json::json!([{
            "url": "http://127.0.0.1:9/", "events": ["unsubscribe"], "secret": "a-long-enough-hook-secret"
        }]))
        .unwrap()
        .remove(0);
        let (wanted, others) = select(
            vec![
                entry("1-0", r#"{"type":"open","id":"a"}"#),
                entry("2-0", r#"{"type":"unsubscribe","list":"","id":"b"}"#),
                entry("3-0", "not json"),
                entry("4-0", ""),
                entry("5-0", r#"{"type":"unsubscribe","id":"c"}"#),
            ],
            &hook,
        );
        assert_eq!(others, ["1-0", "3-0", "4-0"]);
        assert_eq!(
            body(&wanted),
            r#"[{"type":"unsubscribe","list":"","id":"b","stream_id":"2-0"},{"type":"unsubscribe","id":"c","stream_id":"5-0"}]"#
        );
        let decoded: serde_json::Value = serde_json::from_slice(&body(&wanted)).unwrap();
        assert_eq!(decoded[1]["stream_id"], "5-0");
        assert_eq!(body(&[]), "[]");
    }

    /// A vector computed with another implementation
    /// (`printf '%s' '1764578400.[]' | openssl dgst -sha256 -hmac
    /// a-long-enough-hook-secret`).
    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        assert_eq!(
            signature(b"a-long-enough-hook-secret", 1_764_578_400, b"[]"),
            "t=1764578400,v1=25b7e9bf6f39b35b551a92c0a75644f70fd62d60a0cf2dd229b2379e82763b6e"
        );
    }
}
