//! One HTTP GET of an allowed URL, over plain TCP or rustls, bounded in time
//! and in bytes.
//!
//! This is deliberately not a general HTTP client. Each fetch opens its own
//! connection and closes it: a URL is fetched once per cache lifetime, so a
//! pool would save little and would keep sockets to hosts that recipients'
//! state chose. There are no redirects (a redirect could lead off the
//! allow-list), no proxies, no cookies and no compression. The connection
//! speaks HTTP/1.1 only, through hyper's low-level handshake, so that nothing
//! but `rustls` and `tokio-rustls` is needed on top of what the server
//! already builds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::remote::RemoteImageError;
use crate::remote::address::is_internal;
use crate::remote::allow::{Scheme, Target};

/// What every request says about itself.
const USER_AGENT_VALUE: &str = "opentime";

/// What a GET asks for and takes: the media types it accepts, headers of
/// its own, the largest body, and the check of the response's head before
/// the body is read.
pub(crate) struct Get<'a> {
    pub(crate) accept: &'a str,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) max_bytes: usize,
    pub(crate) check_head: fn(&Response<Incoming>, usize) -> Result<(), RemoteImageError>,
}

/// Fetches bodies of allowed URLs within the configured limits.
pub(crate) struct Fetcher {
    tls: TlsConnector,
    max_bytes: usize,
    timeout: Duration,
}

impl Fetcher {
    pub(crate) fn new(max_bytes: usize, timeout: Duration) -> Fetcher {
        Fetcher {
            tls: tls_connector(),
            max_bytes,
            timeout,
        }
    }

    /// The body of a 200 response with an image Content-Type, at most
    /// `max_bytes` long, all within `timeout` from the first DNS query to the
    /// last byte.
    pub(crate) async fn get(&self, target: &Target) -> Result<Vec<u8>, RemoteImageError> {
        // Dropping the fetch at the deadline drops the socket with it, and the
        // connection task through its guard, so a slow host holds nothing.
        tokio::time::timeout(self.timeout, self.get_without_deadline(target))
            .await
            .unwrap_or(Err(RemoteImageError::Timeout))
    }

    async fn get_without_deadline(&self, target: &Target) -> Result<Vec<u8>, RemoteImageError> {
        let get = Get {
            accept: "image/png,image/jpeg",
            headers: &[],
            max_bytes: self.max_bytes,
            check_head: check_image_head,
        };
        get_once(&self.tls, target, &get).await
    }
}

/// One GET of `target` on a connection of its own, with no deadline (the
/// caller sets one).
pub(crate) async fn get_once(
    tls: &TlsConnector,
    target: &Target,
    get: &Get<'_>,
) -> Result<Vec<u8>, RemoteImageError> {
    let tcp = connect(target).await?;
    match target.scheme {
        Scheme::Http => exchange(TokioIo::new(tcp), target, get).await,
        Scheme::Https => {
            let server_name = ServerName::try_from(target.dial_host().to_string())
                .map_err(|_| fetch_error(target, "the host is not a valid TLS name"))?;
            let tls = tls
                .connect(server_name, tcp)
                .await
                .map_err(|e| fetch_error(target, format!("TLS: {e}")))?;
            exchange(TokioIo::new(tls), target, get).await
        }
    }
}

/// A client config trusting the Mozilla roots that webpki-roots carries, so
/// that fetches verify the same way on every machine whatever its CA bundle,
/// with the ring provider that the rest of opentime's TLS already uses.
pub(crate) fn tls_connector() -> TlsConnector {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("the ring provider supports rustls's default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// Resolves the host and connects to the first address that may be used
/// and answers. Unless a rule names the host exactly, internal addresses
/// are skipped (`address.rs`); each stream connects to the very address
/// that was checked, so no second lookup can answer differently.
pub(super) async fn connect(target: &Target) -> Result<TcpStream, RemoteImageError> {
    let addresses = tokio::net::lookup_host((target.dial_host(), target.port))
        .await
        .map_err(|e| fetch_error(target, format!("resolving: {e}")))?;
    let mut last_error = None;
    let mut refused = None;
    for address in addresses {
        if !target.named_exactly && is_internal(address.ip()) {
            refused = Some(address.ip());
            continue;
        }
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match (last_error, refused) {
        (Some(e), _) => fetch_error(target, format!("connecting: {e}")),
        (None, Some(address)) => RemoteImageError::PrivateAddress(format!(
            "{} resolved to the internal address {address}, and only a wildcard rule allows it",
            target.origin()
        )),
        (None, None) => fetch_error(target, "the host resolved to no address"),
    })
}

/// Sends the one request of a connection and reads its answer.
async fn exchange<I>(io: I, target: &Target, get: &Get<'_>) -> Result<Vec<u8>, RemoteImageError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<I, Empty<Bytes>>(io)
        .await
        .map_err(|e| fetch_error(target, e))?;
    // The connection is driven beside the request; the guard ends it when the
    // fetch returns or is dropped, so no socket outlives its fetch.
    let _connection = AbortOnDrop(tokio::spawn(connection));
    let mut request = Request::get(target.path_and_query.as_str())
        .header(HOST, target.authority())
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, get.accept)
        .header(CONNECTION, "close");
    for (name, value) in get.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    // The message never quotes a header: its value may be a credential.
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|_| fetch_error(target, "a header name or value is not valid"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| fetch_error(target, e))?;
    (get.check_head)(&response, get.max_bytes)?;
    read_body(response.into_body(), target, get.max_bytes).await
}

/// Refuses a response before its body is read: anything but 200 (a redirect
/// is not followed, since its target was never checked), a Content-Type that
/// is not PNG or JPEG, or a declared length over the limit.
fn check_image_head(
    response: &Response<Incoming>,
    max_bytes: usize,
) -> Result<(), RemoteImageError> {
    if response.status() != StatusCode::OK {
        return Err(RemoteImageError::Status(response.status().as_u16()));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    // Parameters such as `; charset=binary` do not change what the body is.
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("image/png")
        && !media_type.eq_ignore_ascii_case("image/jpeg")
    {
        return Err(RemoteImageError::NotAnImage);
    }
    check_declared_length(response, max_bytes)
}

/// Refuses a response whose declared length is over the limit, before its
/// body is read.
pub(crate) fn check_declared_length(
    response: &Response<Incoming>,
    max_bytes: usize,
) -> Result<(), RemoteImageError> {
    let declared_length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > max_bytes as u64) {
        return Err(RemoteImageError::TooLarge);
    }
    Ok(())
}

/// Reads the body, counting as it goes, because a chunked body declares no
/// length and a declared one is only the server's word.
async fn read_body(
    mut body: Incoming,
    target: &Target,
    max_bytes: usize,
) -> Result<Vec<u8>, RemoteImageError> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| fetch_error(target, e))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max_bytes {
                return Err(RemoteImageError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// A fetch error that names the origin, which an operator needs to find the
/// dead host, and never the path or query, which may name a recipient.
fn fetch_error(target: &Target, reason: impl std::fmt::Display) -> RemoteImageError {
    RemoteImageError::Fetch(format!("{}: {reason}", target.origin()))
}

/// Aborts a spawned task when dropped.
pub(super) struct AbortOnDrop(pub(super) JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target as the allow-list makes it: `named_exactly` is what a
    /// wildcard rule (false) or an exact one (true) gives a matching URL.
    fn localhost_target(port: u16, named_exactly: bool) -> Target {
        Target {
            scheme: Scheme::Http,
            host: "localhost".to_string(),
            port,
            path_and_query: "/photo.png".to_string(),
            named_exactly,
        }
    }

    /// `localhost` resolves to loopback through the hosts file, as a
    /// rebinding or taken-over subdomain would through DNS. Allowed by a
    /// wildcard only, it is refused before any connection; named exactly,
    /// it is connected to.
    #[tokio::test]
    async fn only_a_host_named_exactly_may_resolve_to_an_internal_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("a bound address").port();
        let fetcher = Fetcher::new(1024, Duration::from_millis(500));

        let refused = fetcher.get(&localhost_target(port, false)).await;
        let Err(RemoteImageError::PrivateAddress(message)) = refused else {
            panic!("expected a private address refusal, got {refused:?}");
        };
        assert!(message.contains("127.0.0.1"), "{message}");
        assert!(!message.contains("photo"), "{message} names the path");
        assert!(
            listener.accept().is_err(),
            "nothing connected to the listener"
        );

        // Named exactly, the fetch connects; the listener never answers, so
        // the fetch ends at its deadline, after the connection was made.
        let allowed = fetcher.get(&localhost_target(port, true)).await;
        assert_eq!(allowed.map(|_| ()), Err(RemoteImageError::Timeout));
        assert!(listener.accept().is_ok(), "the fetch connected");
    }
}
