//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`, on the public
//! address, or on `ops_listen` alone when one is configured.

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};

use super::response::{self, Body};
use crate::app::App;

/// The whole routing of the operations address: its three endpoints for
/// GET and HEAD, 404 for anything else.
pub async fn route(app: &App, method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return response::text(StatusCode::METHOD_NOT_ALLOWED, "use GET or HEAD");
    }
    match path {
        "/healthz" => healthz(),
        "/readyz" => readyz(app).await,
        "/metrics" => metrics(app).await,
        _ => response::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Liveness: the process answers.
pub fn healthz() -> Response<Body> {
    response::text(StatusCode::OK, "ok")
}

/// Readiness: templates are loaded and the listener is up. The store's
/// health is reported (in the answer and as `opentime_store_up`) but is no
/// reason to refuse traffic: with Redis down or slow every replica still
/// serves default variants, which is what an email needs, and taking every
/// replica out of the load balancer at once would break every image.
pub async fn readyz(app: &App) -> Response<Body> {
    if app.templates.snapshot().is_empty() {
        return response::text(StatusCode::SERVICE_UNAVAILABLE, "no templates loaded");
    }
    let store = store_health(app).await;
    response::text(StatusCode::OK, &format!("ready; store: {store}"))
}

/// Pings the store within its request budget and records the answer.
async fn store_health(app: &App) -> String {
    match app.store.ping().await {
        Ok(()) => {
            app.metrics.store_up.set(1);
            "ok".to_string()
        }
        Err(error) => {
            app.metrics.store_up.set(0);
            format!("down ({error}); serving default variants")
        }
    }
}

pub async fn metrics(app: &App) -> Response<Body> {
    store_health(app).await;
    app.metrics
        .cache_bytes
        .set(app.cache.weighted_size().await as i64);
    app.metrics
        .glyph_cache_bytes
        .set(app.cache.renderer().glyph_cache_bytes() as i64);
    app.metrics
        .shape_cache_bytes
        .set(app.cache.renderer().shape_cache_bytes() as i64);
    let locale_fallbacks = crate::words::locale_fallbacks();
    let counted = app.metrics.locale_fallbacks.get();
    app.metrics
        .locale_fallbacks
        .inc_by(locale_fallbacks.saturating_sub(counted));
    app.metrics
        .missing_glyph_renders
        .inc_by(app.cache.renderer().take_missing_glyph_renders());
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
