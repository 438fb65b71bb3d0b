//! The pipeline without a store, a request or a cache: `opentime render`,
//! the scans of `opentime check`, and the fallback images every template
//! gets at load. The same decide and build steps as an open, so the bytes
//! agree with what the server serves.
//!
//! Offline there are no records: no lock, no code drawn, a poll's results
//! unknown, an evergreen timer starting at the moment given, and remote
//! images showing their placeholder.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::artwork::{RemoteAssets, Target, build_artwork, build_plan};
use super::content::resolve_content;
use super::decide::{Personalization, choose_variant, with_timer};
use crate::countdown::TimerState;
use crate::expr::{Context, ExprError, RequestFacts};
use crate::recipient::Profile;
use crate::render::{Artwork, OutputFormat, RenderError, RenderPlan, Renderer};
use crate::template::{Fallback, Loader, Template, Variant};

/// The artwork of `variant` for `context`, with no records and no remote
/// images.
pub fn artwork(
    template: &Template,
    variant: &Variant,
    context: &Context,
    target: Target,
    timer: Option<&TimerState>,
) -> Result<Artwork, ExprError> {
    let content = resolve_content(template, variant, context, None)?;
    Ok(build_artwork(
        template,
        variant,
        &content,
        target,
        timer,
        &RemoteAssets::new(),
    ))
}

/// The still plan of `variant` for `context` (a countdown layer left
/// out), with no records and no remote images: what `opentime check`
/// scans.
pub fn plan(
    template: &Template,
    variant: &Variant,
    context: &Context,
    target: Target,
) -> Result<RenderPlan, ExprError> {
    let content = resolve_content(template, variant, context, None)?;
    Ok(build_plan(
        template,
        variant,
        &content,
        target,
        &RemoteAssets::new(),
    ))
}

/// An open as `opentime render` describes it.
#[derive(Debug, Clone)]
pub struct OfflineOpen {
    /// The recipient's profile; `None` for one with no state.
    pub profile: Option<Profile>,
    /// The template's parameters, defaults included.
    pub query: BTreeMap<String, String>,
    pub now: jiff::Timestamp,
    pub user_agent: Option<String>,
    pub target: Target,
}

/// What `opentime render` made, and what an author should know of it.
#[derive(Debug)]
pub struct OfflineRender {
    pub variant: String,
    /// Conditions that failed at run time and counted as false.
    pub condition_errors: u32,
    /// A countdown's state at the moment given.
    pub timer: Option<TimerState>,
    /// Why a countdown's deadline did not resolve (it counts as expired).
    pub deadline_problem: Option<String>,
    /// Why a text did not resolve, when the fallback image was written
    /// instead, as the server would serve it.
    pub fell_back: Option<ExprError>,
    pub bytes: Vec<u8>,
}

/// Why `opentime render` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("no fallback image for that scale and format")]
    NoFallback,
}

/// Renders `open` of `template` as the server would.
pub fn render(
    template: &Template,
    renderer: &Renderer,
    open: OfflineOpen,
) -> Result<OfflineRender, OfflineError> {
    let personalization = if open.profile.is_some() {
        Personalization::Personalized
    } else {
        Personalization::Anonymous
    };
    let context = Context::new(&RequestFacts {
        profile: open.profile,
        query: open.query,
        now: open.now,
        user_agent: open.user_agent,
        is_head: false,
        opener: None,
        geo: None,
    });
    // Offline there is no first open on record: an evergreen timer starts
    // now.
    let (context, timer, deadline_problem) = with_timer(template, &context, None);
    // Offline there is no recipient to give an arm: an arm's variant is
    // shown by forcing it, as the studio does.
    let choice = choose_variant(template, &context, personalization, None);
    let target = open.target;
    let (bytes, fell_back) =
        match artwork(template, choice.variant, &context, target, timer.as_ref()) {
            Ok(artwork) => (renderer.render_artwork(&artwork)?, None),
            Err(error) => {
                let fallback = template
                    .fallback(target.scale, target.format)
                    .ok_or(OfflineError::NoFallback)?;
                (fallback.bytes.to_vec(), Some(error))
            }
        };
    Ok(OfflineRender {
        variant: choice.variant.id.clone(),
        condition_errors: choice.condition_errors,
        timer,
        deadline_problem,
        fell_back,
        bytes,
    })
}

/// What template loading renders fallback images with: this module's
/// [`prerender_fallbacks`].
pub fn loader<'r>(
    renderer: &'r Renderer,
    sources: &'r dyn crate::template::SourceRules,
) -> Loader<'r> {
    Loader {
        renderer,
        prerender: prerender_fallbacks,
        sources,
    }
}

/// Renders the default variant, with no recipient and no parameters, at
/// every allowed scale and in both static formats (and as a still GIF for
/// a countdown, with the timer as it stands at load). These images are
/// served when a render fails or the server is overloaded, so an email
/// never shows a broken image.
pub fn prerender_fallbacks(
    template: &Template,
    renderer: &Renderer,
) -> Result<Vec<(u32, OutputFormat, Fallback)>, String> {
    let context = Context::new(&RequestFacts {
        query: template.default_query(),
        ..RequestFacts::default()
    });
    let (context, _, _) = with_timer(template, &context, None);
    let default = template.default_variant();
    let formats: &[OutputFormat] = if template.timer.is_some() {
        &[OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Gif]
    } else {
        &[OutputFormat::Png, OutputFormat::Jpeg]
    };
    let mut fallbacks = Vec::new();
    for &scale in &template.scales {
        for &format in formats {
            // Without a timer state the artwork is the still plan.
            let target = Target { scale, format };
            let artwork = artwork(template, default, &context, target, None)
                .map_err(|e| format!("the fallback image (the default variant with no recipient) cannot be resolved: {e}"))?;
            let bytes = renderer
                .render_artwork(&artwork)
                .map_err(|e| format!("the fallback image (the default variant with no recipient) does not render: {e}"))?;
            let etag = format!("\"fb-{}\"", &hex::encode(Sha256::digest(&bytes))[..32]);
            fallbacks.push((
                scale,
                format,
                Fallback {
                    bytes: bytes.into(),
                    etag,
                },
            ));
        }
    }
    Ok(fallbacks)
}

/// How long the slowest variant of `template` takes to render, and which
/// one it is: every variant forced in turn, with no recipient and the
/// default parameters, at the largest scale and in the template's own
/// format (a countdown animates). A variant whose texts need a recipient
/// is timed on the content that resolves; `None` when none does.
pub fn slowest_render(
    template: &Template,
    renderer: &Renderer,
) -> Result<Option<(String, std::time::Duration)>, RenderError> {
    let context = Context::new(&RequestFacts {
        query: template.default_query(),
        ..RequestFacts::default()
    });
    let (context, timer, _) = with_timer(template, &context, None);
    let target = Target {
        scale: template.scales.iter().copied().max().unwrap_or(1),
        format: template.format,
    };
    let mut slowest: Option<(String, std::time::Duration)> = None;
    for variant in &template.variants {
        let Ok(artwork) = artwork(template, variant, &context, target, timer.as_ref()) else {
            continue;
        };
        let started = std::time::Instant::now();
        renderer.render_artwork(&artwork)?;
        let took = started.elapsed();
        if slowest.as_ref().is_none_or(|(_, longest)| took > *longest) {
            slowest = Some((variant.id.clone(), took));
        }
    }
    Ok(slowest)
}
