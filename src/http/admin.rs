//! `/api/v1/...`: the admin API, for senders' systems. Bearer tokens from
//! the configuration; JSON in and out, with errors of stable codes.
//!
//! - `GET /api/v1/recipients/{id}/engagement?days=30`: one recipient's opens
//!   and clicks by person and machine over the window, and their last
//!   human open and click.
//! - `POST /api/v1/engagement` with `{"recipients": [...], "days": 30}`: the
//!   same for up to [`MAX_BULK`] recipients, so a sender can leave out of a
//!   newsletter those who never read it.
//! - `GET`, `PATCH`, `DELETE /api/v1/recipients/{id}`: a profile, a merge
//!   into it, a privacy erasure; `POST /api/v1/recipients` and
//!   `POST /api/v1/tokens` take bodies of any length (`admin_bulk`).
//! - `GET /api/v1/pools/{pool}`: how many unused codes a coupon pool holds.
//! - `POST /api/v1/pools/{pool}/codes`: adds codes, one per line, or a JSON
//!   array of strings.

use base64::Engine as _;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::admin_bulk::{TokenFormat, import_recipients, sign_tokens};
use super::form::{FormError, read_limited};
use super::response::{self, Body};
use super::{admin_templates, warm};
use crate::app::App;
use crate::open::QueryPairs;
use crate::recipient::RecipientId;
use crate::store::{EngagementRecord, StoreError};

/// Recipients one bulk engagement call may ask about.
pub const MAX_BULK: usize = 1000;

/// The longest request body the API reads, in bytes.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The longest body of a token call: 100,000 ids and what comes with them.
const MAX_TOKEN_BODY: usize = 32 * 1024 * 1024;

/// How long one batch of an import may wait for the store.
const IMPORT_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest window, in days: the engagement counts are kept 400 days.
const MAX_DAYS: u32 = 365;

const DEFAULT_DAYS: u32 = 30;

/// A refusal, as the API answers it.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    /// More about the refusal, for a program: where in a template it is.
    pub(super) details: Option<Value>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Something that should not happen did (a task panicked): 500.
    pub(super) fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    }

    pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            error.to_string(),
        )
    }
}

/// Serves one admin request; `segments` are the path's after `api/v1`.
pub async fn serve(
    app: &App,
    method: &Method,
    segments: &[&str],
    query: &QueryPairs,
    headers: &HeaderMap,
    body: Incoming,
) -> Response<Body> {
    let answer = match authorize(app, headers, scope_of(segments), Credentials::Bearer) {
        Ok(()) if method == Method::POST && segments == ["tokens"] => {
            match tokens(app, query, headers, body).await {
                Ok(response) => return response,
                Err(error) => Err(error),
            }
        }
        Ok(()) if method == Method::POST && segments == ["warm"] => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok());
            match warm::start(app, query, content_type, body).await {
                Ok(value) => return json_response(StatusCode::ACCEPTED, &value),
                Err(error) => Err(error),
            }
        }
        Ok(()) => route(app, method, segments, query, body).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(error) => error_response(error),
    }
}

pub(super) fn error_response(error: ApiError) -> Response<Body> {
    let mut refusal = json!({ "code": error.code, "message": error.message });
    if let Some(details) = error.details {
        refusal["details"] = details;
    }
    let mut response = json_response(error.status, &json!({ "error": refusal }));
    if error.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"opentime\""),
        );
    }
    response
}

/// `POST /api/v1/tokens`: signs the ids of an NDJSON or CSV body.
async fn tokens(
    app: &App,
    query: &QueryPairs,
    headers: &HeaderMap,
    body: Incoming,
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

async fn route(
    app: &App,
    method: &Method,
    segments: &[&str],
    query: &QueryPairs,
    body: Incoming,
) -> Result<Value, ApiError> {
    // The store's request budget is for images; the API may wait longer.
    let store = app.store.with_budget(std::time::Duration::from_secs(5));
    match (method, segments) {
        (&Method::GET, ["recipients", id, "engagement"]) => {
            let recipient = recipient_id(id)?;
            let days = days(query.get("days"))?;
            let records = store.engagement(std::slice::from_ref(&recipient)).await?;
            let record = records.into_iter().next().unwrap_or_default();
            Ok(summary(&recipient, &record, days, app.clock.now()))
        }
        (&Method::POST, ["recipients"]) => {
            import_recipients(&app.store.with_budget(IMPORT_BUDGET), body).await
        }
        (&Method::GET, ["recipients", id]) => profile_answer(&store, &recipient_id(id)?).await,
        (&Method::PATCH, ["recipients", id]) => {
            let recipient = recipient_id(id)?;
            let bytes = read_body(body).await?;
            let fields = profile_fields(&bytes)?;
            store.set_fields(&recipient, &fields).await?;
            Ok(json!({ "recipient": recipient.as_str(), "merged": fields.len() }))
        }
        (&Method::DELETE, ["recipients", id]) => {
            let recipient = recipient_id(id)?;
            let templates = app.templates.snapshot().templates();
            let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
            let pools: Vec<&str> = templates
                .iter()
                .filter_map(|t| t.coupon.as_ref().map(|coupon| coupon.pool.as_str()))
                .collect();
            let polls: Vec<&str> = templates
                .iter()
                .filter_map(|t| t.poll.as_ref().map(|poll| poll.id.as_str()))
                .collect();
            let removed = store.erase(&recipient, &names, &pools, &polls).await?;
            Ok(json!({ "recipient": recipient.as_str(), "erased": removed }))
        }
        (&Method::GET, ["recipients", id, "preferences"]) => {
            let recipient = recipient_id(id)?;
            let stored = store.prefs(&recipient).await?;
            let history = store.prefs_history(&recipient).await?;
            let view = app.prefs.view(&stored);
            Ok(json!({
                "recipient": recipient.as_str(),
                "preferences": {
                    "topics": view.topics.iter().map(|(id, ticked)| (id.clone(), Value::from(*ticked))).collect::<serde_json::Map<_, _>>(),
                    "frequency": view.frequency,
                    "unsubscribed_all": view.unsubscribed_all,
                    "updated_at": view.updated_at,
                    "source": stored.get("source"),
                },
                "history": history,
            }))
        }
        (&Method::POST, ["engagement"]) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Bulk {
                recipients: Vec<String>,
                #[serde(default)]
                days: Option<u32>,
            }
            let bytes = read_body(body).await?;
            let bulk: Bulk = serde_json::from_slice(&bytes).map_err(|error| {
                ApiError::bad_request(format!(
                    "the body must be {{\"recipients\": [ids], \"days\": n}}: {error}"
                ))
            })?;
            if bulk.recipients.len() > MAX_BULK {
                return Err(ApiError::bad_request(format!(
                    "at most {MAX_BULK} recipients per call"
                )));
            }
            let days = days(bulk.days.map(|d| d.to_string()).as_deref())?;
            let recipients = bulk
                .recipients
                .iter()
                .map(|id| recipient_named(id))
                .collect::<Result<Vec<_>, _>>()?;
            let records = store.engagement(&recipients).await?;
            let now = app.clock.now();
            let summaries: Vec<Value> = recipients
                .iter()
                .zip(&records)
                .map(|(recipient, record)| summary(recipient, record, days, now))
                .collect();
            Ok(json!({ "days": days, "recipients": summaries }))
        }
        (&Method::GET, ["warm", job]) => warm::progress(app, job).await,
        (&Method::DELETE, ["warm", job]) => warm::cancel(app, job),
        (&Method::GET, ["templates"]) => Ok(admin_templates::list(app)),
        (&Method::GET, ["templates", name]) => admin_templates::get(app, identifier(name)?),
        (&Method::PUT, ["templates", name]) => {
            let name = identifier(name)?;
            let bytes = read_body(body).await?;
            admin_templates::put(app, name, bytes).await
        }
        (&Method::DELETE, ["templates", name]) => {
            admin_templates::delete(app, identifier(name)?).await
        }
        (&Method::GET, ["pools", pool]) => {
            let pool = identifier(pool)?;
            let remaining = store.pool_size(pool).await?;
            Ok(json!({ "pool": pool, "remaining": remaining }))
        }
        (&Method::POST, ["pools", pool, "codes"]) => {
            let pool = identifier(pool)?;
            let bytes = read_body(body).await?;
            let codes = parse_codes(&bytes)?;
            let added = store.add_codes(pool, &codes).await?;
            let remaining = store.pool_size(pool).await?;
            Ok(
                json!({ "pool": pool, "received": codes.len(), "added": added, "remaining": remaining }),
            )
        }
        (
            _,
            ["recipients"]
            | ["tokens"]
            | ["recipients", _]
            | ["recipients", _, "engagement" | "preferences"]
            | ["engagement"]
            | ["pools", _]
            | ["pools", _, "codes"]
            | ["templates"]
            | ["templates", _]
            | ["warm"]
            | ["warm", _],
        ) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "see docs/api.md for the methods of each path",
        )),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API path",
        )),
    }
}

/// Checks the bearer token against every configured one, in constant time
/// for each: what is compared is a SHA-256 of each side, so neither the
/// length nor the content of a token leaks through timing.
/// The scopes an admin token can be limited to (`docs/api.md`).
pub const SCOPES: [&str; 7] = [
    "engagement",
    "preferences",
    "pools",
    "recipients",
    "templates",
    "tokens",
    "warm",
];

/// The scope a path needs; `None` for paths that do not exist, which
/// answer 404 to any valid token.
fn scope_of(segments: &[&str]) -> Option<&'static str> {
    match segments {
        ["recipients", _, "engagement"] | ["engagement"] => Some("engagement"),
        ["recipients", _, "preferences"] => Some("preferences"),
        ["pools", ..] => Some("pools"),
        ["recipients"] | ["recipients", _] => Some("recipients"),
        ["tokens"] => Some("tokens"),
        ["templates"] | ["templates", _] => Some("templates"),
        ["warm"] | ["warm", _] => Some("warm"),
        _ => None,
    }
}

/// A configured admin token: `SECRET` may do everything;
/// `pools+engagement:SECRET` only what those scopes allow.
struct AdminToken<'a> {
    secret: &'a str,
    scopes: Option<Vec<&'a str>>,
}

impl AdminToken<'_> {
    fn parse(entry: &str) -> AdminToken<'_> {
        if let Some((scopes, secret)) = entry.split_once(':') {
            let scopes: Vec<&str> = scopes.split('+').collect();
            if !secret.is_empty() && scopes.iter().all(|scope| SCOPES.contains(scope)) {
                return AdminToken {
                    secret,
                    scopes: Some(scopes),
                };
            }
        }
        AdminToken {
            secret: entry,
            scopes: None,
        }
    }

    fn allows(&self, scope: Option<&str>) -> bool {
        match (&self.scopes, scope) {
            (None, _) | (_, None) => true,
            (Some(scopes), Some(scope)) => scopes.contains(&scope),
        }
    }
}

/// 404 when the API is off, 401 without a valid token, 403 for a valid
/// token that lacks the path's scope. Every configured token is compared,
/// in constant time over SHA-256 digests, whichever matches.
/// How a caller may present the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credentials {
    /// `Authorization: Bearer <token>` only: the API. A browser never sends
    /// that by itself, so a page elsewhere cannot make one call the API.
    Bearer,
    /// Also `Basic` with the token as password (any user name), which is
    /// how a browser sends it: the preview page only.
    BearerOrBasic,
}

/// The token the request offers, in the ways `accepted` allows.
fn offered_token(headers: &HeaderMap, accepted: Credentials) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_string());
    }
    if accepted != Credentials::BearerOrBasic {
        return None;
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(password.to_string())
}

pub(super) fn authorize(
    app: &App,
    headers: &HeaderMap,
    scope: Option<&str>,
    accepted: Credentials,
) -> Result<(), ApiError> {
    if app.config.admin_tokens.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "admin_api_off",
            "the admin API is off: set OPENTIME_ADMIN_TOKENS",
        ));
    }
    let offered = offered_token(headers, accepted).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
        )
    })?;
    let offered = Sha256::digest(offered.as_bytes());
    let mut matched: Option<AdminToken<'_>> = None;
    for entry in &app.config.admin_tokens {
        let token = AdminToken::parse(entry);
        let expected = Sha256::digest(token.secret.as_bytes());
        let difference = offered
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 && matched.is_none() {
            matched = Some(token);
        }
    }
    match matched {
        Some(token) if token.allows(scope) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token lacks the {} scope", scope.unwrap_or_default()),
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin token is not valid",
        )),
    }
}

/// One recipient's engagement over the last `days` days (today included),
/// from their daily counters.
fn summary(
    recipient: &RecipientId,
    record: &EngagementRecord,
    days: u32,
    now: jiff::Timestamp,
) -> Value {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let since = today
        .checked_sub(jiff::Span::new().days(i64::from(days) - 1))
        .unwrap_or(today);
    let cutoff = since.strftime("%Y%m%d").to_string();
    let mut totals = [[0u64; 2]; 2];
    for (field, count) in &record.counts {
        let mut parts = field.split(':');
        let (Some(day), Some(kind), Some(who)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if day < cutoff.as_str() {
            continue;
        }
        let kind = match kind {
            "open" => 0,
            "click" => 1,
            _ => continue,
        };
        let who = usize::from(who != "person");
        totals[kind][who] += count;
    }
    json!({
        "recipient": recipient.as_str(),
        "days": days,
        "since": since.to_string(),
        "opens": { "human": totals[0][0], "machine": totals[0][1] },
        "clicks": { "human": totals[1][0], "machine": totals[1][1] },
        "last_human_open": record.last_open_at,
        "last_human_click": record.last_click_at,
        "engaged": totals[0][0] + totals[1][0] > 0,
    })
}

fn days(text: Option<&str>) -> Result<u32, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_DAYS);
    };
    match text.parse::<u32>() {
        Ok(days) if (1..=MAX_DAYS).contains(&days) => Ok(days),
        _ => Err(ApiError::bad_request(format!(
            "days must be a whole number from 1 to {MAX_DAYS}"
        ))),
    }
}

/// `{"recipient": id, "profile": {...}}`, or 404 `no_recipient`.
pub(super) async fn profile_answer(
    store: &crate::store::Store,
    recipient: &RecipientId,
) -> Result<Value, ApiError> {
    let profile = store.profile(recipient).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recipient",
            "this recipient has no profile",
        )
    })?;
    Ok(json!({ "recipient": recipient.as_str(), "profile": profile.fields }))
}

/// A recipient id as it comes in a JSON body or a query value: as is.
pub(super) fn recipient_named(id: &str) -> Result<RecipientId, ApiError> {
    RecipientId::new(id).map_err(|error| ApiError::bad_request(error.to_string()))
}

/// A recipient id from a path segment, percent-decoded.
pub(super) fn recipient_id(raw: &str) -> Result<RecipientId, ApiError> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("a recipient id must be UTF-8"))?;
    RecipientId::new(decoded.into_owned()).map_err(|error| ApiError::bad_request(error.to_string()))
}

/// The fields of a merge: a JSON object of strings, numbers and booleans,
/// written as Redis strings like any `HSET`.
fn profile_fields(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let object: serde_json::Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::bad_request(format!("send a JSON object of fields: {error}")))?;
    fields_of(object).map_err(ApiError::bad_request)
}

/// A JSON object of fields as Redis strings, or what is wrong with it.
pub(super) fn fields_of(
    object: serde_json::Map<String, Value>,
) -> Result<Vec<(String, String)>, String> {
    object
        .into_iter()
        .map(|(name, value)| {
            field_name(&name)?;
            let text = match value {
                Value::String(text) => text,
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => {
                    return Err(format!(
                        "field {name:?}: a value is a string, a number or a boolean"
                    ));
                }
            };
            Ok((name, text))
        })
        .collect()
}

pub(super) fn field_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 256 {
        return Err("a field name is 1 to 256 bytes".into());
    }
    Ok(())
}

/// A pool or template name.
fn identifier(name: &str) -> Result<&str, ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(name)
    } else {
        Err(ApiError::bad_request(
            "a name is 1 to 64 lowercase letters, digits, '-' and '_'",
        ))
    }
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

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    read_limited(body, MAX_BODY).await.map_err(body_error)
}

pub(super) fn body_error(error: FormError) -> ApiError {
    match error {
        FormError::TooLarge(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            error.to_string(),
        ),
        other => ApiError::bad_request(other.to_string()),
    }
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    response::no_store(status, "application/json", Bytes::from(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_scopes_only_when_every_prefix_is_one() {
        let scoped = AdminToken::parse("pools+engagement:s3cret");
        assert_eq!(scoped.secret, "s3cret");
        assert!(scoped.allows(Some("pools")) && scoped.allows(Some("engagement")));
        assert!(!scoped.allows(Some("preferences")));
        // A colon in a token that names no scope is part of the token.
        let plain = AdminToken::parse("abc:def");
        assert_eq!(plain.secret, "abc:def");
        assert!(plain.allows(Some("preferences")));
        assert_eq!(AdminToken::parse("pools:").secret, "pools:");
    }

    #[test]
    fn the_window_counts_only_its_days() {
        let recipient = RecipientId::new("r").expect("valid id");
        let record = EngagementRecord {
            counts: vec![
                ("20261201:open:person".into(), 2),
                ("20261201:open:machine".into(), 5),
                ("20261125:click:person".into(), 1),
                ("20261101:open:person".into(), 9),
                ("garbage".into(), 3),
            ],
            last_open_at: Some("2026-12-01T08:00:00.000Z".into()),
            last_click_at: None,
        };
        let now = "2026-12-01T12:00:00Z".parse().expect("valid time");
        let week = summary(&recipient, &record, 7, now);
        assert_eq!(week["since"], "2026-11-25");
        assert_eq!(week["opens"]["human"], 2);
        assert_eq!(week["opens"]["machine"], 5);
        assert_eq!(week["clicks"]["human"], 1);
        assert_eq!(week["engaged"], true);
        let month = summary(&recipient, &record, 31, now);
        assert_eq!(month["opens"]["human"], 11);
        let today = summary(&recipient, &record, 1, now);
        assert_eq!(today["clicks"]["human"], 0);
    }

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
