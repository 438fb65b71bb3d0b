//! Send-time content: the decision an email platform fetches while it
//! sends (Braze Connected Content, Salesforce `HTTPGet`, Klaviyo web
//! feeds), from the same rules as the image, so that the subject line it
//! writes, the image and the click agree.
//!
//! A send is not an open: no open record, event, engagement count or timer
//! start is written, and the rules see a person (`opener` is `human`). A
//! template that locks at the first open keeps the send's decision as its
//! lock (drawing its code, if it has a pool), so the open shows what the
//! subject line promised; a template that does not lock stays live, and its
//! image may have moved on by the time it is opened.

use std::sync::Arc;

use super::decide::{resolve_link, with_timer};
use super::prepare::prepare;
use super::records::{evergreen_start, open_request, with_records};
use super::request::Visit;
use super::shown::{ShownLink, decide_or_default};
use super::{Counted, Pipeline};
use crate::expr::Opener;
use crate::template::Template;

/// What the send-time answer says.
#[derive(Debug)]
pub struct SendAnswer {
    pub template: Option<Arc<Template>>,
    /// How it went, as the requests metric counts it.
    pub outcome: &'static str,
    pub body: SendBody,
}

#[derive(Debug)]
pub enum SendBody {
    NotFound,
    /// Neither the chosen variant's texts nor the default variant's
    /// resolve: the platform should send its own fallback.
    TextError,
    Decided(SendDecision),
}

/// The decision, in words.
#[derive(Debug)]
pub struct SendDecision {
    pub variant: String,
    /// The words of the variant's text-like layers, in layer order.
    pub texts: Vec<String>,
    /// The variant's `subject_line`, else the template's; `None` when neither
    /// is given or it does not resolve.
    pub subject: Option<String>,
    /// Where a click would go now; `None` for a variant without a link.
    pub link: Option<String>,
    /// Whether the decision is kept as the recipient's lock.
    pub locked: bool,
}

impl SendAnswer {
    pub fn counted(&self) -> Counted<'_> {
        Counted {
            template: self.template.as_ref().map_or("-", |t| t.name.as_str()),
            variant: match &self.body {
                SendBody::Decided(decision) => &decision.variant,
                _ => "-",
            },
            outcome: self.outcome,
        }
    }
}

impl Pipeline {
    /// The decision for template `name` at send time.
    pub async fn send_time(&self, visit: &Visit<'_>, name: &str) -> SendAnswer {
        let answer = |template, outcome, body| SendAnswer {
            template,
            outcome,
            body,
        };
        let Some(template) = self.templates.get(name) else {
            return answer(None, "not_found", SendBody::NotFound);
        };
        let wants = open_request(&template).for_email(visit.email());
        // The platform's servers ask, not the reader: their address says
        // nothing of where the reader is, so `geo` stays empty.
        let visit = &Visit {
            client_ip: None,
            ..visit.clone()
        };
        let mut prepared = prepare(self, &template, visit, &wants, Some(Opener::Human)).await;
        // No timer starts at a send: a countdown runs from the open.
        prepared.person = false;
        let started = evergreen_start(self, &template, &prepared).await;
        let (context, _, _) = with_timer(&template, &prepared.context, started);
        // A locking template keeps what the send decided.
        prepared.person = template.lock_at_first_open;
        let (context, records) = with_records(self, &template, &prepared, context).await;
        let Some(shown) = decide_or_default(self, &template, &prepared, &context, &records).await
        else {
            return answer(Some(template), "render_error", SendBody::TextError);
        };
        let locked = matches!(shown.link, ShownLink::Kept(_));
        let link = match &shown.link {
            ShownLink::Kept(link) => link.clone(),
            ShownLink::ResolveAtClick => {
                resolve_link(&template, shown.variant, &context).unwrap_or_default()
            }
        };
        let subject = shown
            .variant
            .subject_line
            .or(template.subject_line)
            .and_then(|text| template.texts.render(text, &context).ok())
            .map(|subject| subject.trim().to_string());
        let decision = SendDecision {
            variant: shown.variant.id.clone(),
            texts: shown
                .content
                .plain_texts()
                .into_iter()
                .map(str::to_string)
                .collect(),
            subject,
            link,
            locked,
        };
        let outcome = prepared.outcome();
        answer(Some(template), outcome, SendBody::Decided(decision))
    }
}
