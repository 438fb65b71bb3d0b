//! One streaming HTTP GET of a URL an operator configured (a product
//! feed's), over plain TCP or rustls: the body is handed on chunk by chunk
//! as it arrives, never gathered, within a total deadline and a byte bound.
//!
//! Like [`super::Poster`], the URL is the operator's, so no address is
//! refused; like every fetch here, one connection per request, HTTP/1.1,
//! no redirects (a 3xx is not 2xx: an error), no cookies, no compression.
//! Messages name the URL's origin at most: its path or query may hold a
//! credential.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tokio_rustls::rustls::pki_types::ServerName;

use super::PostUrl;
use super::allow::{Scheme, Target};
use super::client::{AbortOnDrop, connect, tls_connector};

/// Why a streamed GET stopped. Messages name the origin at most.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The head and the whole body took longer than the total timeout.
    #[error("{0}: no whole answer within {1:?}")]
    Timeout(String, Duration),
    /// The body, declared or counted, passed the byte bound.
    #[error("{0}: the body is larger than {1} bytes")]
    TooLarge(String, u64),
    /// The answer's status was not 2xx.
    #[error("{0}: the server answered with status {1}")]
    Status(String, u16),
    /// Resolving, connecting, TLS or HTTP failed.
    #[error("{0}")]
    Failed(String),
}

/// A response body being read: [`BodyStream::chunk`] until `None`. The
/// connection lives as long as the stream, and ends when it is dropped.
pub struct BodyStream {
    body: Incoming,
    _connection: AbortOnDrop,
    deadline: Instant,
    timeout: Duration,
    max_bytes: u64,
    read: u64,
    origin: String,
}

impl BodyStream {
    /// The next piece of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, StreamError> {
        loop {
            let frame = tokio::time::timeout_at(self.deadline, self.body.frame())
                .await
                .map_err(|_| StreamError::Timeout(self.origin.clone(), self.timeout))?;
            let Some(frame) = frame else {
                return Ok(None);
            };
            let frame =
                frame.map_err(|error| StreamError::Failed(format!("{}: {error}", self.origin)))?;
            // Trailers carry no body; read on.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            self.read += data.len() as u64;
            if self.read > self.max_bytes {
                return Err(StreamError::TooLarge(self.origin.clone(), self.max_bytes));
            }
            return Ok(Some(data));
        }
    }
}

/// GETs `url` and answers its body as a stream once the head says 2xx;
/// connecting, the head and every later chunk share one deadline,
/// `timeout` from now, and the body may hold at most `max_bytes`.
pub async fn get_stream(
    url: &PostUrl,
    timeout: Duration,
    max_bytes: u64,
) -> Result<BodyStream, StreamError> {
    let deadline = Instant::now() + timeout;
    let target = &url.0;
    let origin = target.origin();
    let (response, connection) = tokio::time::timeout_at(deadline, open(target))
        .await
        .map_err(|_| StreamError::Timeout(origin.clone(), timeout))??;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(StreamError::Status(origin, status));
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes) {
        return Err(StreamError::TooLarge(origin, max_bytes));
    }
    Ok(BodyStream {
        body: response.into_body(),
        _connection: connection,
        deadline,
        timeout,
        max_bytes,
        read: 0,
        origin,
    })
}

/// Connects (through TLS for https) and sends the request.
async fn open(target: &Target) -> Result<(hyper::Response<Incoming>, AbortOnDrop), StreamError> {
    let failed = |reason: String| StreamError::Failed(format!("{}: {reason}", target.origin()));
    let tcp = connect(target)
        .await
        .map_err(|error| StreamError::Failed(error.to_string()))?;
    match target.scheme {
        Scheme::Http => send(TokioIo::new(tcp), target).await.map_err(failed),
        Scheme::Https => {
            let server_name = ServerName::try_from(target.dial_host().to_string())
                .map_err(|_| failed("the host is not a valid TLS name".into()))?;
            let tls = tls_connector()
                .connect(server_name, tcp)
                .await
                .map_err(|error| failed(format!("TLS: {error}")))?;
            send(TokioIo::new(tls), target).await.map_err(failed)
        }
    }
}

async fn send<I>(io: I, target: &Target) -> Result<(hyper::Response<Incoming>, AbortOnDrop), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<I, Empty<Bytes>>(io)
        .await
        .map_err(|error| error.to_string())?;
    let connection = AbortOnDrop(tokio::spawn(connection));
    let request = Request::get(target.path_and_query.as_str())
        .header(HOST, target.authority())
        .header(USER_AGENT, "opentime")
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|error| error.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    Ok((response, connection))
}
