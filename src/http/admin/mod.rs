//! `/api/v1/...`: the admin API, for senders' systems. Bearer tokens from
//! the configuration ([`auth`]); JSON in and out, with errors of stable
//! codes ([`error`]). Every route, its method and its scope are in one
//! table ([`routes`]); each resource has its file:
//!
//! - [`recipients`]: `GET`, `PATCH`, `DELETE /api/v1/recipients/{id}`, a
//!   profile, a merge into it, a privacy erasure;
//! - [`import`]: `POST /api/v1/recipients`, an NDJSON import of any length;
//! - [`engagement`]: `GET /api/v1/recipients/{id}/engagement` and
//!   `POST /api/v1/engagement`, who reads;
//! - [`preferences`]: `GET /api/v1/recipients/{id}/preferences`, and
//!   `GET /api/v1/preferences/export`, every change as NDJSON;
//! - [`pools`]: `GET /api/v1/pools/{pool}`, `POST /api/v1/pools/{pool}/codes`;
//! - [`templates`]: `GET`, `PUT`, `DELETE /api/v1/templates/{name}`, and
//!   `GET /api/v1/templates/{name}/embed`, the HTML to paste;
//! - [`tokens`]: `POST /api/v1/tokens`, tokens for many ids at once;
//! - [`warm`]: `POST /api/v1/warm`, `GET`, `DELETE /api/v1/warm/{job}`;
//! - [`feeds`]: `GET /api/v1/feeds`, `POST /api/v1/feeds/{name}/refresh`;
//! - [`experiments`]: `GET /api/v1/experiments/{id}`, `POST
//!   /api/v1/experiments/{id}/winner`;
//! - [`conversions`]: `POST /api/v1/conversions`, sales and sign-ups
//!   credited to clicks and opens.
//! - [`reports`]: `GET /api/v1/reports/{template}`, a template's report.

pub(crate) mod auth;
mod conversions;
mod engagement;
pub(crate) mod error;
mod experiments;
mod feeds;
mod import;
mod pools;
mod preferences;
pub(crate) mod recipients;
pub(crate) mod reports;
mod routes;
pub(crate) mod templates;
mod tokens;
pub(crate) mod warm;

use crate::http::body::RequestBody;
use bytes::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Response, StatusCode};

use self::auth::{Credentials, authorize};
use self::error::{ApiError, body_error, error_response, json_response};
use self::routes::{Call, Found};
use super::form::read_limited;
use super::response::Body;
use crate::app::App;
use crate::open::QueryPairs;

pub(crate) use import::parse_line;

/// The longest request body the API reads, in bytes.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// How long one batch of an import may wait for the store.
const IMPORT_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a call may wait for the store: longer than an image's budget,
/// since nobody's email is waiting.
const API_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves one admin request; `segments` are the path's after `api/v1`.
pub async fn serve(
    app: &App,
    method: &Method,
    segments: &[&str],
    query: &QueryPairs,
    headers: &HeaderMap,
    body: RequestBody,
) -> Response<Body> {
    let found = routes::find(method, segments);
    let scope = match &found {
        Found::NoPath => None,
        Found::NoMethod { scope } | Found::Call { scope, .. } => Some(*scope),
    };
    if let Err(error) = authorize(app, headers, scope, Credentials::Bearer) {
        return error_response(error);
    }
    let answer = match found {
        Found::Call { call, params, .. } => {
            dispatch(app, call, &params, query, headers, body).await
        }
        Found::NoMethod { .. } => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "see docs/api.md for the methods of each path",
        )),
        Found::NoPath => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API path",
        )),
    };
    answer.unwrap_or_else(error_response)
}

/// Makes `call` with the path's `params` (its `*` segments, in order).
async fn dispatch(
    app: &App,
    call: Call,
    params: &[&str],
    query: &QueryPairs,
    headers: &HeaderMap,
    body: RequestBody,
) -> Result<Response<Body>, ApiError> {
    let store = app.store.with_budget(API_BUDGET);
    let param = params.first().copied().unwrap_or_default();
    let value = match call {
        Call::Tokens => return tokens::sign(app, query, headers, body).await,
        Call::WarmStart => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok());
            let started = warm::start(app, query, content_type, body).await?;
            return Ok(json_response(StatusCode::ACCEPTED, &started));
        }
        Call::RecipientEngagement => engagement::one(app, &store, param, query).await?,
        Call::BulkEngagement => engagement::bulk(app, &store, body).await?,
        Call::Import => {
            import::import_recipients(&app.store.with_budget(IMPORT_BUDGET), body).await?
        }
        Call::RecipientGet => {
            recipients::profile_answer(&store, &recipients::recipient_id(param)?).await?
        }
        Call::RecipientMerge => recipients::merge(&store, param, body).await?,
        Call::RecipientErase => recipients::erase(app, &store, param).await?,
        Call::RecipientPreferences => preferences::get(app, &store, param).await?,
        Call::PreferencesExport => return preferences::export(&store, query).await,
        Call::WarmProgress => warm::progress(app, param).await?,
        Call::WarmCancel => warm::cancel(app, param)?,
        Call::TemplateList => templates::list(app),
        Call::TemplateGet => templates::get(app, identifier(param)?)?,
        Call::TemplatePut => {
            let name = identifier(param)?;
            let bytes = read_body(body).await?;
            templates::put(app, name, bytes).await?
        }
        Call::TemplateDelete => templates::delete(app, identifier(param)?).await?,
        Call::TemplateEmbed => templates::embed(app, identifier(param)?, query, headers)?,
        Call::PoolSize => pools::size(&store, identifier(param)?).await?,
        Call::PoolAddCodes => pools::add_codes(&store, identifier(param)?, body).await?,
        Call::FeedList => feeds::list(app).await?,
        Call::FeedRefresh => feeds::refresh(app, param).await?,
        Call::ExperimentStatus => experiments::status(app, &store, identifier(param)?).await?,
        Call::ExperimentWinner => {
            let id = identifier(param)?;
            let bytes = read_body(body).await?;
            experiments::decide(app, &store, id, bytes).await?
        }
        Call::Conversions => conversions::report(app, &store, headers, body).await?,
        Call::Report => return reports::answer(app, &store, param, query).await,
    };
    Ok(json_response(StatusCode::OK, &value))
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

/// A request body of at most [`MAX_BODY`] bytes.
async fn read_body(body: RequestBody) -> Result<Bytes, ApiError> {
    read_limited(body, MAX_BODY).await.map_err(body_error)
}
