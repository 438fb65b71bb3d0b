//! `GET /v/{poll}/{option}`: a vote in a live poll, then a 302 to the
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

use hyper::{Response, StatusCode};
use minijinja::Value;

use super::click::in_burst;
use super::recipient::{RequestHead, classify, prepare};
use super::response::{self, Body};
use crate::app::App;
use crate::decide::{Personalization, resolve_url};
use crate::events::EventKind;
use crate::expr::Opener;
use crate::store::StateRequest;

pub async fn serve(
    app: &App,
    head: &RequestHead<'_>,
    poll_id: &str,
    option_id: &str,
) -> Response<Body> {
    let count = |option: &str, result: &str| {
        app.metrics
            .votes
            .with_label_values(&[poll_id, option, result])
            .inc();
    };
    let templates = app.templates.snapshot();
    let Some((template, poll)) = templates
        .with_poll(poll_id)
        .and_then(|template| Some((template, template.poll.as_ref()?)))
    else {
        // The label is the poll named in a URL: keep it bounded.
        app.metrics
            .votes
            .with_label_values(&["-", "-", "not_found"])
            .inc();
        return response::text(StatusCode::NOT_FOUND, "unknown poll");
    };
    let Some((_, option)) = poll.option(option_id) else {
        count("-", "not_found");
        return response::text(StatusCode::NOT_FOUND, "this poll has no such option");
    };
    let now_ms = app.clock.now().as_millisecond();
    let link_name = format!("vote:{}/{}", poll.id, option.id);
    let wants = StateRequest {
        template: &template.name,
        click_mark: Some(format!("{now_ms} {link_name}")),
        poll: Some(&poll.id),
        ..StateRequest::default()
    };
    let opener = classify(app, head);
    let mut prepared = match prepare(app, template, head, &wants, Some(opener)).await {
        Ok(prepared) => prepared,
        Err(error) => {
            count(&option.id, "forbidden");
            return response::text(StatusCode::FORBIDDEN, &error.to_string());
        }
    };
    let burst_ms = app.openers.click_burst().as_millis() as i64;
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
            match app
                .store
                .cast_vote(&poll.id, recipient, &option.id, now_ms)
                .await
            {
                Ok(true) => "counted",
                Ok(false) => "unchanged",
                Err(error) => {
                    app.metrics
                        .store_errors
                        .with_label_values(&[error.code()])
                        .inc();
                    tracing::debug!(recipient = %recipient, %error, "a vote was not stored");
                    "store_error"
                }
            }
        }
        (Some(recipient), false, true) if burst => {
            match app
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
                    app.metrics
                        .store_errors
                        .with_label_values(&[error.code()])
                        .inc();
                    tracing::debug!(recipient = %recipient, %error, "a scanner's vote was not taken back");
                    "store_error"
                }
            }
        }
        (Some(_), false, true) => "machine",
    };
    if matches!(result, "counted" | "retracted") {
        // This replica's next results image shows the change at once.
        app.tallies.forget(&poll.id);
    }
    count(&option.id, result);
    let mut event = prepared.event(EventKind::Vote, &template.name, "");
    event.extra.push(("poll", poll.id.clone()));
    event.extra.push(("option", option.id.clone()));
    if retracted {
        event.extra.push(("retracted", "1".to_string()));
    }
    app.events.record(event);

    let vote = Value::from_pairs(vec![
        ("option", Value::from(option.id.as_str())),
        ("label", Value::from(option.label.as_str())),
    ]);
    let context = prepared.context.with("vote", vote);
    match resolve_url(template, poll.thanks, &context) {
        Ok(url) => response::redirect(&url),
        Err(error) => {
            tracing::warn!(poll = %poll.id, %error, "the poll's thank-you link did not resolve");
            response::text(
                StatusCode::BAD_GATEWAY,
                "the poll's thank-you link did not resolve",
            )
        }
    }
}
