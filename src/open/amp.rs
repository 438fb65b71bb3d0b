//! The AMP answer: `GET /a/{template}.json`, the image path's decision for
//! an `amp-list` in an AMP email, decided exactly as an open decides (the
//! lock, the coupon, the timer, the poll).
//!
//! The open itself is recorded by the image request the answer points to,
//! so an AMP open counts once. Which senders may ask (CORS for email) and
//! the URLs in the answer are the HTTP layer's.

use std::sync::Arc;

use super::content::Content;
use super::decide::with_timer;
use super::prepare::prepare;
use super::records::{evergreen_start, open_request, with_records};
use super::request::Visit;
use super::shown::decide_or_default;
use super::{Counted, Pipeline};
use crate::poll::PollView;
use crate::template::Template;

/// What the AMP answer says.
#[derive(Debug)]
pub struct AmpAnswer {
    pub template: Option<Arc<Template>>,
    /// How it went, as the requests metric counts it.
    pub outcome: &'static str,
    pub body: AmpBody,
}

/// The body of the AMP answer.
#[derive(Debug)]
pub enum AmpBody {
    NotFound,
    /// Neither the chosen variant's texts nor the default variant's
    /// resolve.
    TextError,
    Decided(AmpDecision),
}

/// The decision, as the AMP item shows it.
#[derive(Debug)]
pub struct AmpDecision {
    /// The variant's id.
    pub variant: String,
    pub content: Content,
    /// Whether a click has somewhere to go: the variant's link or the
    /// default variant's.
    pub linked: bool,
    /// The poll's results, for a poll template.
    pub poll: Option<PollView>,
}

impl AmpAnswer {
    pub fn counted(&self) -> Counted<'_> {
        Counted {
            template: self.template.as_ref().map_or("-", |t| t.name.as_str()),
            variant: match &self.body {
                AmpBody::Decided(decision) => &decision.variant,
                _ => "-",
            },
            outcome: self.outcome,
        }
    }
}

impl Pipeline {
    /// The decision for template `name`, as an open would see it now.
    pub async fn amp(&self, visit: &Visit<'_>, name: &str) -> AmpAnswer {
        let answer = |template, outcome, body| AmpAnswer {
            template,
            outcome,
            body,
        };
        let Some(template) = self.templates.get(name) else {
            return answer(None, "not_found", AmpBody::NotFound);
        };
        let wants = open_request(&template).for_email(visit.email());
        let prepared = prepare(self, &template, visit, &wants, None).await;
        let started = evergreen_start(self, &template, &prepared).await;
        let (context, _, _) = with_timer(&template, &prepared.context, started);
        let (context, records) = with_records(self, &template, &prepared, context).await;
        let Some(shown) = decide_or_default(self, &template, &prepared, &context, &records).await
        else {
            return answer(Some(template), "render_error", AmpBody::TextError);
        };
        let linked = shown.variant.link.is_some() || template.default_variant().link.is_some();
        let decision = AmpDecision {
            variant: shown.variant.id.clone(),
            content: shown.content,
            linked,
            poll: records.poll,
        };
        let outcome = prepared.outcome();
        answer(Some(template), outcome, AmpBody::Decided(decision))
    }
}
