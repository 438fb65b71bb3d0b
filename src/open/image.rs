//! The open: `GET /i/{template}.{png,jpg,gif}`, from the image target to
//! the bytes, and [`Pipeline::resolve`], what an open shows up to its
//! render key, which warming and the preview share.
//!
//! It reads top to bottom: find the template, prepare (access, opener,
//! state), records (a countdown's start, a coupon, a poll), decide (a lock
//! or the rules), resolve (remote images, the artwork and its key), answer
//! 304 if the client holds it, else look up or render. The open is queued
//! as an event on the way out, without waiting for the store. Every
//! failure after the template is known still answers with an image: the
//! template's pre-rendered fallback.

use std::sync::Arc;

use bytes::Bytes;

use super::artwork::{RemoteAssets, Target, build_artwork};
use super::decide::with_timer;
use super::prepare::{Prepared, prepare};
use super::records::{evergreen_start, open_request, with_records};
use super::request::{ImageTarget, Visit};
use super::shown::{Shown, decide, force};
use super::{Counted, Pipeline};
use crate::cache::{RenderFailure, Requester, Served, Source};
use crate::events::EventKind;
use crate::expr::Context;
use crate::render::{Artwork, OutputFormat, RenderKey, TimerPlan};
use crate::template::{Template, Variant};

/// What an open answers.
#[derive(Debug)]
pub struct ImageAnswer {
    /// The template asked for, once it is known.
    pub template: Option<Arc<Template>>,
    /// The variant shown, once decided.
    pub variant: Option<String>,
    /// How the open went, as the requests metric counts it.
    pub outcome: &'static str,
    pub body: ImageBody,
}

/// The body of an open's answer.
#[derive(Debug)]
pub enum ImageBody {
    /// No such template, scale or format: the reason.
    NotFound(&'static str),
    /// The client already holds this image.
    NotModified { etag: String },
    Image {
        bytes: Bytes,
        content_type: &'static str,
        etag: String,
    },
    /// The render failed and the template has no fallback image for this
    /// scale and format (loading makes one for each, so this is a bug).
    NoFallback,
}

impl ImageAnswer {
    pub fn counted(&self) -> Counted<'_> {
        Counted {
            template: self.template.as_ref().map_or("-", |t| t.name.as_str()),
            variant: self.variant.as_deref().unwrap_or("-"),
            outcome: self.outcome,
        }
    }

    fn not_found(template: Option<Arc<Template>>, reason: &'static str) -> ImageAnswer {
        ImageAnswer {
            template,
            variant: None,
            outcome: "not_found",
            body: ImageBody::NotFound(reason),
        }
    }
}

/// What an open shows, up to its render key.
pub struct Resolved<'t> {
    pub artwork: Artwork,
    pub key: RenderKey,
    /// What is shown (the variant, its content, its link).
    pub shown: Shown<'t>,
    /// The context it was decided in, for the preview's link.
    pub context: Context,
    /// The variant the rules (or a lock) chose; `shown` holds another only
    /// when the studio forced one.
    pub chosen: &'t str,
    /// This open drew the recipient's coupon code.
    pub code_drawn: bool,
}

/// The ETag of a render: its key, quoted, which says what the pixels are
/// whoever rendered them; with a `z` after the key for the compact
/// encoding of a hot PNG (`cache/mod.rs`), whose bytes differ. An
/// `If-None-Match` naming either form of a key is answered 304.
fn render_etag(key_hex: &str, compact: bool) -> String {
    let mut etag = String::with_capacity(key_hex.len() + 3);
    etag.push('"');
    etag.push_str(key_hex);
    if compact {
        etag.push('z');
    }
    etag.push('"');
    etag
}

/// Seconds of a hot countdown rendered ahead of traffic.
const SECONDS_AHEAD: i64 = 3;

impl Pipeline {
    /// An open of the image `file` names (`renewal@2x.png`).
    pub async fn image(&self, visit: &Visit<'_>, file: &str) -> ImageAnswer {
        let Some(target) = ImageTarget::parse(file) else {
            return ImageAnswer::not_found(
                None,
                "no such image: use /i/{template}.png, .jpg, .gif (countdowns) or @2x",
            );
        };
        let Some(template) = self.templates.get(&target.name) else {
            return ImageAnswer::not_found(None, "unknown template");
        };
        if target.format == OutputFormat::Gif && template.timer.is_none() {
            return ImageAnswer::not_found(
                Some(template),
                "this template is not a countdown: use .png or .jpg",
            );
        }
        if !template.allows_scale(target.scale) {
            return ImageAnswer::not_found(
                Some(template),
                "this template does not offer that scale",
            );
        }
        let wants = open_request(&template).for_email(visit.email());
        // The steps' futures are boxed, so that this one stays small: a
        // future is moved (copied whole) as it is handed on, and these
        // steps' futures are kilobytes each.
        let prepared = Box::pin(prepare(self, &template, visit, &wants, None)).await;
        let target = Target {
            scale: target.scale,
            format: target.format,
        };
        let Some(resolved) = Box::pin(self.resolve(&template, target, &prepared)).await else {
            let variant = template.default_variant().id.clone();
            self.record_open(&template, &prepared, &variant, String::new(), false);
            let body = self.fallback(&template, target, visit, "render_error");
            return ImageAnswer {
                template: Some(template),
                variant: Some(variant),
                outcome: "fallback",
                body,
            };
        };
        let Resolved {
            artwork,
            key,
            shown,
            code_drawn,
            ..
        } = resolved;
        let variant = shown.variant.id.clone();
        let key_hex = key.to_hex();
        let held = visit.if_none_match.and_then(|_| {
            [false, true]
                .into_iter()
                .map(|compact| render_etag(&key_hex, compact))
                .find(|etag| visit.holds(etag))
        });
        self.record_open(&template, &prepared, &variant, key_hex.clone(), code_drawn);
        let answer = |outcome, body| ImageAnswer {
            template: Some(Arc::clone(&template)),
            variant: Some(variant.clone()),
            outcome,
            body,
        };
        // Either encoding of the render: the pixels are the same.
        if let Some(etag) = held {
            return answer("not_modified", ImageBody::NotModified { etag });
        }
        let ahead = match (&artwork, template.timer.as_ref()) {
            (Artwork::Timer(timer), Some(_)) => Some(Arc::clone(timer)),
            _ => None,
        };
        // Only a verified token names someone: anyone can make an open
        // without one, with any parameters a template shows.
        let requester = match prepared.recipient {
            Some(_) => Requester::Recipient,
            None => Requester::Anonymous,
        };
        match Box::pin(self.cache.get_or_render(key, artwork, requester)).await {
            Ok(Served {
                bytes,
                source,
                compact,
            }) => {
                // A countdown second someone else (here or on another
                // replica) already rendered is a hot timer (a send's open
                // spike): render the next seconds now, so the opens to come
                // find them cached.
                if source != Source::Render
                    && let Some(timer) = ahead
                {
                    self.render_seconds_ahead(&template, timer);
                }
                let body = ImageBody::Image {
                    bytes,
                    content_type: target.format.content_type(),
                    etag: render_etag(&key_hex, compact),
                };
                answer(prepared.outcome(), body)
            }
            Err(RenderFailure::AnonymousBudget) => {
                let body = self.fallback(&template, target, visit, "anonymous_budget");
                answer("anonymous_budget", body)
            }
            Err(failure) => {
                let reason = match failure {
                    RenderFailure::Overloaded | RenderFailure::AnonymousBudget => "overload",
                    RenderFailure::Failed(_) | RenderFailure::Panicked(_) => {
                        tracing::error!(template = %template.name, variant, error = %failure, "render failed; serving the fallback image");
                        "render_error"
                    }
                };
                answer("fallback", self.fallback(&template, target, visit, reason))
            }
        }
    }

    /// Decides what `prepared` sees of `template` now and builds its
    /// artwork: a countdown's deadline (read first, so that rules can say
    /// `timer.expired`), the records (a coupon, a poll), the rules or a
    /// lock, and remote images. Writes records only for a person
    /// (`prepared.person`). `None` when a text does not resolve: the
    /// caller serves the fallback.
    pub async fn resolve<'t>(
        &self,
        template: &'t Template,
        target: Target,
        prepared: &Prepared,
    ) -> Option<Resolved<'t>> {
        self.resolve_as(template, target, prepared, None).await
    }

    /// [`Pipeline::resolve`], showing `forced` whatever the rules choose
    /// (the studio shows every variant); what the rules chose is still
    /// told.
    pub async fn resolve_as<'t>(
        &self,
        template: &'t Template,
        target: Target,
        prepared: &Prepared,
        forced: Option<&'t Variant>,
    ) -> Option<Resolved<'t>> {
        let started = evergreen_start(self, template, prepared).await;
        let (context, timer, deadline_problem) = with_timer(template, &prepared.context, started);
        if let Some(problem) = &deadline_problem {
            tracing::warn!(template = %template.name, %problem, "the countdown's deadline did not resolve; it counts as expired");
            self.metrics
                .deadline_errors
                .with_label_values(&[&template.name])
                .inc();
        }
        let (context, records) = with_records(self, template, prepared, context).await;
        let code_drawn = records.coupon.as_ref().is_some_and(|coupon| coupon.drawn);
        let decided = match forced {
            None => decide(self, template, prepared, &context, &records)
                .await
                .map(|shown| (shown.variant, shown)),
            Some(variant) => force(template, variant, prepared, &context, &records)
                .map(|(shown, chosen)| (chosen, shown)),
        };
        let (chosen, shown) = match decided {
            Ok(decided) => decided,
            Err(error) => {
                tracing::warn!(template = %template.name, %error, "a text did not resolve; serving the fallback image");
                return None;
            }
        };
        let remote = self.fetch_remote_images(&shown).await;
        let artwork = build_artwork(
            template,
            shown.variant,
            &shown.content,
            target,
            timer.as_ref(),
            &remote,
        );
        let key = artwork.render_key(&template.version);
        Some(Resolved {
            artwork,
            key,
            shown,
            context,
            chosen: chosen.id.as_str(),
            code_drawn,
        })
    }

    /// Counts the open and, for a verified recipient, queues its event; the
    /// writer records what was shown for the click and the profile's
    /// counters, off the request path. An open without a recipient (no
    /// token, or a bad one) is counted in metrics only: it names nobody,
    /// and anyone can make millions of them, which would trim real events
    /// off the capped stream before its consumers read them.
    fn record_open(
        &self,
        template: &Template,
        prepared: &Prepared,
        variant: &str,
        render: String,
        code_drawn: bool,
    ) {
        let context = &prepared.context;
        self.metrics
            .opens
            .with_label_values(&[&template.name, variant, context.opener.as_str()])
            .inc();
        if prepared.recipient.is_none() {
            return;
        }
        let mut event = prepared.event(EventKind::Open, &template.name, variant);
        event.render = render;
        if let Some((experiment, arm)) = template.variant(variant).and_then(|shown| {
            super::click::experiment_arm(template, shown, prepared.arm.as_deref())
        }) {
            event.experiment = experiment;
            event.arm = arm;
        }
        if code_drawn {
            event.extra.push(("code_drawn", "1".to_string()));
        }
        self.events.record(event);
    }

    /// Fetches the images the variant's remote layers name, each from an
    /// allowed origin only and through the cache. One that cannot be had
    /// is left out (its placeholder shows), counted and logged: the open
    /// still gets an image.
    async fn fetch_remote_images(&self, shown: &Shown<'_>) -> RemoteAssets {
        let mut assets = RemoteAssets::new();
        for url in shown.content.image_urls() {
            match self.remote_images.fetch(url).await {
                Ok(asset) => {
                    self.metrics.remote_images.with_label_values(&["ok"]).inc();
                    assets.insert(url.to_string(), asset);
                }
                Err(error) => {
                    self.metrics
                        .remote_images
                        .with_label_values(&[error.code()])
                        .inc();
                    tracing::debug!(%error, "a remote image was not used");
                }
            }
        }
        assets
    }

    /// Renders the next [`SECONDS_AHEAD`] seconds of `timer` into the cache
    /// in the background, each only if no one has and a render slot is
    /// free.
    fn render_seconds_ahead(&self, template: &Template, timer: Arc<TimerPlan>) {
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
        self.cache.render_ahead(work);
    }

    /// The template's pre-rendered default image, counted with `reason`.
    fn fallback(
        &self,
        template: &Template,
        target: Target,
        visit: &Visit<'_>,
        reason: &str,
    ) -> ImageBody {
        self.metrics
            .fallbacks
            .with_label_values(&[&template.name, reason])
            .inc();
        let Some(fallback) = template.fallback(target.scale, target.format) else {
            return ImageBody::NoFallback;
        };
        if visit.holds(&fallback.etag) {
            return ImageBody::NotModified {
                etag: fallback.etag.clone(),
            };
        }
        ImageBody::Image {
            bytes: fallback.bytes.clone(),
            content_type: target.format.content_type(),
            etag: fallback.etag.clone(),
        }
    }
}
