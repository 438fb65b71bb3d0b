//! The admin API's template calls:
//!
//! - `GET /api/v1/templates`: every live template, where it comes from and
//!   its version;
//! - `GET /api/v1/templates/{name}`: one, with its JSON;
//! - `PUT /api/v1/templates/{name}`: checks a template as `opentime check`
//!   does and, when it is valid, stores it for every replica; this replica
//!   serves it from the answer on, the others within
//!   [`crate::app::TEMPLATE_POLL`];
//! - `DELETE /api/v1/templates/{name}`: removes a stored template (a file of
//!   the same name serves again);
//! - `GET /api/v1/templates/{name}/embed?esp=ESP`: the HTML an author
//!   pastes into that email platform ([`crate::embed`]).
//!
//! Every render key holds the template's version (a hash of its JSON and
//! assets), so a put never serves an image cached for the old one.

use std::sync::Arc;

use hyper::StatusCode;
use hyper::header::{self, HeaderMap};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::App;
use crate::embed::{DEFAULT_ATTRIBUTE, EmbedRequest, Esp, embed_html, esp_names};
use crate::http::head::is_plain_host;
use crate::open::QueryPairs;
use crate::template::{Template, TemplateRegistry};

/// The largest template JSON taken, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

pub(super) fn list(app: &App) -> Value {
    let templates: Vec<Value> = app
        .templates
        .snapshot()
        .templates()
        .iter()
        .map(|template| summary(&app.templates, template))
        .collect();
    json!({ "templates": templates, "revision": app.templates.stored_revision() })
}

pub(super) fn get(app: &App, name: &str) -> Result<Value, ApiError> {
    let template = app.templates.get(name).ok_or_else(|| no_template(name))?;
    let (_, source) = app
        .templates
        .source(name)
        .ok_or_else(|| no_template(name))?;
    let source: Value = serde_json::from_slice(&source).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the template's JSON no longer parses: {error}"),
        )
    })?;
    let mut answer = summary(&app.templates, &template);
    answer["source"] = source;
    Ok(answer)
}

pub(crate) async fn put(app: &App, name: &str, body: bytes::Bytes) -> Result<Value, ApiError> {
    if body.len() > MAX_TEMPLATE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a template holds at most {MAX_TEMPLATE_BYTES} bytes"),
        ));
    }
    // Loading renders the fallback images: CPU work, off the reactor.
    let checked = {
        let registry = app.templates.clone();
        let renderer = app.cache.renderer().clone();
        let demo_dir = app.config.store.demo_dir.clone();
        let limit = app.config.templates.api_render_limit;
        let name = name.to_string();
        let body = body.clone();
        tokio::task::spawn_blocking(move || {
            registry.validate(&name, &body).map(|template| {
                let warnings = crate::check::template_warnings(&template, &renderer, &demo_dir);
                let slowest = slowest_render(&template, &renderer, limit);
                (template, warnings, slowest)
            })
        })
        .await
        .map_err(ApiError::internal)?
    };
    let (template, warnings, slowest) = checked.map_err(|error| {
        let mut refusal = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            match &error.field {
                Some(field) => format!("{field}: {}", error.message),
                None => error.message.clone(),
            },
        );
        refusal.details = Some(json!({ "variant": error.variant, "field": error.field }));
        refusal
    })?;
    let limit = app.config.templates.api_render_limit;
    if let Some((variant, took)) = slowest
        && took > limit
    {
        let mut refusal = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "render_too_slow",
            format!(
                "variant {variant:?} takes {} ms to render at its largest scale; a template put through the API renders within {} ms (api_template_render_limit_ms)",
                took.as_millis(),
                limit.as_millis()
            ),
        );
        refusal.details = Some(json!({ "variant": variant, "render_ms": took.as_millis() as u64 }));
        return Err(refusal);
    }
    let existed = app.templates.get(name).is_some();
    let store = app.store.with_budget(std::time::Duration::from_secs(5));
    let revision = store.put_template(name, &body).await?;
    apply_stored(app).await?;
    Ok(json!({
        "template": name,
        "version": hex::encode(template.version),
        "revision": revision,
        "created": !existed,
        "warnings": warnings,
    }))
}

pub(super) async fn delete(app: &App, name: &str) -> Result<Value, ApiError> {
    let store = app.store.with_budget(std::time::Duration::from_secs(5));
    let (removed, revision) = store.delete_template(name).await?;
    if !removed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_stored_template",
            format!("no template {name:?} was put through the API"),
        ));
    }
    apply_stored(app).await?;
    Ok(json!({
        "template": name,
        "revision": revision,
        // The file's name within the templates directory, never where
        // that directory is on the server.
        "still_served_from": app.templates.get(name).map(|t| served_from(&app.templates, &t)),
    }))
}

/// `{"html": "..."}` for `esp` (required), `attribute` (`ot_token` unless
/// given) and `e` (none unless given). URLs are under `public_url`; without
/// it, under `http://` and the request's `Host`, which is the address the
/// caller reached this server at and may not be the one recipients reach
/// (docs/embedding.md).
pub(crate) fn embed(
    app: &App,
    name: &str,
    query: &QueryPairs,
    headers: &HeaderMap,
) -> Result<Value, ApiError> {
    let esp = match query.get("esp").filter(|esp| !esp.is_empty()) {
        Some(esp) => Esp::parse(esp)?,
        None => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_esp",
                format!("give the email platform as esp: one of {}", esp_names()),
            ));
        }
    };
    let template = app.templates.get(name).ok_or_else(|| no_template(name))?;
    let base = match &app.config.server.public_url {
        Some(url) => url.clone(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .filter(|host| is_plain_host(host))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "set public_url (OPENTIME_PUBLIC_URL), the address recipients reach opentime at: the request's Host cannot stand in for it",
                    )
                })?;
            format!("http://{host}")
        }
    };
    let html = embed_html(
        &template,
        &EmbedRequest {
            base: &base,
            esp,
            attribute: query.get("attribute").unwrap_or(DEFAULT_ATTRIBUTE),
            email: query.get("e"),
        },
    )?;
    Ok(json!({ "html": html }))
}

/// Reads the stored templates back and swaps them in here at once, rather
/// than at the next poll.
async fn apply_stored(app: &App) -> Result<(), ApiError> {
    let store = app.store.with_budget(std::time::Duration::from_secs(5));
    let _applying = app.templates.applying().await;
    let (revision, stored) = store.stored_templates().await?;
    let registry: Arc<TemplateRegistry> = app.templates.clone();
    let report = tokio::task::spawn_blocking(move || registry.set_stored(revision, stored))
        .await
        .map_err(ApiError::internal)?;
    if let Some(report) = report {
        for error in &report.errors {
            tracing::error!(%error, "template not loaded");
        }
    }
    Ok(())
}

fn summary(registry: &TemplateRegistry, template: &Template) -> Value {
    let origin = registry
        .source_origin(&template.name)
        .map(|origin| origin.as_str());
    json!({
        "template": template.name,
        "origin": origin,
        "version": hex::encode(template.version),
        "width": template.width,
        "height": template.height,
        "format": template.format.extension(),
        "access": template.access.as_str(),
        "variants": template.variants.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        "poll": template.poll.as_ref().map(|poll| poll.id.as_str()),
    })
}

/// The slowest variant's render time; over `limit`, the smaller of two
/// tries, so that a cold glyph cache does not refuse a template; `None` when no variant
/// resolves without a recipient, or one fails to render (the load checks
/// already refused what cannot render).
fn slowest_render(
    template: &Template,
    renderer: &crate::render::Renderer,
    limit: std::time::Duration,
) -> Option<(String, std::time::Duration)> {
    let time = || crate::open::offline::slowest_render(template, renderer).ok()?;
    let first = time()?;
    if first.1 <= limit {
        return Some(first);
    }
    let second = time()?;
    Some(if second.1 < first.1 { second } else { first })
}

/// A template's file as its directory names it: `renewal.json`.
fn served_from(registry: &TemplateRegistry, template: &Template) -> String {
    let path = &template.path;
    let relative = path
        .strip_prefix(registry.dir())
        .ok()
        .or_else(|| path.file_name().map(std::path::Path::new))
        .unwrap_or(path);
    relative.display().to_string()
}

fn no_template(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_template",
        format!("no template {name:?} is loaded"),
    )
}
