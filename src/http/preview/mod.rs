//! `/preview`: the studio, where template authors edit a template and see
//! every variant for sample recipients, and the calls it makes. Admin
//! auth, as a browser sends it (`Basic`, any user name, the admin token as
//! password) or as the API's `Bearer`; a token needs the `templates` scope.
//!
//! - `GET /preview`: the page (`assets/pages/preview.html`), served by
//!   opentime itself, with no build step and nothing from elsewhere;
//! - `GET /preview/templates`: the live templates (with their versions, so
//!   the page sees a file change on disk) and the demo recipients;
//! - `GET /preview/state?recipient=ID`: a real recipient's profile, to start
//!   from;
//! - `POST /preview/render`: `{template, state, now, user_agent, opener,
//!   scale, format, query, variant}` in, the variant shown (the rules'
//!   choice, or `variant` when given), its link, the render time and the
//!   image out;
//! - `GET /preview/embed?template=NAME&esp=ESP[&e=ID]`: the admin API's
//!   embed snippet;
//! - the studio's calls (`studio.rs`): `GET /preview/source`, `POST
//!   /preview/board` and `PUT /preview/templates/{name}`.
//!
//! Nothing here reads a lock or a code, or writes anything but a template
//! saved through the admin API's put: a preview is the rules and the
//! renderer, on the state given.

mod studio;

use std::collections::BTreeMap;

use crate::http::body::RequestBody;
use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::auth::page_access;
use super::admin::error::{ApiError, body_error, error_response, json_response};
use super::admin::recipients::{fields_of, profile_answer, recipient_named};
use super::admin::templates::MAX_TEMPLATE_BYTES;
use super::admin::warm::{opener_named, target_of};
use super::response::Body;
use crate::app::App;
use crate::open::QueryPairs;
use crate::open::preview::{PreviewError, PreviewRequest};
use crate::recipient::Profile;

const PAGE: &str = include_str!("../../../assets/pages/preview.html");

/// The largest render request read.
const MAX_BODY: usize = 256 * 1024;

pub async fn serve(
    app: &App,
    method: &Method,
    rest: &[&str],
    query: &QueryPairs,
    headers: &HeaderMap,
    body: RequestBody,
) -> Response<Body> {
    // Reading a recipient's profile needs the scope the API asks for it.
    let scopes: &[&str] = match rest {
        ["state"] => &["templates", "recipients"],
        _ => &["templates"],
    };
    if let Some(refused) = page_access(
        app,
        headers,
        scopes,
        "Basic realm=\"opentime preview\", charset=\"UTF-8\"",
        "preview",
    ) {
        return refused;
    }
    let answer = match (method, rest) {
        (&Method::GET, []) => return page(),
        (&Method::GET, ["templates"]) => Ok(templates(app)),
        (&Method::GET, ["state"]) => state(app, query).await,
        // A form post from another page cannot send this type without
        // CORS's consent, which the preview never gives.
        (&Method::GET, ["source"]) => studio::source(app, query),
        (&Method::GET, ["embed"]) => super::admin::templates::embed(
            app,
            query.get("template").unwrap_or_default(),
            query,
            headers,
        ),
        // A form post from another page cannot send this type without
        // CORS's consent, which the preview never gives.
        (&Method::POST, ["render" | "board"]) | (&Method::PUT, ["templates", _])
            if !is_json(headers) =>
        {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_type",
                "send the request as application/json",
            ))
        }
        (&Method::POST, ["render"]) => match super::form::read_limited(body, MAX_BODY).await {
            Ok(bytes) => render(app, &bytes).await,
            Err(error) => Err(body_error(error)),
        },
        (&Method::POST, ["board"]) => {
            match super::form::read_limited(body, studio::MAX_BOARD_BODY).await {
                Ok(bytes) => studio::board(app, &bytes).await,
                Err(error) => Err(body_error(error)),
            }
        }
        (&Method::PUT, ["templates", name]) => {
            match super::form::read_limited(body, MAX_TEMPLATE_BYTES + 1).await {
                Ok(bytes) => studio::save(app, name, bytes).await,
                Err(error) => Err(body_error(error)),
            }
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such preview path",
        )),
    };
    match answer {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(error) => error_response(error),
    }
}

/// Whether the request's body is declared JSON.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

fn page() -> Response<Body> {
    let mut response = super::response::no_store(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from_static(PAGE.as_bytes()),
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             img-src data:; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn templates(app: &App) -> Value {
    let templates: Vec<Value> = app
        .templates
        .snapshot()
        .templates()
        .iter()
        .map(|template| {
            let mut formats = vec![template.format.extension()];
            if template.timer.is_some() {
                formats.push("gif");
            }
            formats.dedup();
            json!({
                "name": template.name,
                "version": hex::encode(template.version),
                "origin": app.templates.source_origin(&template.name).map(|origin| origin.as_str()),
                "width": template.width,
                "height": template.height,
                "scales": template.scales,
                "formats": formats,
                "params": template.params.keys().collect::<Vec<_>>(),
                "variants": template.variants.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut demos: Vec<(String, BTreeMap<String, String>)> =
        crate::store::demo::load_demo_recipients(&app.config.store.demo_dir)
            .map(|recipients| {
                recipients
                    .into_iter()
                    .map(|(id, fields)| (id.as_str().to_string(), fields))
                    .collect()
            })
            .unwrap_or_default();
    demos.sort();
    let demos: Vec<Value> = demos
        .into_iter()
        .map(|(id, fields)| json!({ "id": id, "profile": fields }))
        .collect();
    json!({ "templates": templates, "demos": demos, "now": app.clock.now().to_string() })
}

async fn state(app: &App, query: &QueryPairs) -> Result<Value, ApiError> {
    let recipient = recipient_named(query.get("recipient").unwrap_or_default())?;
    let store = app.store.with_budget(std::time::Duration::from_secs(2));
    profile_answer(&store, &recipient).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderRequest {
    template: String,
    #[serde(default)]
    state: Option<serde_json::Map<String, Value>>,
    /// Whose id the template's sources are called with.
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    opener: Option<String>,
    #[serde(default)]
    scale: Option<u32>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    variant: Option<String>,
}

async fn render(app: &App, body: &[u8]) -> Result<Value, ApiError> {
    let request: RenderRequest = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("a render request: {error}")))?;
    let template = app.templates.get(&request.template).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_template",
            format!("no template {:?} is loaded", request.template),
        )
    })?;
    let profile = match request.state {
        None => None,
        Some(object) => {
            let fields = fields_of(object)
                .map_err(|message| ApiError::bad_request(format!("state: {message}")))?;
            Some(Profile::from_iter(fields))
        }
    };
    let now = moment(app, request.now.as_deref())?;
    let opener = opener_named(request.opener.as_deref())?;
    let target = target_of(&template, request.scale, request.format.as_deref())?;
    let query = declared_query(&template, request.query);
    let recipient = match request.recipient.as_deref() {
        None | Some("") => None,
        Some(id) => Some(
            crate::recipient::RecipientId::new(id)
                .map_err(|error| ApiError::bad_request(format!("recipient: {error}")))?,
        ),
    };
    let request = PreviewRequest {
        profile,
        recipient,
        query,
        now,
        user_agent: request.user_agent.filter(|ua| !ua.is_empty()),
        opener,
        target,
        variant: request.variant,
    };
    let preview = app
        .pipeline
        .preview(&template, request)
        .await
        .map_err(preview_error)?;
    let link = preview.link.map_err(|error| error.to_string());
    let render_ms = preview.render_time.as_secs_f64() * 1000.0;
    Ok(json!({
        "template": template.name,
        "variant": preview.variant,
        "chosen": preview.chosen,
        "link": link.as_ref().ok(),
        "link_error": link.as_ref().err(),
        "opener": opener.as_str(),
        "now": now.to_string(),
        "render_ms": (render_ms * 100.0).round() / 100.0,
        "bytes": preview.bytes.len(),
        "image": format!(
            "data:{};base64,{}",
            target.format.content_type(),
            base64::engine::general_purpose::STANDARD.encode(&preview.bytes)
        ),
    }))
}

/// The parameters of `query` the template declares, within their lengths:
/// an open ignores the others too.
fn declared_query(
    template: &crate::template::Template,
    query: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    query
        .into_iter()
        .filter(|(name, value)| {
            template
                .params
                .get(name)
                .is_some_and(|spec| value.len() <= spec.max_len)
        })
        .collect()
}

/// A preview that shows no image, as the API says it.
fn preview_error(error: PreviewError) -> ApiError {
    let code = match error {
        PreviewError::Text => "text_error",
        PreviewError::Render(_) => "render_error",
        PreviewError::NoVariant(_) => "no_variant",
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, error.to_string())
}

/// The moment an author asked for; now when none.
fn moment(app: &App, now: Option<&str>) -> Result<jiff::Timestamp, ApiError> {
    match now.map(str::trim) {
        None | Some("") => Ok(app.clock.now()),
        Some(text) => parse_time(text).ok_or_else(|| {
            ApiError::bad_request("now is a time like 2026-12-01T09:30:00Z or 2026-12-01T09:30")
        }),
    }
}

/// An instant, or a local time read as UTC (what a `datetime-local` input
/// gives).
fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp);
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_come_as_instants_or_as_local_times_in_utc() {
        assert_eq!(
            parse_time("2026-12-01T09:30:00Z").unwrap().to_string(),
            "2026-12-01T09:30:00Z"
        );
        assert_eq!(
            parse_time("2026-12-01T09:30").unwrap().to_string(),
            "2026-12-01T09:30:00Z"
        );
        assert!(parse_time("tomorrow").is_none());
    }
}
