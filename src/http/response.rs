//! Building responses: images with the headers email clients need, and the
//! plain answers (errors, redirects, 304).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

pub type Body = Full<Bytes>;

/// Image responses must never be cached by a mail client or a proxy: the
/// next open has to come back to the server to get the current state.
const NO_CACHE: &str = "no-cache, no-store, must-revalidate, max-age=0, private";

/// A 200 image with the no-cache headers every image carries, its length
/// and ETag.
pub fn image(bytes: Bytes, content_type: &'static str, etag: &str) -> Response<Body> {
    let length = bytes.len();
    let mut response = Response::new(Full::new(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    no_cache_headers(headers, etag);
    response
}

/// A 304 for a client whose copy is current.
pub fn not_modified(etag: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    no_cache_headers(response.headers_mut(), etag);
    response
}

fn no_cache_headers(headers: &mut hyper::HeaderMap, etag: &str) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
}

/// A short plain-text answer, for API callers and people.
pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    no_store(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(format!("{message}\n")),
    )
}

/// A response of `content_type` that no one may keep: pages, API answers.
pub fn no_store(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A 302 to `location`, never cached. What is not printable ASCII in the
/// URL (letters of other scripts, and bidi controls that could make a
/// link read as another host) is percent-encoded, as a browser would send
/// it.
pub fn redirect(location: &str) -> Response<Body> {
    match HeaderValue::from_str(&ascii_location(location)) {
        Ok(value) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::FOUND;
            response.headers_mut().insert(header::LOCATION, value);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
            response
        }
        Err(_) => text(
            StatusCode::NOT_FOUND,
            "the template's link is not a valid URL",
        ),
    }
}

/// `location` with every byte outside printable ASCII percent-encoded.
fn ascii_location(location: &str) -> String {
    let mut encoded = String::with_capacity(location.len());
    for byte in location.bytes() {
        if byte.is_ascii_graphic() {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_percent_encode_what_is_not_printable_ascii() {
        let answer = redirect("https://example.com/caf\u{e9}?n=\u{202e}moc.live");
        assert_eq!(
            answer.headers()[header::LOCATION],
            "https://example.com/caf%C3%A9?n=%E2%80%AEmoc.live"
        );
        assert_eq!(
            redirect("https://example.com/a b").headers()[header::LOCATION],
            "https://example.com/a%20b"
        );
    }

    #[test]
    fn images_carry_the_no_cache_headers() {
        let response = image(Bytes::from_static(b"png"), "image/png", "\"k\"");
        let headers = response.headers();
        assert_eq!(headers[header::CACHE_CONTROL], NO_CACHE);
        assert_eq!(headers[header::PRAGMA], "no-cache");
        assert_eq!(headers[header::EXPIRES], "0");
        assert_eq!(headers[header::CONTENT_LENGTH], "3");
        assert_eq!(headers[header::ETAG], "\"k\"");
    }
}
