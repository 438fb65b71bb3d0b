//! `GET /c/{template}`: the click-through, and `GET /c/{template}/hidden`,
//! the honeypot link.
//!
//! The click goes to the link of what the recipient was shown: the lock,
//! when the template keeps one; else the variant the last open showed (the
//! open record); else, without a record (images blocked, or the first
//! contact is this click), the variant the rules pick now. The link's
//! expressions are resolved against the recipient's state now. Links come
//! only from the template, so this is never an open redirect.
//!
//! Clicks are classified like opens, and more: a click within a few
//! seconds of the recipient's previous click on another link is a
//! scanner's (they follow every link of an email at once), and so is any
//! click on the hidden honeypot link a template's email may carry, which
//! no person can see.

use hyper::{Response, StatusCode};

use super::content;
use super::recipient::{RequestHead, classify, prepare};
use super::response::{self, Body};
use crate::app::App;
use crate::decide::{LinkError, choose_variant, resolve_link, with_timer};
use crate::events::EventKind;
use crate::expr::Opener;
use crate::store::StateRequest;
use crate::template::Variant;

/// The honeypot's name in a click's previous-click mark, so a real click
/// right after it counts as part of the scanner's burst.
const HONEYPOT: &str = "hidden";

pub async fn serve(
    app: &App,
    head: &RequestHead<'_>,
    name: &str,
    honeypot: bool,
) -> Response<Body> {
    let metrics = &app.metrics;
    let count = |template: &str, variant: &str, outcome: &str| {
        metrics
            .requests
            .with_label_values(&["click", template, variant, outcome])
            .inc();
    };
    let Some(template) = app.templates.get(name) else {
        count("-", "-", "not_found");
        return response::text(StatusCode::NOT_FOUND, "unknown template");
    };
    let now = app.clock.now();
    let link_name = if honeypot {
        format!("{}/{HONEYPOT}", template.name)
    } else {
        template.name.clone()
    };
    let wants = StateRequest {
        template: &template.name,
        timer: template.is_evergreen(),
        shown: !honeypot,
        lock: template.lock_at_first_open && !honeypot,
        coupon_pool: template.coupon.as_ref().map(|coupon| coupon.pool.as_str()),
        click_mark: Some(format!("{} {link_name}", now.as_millisecond())),
        poll: template.poll.as_ref().map(|poll| poll.id.as_str()),
        prefs: template.reads_prefs,
    };
    let opener = if honeypot {
        Opener::Scanner
    } else {
        classify(app, head)
    };
    let mut prepared = match prepare(app, &template, head, &wants, Some(opener)).await {
        Ok(prepared) => prepared,
        Err(error) => {
            count(&template.name, "-", "forbidden");
            return response::text(StatusCode::FORBIDDEN, &error.to_string());
        }
    };
    if prepared.person
        && in_burst(
            prepared.records.previous_click.as_deref(),
            &link_name,
            now.as_millisecond(),
            app.openers.click_burst().as_millis() as i64,
        )
    {
        prepared.person = false;
        prepared.context = prepared.context.with_opener(Opener::Scanner);
    }

    let (context, _, _) = with_timer(&template, &prepared.context, prepared.records.timer_start);
    let (context, coupon) = content::with_records(app, &template, &prepared, context).await;
    // The honeypot sends whoever follows it to the default variant's link,
    // so that even a person who somehow found it lands somewhere sensible.
    let (variant, locked_link): (&Variant, Option<Option<String>>) = if honeypot {
        (template.default_variant(), None)
    } else if let Some(locked) = content::held_lock(&template, &prepared) {
        (locked.variant, locked.locked_link)
    } else if let Some(shown) = prepared
        .records
        .shown
        .as_ref()
        .and_then(|record| template.variant(&record.variant))
    {
        (shown, None)
    } else {
        // No record: the rules decide now, and a locking template locks
        // what this first contact chose.
        match content::decide(app, &template, &prepared, &context, coupon.as_ref()).await {
            Ok(shown) => (shown.variant, shown.locked_link),
            Err(_) => {
                let choice = choose_variant(&template, &context, prepared.personalization);
                (choice.variant, None)
            }
        }
    };
    let variant_id = variant.id.as_str();
    record_click(app, &prepared, &template.name, variant_id);
    // A variant without a link of its own sends the click to the default's.
    let linked = if variant.link.is_some() {
        variant
    } else {
        template.default_variant()
    };
    let link = match locked_link {
        Some(Some(link)) => Ok(Some(link)),
        _ => resolve_link(&template, linked, &context),
    };
    match link {
        Ok(Some(url)) => {
            count(
                &template.name,
                variant_id,
                prepared.personalization.as_str(),
            );
            response::redirect(&url)
        }
        Ok(None) => {
            count(&template.name, variant_id, "no_link");
            response::text(StatusCode::NOT_FOUND, "this template has no link")
        }
        Err(error @ (LinkError::Expr(_) | LinkError::NotAUrl)) => {
            tracing::warn!(template = %template.name, variant = variant_id, %error, "click link did not resolve");
            count(&template.name, variant_id, "link_error");
            response::text(
                StatusCode::BAD_GATEWAY,
                "the template's link did not resolve",
            )
        }
    }
}

/// Whether a click on `link` at `now_ms` follows the recipient's previous
/// click (`"{unix ms} {link}"`) on another link within `burst_ms`.
pub(super) fn in_burst(previous: Option<&str>, link: &str, now_ms: i64, burst_ms: i64) -> bool {
    let Some((at, previous_link)) = previous.and_then(|text| text.split_once(' ')) else {
        return false;
    };
    let Ok(at) = at.parse::<i64>() else {
        return false;
    };
    // A window of 0 turns the check off (docs/openers.md).
    burst_ms > 0 && previous_link != link && (now_ms - at).abs() <= burst_ms
}

fn record_click(app: &App, prepared: &super::recipient::Prepared, template: &str, variant: &str) {
    let context = &prepared.context;
    app.metrics
        .clicks
        .with_label_values(&[template, variant, context.opener.as_str()])
        .inc();
    app.events
        .record(prepared.event(EventKind::Click, template, variant));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_another_link_within_the_window() {
        let burst = 5_000;
        assert!(in_burst(Some("1000 sale"), "renewal", 3_000, burst));
        assert!(in_burst(Some("1000 sale/hidden"), "sale", 1_500, burst));
        // The same link twice is a double click, not a scanner.
        assert!(!in_burst(Some("1000 sale"), "sale", 1_200, burst));
        assert!(!in_burst(Some("1000 sale"), "renewal", 7_000, burst));
        assert!(!in_burst(None, "sale", 1_000, burst));
        assert!(!in_burst(Some("garbage"), "sale", 1_000, burst));
        assert!(
            !in_burst(Some("1000 sale"), "renewal", 1_000, 0),
            "0 is off"
        );
    }
}
