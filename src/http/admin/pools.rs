//! Coupon pools: `GET /api/v1/pools/{pool}`, how many unused codes a pool
//! holds, and `POST /api/v1/pools/{pool}/codes`, which adds codes, one per
//! line or a JSON array of strings.

use crate::http::body::RequestBody;
use serde_json::{Value, json};

use super::error::ApiError;
use super::read_body;
use crate::store::Store;

/// `GET /api/v1/pools/{pool}`.
pub(super) async fn size(store: &Store, pool: &str) -> Result<Value, ApiError> {
    let remaining = store.pool_size(pool).await?;
    Ok(json!({ "pool": pool, "remaining": remaining }))
}

/// `POST /api/v1/pools/{pool}/codes`.
pub(super) async fn add_codes(
    store: &Store,
    pool: &str,
    body: RequestBody,
) -> Result<Value, ApiError> {
    let bytes = read_body(body).await?;
    let codes = parse_codes(&bytes)?;
    let added = store.add_codes(pool, &codes).await?;
    let remaining = store.pool_size(pool).await?;
    Ok(json!({ "pool": pool, "received": codes.len(), "added": added, "remaining": remaining }))
}

/// Codes from a body: a JSON array of strings, or one code per line. A
/// code is 1 to 128 printable characters without spaces, so it fits a
/// text layer, a QR code and a barcode alike.
fn parse_codes(bytes: &[u8]) -> Result<Vec<String>, ApiError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ApiError::bad_request("codes must be UTF-8"))?;
    let codes: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
            .map_err(|error| ApiError::bad_request(format!("a JSON array of strings: {error}")))?
    } else {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect()
    };
    for (index, code) in codes.iter().enumerate() {
        if code.is_empty() || code.len() > 128 || code.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ApiError::bad_request(format!(
                "code {} is not 1 to 128 printable characters without spaces",
                index + 1
            )));
        }
    }
    if codes.is_empty() {
        return Err(ApiError::bad_request("no codes in the body"));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_as_lines_or_json_and_bad_ones_are_named() {
        assert_eq!(
            parse_codes(b"A1\n\n B2 \r\nC3").expect("valid lines"),
            ["A1", "B2", "C3"]
        );
        assert_eq!(
            parse_codes(br#"["X", "Y"]"#).expect("valid JSON"),
            ["X", "Y"]
        );
        let error = parse_codes(b"OK\nhas space").expect_err("refused");
        assert!(error.message.contains("code 2"), "{}", error.message);
        assert!(parse_codes(b"").is_err());
        assert!(parse_codes(b"[1, 2]").is_err());
    }
}
