//! The decision: which variant fits this request now, and what exactly it
//! shows.
//!
//! Pure functions of a [`Template`] and a [`Context`]: no I/O, no clock, no
//! randomness. The server, `opentime render` and the fallback images all go
//! through here, which is why they agree to the byte.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::countdown::{TimerState, parse_deadline};
use crate::expr::{Context, ExprError, TextId};
use crate::poll::PollView;
use crate::render::{
    Artwork, Asset, CodeLayer, CountdownLayer, ImageLayer, Layer, OutputFormat, RenderPlan,
    TextLayer, TimerPlan,
};
use crate::template::{AccessMode, Template, TimerDeadline, Variant, VariantLayer};

/// How much of the recipient the answer could use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personalization {
    /// A verified recipient with state.
    Personalized,
    /// No token, or a recipient with no state.
    Anonymous,
    /// The store failed or ran over its budget: default content, counted.
    StoreDown,
}

impl Personalization {
    pub fn as_str(self) -> &'static str {
        match self {
            Personalization::Personalized => "personalized",
            Personalization::Anonymous => "anonymous",
            Personalization::StoreDown => "store_error",
        }
    }
}

/// The variant chosen for a request.
#[derive(Debug)]
pub struct Choice<'t> {
    pub variant: &'t Variant,
    /// Conditions that failed at run time on the way; each counted as false.
    pub condition_errors: u32,
}

/// Tries the variants in order; the first whose condition holds wins, and
/// the default (last, without a condition) catches everyone else. A
/// condition that fails at run time counts as false.
///
/// A `token` template that cannot personalize (no token, no state, the
/// store down) shows its default variant without running the rules, as
/// SPEC "Outcomes" says: its rules are about the recipient, and an empty
/// profile must not pick a variant meant for someone. `signed_url` and
/// `public` templates always run their rules, which read the query.
pub fn choose_variant<'t>(
    template: &'t Template,
    context: &Context,
    personalization: Personalization,
) -> Choice<'t> {
    let mut condition_errors = 0;
    if template.access == AccessMode::Token && personalization != Personalization::Personalized {
        return Choice {
            variant: template.default_variant(),
            condition_errors,
        };
    }
    for variant in &template.variants {
        let Some(condition) = &variant.condition else {
            return Choice {
                variant,
                condition_errors,
            };
        };
        match condition.eval(context) {
            Ok(true) => {
                return Choice {
                    variant,
                    condition_errors,
                };
            }
            Ok(false) => {}
            Err(_) => condition_errors += 1,
        }
    }
    Choice {
        variant: template.default_variant(),
        condition_errors,
    }
}

/// Images fetched for a request's remote image layers, by URL. Empty
/// offline and for fallback images: those layers then show their
/// placeholder, or nothing.
pub type RemoteAssets = HashMap<String, Arc<Asset>>;

/// Resolves every text of a variant against the context, in layer order:
/// one per text layer and remote image URL, one per countdown label. These
/// strings and the variant decide the image completely, which is what a
/// lock keeps.
pub fn resolve_texts(
    template: &Template,
    variant: &Variant,
    context: &Context,
) -> Result<Vec<String>, ExprError> {
    let mut texts = Vec::new();
    for layer in &variant.layers {
        match layer {
            VariantLayer::Static(_) => {}
            VariantLayer::Text { text, .. } => texts.push(template.texts.render(*text, context)?),
            VariantLayer::RemoteImage { url: text, .. }
            | VariantLayer::Code { content: text, .. } => {
                texts.push(template.texts.render(*text, context)?.trim().to_string());
            }
            VariantLayer::PollResults(_) => texts.push(
                context
                    .poll
                    .as_ref()
                    .map(|view| view.encode())
                    .unwrap_or_default(),
            ),
            VariantLayer::Countdown { labels, .. } => {
                for label in labels {
                    texts.push(match label {
                        Some(text) => template.texts.render(*text, context)?,
                        None => String::new(),
                    });
                }
            }
        }
    }
    Ok(texts)
}

/// The URLs a variant's remote image layers resolved to, given its
/// resolved texts; empty ones are left out.
pub fn remote_urls<'t>(variant: &Variant, texts: &'t [String]) -> Vec<&'t str> {
    let mut urls = Vec::new();
    let mut slot = 0;
    for layer in &variant.layers {
        if let VariantLayer::RemoteImage { .. } = layer
            && let Some(url) = texts.get(slot)
            && !url.is_empty()
        {
            urls.push(url.as_str());
        }
        slot += layer.text_slots();
    }
    urls
}

/// Resolves a variant's texts into a plan ready to render.
pub fn resolve_plan(
    template: &Template,
    variant: &Variant,
    context: &Context,
    scale: u32,
    format: OutputFormat,
) -> Result<RenderPlan, ExprError> {
    let texts = resolve_texts(template, variant, context)?;
    Ok(build_plan(
        template,
        variant,
        &texts,
        scale,
        format,
        &RemoteAssets::new(),
    ))
}

/// The still plan of a variant from its resolved texts (countdowns are
/// left to [`build_artwork`]). A remote image that was not fetched shows
/// its placeholder, or nothing.
pub fn build_plan(
    template: &Template,
    variant: &Variant,
    texts: &[String],
    scale: u32,
    format: OutputFormat,
    remote: &RemoteAssets,
) -> RenderPlan {
    let mut layers = Vec::with_capacity(variant.layers.len());
    let mut slot = 0;
    for layer in &variant.layers {
        // The layer's own text, if it has one; copied only by the layers
        // that keep it.
        let text = texts.get(slot).map(String::as_str).unwrap_or_default();
        slot += layer.text_slots();
        layers.push(match layer {
            VariantLayer::Countdown { .. } => continue,
            VariantLayer::PollResults(results) => {
                let view = PollView::decode(text, results.labels.len());
                layers.extend(results.layers(&view));
                continue;
            }
            VariantLayer::Static(layer) => layer.clone(),
            VariantLayer::Text { frame, style, .. } => Layer::Text(TextLayer {
                frame: *frame,
                text: text.to_string(),
                style: style.clone(),
            }),
            VariantLayer::Code {
                frame,
                symbology,
                color,
                background,
                ..
            } => {
                // A code with nothing to encode (no coupon code yet) is not
                // drawn, rather than failing the render.
                if text.is_empty() {
                    continue;
                }
                Layer::Code(CodeLayer {
                    frame: *frame,
                    symbology: *symbology,
                    content: text.to_string(),
                    color: *color,
                    background: *background,
                })
            }
            VariantLayer::RemoteImage {
                frame,
                fit,
                radius,
                opacity,
                placeholder,
                ..
            } => {
                let Some(asset) = remote.get(text).or(placeholder.as_ref()) else {
                    continue;
                };
                Layer::Image(ImageLayer {
                    frame: *frame,
                    asset: Arc::clone(asset),
                    fit: *fit,
                    radius: *radius,
                    opacity: *opacity,
                })
            }
        });
    }
    RenderPlan {
        width: template.width,
        height: template.height,
        scale,
        format,
        layers,
    }
}

/// Where a countdown template's request stands against its deadline:
/// `timer.until` resolved against the context and read in the template's
/// zone, else the recipient's, at the request's moment; or, for an
/// evergreen timer, its duration after `started` (the recipient's first
/// human open, or now when there is none yet). A deadline that does not
/// resolve or parse counts as expired (the template's rules then show its
/// expired or default variant), and says why.
pub fn timer_state(
    template: &Template,
    context: &Context,
    started: Option<Timestamp>,
) -> Option<(TimerState, Option<String>)> {
    let timer = template.timer.as_ref()?;
    let now = context.now.zoned();
    let until = match timer.deadline {
        TimerDeadline::Until(until) => until,
        TimerDeadline::Evergreen { seconds } => {
            let start = started.unwrap_or_else(|| now.timestamp());
            let deadline = start
                .checked_add(jiff::SignedDuration::from_secs(seconds))
                .ok();
            let problem = deadline
                .is_none()
                .then(|| "the evergreen deadline is out of range".to_string());
            return Some((TimerState::at(deadline, now.timestamp()), problem));
        }
    };
    let zone = timer
        .time_zone
        .as_deref()
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or_else(|| now.time_zone().clone());
    let deadline = template
        .texts
        .render(until, context)
        .map_err(|error| error.to_string())
        .and_then(|text| parse_deadline(&text, &zone).map_err(|error| error.to_string()));
    let (deadline, problem) = match deadline {
        Ok(deadline) => (Some(deadline), None),
        Err(problem) => (None, Some(problem)),
    };
    Some((TimerState::at(deadline, now.timestamp()), problem))
}

/// The request context with `timer` added for a countdown template (the
/// context itself for others), the timer's state, and why its deadline did
/// not resolve, if it did not.
pub fn with_timer(
    template: &Template,
    context: &Context,
    started: Option<Timestamp>,
) -> (Context, Option<TimerState>, Option<String>) {
    match timer_state(template, context, started) {
        None => (context.clone(), None, None),
        Some((state, problem)) => (
            context.with("timer", state.to_value()),
            Some(state),
            problem,
        ),
    }
}

/// What to render for a variant: its still image, or, for a countdown
/// template's variant with a countdown layer and time left, the animation.
pub fn resolve_artwork(
    template: &Template,
    variant: &Variant,
    context: &Context,
    scale: u32,
    format: OutputFormat,
    timer: Option<&TimerState>,
) -> Result<Artwork, ExprError> {
    let texts = resolve_texts(template, variant, context)?;
    let target = Target { scale, format };
    Ok(build_artwork(
        template,
        variant,
        &texts,
        target,
        timer,
        &RemoteAssets::new(),
    ))
}

/// The scale and format a request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub scale: u32,
    pub format: OutputFormat,
}

/// [`resolve_artwork`] from texts already resolved (or kept by a lock).
pub fn build_artwork(
    template: &Template,
    variant: &Variant,
    texts: &[String],
    target: Target,
    timer: Option<&TimerState>,
    remote: &RemoteAssets,
) -> Artwork {
    let base = build_plan(
        template,
        variant,
        texts,
        target.scale,
        target.format,
        remote,
    );
    let mut slot = 0;
    let mut countdown = None;
    for layer in &variant.layers {
        if let VariantLayer::Countdown {
            countdown: layer,
            labels,
        } = layer
        {
            let labels = texts
                .get(slot..slot + labels.len())
                .map(<[String]>::to_vec)
                .unwrap_or_else(|| vec![String::new(); labels.len()]);
            countdown = Some(CountdownLayer {
                labels,
                ..layer.clone()
            });
            break;
        }
        slot += layer.text_slots();
    }
    match (countdown, template.timer.as_ref(), timer) {
        (Some(countdown), Some(settings), Some(state)) if target.format == OutputFormat::Gif => {
            Artwork::from(TimerPlan {
                base,
                countdown,
                remaining: state.seconds_left,
                frames: settings.frames,
                looping: settings.looping,
            })
        }
        _ => Artwork::Still(base),
    }
}

/// Resolves a variant's click-through link. Links come only from the
/// template, never from the request, so the click path cannot be turned
/// into an open redirect; a link that does not resolve to an absolute
/// `http(s)` URL is refused.
pub fn resolve_link(
    template: &Template,
    variant: &Variant,
    context: &Context,
) -> Result<Option<String>, LinkError> {
    match variant.link {
        Some(link) => resolve_url(template, link, context).map(Some),
        None => Ok(None),
    }
}

/// Resolves one of the template's URL texts (a link, a poll's thank-you
/// page) into an absolute `http(s)` URL, or says why it is not one.
pub fn resolve_url(
    template: &Template,
    text: TextId,
    context: &Context,
) -> Result<String, LinkError> {
    let url = template
        .texts
        .render(text, context)
        .map_err(LinkError::Expr)?;
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let is_web = lower.starts_with("https://") || lower.starts_with("http://");
    if !is_web || url.len() > 8192 || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(LinkError::NotAUrl);
    }
    Ok(url.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("link: {0}")]
    Expr(ExprError),
    #[error("link does not resolve to an absolute http(s) URL")]
    NotAUrl,
}
