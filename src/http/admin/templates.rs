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
//!   the same name serves again).
//!
//! Every render key holds the template's version (a hash of its JSON and
//! assets), so a put never serves an image cached for the old one.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::App;
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

pub(super) async fn put(app: &App, name: &str, body: bytes::Bytes) -> Result<Value, ApiError> {
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
        let name = name.to_string();
        let body = body.clone();
        tokio::task::spawn_blocking(move || {
            registry.validate(&name, &body).map(|template| {
                let warnings = crate::check::template_warnings(&template, &renderer, &demo_dir);
                (template, warnings)
            })
        })
        .await
        .map_err(ApiError::internal)?
    };
    let (template, warnings) = checked.map_err(|error| {
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
        "still_served_from": app.templates.get(name).map(|t| t.path.display().to_string()),
    }))
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

fn no_template(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_template",
        format!("no template {name:?} is loaded"),
    )
}
