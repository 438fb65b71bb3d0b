//! One recipient's profile: `GET`, `PATCH` (a merge) and `DELETE` (a
//! privacy erasure, votes taken out of the tallies) of
//! `/api/v1/recipients/{id}`, and the reading of ids and fields that every
//! call about recipients shares.

use crate::http::body::RequestBody;
use hyper::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use super::read_body;
use crate::app::App;
use crate::recipient::RecipientId;
use crate::store::Store;

/// `PATCH /api/v1/recipients/{id}`: merges fields into the profile.
pub(super) async fn merge(store: &Store, id: &str, body: RequestBody) -> Result<Value, ApiError> {
    let recipient = recipient_id(id)?;
    let bytes = read_body(body).await?;
    let fields = profile_fields(&bytes)?;
    store.set_fields(&recipient, &fields).await?;
    Ok(json!({ "recipient": recipient.as_str(), "merged": fields.len() }))
}

/// `DELETE /api/v1/recipients/{id}`: erases everything kept of the
/// recipient, for every template, pool and poll.
pub(super) async fn erase(app: &App, store: &Store, id: &str) -> Result<Value, ApiError> {
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

/// `{"recipient": id, "profile": {...}}`, or 404 `no_recipient`.
pub(crate) async fn profile_answer(
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
pub(crate) fn recipient_named(id: &str) -> Result<RecipientId, ApiError> {
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
pub(crate) fn fields_of(
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
