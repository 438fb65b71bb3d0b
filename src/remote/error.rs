//! The ways fetching a remote image can fail, each with a stable label.
//!
//! A failure is cached like a success (for a shorter time), so the error must
//! be `Clone` and carry only text, never a socket or a hyper error. No message
//! holds a URL's path or query, which may identify a recipient; at most the
//! origin appears, and usually not even that.

/// Why a remote image could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteImageError {
    /// The configuration is unusable; the message names the bad entry.
    #[error("remote images config: {0}")]
    Config(String),
    /// The URL is not an `http` or `https` URL that opentime can parse
    /// strictly, or it carries userinfo.
    #[error("not a valid http or https URL")]
    BadUrl,
    /// The URL is well formed, but its origin is not on the allow-list.
    #[error("the URL's origin is not allowed")]
    NotAllowed,
    /// Connecting, the response headers and the body together took longer
    /// than the configured timeout.
    #[error("the fetch timed out")]
    Timeout,
    /// The body is larger than the byte limit, or the image it holds is
    /// larger than opentime will decode from a remote source: more pixels
    /// than the largest canvas, or more decoded bytes than the whole decode
    /// budget.
    #[error("the image is too large")]
    TooLarge,
    /// The server answered with a status other than 200, redirects included.
    #[error("the server answered with status {0}")]
    Status(u16),
    /// The response's Content-Type is neither image/png nor image/jpeg.
    #[error("the response is not a PNG or JPEG image")]
    NotAnImage,
    /// The host, allowed only by a wildcard rule, resolved to loopback, a
    /// private or link-local network, or another address that is not on
    /// the public internet; the message names the origin and the address.
    #[error("refused to connect: {0}")]
    PrivateAddress(String),
    /// Resolving, connecting, TLS or HTTP failed.
    #[error("fetch failed: {0}")]
    Fetch(String),
    /// Every decode slot or the decode memory budget stayed taken for as
    /// long as an open may wait. The only failure that is not cached: the
    /// image itself may be fine.
    #[error("no decode slot or memory budget was free in time")]
    Busy,
    /// The body claimed to be an image but did not decode as one.
    #[error("decode failed: {0}")]
    Decode(String),
}

impl RemoteImageError {
    /// A short label that never changes, for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            RemoteImageError::Config(_) => "config",
            RemoteImageError::BadUrl => "bad_url",
            RemoteImageError::NotAllowed => "not_allowed",
            RemoteImageError::Timeout => "timeout",
            RemoteImageError::TooLarge => "too_large",
            RemoteImageError::Status(_) => "status",
            RemoteImageError::NotAnImage => "not_an_image",
            RemoteImageError::PrivateAddress(_) => "private_address",
            RemoteImageError::Fetch(_) => "fetch",
            RemoteImageError::Busy => "busy",
            RemoteImageError::Decode(_) => "decode",
        }
    }
}
