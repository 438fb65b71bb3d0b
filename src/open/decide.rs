//! The decision: which variant fits this request now, and what exactly it
//! shows.
//!
//! Pure functions of a [`Template`] and a [`Context`]: no I/O, no clock, no
//! randomness. Every entry of the pipeline (an open, a click, `opentime
//! render`, the fallback images) decides through here, which is why they
//! agree to the byte.

use jiff::Timestamp;

use super::host::keeps_host;
use crate::countdown::{TimerState, parse_deadline};
use crate::expr::{Context, ExprError, TextId};
use crate::template::{AccessMode, Template, TimerDeadline, Variant};

/// How much of the recipient the answer could use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personalization {
    /// A verified recipient with state.
    Personalized,
    /// No token, or a recipient with no state.
    Anonymous,
    /// The store failed or ran over its budget: default content, counted.
    StoreDown,
    /// A token that is present but tampered, signed by no configured key, or
    /// an email platform's merge tag left unfilled (`%%ot_token%%`): the
    /// default content, as without a token, and counted apart.
    BadToken,
}

impl Personalization {
    pub fn as_str(self) -> &'static str {
        match self {
            Personalization::Personalized => "personalized",
            Personalization::Anonymous => "anonymous",
            Personalization::StoreDown => "store_error",
            Personalization::BadToken => "bad_token",
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
/// `docs/outcomes.md` says: its rules are about the recipient, and an empty
/// profile must not pick a variant meant for someone. `signed_url` and
/// `public` templates always run their rules, which read the query.
pub fn choose_variant<'t>(
    template: &'t Template,
    context: &Context,
    personalization: Personalization,
    arm: Option<&str>,
) -> Choice<'t> {
    let mut condition_errors = 0;
    if template.access == AccessMode::Token && personalization != Personalization::Personalized {
        return Choice {
            variant: template.default_variant(),
            condition_errors,
        };
    }
    for variant in &template.variants {
        // An arm's variant is only for the recipients given that arm.
        if variant.arm.is_some() && variant.arm.as_deref() != arm {
            continue;
        }
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
/// page) into an absolute `http(s)` URL on the host the text fixes, or
/// says why it is not one.
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
    let source = template.texts.source(text).unwrap_or_default();
    if !keeps_host(source, url) {
        return Err(LinkError::OtherHost);
    }
    Ok(url.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("link: {0}")]
    Expr(ExprError),
    #[error("link does not resolve to an absolute http(s) URL")]
    NotAUrl,
    /// What the state or the query filled in moved the link to a host the
    /// template's text does not fix (an open redirect, refused).
    #[error("link resolves to a host its template does not fix")]
    OtherHost,
}
