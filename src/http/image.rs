//! `GET /i/{template}.{png,jpg,gif}`: the open-time image, or a countdown.
//!
//! The path reads top to bottom: parse the target, find the template, verify
//! access and load state ([`super::recipient`]), read a countdown's deadline,
//! choose the variant, resolve its content, answer 304 if the client has it,
//! else look up or render.
//! Every failure after the template is known still answers with an image.

use std::sync::Arc;
use std::time::Duration;

use hyper::header::IF_NONE_MATCH;
use hyper::{HeaderMap, Response, StatusCode};
use jiff::Timestamp;

use super::query::{ImageTarget, QueryPairs};
use super::recipient::{Prepared, prepare};
use super::response::{self, Body};
use crate::app::App;
use crate::cache::{RenderFailure, Source};
use crate::decide::{choose_variant, resolve_artwork, with_timer};
use crate::expr::Opener;
use crate::render::{Artwork, OutputFormat, TimerPlan};
use crate::template::{Template, TimerDeadline};

pub async fn serve(
    app: &App,
    path: &str,
    file: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    is_head: bool,
) -> Response<Body> {
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
    let query = QueryPairs::parse(query);
    let prepared = match prepare(app, &template, path, &query, headers, is_head).await {
        Ok(prepared) => prepared,
        Err(error) => {
            count(&template.name, "-", "forbidden");
            return response::text(StatusCode::FORBIDDEN, &error.to_string());
        }
    };
    // A countdown's deadline is read before the variant is chosen, so that
    // rules can say `timer.expired`.
    let started = evergreen_start(app, &template, &prepared).await;
    let (context, timer, deadline_problem) = with_timer(&template, &prepared.context, started);
    if let Some(problem) = &deadline_problem {
        tracing::warn!(template = %template.name, %problem, "the countdown's deadline did not resolve; it counts as expired");
        metrics
            .deadline_errors
            .with_label_values(&[&template.name])
            .inc();
    }
    let context = &context;
    metrics
        .opens
        .with_label_values(&[&template.name, context.opener.as_str()])
        .inc();

    let choice = choose_variant(&template, context, prepared.personalization);
    if choice.condition_errors > 0 {
        metrics
            .condition_errors
            .with_label_values(&[&template.name])
            .inc_by(u64::from(choice.condition_errors));
    }
    let variant = choice.variant.id.as_str();
    let artwork = match resolve_artwork(
        &template,
        choice.variant,
        context,
        target.scale,
        target.format,
        timer.as_ref(),
    ) {
        Ok(artwork) => artwork,
        Err(error) => {
            tracing::warn!(template = %template.name, variant, %error, "a text did not resolve; serving the fallback image");
            count(&template.name, variant, "fallback");
            return fallback(app, &template, &target, headers, "render_error");
        }
    };
    let key = artwork.render_key(&template.version);
    let etag = format!("\"{}\"", key.to_hex());
    let outcome = prepared.personalization.as_str();
    if response::etag_matches(headers.get(IF_NONE_MATCH), &etag) {
        count(&template.name, variant, "not_modified");
        return response::not_modified(&etag);
    }
    let ahead = match (&artwork, template.timer.as_ref()) {
        (Artwork::Timer(timer), Some(_)) => Some(Arc::clone(timer)),
        _ => None,
    };
    match app.cache.get_or_render(key, artwork).await {
        Ok((bytes, source)) => {
            // A countdown second someone else already rendered is a hot
            // timer (a send's open spike): render the next seconds now, so
            // the opens to come find them cached.
            if source == Source::Cache
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
            fallback(app, &template, &target, headers, reason)
        }
    }
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

/// How long a store keeps an evergreen timer's start after it began: long
/// past any timer, so that a late re-open still sees "ended", and bounded,
/// so that starts do not pile up forever.
const EVERGREEN_KEEP: Duration = Duration::from_secs(400 * 24 * 3600);

/// The start of the recipient's evergreen timer. Only a human open starts
/// it (Gmail's and Yahoo's proxies fetch when a person opens); Apple's
/// privacy prefetch and security scanners read a start but never make one,
/// and see the timer's full length. Without a recipient, or with the store
/// down, the timer starts now and nothing is recorded.
async fn evergreen_start(app: &App, template: &Template, prepared: &Prepared) -> Option<Timestamp> {
    let timer = template.timer.as_ref()?;
    if !matches!(timer.deadline, TimerDeadline::Evergreen { .. }) {
        return None;
    }
    let recipient = prepared.recipient.as_ref()?;
    let opener = prepared.context.opener;
    let human = matches!(
        opener,
        Opener::Human | Opener::GmailProxy | Opener::YahooProxy
    );
    let now = prepared.context.now.zoned().timestamp();
    match app
        .store
        .timer_start(recipient, &template.name, now, human, EVERGREEN_KEEP)
        .await
    {
        Ok(started) => started,
        Err(error) => {
            app.metrics
                .store_errors
                .with_label_values(&[error.code()])
                .inc();
            tracing::debug!(recipient = %recipient, %error, "the evergreen start did not load; counting from now");
            None
        }
    }
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
