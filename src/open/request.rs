//! What a request brings to the pipeline, free of HTTP: the [`Visit`]
//! (path, query, User-Agent, client address), the image target a path
//! names, and the query's pairs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::render::OutputFormat;
use crate::template::Template;

/// What a recipient's mail client (or a proxy or scanner in its place)
/// asked for: everything the pipeline reads of a request. The HTTP layer
/// fills it in; nothing here knows headers.
#[derive(Debug, Clone, Default)]
pub struct Visit<'a> {
    /// The request's path, which a signed URL's signature covers.
    pub path: &'a str,
    pub query: QueryPairs,
    pub user_agent: Option<&'a str>,
    /// The client's address: the connection's peer, or what trusted
    /// proxies said it was.
    pub client_ip: Option<IpAddr>,
    /// The request carried a forwarded header (`X-Forwarded-For`,
    /// `Forwarded`) that the server does not trust: one with no
    /// `trusted_proxy_hops` configured, or one shorter than the hops. Its
    /// `client_ip` is then perhaps a proxy's rather than the reader's, and
    /// is located nowhere (`geo` stays empty).
    pub forwarded_untrusted: bool,
    /// HEAD requests are a scanner's mark.
    pub is_head: bool,
    /// The ETags the client holds (`If-None-Match`).
    pub if_none_match: Option<&'a str>,
}

impl Visit<'_> {
    /// The email of a sequence the URL names (`e`): at most 64 of
    /// `[A-Za-z0-9._-]`. Anything else is left out, as if not given: the
    /// request still gets its answer, with the template's records.
    pub fn email(&self) -> Option<&str> {
        self.query.get("e").filter(|email| is_email_id(email))
    }

    /// Whether the client already holds the image `etag` names.
    pub fn holds(&self, etag: &str) -> bool {
        etag_matches(self.if_none_match, etag)
    }
}

/// Whether an `If-None-Match` value names `etag` (or is `*`).
/// The longest `e`.
pub const MAX_EMAIL_ID_LEN: usize = 64;

/// An `e` value: 1 to [`MAX_EMAIL_ID_LEN`] of `[A-Za-z0-9._-]`.
pub fn is_email_id(text: &str) -> bool {
    (1..=MAX_EMAIL_ID_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

pub fn etag_matches(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(value) = if_none_match else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The image a path asks for: `/i/{name}.{ext}` or `/i/{name}@2x.{ext}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    pub name: String,
    pub scale: u32,
    pub format: OutputFormat,
}

impl ImageTarget {
    /// Parses the last path segment, e.g. `renewal@2x.png`.
    pub fn parse(file: &str) -> Option<ImageTarget> {
        let (stem, extension) = file.rsplit_once('.')?;
        let format = OutputFormat::from_extension(extension)?;
        let (name, scale) = match stem.rsplit_once('@') {
            Some((name, "1x")) => (name, 1),
            Some((name, "2x")) => (name, 2),
            Some(_) => return None,
            None => (stem, 1),
        };
        if name.is_empty() {
            return None;
        }
        Some(ImageTarget {
            name: name.to_string(),
            scale,
            format,
        })
    }
}

/// The decoded pairs of a query string, in their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    pub fn parse(query: Option<&str>) -> QueryPairs {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        QueryPairs(pairs)
    }

    /// The first value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The template's declared parameters, with defaults for those absent.
    /// Undeclared pairs (tracking parameters an email platform adds) are
    /// ignored. Returns the parameters and how many values were dropped for
    /// exceeding their max length.
    pub fn declared(&self, template: &Template) -> (BTreeMap<String, String>, usize) {
        let mut params = BTreeMap::new();
        let mut dropped = 0;
        for (name, spec) in &template.params {
            let value: Option<Cow<'_, str>> = match self.get(name) {
                Some(value) if value.len() <= spec.max_len => Some(Cow::Borrowed(value)),
                Some(_) => {
                    dropped += 1;
                    spec.default.as_deref().map(Cow::Borrowed)
                }
                None => spec.default.as_deref().map(Cow::Borrowed),
            };
            if let Some(value) = value {
                params.insert(name.clone(), value.into_owned());
            }
        }
        (params, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_targets_parse_name_scale_and_format() {
        let target = |name: &str, scale, format| {
            Some(ImageTarget {
                name: name.to_string(),
                scale,
                format,
            })
        };
        assert_eq!(
            ImageTarget::parse("renewal.png"),
            target("renewal", 1, OutputFormat::Png)
        );
        assert_eq!(
            ImageTarget::parse("renewal@2x.jpg"),
            target("renewal", 2, OutputFormat::Jpeg)
        );
        assert_eq!(
            ImageTarget::parse("renewal@1x.jpeg"),
            target("renewal", 1, OutputFormat::Jpeg)
        );
        for bad in [
            "renewal",
            "renewal.bmp",
            "renewal@3x.png",
            ".png",
            "@2x.png",
        ] {
            assert_eq!(ImageTarget::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let tag = "\"abc\"";
        let matches = |value: &str| etag_matches(Some(value), tag);
        assert!(matches("\"abc\""));
        assert!(matches("W/\"abc\""));
        assert!(matches("\"x\", \"abc\""));
        assert!(matches("*"));
        assert!(!matches("\"abd\""));
        assert!(!etag_matches(None, tag));
    }

    #[test]
    fn query_pairs_are_decoded() {
        let pairs = QueryPairs::parse(Some("t=a.b&campaign=spring%20sale&x=1&x=2"));
        assert_eq!(pairs.get("campaign"), Some("spring sale"));
        assert_eq!(pairs.get("x"), Some("1"));
        assert_eq!(pairs.get("missing"), None);
        assert_eq!(QueryPairs::parse(None), QueryPairs::default());
    }
}
