//! What the router knows of a request before any handler runs: the
//! pipeline's [`Visit`] (path, query, User-Agent, client address) and the
//! headers, which only the HTTP layer reads beyond that.

use std::net::IpAddr;

use hyper::HeaderMap;

use crate::open::Visit;

/// A request's facts, for the handlers.
pub struct RequestHead<'a> {
    pub visit: Visit<'a>,
    pub headers: &'a HeaderMap,
}

/// Whether a browser says the request comes from a page of another site:
/// `Sec-Fetch-Site: cross-site`, or an `Origin` whose host is not ours
/// (`public_url`'s, else the request's `Host`). Case does not matter. An
/// `Origin` of `null` (a privacy setting, a sandbox) says nothing either
/// way.
pub fn from_another_site(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| site.trim().eq_ignore_ascii_case("cross-site")) {
        return true;
    }
    let Some(origin) =
        header("origin").filter(|origin| !origin.trim().eq_ignore_ascii_case("null"))
    else {
        return false;
    };
    let host_of = |url: &str| {
        url.trim().split_once("://").map(|(_, rest)| {
            rest.split('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
    };
    let ours = match public_url {
        Some(url) => host_of(url),
        None => header("host").map(str::to_ascii_lowercase),
    };
    host_of(origin) != ours
}

/// Whether a `Host` header is a host name or address with an optional
/// port, and nothing that could turn a URL written with it into another.
pub fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The client's address: with `hops` trusted proxies in front, the entry of
/// `X-Forwarded-For` the outermost one appended; else the peer's.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = forwarded_entries(headers).collect();
    match forwarded.len().checked_sub(hops) {
        Some(index) => forwarded[index].parse().ok().or(peer),
        // Fewer entries than proxies: the request did not come through all
        // of them, so the header cannot be trusted.
        None => peer,
    }
}

/// Whether the request carries a forwarded header the server does not
/// trust. With no trusted proxies, any `X-Forwarded-For` or `Forwarded`
/// says a proxy the operator did not declare may stand between the reader
/// and the server, so the peer may be that proxy. With `hops` trusted
/// proxies, `X-Forwarded-For` must hold at least `hops` entries and the one
/// [`client_ip`] reads must be an address; a `Forwarded` header beside it
/// is not read (the trusted proxies write `X-Forwarded-For`).
pub fn forwarded_untrusted(headers: &HeaderMap, hops: usize) -> bool {
    if hops == 0 {
        return headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
    }
    let forwarded: Vec<&str> = forwarded_entries(headers).collect();
    match forwarded.len().checked_sub(hops) {
        Some(index) => forwarded[index].parse::<IpAddr>().is_err(),
        None => true,
    }
}

/// The entries of every `X-Forwarded-For` header, in order.
fn forwarded_entries(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_what_the_outermost_trusted_proxy_saw() {
        let peer: IpAddr = "10.0.0.2".parse().expect("valid address");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().expect("valid header"),
        );
        assert_eq!(client_ip(&headers, Some(peer), 0), Some(peer));
        assert_eq!(
            client_ip(&headers, Some(peer), 1),
            "198.51.100.7".parse().ok()
        );
        assert_eq!(
            client_ip(&headers, Some(peer), 2),
            "203.0.113.9".parse().ok()
        );
        assert_eq!(client_ip(&headers, Some(peer), 3), Some(peer));
        assert_eq!(client_ip(&HeaderMap::new(), Some(peer), 1), Some(peer));
    }

    #[test]
    fn a_forwarded_header_is_untrusted_unless_the_proxies_wrote_it() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, value.parse().expect("valid header"));
            }
            map
        };
        let none = headers(&[]);
        let two = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7")]);
        let rfc = headers(&[("forwarded", "for=203.0.113.9")]);
        let garbled = headers(&[("x-forwarded-for", "somewhere, 198.51.100.7")]);
        // No trusted proxy: any forwarded header casts doubt on the peer.
        assert!(!forwarded_untrusted(&none, 0));
        assert!(forwarded_untrusted(&two, 0));
        assert!(forwarded_untrusted(&rfc, 0));
        // Trusted proxies: enough entries, and the one read is an address.
        assert!(!forwarded_untrusted(&two, 1));
        assert!(!forwarded_untrusted(&two, 2));
        assert!(forwarded_untrusted(&two, 3));
        assert!(forwarded_untrusted(&none, 1));
        assert!(forwarded_untrusted(&rfc, 1));
        assert!(!forwarded_untrusted(&garbled, 1));
        assert!(forwarded_untrusted(&garbled, 2));
    }
}
