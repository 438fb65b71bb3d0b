//! The allow-list of origins, and the strict parsing of image URLs against it.
//!
//! An image URL comes from a recipient's state, so whoever can write that
//! state chooses where opentime connects. The only defence that holds against
//! every trick (decimal or octal IP literals, `localhost`, trailing dots,
//! userinfo that hides the real host) is to fetch nothing but what an operator
//! named: a rule matches exactly its scheme, its host (ASCII case aside) and
//! its port, and a URL whose host is written any other way is refused without
//! being resolved. Nothing here does I/O.

use std::net::Ipv6Addr;

use hyper::Uri;

use crate::remote::RemoteImageError;

/// URLs longer than this are refused: product photo URLs are short, and a
/// long one is more likely a payload than a picture.
const MAX_URL_LEN: usize = 4096;

/// The schemes opentime fetches from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

/// A URL that passed the allow-list, split into what the fetch needs so that
/// nothing downstream parses it again and perhaps differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) scheme: Scheme,
    /// ASCII lowercase; an IPv6 address is in brackets, as in a URL.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The path and query, as sent in the request line.
    pub(crate) path_and_query: String,
    /// Whether a rule names this host exactly, rather than only a wildcard
    /// matching it: only then may it resolve to an internal address
    /// (`address.rs`).
    pub(crate) named_exactly: bool,
}

/// The origins an operator allowed, parsed once at startup.
#[derive(Debug)]
pub(crate) struct AllowList {
    rules: Vec<Rule>,
}

impl AllowList {
    /// Parses every entry; the first bad one fails the whole list, with a
    /// message that quotes it, so a typo cannot silently turn images off.
    pub(crate) fn parse(entries: &[String]) -> Result<AllowList, RemoteImageError> {
        let rules = entries
            .iter()
            .map(|entry| {
                Rule::parse(entry).map_err(|reason| {
                    RemoteImageError::Config(format!("allowed origin {entry:?}: {reason}"))
                })
            })
            .collect::<Result<Vec<Rule>, RemoteImageError>>()?;
        Ok(AllowList { rules })
    }

    /// Parses `url` strictly and returns it if some rule allows its origin.
    pub(crate) fn target(&self, url: &str) -> Result<Target, RemoteImageError> {
        let mut target = Target::parse(url)?;
        let mut matching = self.rules.iter().filter(|rule| rule.allows(&target));
        let Some(first) = matching.next() else {
            return Err(RemoteImageError::NotAllowed);
        };
        // An exact rule wins over a wildcard that also matches.
        target.named_exactly = first.is_exact() || matching.any(Rule::is_exact);
        Ok(target)
    }
}

impl Scheme {
    fn parse(text: &str) -> Option<Scheme> {
        if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, RemoteImageError> {
        if url.len() > MAX_URL_LEN {
            return Err(RemoteImageError::BadUrl);
        }
        // hyper's URI parser refuses spaces, control characters, backslashes
        // and anything outside ASCII, which is the strictness wanted here;
        // the authority is then checked again below by rules of our own.
        let uri: Uri = url.parse().map_err(|_| RemoteImageError::BadUrl)?;
        let scheme = uri
            .scheme_str()
            .and_then(Scheme::parse)
            .ok_or(RemoteImageError::BadUrl)?;
        let authority = uri.authority().ok_or(RemoteImageError::BadUrl)?;
        let (host, port) =
            parse_authority(authority.as_str(), scheme).ok_or(RemoteImageError::BadUrl)?;
        let path_and_query = match uri.query() {
            Some(query) => format!("{}?{query}", uri.path()),
            None => uri.path().to_string(),
        };
        Ok(Target {
            scheme,
            host,
            port,
            path_and_query,
            named_exactly: false,
        })
    }

    /// `scheme://host[:port]`, with the port only when it is not the
    /// scheme's default: what logs show instead of the URL.
    pub(crate) fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority())
    }

    /// `host[:port]`, as the Host header wants it.
    pub(crate) fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL in one canonical spelling, so that two spellings of one URL
    /// share a cache entry and a fetch.
    pub(crate) fn cache_key(&self) -> String {
        format!("{}{}", self.origin(), self.path_and_query)
    }

    /// The host as the resolver and TLS want it: an IPv6 address without its
    /// brackets.
    pub(crate) fn dial_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// One allowed origin.
#[derive(Debug)]
struct Rule {
    scheme: Scheme,
    host: HostPattern,
    port: u16,
}

#[derive(Debug)]
enum HostPattern {
    /// Exactly this host, lowercase.
    Exact(String),
    /// Any host one or more labels below this domain, but not the domain
    /// itself: `*.images.example.com` is for a CDN's per-shop subdomains,
    /// and the bare domain is often a different service.
    SubdomainOf(String),
}

impl Rule {
    fn parse(entry: &str) -> Result<Rule, &'static str> {
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or("expected scheme://host or scheme://host:port")?;
        let scheme = Scheme::parse(scheme).ok_or("the scheme must be http or https")?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err("an origin has no path, query or fragment");
        }
        if authority.contains('@') {
            return Err("an origin has no user name or password");
        }
        let (wildcard, authority) = match authority.strip_prefix("*.") {
            Some(below) => (true, below),
            None => (false, authority),
        };
        if authority.contains('*') {
            return Err("a wildcard can only be a leading \"*.\"");
        }
        let (host, port) =
            parse_authority(authority, scheme).ok_or("not a valid host name or IP address")?;
        let host = if wildcard {
            // A wildcard needs a registered domain under it: `*.com` would
            // allow the whole internet, and an IP address has no subdomains.
            let labels: Vec<&str> = host.split('.').collect();
            let top = labels.last().copied().unwrap_or_default();
            if host.starts_with('[') || !top.bytes().any(|b| b.is_ascii_alphabetic()) {
                return Err("a wildcard needs a domain name, not an IP address");
            }
            if labels.len() < 2 {
                return Err("a wildcard over a top-level domain allows too much");
            }
            HostPattern::SubdomainOf(host)
        } else {
            HostPattern::Exact(host)
        };
        Ok(Rule { scheme, host, port })
    }

    fn is_exact(&self) -> bool {
        matches!(self.host, HostPattern::Exact(_))
    }

    fn allows(&self, target: &Target) -> bool {
        if self.scheme != target.scheme || self.port != target.port {
            return false;
        }
        match &self.host {
            HostPattern::Exact(host) => *host == target.host,
            HostPattern::SubdomainOf(domain) => target
                .host
                .strip_suffix(domain.as_str())
                .and_then(|below| below.strip_suffix('.'))
                .is_some_and(|below| !below.is_empty()),
        }
    }
}

/// Splits `host[:port]` into a lowercase host and a port (the scheme's
/// default when absent). Returns `None` for userinfo, an empty or zero port,
/// an IPv6 literal that does not parse, and any host that is not plain
/// dot-separated letters, digits and hyphens: percent escapes, underscores
/// and trailing dots have no business in an image CDN's name.
fn parse_authority(authority: &str, scheme: Scheme) -> Option<(String, u16)> {
    if authority.contains('@') {
        return None;
    }
    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']')?;
        let address: Ipv6Addr = inside.parse().ok()?;
        (format!("[{address}]"), after)
    } else {
        let end = authority.find(':').unwrap_or(authority.len());
        let (host, after) = authority.split_at(end);
        if !is_host_name(host) {
            return None;
        }
        (host.to_ascii_lowercase(), after)
    };
    let port = if port_text.is_empty() {
        scheme.default_port()
    } else {
        let digits = port_text.strip_prefix(':')?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match digits.parse::<u16>() {
            Ok(0) | Err(_) => return None,
            Ok(port) => port,
        }
    };
    Some((host, port))
}

/// Whether `host` is dot-separated labels of ASCII letters, digits and
/// inner hyphens, within DNS's length limits.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow_list(entries: &[&str]) -> AllowList {
        let entries: Vec<String> = entries.iter().map(|entry| entry.to_string()).collect();
        AllowList::parse(&entries).expect("the test's entries are valid")
    }

    /// Whether each URL is allowed, refused as off-list, or refused as
    /// malformed by one list that holds every kind of rule.
    #[test]
    fn urls_against_the_allow_list() {
        let list = allow_list(&[
            "https://cdn.example.com",
            "https://*.images.example.com",
            "http://127.0.0.1:8123",
            "https://[::1]:9443/",
            "HTTPS://Upper.Example.COM",
        ]);
        use RemoteImageError::{BadUrl, NotAllowed};
        let cases: &[(&str, Result<(), RemoteImageError>)] = &[
            ("https://cdn.example.com/p/1.png", Ok(())),
            ("https://cdn.example.com", Ok(())),
            ("https://CDN.Example.com/p/1.png?size=2", Ok(())),
            ("HTTPS://cdn.example.com/p.png", Ok(())),
            ("https://cdn.example.com:443/p.png", Ok(())),
            ("https://upper.example.com/p.png", Ok(())),
            ("https://shop1.images.example.com/a.jpg", Ok(())),
            ("https://a.b.images.example.com/a.jpg", Ok(())),
            ("http://127.0.0.1:8123/photo.png", Ok(())),
            ("https://[0:0::1]:9443/x.png", Ok(())),
            // Another scheme, port or host than the rule names.
            ("http://cdn.example.com/p.png", Err(NotAllowed)),
            ("https://cdn.example.com:8443/p.png", Err(NotAllowed)),
            ("https://cdn.example.com.evil.test/p.png", Err(NotAllowed)),
            ("https://evilcdn.example.com/p.png", Err(NotAllowed)),
            ("https://images.example.com/a.jpg", Err(NotAllowed)),
            ("https://xImages.example.com/a.jpg", Err(NotAllowed)),
            ("http://127.0.0.1/photo.png", Err(NotAllowed)),
            ("https://127.0.0.1:8123/photo.png", Err(NotAllowed)),
            ("http://localhost:8123/photo.png", Err(NotAllowed)),
            ("http://127.1:8123/photo.png", Err(NotAllowed)),
            ("http://2130706433:8123/photo.png", Err(NotAllowed)),
            ("http://0x7f.0.0.1:8123/photo.png", Err(NotAllowed)),
            ("https://[::2]:9443/x.png", Err(NotAllowed)),
            // Not a URL opentime parses.
            ("https://user@cdn.example.com/p.png", Err(BadUrl)),
            ("https://cdn.example.com@127.0.0.1:8123/p.png", Err(BadUrl)),
            ("http://user:pw@127.0.0.1:8123/p.png", Err(BadUrl)),
            ("https://cdn.example.com./p.png", Err(BadUrl)),
            ("https://cdn%2eexample.com/p.png", Err(BadUrl)),
            ("https://cdn.example.com:/p.png", Err(BadUrl)),
            ("https://cdn.example.com:0/p.png", Err(BadUrl)),
            ("https://cdn.example.com:99999/p.png", Err(BadUrl)),
            ("https://cdn.example.com/a b.png", Err(BadUrl)),
            ("https://cdn.example.com\\@evil.test/p.png", Err(BadUrl)),
            ("https://cdn.exämple.com/p.png", Err(BadUrl)),
            ("//cdn.example.com/p.png", Err(BadUrl)),
            ("/p.png", Err(BadUrl)),
            ("cdn.example.com/p.png", Err(BadUrl)),
            ("javascript:alert(1)", Err(BadUrl)),
            ("file:///etc/passwd", Err(BadUrl)),
            ("ftp://cdn.example.com/p.png", Err(BadUrl)),
            ("data:image/png;base64,iVBORw0KGgo=", Err(BadUrl)),
            ("", Err(BadUrl)),
        ];
        for (url, expected) in cases {
            let got = list.target(url).map(|_| ());
            assert_eq!(&got, expected, "{url}");
        }
    }

    #[test]
    fn a_target_keeps_path_and_query_and_names_its_origin() {
        let list = allow_list(&["https://cdn.example.com", "http://127.0.0.1:8123"]);
        let target = list
            .target("https://CDN.example.com:443/p/1.png?user=42#top")
            .expect("allowed");
        assert_eq!(target.origin(), "https://cdn.example.com");
        assert_eq!(target.path_and_query, "/p/1.png?user=42");
        assert_eq!(
            target.cache_key(),
            "https://cdn.example.com/p/1.png?user=42"
        );
        let target = list.target("http://127.0.0.1:8123").expect("allowed");
        assert_eq!(target.origin(), "http://127.0.0.1:8123");
        assert_eq!(target.authority(), "127.0.0.1:8123");
        assert_eq!(target.path_and_query, "/");
        assert_eq!(target.dial_host(), "127.0.0.1");
    }

    #[test]
    fn only_an_exact_rule_names_a_host() {
        let list = allow_list(&[
            "https://*.images.example.com",
            "https://shop1.images.example.com",
            "http://127.0.0.1:8123",
            "http://localhost:8123",
        ]);
        let cases = [
            ("https://shop2.images.example.com/a.jpg", false),
            ("https://shop1.images.example.com/a.jpg", true),
            ("http://127.0.0.1:8123/a.png", true),
            ("http://localhost:8123/a.png", true),
        ];
        for (url, exact) in cases {
            let target = list.target(url).expect(url);
            assert_eq!(target.named_exactly, exact, "{url}");
        }
    }

    #[test]
    fn bad_entries_are_refused_by_name() {
        let bad = [
            "cdn.example.com",
            "ftp://cdn.example.com",
            "https://cdn.example.com/images",
            "https://cdn.example.com?x=1",
            "https://user@cdn.example.com",
            "https://*.com",
            "https://*",
            "https://img*.example.com",
            "https://*.10.0.0.1",
            "https://*.[::1]",
            "https://cdn.example.com:0",
            "https://cdn.example.com:http",
            "https://cdn_example.com",
            "https://",
            " https://cdn.example.com",
        ];
        for entry in bad {
            let error = AllowList::parse(&[entry.to_string()]).expect_err(entry);
            assert_eq!(error.code(), "config");
            assert!(
                error.to_string().contains(&format!("{entry:?}")),
                "{error} should name {entry:?}"
            );
        }
    }
}
