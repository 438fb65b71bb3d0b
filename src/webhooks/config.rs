//! A webhook as the configuration declares it (`[[webhooks]]` tables in
//! the file, a JSON array in `OPENTIME_WEBHOOKS`), checked once at load:
//! where to post, which event types, the secret that signs, and the name
//! that labels its consumer group and metrics.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::remote::PostUrl;

/// The event types a webhook may ask for: those of the events stream
/// (`docs/events.md`), and `conversion` and `experiment`, which the
/// product contract names for conversions and experiment decisions, so
/// that a configuration written for them loads.
pub const EVENT_TYPES: &[&str] = &[
    "open",
    "click",
    "vote",
    "unsubscribe",
    "preferences",
    "conversion",
    "experiment",
];

/// The shortest secret accepted: the receiver trusts whatever it signs.
pub const MIN_SECRET_LEN: usize = 16;

/// One configured webhook, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Names the Redis consumer group (`webhook:{name}`) and the `webhook`
    /// label of its metrics: lowercase letters, digits, `.`, `-` and `_`.
    pub name: String,
    pub url: PostUrl,
    /// The event types delivered, each one of [`EVENT_TYPES`], in the
    /// configured order without repeats.
    pub events: Vec<String>,
    pub secret: WebhookSecret,
}

/// The secret a webhook signs with. Its `Debug` says nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookConfig {
    /// Whether events of `kind` (an event's `type`) go to this webhook.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|wanted| wanted == kind)
    }
}

/// One entry as written, before its checks.
#[derive(Default)]
struct Entry {
    url: Option<String>,
    events: Option<Vec<String>>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    name: Option<String>,
}

impl Entry {
    /// The entry's keys, each of the type it must have. Messages name the
    /// key and never quote its value, which may be a secret.
    fn read(value: serde_json::Value) -> Result<Entry, String> {
        let serde_json::Value::Object(table) = value else {
            return Err("is not a table of url, events, secret or secret_file, name".into());
        };
        let text = |key: &str, value: serde_json::Value| match value {
            serde_json::Value::String(text) => Ok(text),
            _ => Err(format!("{key} must be a string")),
        };
        let mut entry = Entry::default();
        for (key, value) in table {
            match key.as_str() {
                "url" => entry.url = Some(text("url", value)?),
                "secret" => entry.secret = Some(text("secret", value)?),
                "secret_file" => entry.secret_file = Some(text("secret_file", value)?.into()),
                "name" => entry.name = Some(text("name", value)?),
                "events" => {
                    let serde_json::Value::Array(items) = value else {
                        return Err("events must be a list of event types".into());
                    };
                    let events = items
                        .into_iter()
                        .map(|item| text("each of events", item))
                        .collect::<Result<Vec<String>, String>>()?;
                    entry.events = Some(events);
                }
                other => {
                    return Err(format!(
                        "unknown key {other:?}; a webhook has url, events, secret or secret_file, and name"
                    ));
                }
            }
        }
        Ok(entry)
    }
}

/// Reads and checks every webhook of `value`, a list of tables (JSON's
/// `null` is none). The first bad entry fails the whole list, with a
/// message that says which entry and what is wrong with it, never its
/// secret or its URL's path.
pub fn parse_webhooks(value: serde_json::Value) -> Result<Vec<WebhookConfig>, String> {
    let entries = match value {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(entries) => entries,
        _ => return Err("webhooks is a list of tables ([[webhooks]] in the file)".into()),
    };
    let mut webhooks: Vec<WebhookConfig> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let place = format!("[[webhooks]] number {}", index + 1);
        let webhook = check(entry).map_err(|problem| format!("{place}: {problem}"))?;
        if webhooks.iter().any(|other| other.name == webhook.name) {
            return Err(format!(
                "{place}: the name {:?} is taken by another webhook; give each a name of its own",
                webhook.name
            ));
        }
        webhooks.push(webhook);
    }
    Ok(webhooks)
}

fn check(entry: serde_json::Value) -> Result<WebhookConfig, String> {
    let entry = Entry::read(entry)?;
    let written_url = entry.url.ok_or("needs a url")?;
    let url = PostUrl::parse(written_url.trim()).map_err(|problem| format!("url: {problem}"))?;
    let written_events = entry
        .events
        .ok_or("needs events, the list of event types it gets")?;
    if written_events.is_empty() {
        return Err(format!(
            "events names no type; choose among {}",
            EVENT_TYPES.join(", ")
        ));
    }
    let mut events: Vec<String> = Vec::with_capacity(written_events.len());
    for kind in written_events {
        if !EVENT_TYPES.contains(&kind.as_str()) {
            return Err(format!(
                "events: {kind:?} is not an event type; the types are {}",
                EVENT_TYPES.join(", ")
            ));
        }
        if !events.contains(&kind) {
            events.push(kind);
        }
    }
    let secret = match (entry.secret, entry.secret_file) {
        (Some(_), Some(_)) => return Err("give secret or secret_file, not both".into()),
        (None, None) => return Err("needs a secret or a secret_file".into()),
        (Some(secret), None) => secret.trim().to_string(),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|error| format!("reading secret_file {}: {error}", path.display()))?
            .trim()
            .to_string(),
    };
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(format!(
            "the secret is at least {MIN_SECRET_LEN} characters; use a long random one"
        ));
    }
    let name = match entry.name {
        Some(name) => {
            check_name(&name)?;
            name
        }
        None => default_name(&url, &written_url),
    };
    Ok(WebhookConfig {
        name,
        url,
        events,
        secret: WebhookSecret(secret),
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "name {name:?}: use 1 to 64 lowercase letters, digits, '.', '-' and '_'"
        ))
    }
}

/// The URL's host and the first eight hex digits of the URL's SHA-256:
/// the same for the same URL on every replica and at every start, so the
/// consumer group is found again, and different for two paths on one
/// host. The hash does not give away a credential in the query.
fn default_name(url: &PostUrl, written: &str) -> String {
    let host: String = url
        .host()
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '-') => c,
            _ => '-',
        })
        .take(40)
        .collect();
    let digest = Sha256::digest(written.trim().as_bytes());
    format!("{host}-{}", hex::encode(&digest[..4]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "a-long-enough-hook-secret";

    #[test]
    fn an_entry_reads_with_a_stable_default_name() {
        let webhooks = parse_webhooks(json!([
            { "url": "https://crm.example.com/hooks/opentime", "events": ["unsubscribe", "preferences", "unsubscribe"], "secret": SECRET },
            { "url": "https://crm.example.com/hooks/other", "events": ["open"], "secret": SECRET, "name": "warehouse" },
        ]))
        .expect("valid webhooks");
        assert_eq!(webhooks.len(), 2);
        let first = &webhooks[0];
        assert!(first.name.starts_with("crm.example.com-"), "{}", first.name);
        assert_eq!(first.name.len(), "crm.example.com-".len() + 8);
        assert_eq!(first.events, ["unsubscribe", "preferences"]);
        assert!(first.wants("preferences") && !first.wants("open"));
        assert_eq!(first.secret.as_bytes(), SECRET.as_bytes());
        assert!(!format!("{first:?}").contains(SECRET));
        assert_eq!(webhooks[1].name, "warehouse");
        let again = parse_webhooks(json!([
            { "url": "https://crm.example.com/hooks/opentime", "events": ["open"], "secret": SECRET },
        ]))
        .unwrap();
        assert_eq!(again[0].name, first.name, "the same URL, the same name");
        assert_eq!(parse_webhooks(serde_json::Value::Null), Ok(Vec::new()));
    }

    #[test]
    fn the_secret_comes_from_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hook");
        std::fs::write(&file, format!("{SECRET}\n")).unwrap();
        let webhooks = parse_webhooks(json!([
            { "url": "http://127.0.0.1:9000/", "events": ["click"], "secret_file": file },
        ]))
        .unwrap();
        assert_eq!(webhooks[0].secret.as_bytes(), SECRET.as_bytes());
        let both = parse_webhooks(json!([
            { "url": "http://127.0.0.1:9000/", "events": ["click"], "secret_file": file, "secret": SECRET },
        ]));
        assert!(both.unwrap_err().contains("not both"));
        let missing = parse_webhooks(json!([
            { "url": "http://127.0.0.1:9000/", "events": ["click"], "secret_file": dir.path().join("nope") },
        ]));
        assert!(missing.unwrap_err().contains("reading secret_file"));
    }

    #[test]
    fn bad_entries_are_refused_precisely() {
        let url = "https://crm.example.com/hook?key=hunter2";
        for (entry, expected) in [
            (
                json!({ "url": url, "events": ["opne"], "secret": SECRET }),
                "number 1: events: \"opne\" is not an event type; the types are open, click, vote, unsubscribe, preferences, conversion, experiment",
            ),
            (
                json!({ "url": url, "events": [], "secret": SECRET }),
                "events names no type",
            ),
            (
                json!({ "url": url, "events": ["open"] }),
                "needs a secret or a secret_file",
            ),
            (
                json!({ "url": url, "events": ["open"], "secret": "short" }),
                "at least 16 characters",
            ),
            (
                json!({ "url": "ftp://crm.example.com/", "events": ["open"], "secret": SECRET }),
                "url: not an http(s) URL",
            ),
            (
                json!({ "url": url, "events": ["open"], "secret": SECRET, "name": "CRM" }),
                "name \"CRM\"",
            ),
            (
                json!({ "url": url, "event": ["open"], "secret": SECRET }),
                "unknown key \"event\"",
            ),
        ] {
            let error = parse_webhooks(json!([entry])).unwrap_err();
            assert!(error.contains(expected), "{error}");
            assert!(
                !error.contains("hunter2") && !error.contains(SECRET),
                "{error}"
            );
        }
        let twice = parse_webhooks(json!([
            { "url": url, "events": ["open"], "secret": SECRET },
            { "url": url, "events": ["click"], "secret": SECRET },
        ]));
        assert!(twice.unwrap_err().contains("number 2: the name"));
        assert!(parse_webhooks(json!({ "url": url })).is_err());
        let typed = parse_webhooks(
            json!([{ "url": url, "events": ["open"], "secret": 1234567890123456789_u64 }]),
        );
        let typed = typed.unwrap_err();
        assert!(
            typed.contains("secret must be a string") && !typed.contains("1234"),
            "{typed}"
        );
    }
}
