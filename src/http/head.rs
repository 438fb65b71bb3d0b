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

/// The client's address: with `hops` trusted proxies in front, the entry of
/// `X-Forwarded-For` the outermost one appended; else the peer's.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    match forwarded.len().checked_sub(hops) {
        Some(index) => forwarded[index].parse().ok().or(peer),
        // Fewer entries than proxies: the request did not come through all
        // of them, so the header cannot be trusted.
        None => peer,
    }
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
}
