//! The vote: `GET /v/{poll}/{option}`, a vote in a live poll, then the
//! poll's thank-you page.
//!
//! Votes are clicks, and are classified like clicks: a scanner's User-Agent
//! or a HEAD request is a machine, and so is a vote within a few seconds of
//! the recipient's previous click on another link, which is how scanners
//! that follow every option of an email give themselves away. A machine's
//! vote is recorded as an event but never counted; when a burst shows that
//! the vote just before it was the burst's first click, that vote is taken
//! back and the recipient's earlier choice restored. A person's later vote
//! counts as usual. Only a verified recipient's vote counts: one per
//! recipient, the last one winning.

use minijinja::Value;

use super::Pipeline;
use super::click::{fallback_link, in_burst};
use super::decide::{Personalization, resolve_url};
use super::prepare::{classify, prepare};
use super::request::Visit;
use crate::events::EventKind;
use crate::expr::Opener;
use crate::store::StateRequest;

/// What a vote answers.
#[derive(Debug)]
pub struct VoteAnswer {
    /// The poll and option, as the votes metric labels them (`-` when
    /// unknown, so that a URL cannot make up labels).
    pub poll: String,
    pub option: String,
    /// What became of the vote: `counted`, `unchanged`, `retracted`,
    /// `machine`, `anonymous`, `store_error`, `bad_token`, `not_found`.
    pub result: &'static str,
    pub body: VoteBody,
}

/// The body of a vote's answer.
#[derive(Debug)]
pub enum VoteBody {
    NotFound(&'static str),
    /// The token is not valid: nothing was counted, and a page says so.
    InvalidLink,
    /// The poll's thank-you page.
    Redirect(String),
    /// Neither the thank-you link nor the template's fallback resolves.
    ThanksError,
}

impl Pipeline {
    /// A vote for `option_id` in `poll_id`.
    pub async fn vote(&self, visit: &Visit<'_>, poll_id: &str, option_id: &str) -> VoteAnswer {
        let refused = |poll: &str, option: &str, result, body| VoteAnswer {
            poll: poll.to_string(),
            option: option.to_string(),
            result,
            body,
        };
        let templates = self.templates.snapshot();
        let Some((template, poll)) = templates
            .with_poll(poll_id)
            .and_then(|template| Some((template, template.poll.as_ref()?)))
        else {
            // The label is the poll named in a URL: keep it bounded.
            return refused("-", "-", "not_found", VoteBody::NotFound("unknown poll"));
        };
        let Some((_, option)) = poll.option(option_id) else {
            return refused(
                poll_id,
                "-",
                "not_found",
                VoteBody::NotFound("this poll has no such option"),
            );
        };
        let now_ms = self.clock.now().as_millisecond();
        let link_name = format!("vote:{}/{}", poll.id, option.id);
        let wants = StateRequest {
            template: &template.name,
            click_mark: Some(format!("{now_ms} {link_name}")),
            poll: Some(&poll.id),
            email: visit.email(),
            ..StateRequest::default()
        };
        let opener = classify(self, visit);
        let mut prepared = prepare(self, template, visit, &wants, Some(opener)).await;
        if prepared.personalization == Personalization::BadToken || prepared.signature_refused {
            // Nothing changes: a vote must come from the recipient the
            // email was sent to.
            return refused(poll_id, &option.id, "bad_token", VoteBody::InvalidLink);
        }
        let burst_ms = self.openers.click_burst().as_millis() as i64;
        let burst = prepared.person
            && in_burst(
                prepared.records.previous_click.as_deref(),
                &link_name,
                now_ms,
                burst_ms,
            );
        if burst {
            prepared.person = false;
            prepared.context = prepared.context.with_opener(Opener::Scanner);
        }
        let store_answered = prepared.personalization != Personalization::StoreDown;
        let mut retracted = false;
        let result = match (&prepared.recipient, prepared.person, store_answered) {
            (None, _, _) => "anonymous",
            (Some(_), _, false) => "store_error",
            (Some(recipient), true, true) => {
                match self
                    .store
                    .cast_vote(&poll.id, recipient, &option.id, now_ms)
                    .await
                {
                    Ok(true) => "counted",
                    Ok(false) => "unchanged",
                    Err(error) => {
                        self.count_store_error(&error);
                        tracing::debug!(recipient = %recipient, %error, "a vote was not stored");
                        "store_error"
                    }
                }
            }
            (Some(recipient), false, true) if burst => {
                match self
                    .store
                    .retract_vote(&poll.id, recipient, now_ms - burst_ms)
                    .await
                {
                    Ok(true) => {
                        retracted = true;
                        "retracted"
                    }
                    Ok(false) => "machine",
                    Err(error) => {
                        self.count_store_error(&error);
                        tracing::debug!(recipient = %recipient, %error, "a scanner's vote was not taken back");
                        "store_error"
                    }
                }
            }
            (Some(_), false, true) => "machine",
        };
        if matches!(result, "counted" | "retracted") {
            // This replica's next results image shows the change at once.
            self.tallies.forget(&poll.id);
        }
        let mut event = prepared.event(EventKind::Vote, &template.name, "");
        event.extra.push(("poll", poll.id.clone()));
        event.extra.push(("option", option.id.clone()));
        if retracted {
            event.extra.push(("retracted", "1".to_string()));
        }
        self.events.record(event);

        let vote = Value::from_pairs(vec![
            ("option", Value::from(option.id.as_str())),
            ("label", Value::from(option.label.as_str())),
        ]);
        let context = prepared.context.with("vote", vote);
        let body = match resolve_url(template, poll.thanks, &context) {
            Ok(url) => VoteBody::Redirect(url),
            Err(error) => {
                tracing::warn!(poll = %poll.id, %error, "the poll's thank-you link did not resolve; following the fallback link");
                match fallback_link(template, &context) {
                    Some(url) => VoteBody::Redirect(url),
                    None => VoteBody::ThanksError,
                }
            }
        };
        VoteAnswer {
            poll: poll_id.to_string(),
            option: option.id.clone(),
            result,
            body,
        }
    }
}
