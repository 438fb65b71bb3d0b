//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`.

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::response::{self, Body};
use crate::app::App;

/// Liveness: the process answers.
pub fn healthz() -> Response<Body> {
    response::text(StatusCode::OK, "ok")
}

/// Readiness: templates are loaded and the store answers.
pub async fn readyz(app: &App) -> Response<Body> {
    if app.templates.snapshot().is_empty() {
        return response::text(StatusCode::SERVICE_UNAVAILABLE, "no templates loaded");
    }
    match app.store.ping().await {
        Ok(()) => response::text(StatusCode::OK, "ready"),
        Err(error) => response::text(StatusCode::SERVICE_UNAVAILABLE, &format!("store: {error}")),
    }
}

pub async fn metrics(app: &App) -> Response<Body> {
    app.metrics
        .cache_bytes
        .set(app.cache.weighted_size().await as i64);
    app.metrics
        .glyph_cache_bytes
        .set(app.cache.renderer().glyph_cache_bytes() as i64);
    app.metrics
        .shape_cache_bytes
        .set(app.cache.renderer().shape_cache_bytes() as i64);
    app.metrics
        .remote_image_cache_bytes
        .set(app.remote_images.cache_bytes() as i64);
    app.metrics
        .templates_loaded
        .set(app.templates.snapshot().len() as i64);
    let mut response = Response::new(app.metrics.encode().into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
