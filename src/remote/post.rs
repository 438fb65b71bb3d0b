//! One HTTP POST of a body to a URL an operator configured (a webhook's),
//! over plain TCP or rustls, bounded in time.
//!
//! Like the image fetch, this is not a general client: one connection per
//! request, closed after it, HTTP/1.1 only, no redirects (a 3xx is an
//! answer like any other that is not 2xx, and the caller retries), no
//! proxies, no cookies. Unlike an image URL, the URL comes from the
//! operator, not from a recipient's state: it may name an internal host,
//! so no address is refused. The response's body is not read; only its
//! status matters.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HOST, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::allow::{Scheme, Target};
use super::client::{AbortOnDrop, connect, tls_connector};

/// A URL that opentime posts to, parsed strictly once, at load. Its
/// `Debug` and [`PostUrl::origin`] show the origin only: the path or query
/// may hold a credential of the receiver's.
#[derive(Clone, PartialEq, Eq)]
pub struct PostUrl(pub(super) Target);

impl PostUrl {
    /// An `http` or `https` URL with a plain host name or IP address, no
    /// user name or password, and no fragment.
    pub fn parse(url: &str) -> Result<PostUrl, String> {
        let mut target = Target::parse(url).map_err(|_| {
            "not an http(s) URL opentime can use: a host name or IP address, \
             no user name or password, no fragment"
                .to_string()
        })?;
        // The operator chose this host: it may be an internal one.
        target.named_exactly = true;
        Ok(PostUrl(target))
    }

    /// `scheme://host[:port]`: what logs say instead of the URL.
    pub fn origin(&self) -> String {
        self.0.origin()
    }

    /// The host, lowercase; an IPv6 address without its brackets.
    pub fn host(&self) -> &str {
        self.0.dial_host()
    }
}

impl fmt::Debug for PostUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostUrl({}/...)", self.origin())
    }
}

/// Why a POST got no answer. Messages name the origin at most.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// Connecting, TLS and the response head together took longer than
    /// the poster's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Resolving, connecting, TLS or HTTP failed.
    #[error("{0}")]
    Failed(String),
}

/// Posts bodies, each request within `timeout`.
pub struct Poster {
    tls: TlsConnector,
    timeout: Duration,
}

impl Poster {
    pub fn new(timeout: Duration) -> Poster {
        Poster {
            tls: tls_connector(),
            timeout,
        }
    }

    /// POSTs `body` with `headers` (lowercase names, ASCII values) and
    /// answers the response's status; its body is not read.
    pub async fn post(
        &self,
        url: &PostUrl,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<u16, PostError> {
        // Dropping the exchange at the deadline drops its socket too.
        tokio::time::timeout(self.timeout, self.post_without_deadline(url, headers, body))
            .await
            .unwrap_or(Err(PostError::Timeout(self.timeout)))
    }

    async fn post_without_deadline(
        &self,
        url: &PostUrl,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<u16, PostError> {
        let target = &url.0;
        let failed = |reason: String| PostError::Failed(format!("{}: {reason}", target.origin()));
        let tcp = connect(target)
            .await
            .map_err(|error| PostError::Failed(error.to_string()))?;
        match target.scheme {
            Scheme::Http => exchange(TokioIo::new(tcp), target, headers, body)
                .await
                .map_err(failed),
            Scheme::Https => {
                let server_name = ServerName::try_from(target.dial_host().to_string())
                    .map_err(|_| failed("the host is not a valid TLS name".into()))?;
                let tls = self
                    .tls
                    .connect(server_name, tcp)
                    .await
                    .map_err(|error| failed(format!("TLS: {error}")))?;
                exchange(TokioIo::new(tls), target, headers, body)
                    .await
                    .map_err(failed)
            }
        }
    }
}

/// Sends the one request of a connection and answers its status.
async fn exchange<I>(
    io: I,
    target: &Target,
    headers: &[(&str, String)],
    body: Bytes,
) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<I, Full<Bytes>>(io)
        .await
        .map_err(|error| error.to_string())?;
    let _connection = AbortOnDrop(tokio::spawn(connection));
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(target.path_and_query.as_str())
        .header(HOST, target.authority())
        .header(USER_AGENT, "opentime")
        .header(CONNECTION, "close")
        .header(CONTENT_LENGTH, body.len());
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request
        .body(Full::new(body))
        .map_err(|error| error.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_strictly_and_shown_by_origin_only() {
        let url = PostUrl::parse("https://crm.example.com/hooks/opentime?key=hunter2")
            .expect("a valid URL");
        assert_eq!(url.origin(), "https://crm.example.com");
        assert_eq!(url.host(), "crm.example.com");
        assert!(!format!("{url:?}").contains("hunter2"));
        let internal = PostUrl::parse("http://10.0.0.7:8080/hook").expect("an internal host");
        assert_eq!(internal.origin(), "http://10.0.0.7:8080");
        for bad in [
            "ftp://crm.example.com/",
            "https://user:pass@crm.example.com/",
            "crm.example.com/hook",
            "https://crm example.com/",
            "",
        ] {
            assert!(PostUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
