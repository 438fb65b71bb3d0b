//! `GET /i/{template}.{png,jpg,gif}`: the open-time image, or a countdown.
//!
//! The path reads top to bottom: parse the target, find the template, verify
//! access and load state ([`super::recipient`]), read a countdown's deadline
//! and the recipient's coupon, decide what to show ([`super::content`]: a
//! lock, or the rules), fetch remote images, answer 304 if the client has
//! it, else look up or render. The open is recorded as an event on the way
//! out, without waiting for the store.
//! Every failure after the template is known still answers with an image.

use std::sync::Arc;

use hyper::header::IF_NONE_MATCH;
use hyper::{HeaderMap, Response, StatusCode};

use super::content::{self, Shown};
use super::query::ImageTarget;
use super::recipient::{Prepared, RequestHead, prepare};
use super::response::{self, Body};
use crate::app::App;
use crate::cache::{RenderFailure, Source};
use crate::decide::{RemoteAssets, Target, build_artwork, remote_urls, with_timer};
use crate::events::EventKind;
use crate::render::{Artwork, OutputFormat, RenderKey, TimerPlan};
use crate::template::Template;

pub async fn serve(app: &App, head: &RequestHead<'_>, file: &str) -> Response<Body> {
    let metrics = &app.metrics;
    let count = |template: &str, variant: &str, outcome: &str| {
        metrics
            .requests
            .with_label_values(&["image", template, variant, outcome])
            .inc();
    };
    let Some(target) = ImageTarget::parse(file) else {
        count("-", "-", "not_found");
        return response::text(
            StatusCode::NOT_FOUND,
            "no such image: use /i/{template}.png, .jpg, .gif (countdowns) or @2x",
        );
    };
    let Some(template) = app.templates.get(&target.name) else {
        count("-", "-", "not_found");
        return response::text(StatusCode::NOT_FOUND, "unknown template");
    };
    if target.format == OutputFormat::Gif && template.timer.is_none() {
        count(&template.name, "-", "not_found");
        return response::text(
            StatusCode::NOT_FOUND,
            "this template is not a countdown: use .png or .jpg",
        );
    }
    if !template.allows_scale(target.scale) {
        count(&template.name, "-", "not_found");
        return response::text(
            StatusCode::NOT_FOUND,
            "this template does not offer that scale",
        );
    }
    let wants = content::open_request(&template);
    let prepared = match prepare(app, &template, head, &wants, None).await {
        Ok(prepared) => prepared,
        Err(error) => {
            count(&template.name, "-", "forbidden");
            return response::text(StatusCode::FORBIDDEN, &error.to_string());
        }
    };
    let Ok(resolved) = resolve(app, &template, &target, &prepared).await else {
        let variant = template.default_variant().id.as_str();
        count(&template.name, variant, "fallback");
        record_open(app, &template, &prepared, variant, String::new());
        return fallback(app, &template, &target, head.headers, "render_error");
    };
    let Resolved {
        artwork,
        key,
        shown,
        ..
    } = resolved;
    let variant = shown.variant.id.as_str();
    let key_hex = key.to_hex();
    let etag = format!("\"{key_hex}\"");
    record_open(app, &template, &prepared, variant, key_hex);
    let outcome = prepared.personalization.as_str();
    if response::etag_matches(head.headers.get(IF_NONE_MATCH), &etag) {
        count(&template.name, variant, "not_modified");
        return response::not_modified(&etag);
    }
    let ahead = match (&artwork, template.timer.as_ref()) {
        (Artwork::Timer(timer), Some(_)) => Some(Arc::clone(timer)),
        _ => None,
    };
    match app.cache.get_or_render(key, artwork).await {
        Ok((bytes, source)) => {
            // A countdown second someone else (here or on another
            // replica) already rendered is a hot timer (a send's open
            // spike): render the next seconds now, so the opens to come
            // find them cached.
            if source != Source::Render
                && let Some(timer) = ahead
            {
                render_seconds_ahead(app, &template, timer);
            }
            count(&template.name, variant, outcome);
            response::image(bytes, target.format.content_type(), &etag)
        }
        Err(failure) => {
            let reason = match failure {
                RenderFailure::Overloaded => "overload",
                RenderFailure::Failed(_) | RenderFailure::Panicked(_) => {
                    tracing::error!(template = %template.name, variant, error = %failure, "render failed; serving the fallback image");
                    "render_error"
                }
            };
            count(&template.name, variant, "fallback");
            fallback(app, &template, &target, head.headers, reason)
        }
    }
}

/// What an open shows, up to its render key.
pub(super) struct Resolved<'t> {
    pub artwork: Artwork,
    pub key: RenderKey,
    /// What is shown (the variant, its texts) and the context it was
    /// decided in, for the preview page's link.
    pub shown: Shown<'t>,
    pub context: crate::expr::Context,
}

/// Decides what `prepared` sees of `template` now and builds its artwork:
/// a countdown's deadline (read first, so that rules can say
/// `timer.expired`), the records (a coupon, a poll), the rules or a lock,
/// and remote images. Writes records only for a person (`prepared.person`).
/// `Err` when a text does not resolve: the caller serves the fallback.
pub(super) async fn resolve<'t>(
    app: &App,
    template: &'t Template,
    target: &ImageTarget,
    prepared: &Prepared,
) -> Result<Resolved<'t>, ()> {
    let started = content::evergreen_start(app, template, prepared).await;
    let (context, timer, deadline_problem) = with_timer(template, &prepared.context, started);
    if let Some(problem) = &deadline_problem {
        tracing::warn!(template = %template.name, %problem, "the countdown's deadline did not resolve; it counts as expired");
        app.metrics
            .deadline_errors
            .with_label_values(&[&template.name])
            .inc();
    }
    let (context, coupon) = content::with_records(app, template, prepared, context).await;
    let shown = match content::decide(app, template, prepared, &context, coupon.as_ref()).await {
        Ok(shown) => shown,
        Err(error) => {
            tracing::warn!(template = %template.name, %error, "a text did not resolve; serving the fallback image");
            return Err(());
        }
    };
    let remote = fetch_remote_images(app, &shown).await;
    let artwork = build_artwork(
        template,
        shown.variant,
        &shown.texts,
        Target {
            scale: target.scale,
            format: target.format,
        },
        timer.as_ref(),
        &remote,
    );
    let key = artwork.render_key(&template.version);
    Ok(Resolved {
        artwork,
        key,
        shown,
        context,
    })
}

/// Counts the open and queues its event; the writer records what was
/// shown for the click and the profile's counters, off the request path.
fn record_open(app: &App, template: &Template, prepared: &Prepared, variant: &str, render: String) {
    let context = &prepared.context;
    app.metrics
        .opens
        .with_label_values(&[&template.name, variant, context.opener.as_str()])
        .inc();
    let mut event = prepared.event(EventKind::Open, &template.name, variant);
    event.render = render;
    app.events.record(event);
}

/// Fetches the images the variant's remote layers name, each from an
/// allowed origin only and through the cache. One that cannot be had is
/// left out (its placeholder shows), counted and logged: the open still
/// gets an image.
async fn fetch_remote_images(app: &App, shown: &Shown<'_>) -> RemoteAssets {
    let mut assets = RemoteAssets::new();
    for url in remote_urls(shown.variant, &shown.texts) {
        if assets.contains_key(url) {
            continue;
        }
        match app.remote_images.fetch(url).await {
            Ok(asset) => {
                app.metrics.remote_images.with_label_values(&["ok"]).inc();
                assets.insert(url.to_string(), asset);
            }
            Err(error) => {
                app.metrics
                    .remote_images
                    .with_label_values(&[error.code()])
                    .inc();
                tracing::debug!(%error, "a remote image was not used");
            }
        }
    }
    assets
}

/// Seconds of a hot countdown rendered ahead of traffic.
const SECONDS_AHEAD: i64 = 3;

/// Renders the next [`SECONDS_AHEAD`] seconds of `timer` into the cache in
/// the background, each only if no one has and a render slot is free.
fn render_seconds_ahead(app: &App, template: &Template, timer: Arc<TimerPlan>) {
    let work = (1..=SECONDS_AHEAD)
        .map(|ahead| timer.remaining - ahead)
        // At zero the expired variant shows, not the countdown.
        .take_while(|remaining| *remaining > 0)
        .map(|remaining| {
            let next = TimerPlan {
                remaining,
                ..TimerPlan::clone(&timer)
            };
            (next.render_key(&template.version), Artwork::from(next))
        })
        .collect();
    app.cache.render_ahead(work);
}

/// The template's pre-rendered default image.
fn fallback(
    app: &App,
    template: &Template,
    target: &ImageTarget,
    headers: &HeaderMap,
    reason: &str,
) -> Response<Body> {
    app.metrics
        .fallbacks
        .with_label_values(&[&template.name, reason])
        .inc();
    let Some(fallback) = template.fallback(target.scale, target.format) else {
        return response::text(StatusCode::SERVICE_UNAVAILABLE, "no fallback image");
    };
    if response::etag_matches(headers.get(IF_NONE_MATCH), &fallback.etag) {
        return response::not_modified(&fallback.etag);
    }
    response::image(
        fallback.bytes.clone(),
        target.format.content_type(),
        &fallback.etag,
    )
}
