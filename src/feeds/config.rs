//! A feed as the configuration declares it (`[feeds.NAME]` tables in the
//! file, a JSON object of the same tables in `OPENTIME_FEEDS`), checked once
//! at load: where it comes from, how it is written, how often it is
//! refreshed and which field names an item.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::remote::PostUrl;

/// How often a feed is refreshed unless its table says otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(600);

/// The shortest `refresh_s` a table may ask for: a feed is a catalogue,
/// not a per-open call.
pub const MIN_REFRESH_S: u64 = 10;

/// The item field that names an item unless the table says otherwise.
pub const DEFAULT_KEY: &str = "id";

/// One configured feed, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// `feed.NAME` in expressions, the `feed` label of metrics and part of
    /// its Redis keys: a lowercase letter, then lowercase letters, digits
    /// and `_`.
    pub name: String,
    pub source: FeedSource,
    pub format: FeedFormat,
    pub refresh: Duration,
    /// The item field that identifies an item (`feed_item`'s lookup).
    pub key: String,
}

/// Where a feed's document comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum FeedSource {
    /// Fetched from an `http(s)` URL the operator chose (any host).
    Url(PostUrl),
    /// Read from a file on this machine.
    File(PathBuf),
}

impl FeedSource {
    /// What reports show: a URL's origin (its path or query may hold a
    /// credential) or a file's name.
    pub fn describe(&self) -> String {
        match self {
            FeedSource::Url(url) => url.origin(),
            FeedSource::File(path) => format!(
                "file {}",
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        }
    }
}

impl fmt::Debug for FeedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedSource::Url(url) => write!(f, "{url:?}"),
            FeedSource::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

/// How a feed's document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// RSS 2.0: one item per `<item>`.
    Rss,
    /// Atom: one item per `<entry>`.
    Atom,
    /// RSS 2.0 whose item fields are `g:` prefixed, named without it.
    GoogleMerchant,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects, or an object with an `items` array.
    Json,
}

impl FeedFormat {
    pub const NAMES: [&'static str; 5] = ["rss", "atom", "google_merchant", "csv", "json"];

    pub fn parse(name: &str) -> Option<FeedFormat> {
        Some(match name {
            "rss" => FeedFormat::Rss,
            "atom" => FeedFormat::Atom,
            "google_merchant" => FeedFormat::GoogleMerchant,
            "csv" => FeedFormat::Csv,
            "json" => FeedFormat::Json,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Rss => "rss",
            FeedFormat::Atom => "atom",
            FeedFormat::GoogleMerchant => "google_merchant",
            FeedFormat::Csv => "csv",
            FeedFormat::Json => "json",
        }
    }
}

/// Reads and checks every feed of `value`, a table of tables by feed name
/// (JSON's `null` is none). The first bad feed fails the whole set, with a
/// message that names it and what is wrong, never a URL's path.
pub fn parse_feeds(value: serde_json::Value) -> Result<Vec<FeedConfig>, String> {
    let tables = match value {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Object(tables) => tables,
        _ => {
            return Err(
                "feeds is a table of feeds by name ([feeds.NAME] in the file, {\"NAME\": {...}} in OPENTIME_FEEDS)"
                    .into(),
            );
        }
    };
    let mut feeds = Vec::with_capacity(tables.len());
    for (name, table) in tables {
        let feed = check(&name, table).map_err(|problem| format!("[feeds.{name}]: {problem}"))?;
        feeds.push(feed);
    }
    Ok(feeds)
}

/// What no single table can say wrong: the set as a whole, for
/// `Config::validate` (which also sees configurations built in code).
pub fn check_feeds(feeds: &[FeedConfig]) -> Result<(), String> {
    for (index, feed) in feeds.iter().enumerate() {
        check_name(&feed.name).map_err(|problem| format!("[feeds.{}]: {problem}", feed.name))?;
        if feeds[..index].iter().any(|other| other.name == feed.name) {
            return Err(format!("[feeds.{}] is configured twice", feed.name));
        }
        if feed.refresh.is_zero() {
            return Err(format!(
                "[feeds.{}]: refresh_s must be at least 1",
                feed.name
            ));
        }
        if feed.key.trim().is_empty() {
            return Err(format!(
                "[feeds.{}]: key must name an item field",
                feed.name
            ));
        }
    }
    Ok(())
}

fn check(name: &str, table: serde_json::Value) -> Result<FeedConfig, String> {
    check_name(name)?;
    let serde_json::Value::Object(table) = table else {
        return Err("is not a table of url or file, format, refresh_s and key".into());
    };
    let mut url = None;
    let mut file = None;
    let mut format = None;
    let mut refresh = DEFAULT_REFRESH;
    let mut key = DEFAULT_KEY.to_string();
    for (field, value) in table {
        let text = || match &value {
            serde_json::Value::String(text) => Ok(text.trim().to_string()),
            _ => Err(format!("{field} must be a string")),
        };
        match field.as_str() {
            "url" => {
                url = Some(PostUrl::parse(&text()?).map_err(|problem| format!("url: {problem}"))?)
            }
            "file" => file = Some(PathBuf::from(text()?)),
            "format" => {
                let written = text()?;
                format = Some(FeedFormat::parse(&written).ok_or_else(|| {
                    format!(
                        "format {written:?} is not one of {}",
                        FeedFormat::NAMES.join(", ")
                    )
                })?);
            }
            "refresh_s" => {
                let seconds = value
                    .as_u64()
                    .ok_or("refresh_s must be a whole number of seconds")?;
                if seconds < MIN_REFRESH_S {
                    return Err(format!(
                        "refresh_s is at least {MIN_REFRESH_S} (a feed is refreshed on a schedule, not per open); got {seconds}"
                    ));
                }
                refresh = Duration::from_secs(seconds);
            }
            "key" => {
                key = text()?;
                if key.is_empty() {
                    return Err("key must name an item field".into());
                }
            }
            other => {
                return Err(format!(
                    "unknown key {other:?}; a feed has url or file, format, refresh_s and key"
                ));
            }
        }
    }
    let source = match (url, file) {
        (Some(_), Some(_)) => return Err("give url or file, not both".into()),
        (None, None) => return Err("needs a url or a file".into()),
        (Some(url), None) => FeedSource::Url(url),
        (None, Some(file)) => FeedSource::File(file),
    };
    let format =
        format.ok_or_else(|| format!("needs a format: one of {}", FeedFormat::NAMES.join(", ")))?;
    Ok(FeedConfig {
        name: name.to_string(),
        source,
        format,
        refresh,
        key,
    })
}

/// A feed name is read as `feed.NAME` in expressions, so it is an
/// identifier.
fn check_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "the name {name:?} is not an identifier: a lowercase letter, then up to 63 lowercase letters, digits and '_'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_become_checked_feeds() {
        let feeds = parse_feeds(json!({
            "products": {"url": "https://shop.example/feed.xml?token=hunter2", "format": "google_merchant"},
            "news": {"file": "/srv/news.csv", "format": "csv", "refresh_s": 60, "key": "sku"},
        }))
        .expect("valid feeds");
        let news = feeds.iter().find(|feed| feed.name == "news").unwrap();
        assert_eq!(news.format, FeedFormat::Csv);
        assert_eq!(news.refresh, Duration::from_secs(60));
        assert_eq!(news.key, "sku");
        assert_eq!(news.source.describe(), "file news.csv");
        let products = feeds.iter().find(|feed| feed.name == "products").unwrap();
        assert_eq!(products.refresh, DEFAULT_REFRESH);
        assert_eq!(products.key, "id");
        assert_eq!(products.source.describe(), "https://shop.example");
        assert!(!format!("{products:?}").contains("hunter2"));
        assert!(check_feeds(&feeds).is_ok());
    }

    #[test]
    fn bad_tables_are_named_precisely() {
        let cases = [
            (
                json!({"p": {"format": "rss"}}),
                "[feeds.p]: needs a url or a file",
            ),
            (
                json!({"p": {"url": "https://a.example/", "file": "x", "format": "rss"}}),
                "give url or file, not both",
            ),
            (json!({"p": {"file": "x"}}), "needs a format"),
            (
                json!({"p": {"file": "x", "format": "xml"}}),
                "format \"xml\" is not one of",
            ),
            (
                json!({"p": {"file": "x", "format": "csv", "refresh_s": 5}}),
                "refresh_s is at least 10",
            ),
            (
                json!({"p": {"file": "x", "format": "csv", "refresh": 60}}),
                "unknown key \"refresh\"",
            ),
            (
                json!({"Bad-Name": {"file": "x", "format": "csv"}}),
                "not an identifier",
            ),
            (
                json!({"p": {"url": "ftp://a.example/feed", "format": "rss"}}),
                "[feeds.p]: url: not an http(s) URL",
            ),
            (json!([{"file": "x"}]), "feeds is a table of feeds by name"),
        ];
        for (value, expected) in cases {
            let error = parse_feeds(value.clone()).expect_err("refused");
            assert!(error.contains(expected), "{value}: {error}");
        }
    }
}
