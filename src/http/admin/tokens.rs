//! `POST /api/v1/tokens`: recipient tokens for many ids at once, NDJSON or
//! CSV in, the same out with a token added.

use crate::http::body::RequestBody;
use bytes::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::error::{ApiError, body_error};
use super::recipients::recipient_named;
use crate::app::App;
use crate::http::form::read_limited;
use crate::http::response::{self, Body};
use crate::open::QueryPairs;

/// Ids one token call may sign; the CLI's `opentime sign --csv` takes files
/// of any length.
pub const MAX_TOKENS: usize = 100_000;

/// The longest body of a token call: 100,000 ids and what comes with them.
const MAX_TOKEN_BODY: usize = 32 * 1024 * 1024;

/// `POST /api/v1/tokens`: signs the ids of an NDJSON or CSV body.
pub(super) async fn sign(
    app: &App,
    query: &QueryPairs,
    headers: &HeaderMap,
    body: RequestBody,
) -> Result<Response<Body>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let format = TokenFormat::of(content_type)?;
    let column = query.get("column").unwrap_or("recipient");
    let bytes = read_limited(body, MAX_TOKEN_BODY)
        .await
        .map_err(body_error)?;
    let keys = app.keys.clone();
    let column = column.to_string();
    let signed = tokio::task::spawn_blocking(move || sign_tokens(&keys, format, &bytes, &column))
        .await
        .map_err(ApiError::internal)??;
    Ok(response::no_store(
        StatusCode::OK,
        format.content_type(),
        signed,
    ))
}

/// How a token call's body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenFormat {
    Ndjson,
    Csv,
}

impl TokenFormat {
    fn of(content_type: Option<&str>) -> Result<TokenFormat, ApiError> {
        let essence = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Ok(TokenFormat::Csv),
            "application/x-ndjson" | "application/jsonl" | "application/json" | "" => {
                Ok(TokenFormat::Ndjson)
            }
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_type",
                "send application/x-ndjson or text/csv",
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            TokenFormat::Ndjson => "application/x-ndjson",
            TokenFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Signs the ids of `body`: each NDJSON line is an object with a
/// `recipient` and comes back with a `token` added (other members kept);
/// a CSV comes back with a `token` column after its `recipient` column
/// (`column` names another). The first invalid line fails the call,
/// naming it, since a list with holes in it is worse than no list.
fn sign_tokens(
    keys: &crate::access::KeyRing,
    format: TokenFormat,
    body: &[u8],
    column: &str,
) -> Result<Bytes, ApiError> {
    match format {
        TokenFormat::Csv => {
            let rows = line_count(body);
            if rows > MAX_TOKENS + 1 {
                return Err(too_many());
            }
            let mut out = Vec::with_capacity(body.len() + rows * 64);
            keys.sign_csv(body, &mut out, column, "token")
                .map_err(|error| ApiError::bad_request(error.to_string()))?;
            Ok(Bytes::from(out))
        }
        TokenFormat::Ndjson => {
            let mut out = Vec::with_capacity(body.len() * 2);
            let mut count = 0;
            for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                count += 1;
                if count > MAX_TOKENS {
                    return Err(too_many());
                }
                let number = index + 1;
                let mut object: serde_json::Map<String, Value> = serde_json::from_slice(line)
                    .map_err(|error| {
                        ApiError::bad_request(format!(
                            "line {number}: a line is a JSON object with a \"{column}\": {error}"
                        ))
                    })?;
                let id = match object.get(column) {
                    Some(Value::String(id)) => recipient_named(id).map_err(|error| {
                        ApiError::bad_request(format!("line {number}: {}", error.message))
                    })?,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "line {number}: no \"{column}\" string"
                        )));
                    }
                };
                object.insert("token".into(), Value::String(keys.sign_recipient(&id)));
                serde_json::to_writer(&mut out, &object).map_err(ApiError::internal)?;
                out.push(b'\n');
            }
            Ok(Bytes::from(out))
        }
    }
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many",
        format!(
            "at most {MAX_TOKENS} ids per call; split the list, or sign a file of any \
             length with `opentime sign --csv`"
        ),
    )
}

fn line_count(body: &[u8]) -> usize {
    body.iter().filter(|&&byte| byte == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::KeyRing;

    #[test]
    fn tokens_come_back_on_the_lines_they_were_asked_on() {
        let keys = KeyRing::demo();
        let out = sign_tokens(
            &keys,
            TokenFormat::Ndjson,
            b"{\"recipient\":\"alice\",\"list\":7}\n\n{\"recipient\":\"bob\"}\n",
            "recipient",
        )
        .unwrap();
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["list"], 7);
        let token = lines[1]["token"].as_str().unwrap();
        assert_eq!(keys.verify_token(token).unwrap().as_str(), "bob");

        let error =
            sign_tokens(&keys, TokenFormat::Ndjson, b"{\"id\":\"x\"}\n", "recipient").unwrap_err();
        assert!(error.message.starts_with("line 1:"), "{}", error.message);

        let csv = sign_tokens(
            &keys,
            TokenFormat::Csv,
            b"recipient,list\nalice,7\n",
            "recipient",
        )
        .unwrap();
        let csv = String::from_utf8(csv.to_vec()).unwrap();
        assert!(csv.starts_with("recipient,list,token\nalice,7,"), "{csv}");
    }
}
