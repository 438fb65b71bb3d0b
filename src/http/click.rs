//! `GET /c/{template}`: the click-through.
//!
//! Redirects to the link of the variant the rules pick for this recipient
//! now. Links come only from the template, so this is never an open
//! redirect.

use hyper::{HeaderMap, Response, StatusCode};

use super::query::QueryPairs;
use super::recipient::prepare;
use super::response::{self, Body};
use crate::app::App;
use crate::decide::{LinkError, choose_variant, resolve_link};

pub async fn serve(
    app: &App,
    path: &str,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let metrics = &app.metrics;
    let count = |template: &str, variant: &str, outcome: &str| {
        metrics
            .requests
            .with_label_values(&["click", template, variant, outcome])
            .inc();
    };
    let Some(template) = app.templates.get(name) else {
        count("-", "-", "not_found");
        return response::text(StatusCode::NOT_FOUND, "unknown template");
    };
    let query = QueryPairs::parse(query);
    let prepared = match prepare(app, &template, path, &query, headers, false).await {
        Ok(prepared) => prepared,
        Err(error) => {
            count(&template.name, "-", "forbidden");
            return response::text(StatusCode::FORBIDDEN, &error.to_string());
        }
    };
    let choice = choose_variant(&template, &prepared.context, prepared.personalization);
    let variant = choice.variant.id.as_str();
    // A variant without a link of its own sends the click to the default's.
    let linked = if choice.variant.link.is_some() {
        choice.variant
    } else {
        template.default_variant()
    };
    match resolve_link(&template, linked, &prepared.context) {
        Ok(Some(url)) => {
            count(&template.name, variant, prepared.personalization.as_str());
            response::redirect(&url)
        }
        Ok(None) => {
            count(&template.name, variant, "no_link");
            response::text(StatusCode::NOT_FOUND, "this template has no link")
        }
        Err(error @ (LinkError::Expr(_) | LinkError::NotAUrl)) => {
            tracing::warn!(template = %template.name, variant, %error, "click link did not resolve");
            count(&template.name, variant, "link_error");
            response::text(
                StatusCode::BAD_GATEWAY,
                "the template's link did not resolve",
            )
        }
    }
}
