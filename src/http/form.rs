//! Request bodies of the recipient-facing forms: read within a bound, and
//! decoded as `application/x-www-form-urlencoded` or `multipart/form-data`
//! (RFC 7578), the two encodings RFC 8058 allows for one-click unsubscribe.

use crate::http::body::RequestBody;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

/// The largest form body read. The preference form is a few hundred bytes.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("the body may hold at most {0} bytes")]
    TooLarge(usize),
    #[error("reading the body: {0}")]
    Read(String),
    #[error("the body arrived too slowly")]
    TooSlow,
    #[error("send application/x-www-form-urlencoded or multipart/form-data")]
    UnsupportedType,
    #[error("the multipart body is malformed: {0}")]
    Malformed(&'static str),
}

/// The body, refusing one longer than `limit` bytes.
pub async fn read_limited(body: RequestBody, limit: usize) -> Result<Bytes, FormError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(FormError::TooLarge(limit))
        }
        Err(error) if error.is::<crate::http::body::TooSlow>() => Err(FormError::TooSlow),
        Err(error) => Err(FormError::Read(error.to_string())),
    }
}

/// The name and value pairs of a form body, in order, by its
/// `Content-Type`.
pub fn fields(content_type: Option<&str>, body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let content_type = content_type.unwrap_or_default();
    let (essence, parameters) = content_type.split_once(';').unwrap_or((content_type, ""));
    match essence.trim().to_ascii_lowercase().as_str() {
        "application/x-www-form-urlencoded" => Ok(form_urlencoded::parse(body)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()),
        "multipart/form-data" => {
            let boundary = parameter(parameters, "boundary")
                .filter(|boundary| !boundary.is_empty() && boundary.len() <= 70)
                .ok_or(FormError::Malformed("no boundary"))?;
            multipart(body, boundary.as_bytes())
        }
        _ => Err(FormError::UnsupportedType),
    }
}

/// The value of `name` among `; a=b; c="d"` parameters.
fn parameter<'a>(parameters: &'a str, name: &str) -> Option<&'a str> {
    parameters.split(';').find_map(|parameter| {
        let (key, value) = parameter.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"'))
    })
}

/// The text fields of a multipart body; file parts are left out.
fn multipart(body: &[u8], boundary: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    // The first delimiter may open the body; every later one opens a line.
    let mut rest = match find(body, &delimiter) {
        Some(0) => &body[delimiter.len()..],
        _ => {
            let mut first = b"\r\n".to_vec();
            first.extend_from_slice(&delimiter);
            let at = find(body, &first).ok_or(FormError::Malformed("no boundary line"))?;
            &body[at + first.len()..]
        }
    };
    let mut line_delimiter = b"\r\n".to_vec();
    line_delimiter.extend_from_slice(&delimiter);
    let mut fields = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        // RFC 2046 allows spaces and tabs after a boundary.
        let padding = rest
            .iter()
            .take_while(|byte| matches!(byte, b' ' | b'\t'))
            .count();
        let part_start = rest[padding..]
            .strip_prefix(b"\r\n")
            .ok_or(FormError::Malformed("a boundary line continues"))?;
        let end =
            find(part_start, &line_delimiter).ok_or(FormError::Malformed("a part never ends"))?;
        let part = &part_start[..end];
        rest = &part_start[end + line_delimiter.len()..];
        let split =
            find(part, b"\r\n\r\n").ok_or(FormError::Malformed("a part has no header end"))?;
        let headers = std::str::from_utf8(&part[..split])
            .map_err(|_| FormError::Malformed("a part's headers are not UTF-8"))?;
        let value = &part[split + 4..];
        let disposition = headers
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-disposition"))
            .map(|(_, value)| value)
            .ok_or(FormError::Malformed("a part has no Content-Disposition"))?;
        let name =
            parameter(disposition, "name").ok_or(FormError::Malformed("a part has no name"))?;
        if parameter(disposition, "filename").is_some() {
            continue;
        }
        let value =
            std::str::from_utf8(value).map_err(|_| FormError::Malformed("a value is not UTF-8"))?;
        fields.push((name.to_string(), value.to_string()));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encodings_of_the_one_click_body_decode() {
        let wanted = vec![("List-Unsubscribe".to_string(), "One-Click".to_string())];
        assert_eq!(
            fields(
                Some("application/x-www-form-urlencoded"),
                b"List-Unsubscribe=One-Click"
            ),
            Ok(wanted.clone())
        );
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert_eq!(
            fields(Some("multipart/form-data; boundary=XyZ"), body),
            Ok(wanted.clone())
        );
        let padded = b"--XyZ \t\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--";
        assert_eq!(
            fields(Some("multipart/form-data; boundary=XyZ"), padded),
            Ok(wanted.clone())
        );
        // A preamble, a quoted boundary, two parts and a file part.
        let body = b"ignored\r\n--b 1\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nx\r\ny\r\n--b 1\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n--b 1\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b 1--";
        assert_eq!(
            fields(Some("multipart/form-data; boundary=\"b 1\""), body),
            Ok(vec![
                ("a".to_string(), "x\r\ny".to_string()),
                wanted[0].clone()
            ])
        );
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let multipart = Some("multipart/form-data; boundary=b");
        for body in [
            &b""[..],
            b"--b",
            b"--b\r\n",
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            b"--b\r\nno header end\r\n--b--",
            b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
            b"--bjunk",
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n--b--",
        ] {
            assert!(
                fields(multipart, body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            fields(Some("multipart/form-data"), b""),
            Err(FormError::Malformed("no boundary"))
        );
        assert_eq!(
            fields(Some("application/json"), b"{}"),
            Err(FormError::UnsupportedType)
        );
        assert_eq!(fields(None, b"a=b"), Err(FormError::UnsupportedType));
    }
}
