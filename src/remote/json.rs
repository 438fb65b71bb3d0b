//! The other GET: a template's source, the customer's own JSON API called
//! at open (`docs/sources.md`).
//!
//! The URL is a template over the recipient, so the same care as for
//! image URLs applies: the host must be one the operator listed in
//! `source_hosts` (the same rules as `remote_image_allowed_origins`), the
//! template must write that host out (checked when it loads), and a host
//! listed only by a wildcard must resolve to a public address. The body
//! must be JSON, which the caller parses; here it is only bounded.

use hyper::Response;
use hyper::body::Incoming;
use tokio_rustls::TlsConnector;

use super::RemoteImageError;
use super::allow::{AllowList, Target};
use super::client::{Get, check_declared_length, get_once, tls_connector};

/// The hosts sources may call, parsed once at startup.
pub struct SourceHosts {
    list: AllowList,
    tls: TlsConnector,
}

impl std::fmt::Debug for SourceHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceHosts")
            .field("list", &self.list)
            .finish_non_exhaustive()
    }
}

/// A source URL that passed [`SourceHosts`], ready to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTarget(Target);

impl SourceTarget {
    /// `scheme://host[:port]`: all that logs and metrics may say of it.
    pub fn origin(&self) -> String {
        self.0.origin()
    }
}

impl SourceHosts {
    /// Parses `source_hosts`; the first bad entry fails the list, quoted.
    pub fn parse(entries: &[String]) -> Result<SourceHosts, String> {
        let list = AllowList::parse(entries).map_err(|error| {
            error
                .to_string()
                .replace("remote images config: allowed origin", "source_hosts entry")
        })?;
        Ok(SourceHosts {
            list,
            tls: tls_connector(),
        })
    }

    /// Checks what a source's URL text writes before its first expression:
    /// it must write the scheme and the whole host out, and the host must
    /// be listed. `https://api.example.com/c/{{ recipient.id }}` passes
    /// when `https://api.example.com` is listed;
    /// `https://{{ profile.shop }}.example.com/` never does, since the
    /// state would choose where opentime connects.
    pub fn check_written(&self, url_text: &str) -> Result<(), String> {
        let literal = url_text
            .find(['{'])
            .map_or(url_text, |at| &url_text[..at])
            .trim_start();
        let Some((scheme, rest)) = literal.split_once("://") else {
            return Err(format!(
                "the URL must start with http:// or https:// and its host, written out: {}",
                shown(url_text)
            ));
        };
        let host_ends = rest.find(['/', '?', '#']);
        if host_ends.is_none() && literal.len() < url_text.trim_start().len() {
            return Err(format!(
                "the URL's host must be written out, not filled in by an expression: {}",
                shown(url_text)
            ));
        }
        let authority = &rest[..host_ends.unwrap_or(rest.len())];
        let origin = format!("{scheme}://{authority}/");
        match self.list.target(&origin) {
            Ok(_) => Ok(()),
            Err(RemoteImageError::NotAllowed) => Err(format!(
                "{scheme}://{authority} is not in source_hosts, which lists the hosts sources may call"
            )),
            Err(_) => Err(format!(
                "{scheme}://{authority} is not an http(s) origin opentime can call"
            )),
        }
    }

    /// Parses a resolved URL strictly and checks its host again: the
    /// expressions filled in the path, and a strict parse is the only way
    /// to be sure they did not move the host.
    pub fn target(&self, url: &str) -> Result<SourceTarget, RemoteImageError> {
        self.list.target(url).map(SourceTarget)
    }

    /// One GET of `target` with `headers`, taking at most `max_bytes`: the
    /// body of a 2xx answer. The caller bounds the time.
    pub async fn get(
        &self,
        target: &SourceTarget,
        headers: &[(String, String)],
        max_bytes: usize,
    ) -> Result<Vec<u8>, RemoteImageError> {
        let get = Get {
            accept: "application/json",
            headers,
            max_bytes,
            check_head: check_json_head,
        };
        get_once(&self.tls, &target.0, &get).await
    }
}

/// A source's URL as an error may show it: the text up to its first
/// expression, so that neither a recipient nor a secret appears.
fn shown(url_text: &str) -> String {
    let literal = url_text.find('{').map_or(url_text, |at| &url_text[..at]);
    format!("{literal:?}...")
}

/// Any 2xx is an answer (a 204 is an empty body, which is not JSON and
/// fails as such); anything else is the status, redirects included.
fn check_json_head(
    response: &Response<Incoming>,
    max_bytes: usize,
) -> Result<(), RemoteImageError> {
    if !response.status().is_success() {
        return Err(RemoteImageError::Status(response.status().as_u16()));
    }
    check_declared_length(response, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> SourceHosts {
        SourceHosts::parse(&[
            "https://api.shop.example".to_string(),
            "http://127.0.0.1:8123".to_string(),
            "https://*.weather.example".to_string(),
        ])
        .expect("valid hosts")
    }

    #[test]
    fn a_source_url_must_write_a_listed_host_out() {
        let hosts = hosts();
        for good in [
            "https://api.shop.example/c/{{ recipient.id | urlencode }}/orders",
            "https://api.shop.example?id={{ recipient.id }}",
            "https://API.shop.example/fixed",
            "http://127.0.0.1:8123/orders/{{ recipient.id }}",
            "https://eu.weather.example/now?city={{ profile.city }}",
        ] {
            assert_eq!(hosts.check_written(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("https://{{ profile.shop }}.example.com/", "written out"),
            ("https://api.shop.example{{ query.p }}", "written out"),
            ("https://api.shop.example.evil.com/", "not in source_hosts"),
            ("http://api.shop.example/", "not in source_hosts"),
            ("http://127.0.0.1:8124/", "not in source_hosts"),
            ("{{ profile.url }}", "must start with"),
            ("ftp://api.shop.example/", "not an http(s) origin"),
        ] {
            let error = hosts.check_written(bad).expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
            assert!(
                !error.contains("profile.shop"),
                "{error} quotes an expression"
            );
        }
    }

    /// `localhost` resolves to loopback through the hosts file, as a
    /// rebinding or taken-over name would through DNS: allowed only by a
    /// wildcard, it is refused before any connection.
    #[tokio::test]
    async fn a_host_only_a_wildcard_allows_may_not_resolve_to_an_internal_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("an address").port();
        let hosts = hosts();
        let target = SourceTarget(Target {
            scheme: crate::remote::allow::Scheme::Http,
            host: "localhost".to_string(),
            port,
            path_and_query: "/customers/cust-1".to_string(),
            named_exactly: false,
        });
        let refused = hosts.get(&target, &[], 1024).await;
        let Err(RemoteImageError::PrivateAddress(message)) = refused else {
            panic!("expected a private address refusal, got {refused:?}");
        };
        assert!(!message.contains("cust-1"), "{message} names the path");
        assert!(listener.accept().is_err(), "nothing connected");
    }

    #[test]
    fn a_resolved_url_is_checked_again() {
        let hosts = hosts();
        assert!(hosts.target("https://api.shop.example/c/42").is_ok());
        assert_eq!(
            hosts.target("https://api.shop.example@evil.com/").err(),
            Some(RemoteImageError::BadUrl)
        );
        assert_eq!(
            hosts.target("https://evil.com/").err(),
            Some(RemoteImageError::NotAllowed)
        );
    }
}
