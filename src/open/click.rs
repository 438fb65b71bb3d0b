//! The click: `GET /c/{template}`, and `GET /c/{template}/hidden`, the
//! honeypot link.
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
//!
//! A template with `click_id` (say `"ot_click"`) has the redirect add
//! `ot_click=ID` to the destination, a sealed [`ClickId`] of this click
//! that the customer's backend reports back with a conversion. It is added
//! for a verified recipient, whether the click is a person's or a
//! machine's: a scanner that checks where a link goes must reach the page
//! a person reaches, and a person's click taken for a scanner's (one right
//! after a scanner's burst) must still lead to a conversion credited to it.
//! A click id of a machine's click is never reported in practice: scanners
//! buy nothing. The honeypot's redirect carries none.

use std::sync::Arc;

use super::decide::{choose_variant, resolve_link, with_timer};
use super::prepare::{Prepared, classify, prepare};
use super::records::with_records;
use super::request::Visit;
use super::shown::{ShownLink, decide, held_lock};
use super::{Counted, Pipeline};
use crate::access::ClickId;
use crate::events::EventKind;
use crate::expr::{Context, Opener};
use crate::store::StateRequest;
use crate::template::{Template, Variant};

/// The honeypot's name in a click's previous-click mark, so a real click
/// right after it counts as part of the scanner's burst.
const HONEYPOT: &str = "hidden";

/// What a click answers.
#[derive(Debug)]
pub struct ClickAnswer {
    pub template: Option<Arc<Template>>,
    pub variant: Option<String>,
    /// How the click went, as the requests metric counts it.
    pub outcome: &'static str,
    pub body: ClickBody,
}

/// The body of a click's answer.
#[derive(Debug)]
pub enum ClickBody {
    NotFound,
    /// Where the click goes.
    Redirect(String),
    /// Neither the variant nor the default has a link (or, when the link
    /// failed, neither the template's `fallback_link` nor the default
    /// variant's link resolves).
    NoLink,
}

impl ClickAnswer {
    pub fn counted(&self) -> Counted<'_> {
        Counted {
            template: self.template.as_ref().map_or("-", |t| t.name.as_str()),
            variant: self.variant.as_deref().unwrap_or("-"),
            outcome: self.outcome,
        }
    }
}

impl Pipeline {
    /// A click on template `name`'s link, or on its honeypot.
    pub async fn click(&self, visit: &Visit<'_>, name: &str, honeypot: bool) -> ClickAnswer {
        let Some(template) = self.templates.get(name) else {
            return ClickAnswer {
                template: None,
                variant: None,
                outcome: "not_found",
                body: ClickBody::NotFound,
            };
        };
        let now = self.clock.now();
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
            email: visit.email(),
            coupon_per_email: template
                .coupon
                .as_ref()
                .is_some_and(|coupon| coupon.per_email),
            experiment: template.experiment.as_ref().map(|e| e.id.as_str()),
        };
        let opener = if honeypot {
            Opener::Scanner
        } else {
            classify(self, visit)
        };
        let mut prepared = prepare(self, &template, visit, &wants, Some(opener)).await;
        let burst_ms = self.openers.click_burst().as_millis() as i64;
        if prepared.person
            && in_burst(
                prepared.records.previous_click.as_deref(),
                &link_name,
                now.as_millisecond(),
                burst_ms,
            )
        {
            prepared.person = false;
            prepared.context = prepared.context.with_opener(Opener::Scanner);
        }

        let (context, _, _) =
            with_timer(&template, &prepared.context, prepared.records.timer_start);
        let (context, records) = with_records(self, &template, &prepared, context).await;
        // The honeypot sends whoever follows it to the default variant's
        // link, so that even a person who somehow found it lands somewhere
        // sensible.
        let (variant, kept): (&Variant, ShownLink) = if honeypot {
            (template.default_variant(), ShownLink::ResolveAtClick)
        } else if let Some(locked) = held_lock(&template, &prepared) {
            (locked.variant, locked.link)
        } else if let Some(shown) = prepared
            .records
            .shown
            .as_ref()
            .and_then(|record| template.variant(&record.variant))
        {
            (shown, ShownLink::ResolveAtClick)
        } else {
            // No record: the rules decide now, and a locking template locks
            // what this first contact chose.
            match decide(self, &template, &prepared, &context, &records).await {
                Ok(shown) => (shown.variant, shown.link),
                Err(_) => {
                    let choice = choose_variant(
                        &template,
                        &context,
                        prepared.personalization,
                        prepared.arm.as_deref(),
                    );
                    (choice.variant, ShownLink::ResolveAtClick)
                }
            }
        };
        let variant_id = variant.id.clone();
        // The arm of the open the click follows, else the one the variant
        // followed now belongs to.
        let arm = prepared
            .records
            .shown
            .as_ref()
            .filter(|record| record.variant == variant_id)
            .and_then(|record| record.arm.clone())
            .or_else(|| experiment_arm(&template, variant, prepared.arm.as_deref()));
        // The click id and the click's event carry the same time,
        // `prepared.at`, so a conversion credited to the id names the very
        // click the events stream shows.
        let click_id = match (&template.click_id, &prepared.recipient) {
            (Some(name), Some(recipient)) if !honeypot => {
                let click = ClickId {
                    at: prepared.at.as_second(),
                    template: template.name.clone(),
                    email: prepared.email.clone().unwrap_or_default(),
                    variant: variant_id.clone(),
                    arm: arm.clone(),
                    recipient: recipient.clone(),
                };
                Some((name.as_str(), self.keys.seal_click(&click)))
            }
            _ => None,
        };
        self.record_click(&prepared, &template.name, &variant_id, arm);
        // A variant without a link of its own sends the click to the
        // default's.
        let linked = if variant.link.is_some() {
            variant
        } else {
            template.default_variant()
        };
        let link = match kept {
            ShownLink::Kept(Some(link)) => Ok(Some(link)),
            ShownLink::Kept(None) | ShownLink::ResolveAtClick => {
                resolve_link(&template, linked, &context)
            }
        };
        let (outcome, body) = match link {
            Ok(Some(url)) => (prepared.outcome(), ClickBody::Redirect(url)),
            Ok(None) => ("no_link", ClickBody::NoLink),
            Err(error) => {
                tracing::warn!(template = %template.name, variant = variant_id, %error, "click link did not resolve; following the fallback link");
                let body = match fallback_link(&template, &context) {
                    Some(url) => ClickBody::Redirect(url),
                    None => ClickBody::NoLink,
                };
                ("link_error", body)
            }
        };
        let body = match (body, click_id) {
            (ClickBody::Redirect(url), Some((name, id))) => {
                ClickBody::Redirect(with_query_param(&url, name, &id))
            }
            (body, _) => body,
        };
        ClickAnswer {
            template: Some(template),
            variant: Some(variant_id),
            outcome,
            body,
        }
    }

    fn record_click(
        &self,
        prepared: &Prepared,
        template: &str,
        variant: &str,
        arm: Option<(String, String)>,
    ) {
        let context = &prepared.context;
        self.metrics
            .clicks
            .with_label_values(&[template, variant, context.opener.as_str()])
            .inc();
        let mut event = prepared.event(EventKind::Click, template, variant);
        if let Some((experiment, arm)) = arm {
            event.experiment = experiment;
            event.arm = arm;
        }
        self.events.record(event);
    }
}

/// The experiment and arm of `variant`, when it is the arm `given` to
/// the recipient: only then is showing it an exposure to that arm.
pub(super) fn experiment_arm(
    template: &Template,
    variant: &Variant,
    given: Option<&str>,
) -> Option<(String, String)> {
    let experiment = template.experiment.as_ref()?;
    let arm = variant.arm.as_deref().filter(|arm| Some(*arm) == given)?;
    Some((experiment.id.clone(), arm.to_string()))
}

/// Where a click goes when the link of what was shown does not resolve:
/// the template's `fallback_link`, else the default variant's link.
pub(super) fn fallback_link(template: &Template, context: &Context) -> Option<String> {
    if let Some(link) = &template.fallback_link {
        return Some(link.clone());
    }
    resolve_link(template, template.default_variant(), context)
        .ok()
        .flatten()
}

/// `url` with the query parameter `name=value`, which replaces any the
/// URL already has of that name (the first in place, the others dropped)
/// and otherwise goes last in the query, before any `#fragment`. The rest
/// of the URL is kept byte for byte. `name` and `value` are URL-safe as
/// they are (an identifier, a click id).
pub fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let (base, query) = match before_fragment.find('?') {
        Some(at) => (&before_fragment[..at], Some(&before_fragment[at + 1..])),
        None => (before_fragment, None),
    };
    let pair = format!("{name}={value}");
    let mut pairs: Vec<&str> = Vec::new();
    let mut placed = false;
    for existing in query.into_iter().flat_map(|query| query.split('&')) {
        let key = existing.split_once('=').map_or(existing, |(key, _)| key);
        if key == name {
            if !placed {
                pairs.push(&pair);
                placed = true;
            }
        } else {
            pairs.push(existing);
        }
    }
    if !placed {
        // A query that is empty or ends with `&` has room for it already.
        if pairs.last() == Some(&"") {
            pairs.pop();
        }
        pairs.push(&pair);
    }
    format!("{base}?{}{fragment}", pairs.join("&"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_click_id_joins_the_query_before_the_fragment() {
        let add = |url| with_query_param(url, "ot_click", "c1ID");
        for (url, expected) in [
            (
                "https://shop.example/",
                "https://shop.example/?ot_click=c1ID",
            ),
            (
                "https://shop.example/p?a=1&b=x%20y",
                "https://shop.example/p?a=1&b=x%20y&ot_click=c1ID",
            ),
            (
                "https://shop.example/p?a=1#reviews?x=1&y",
                "https://shop.example/p?a=1&ot_click=c1ID#reviews?x=1&y",
            ),
            (
                "https://shop.example/p#top",
                "https://shop.example/p?ot_click=c1ID#top",
            ),
            (
                "https://shop.example/p?",
                "https://shop.example/p?ot_click=c1ID",
            ),
            (
                "https://shop.example/p?a=1&",
                "https://shop.example/p?a=1&ot_click=c1ID",
            ),
            (
                "https://shop.example/p?ot_click=old&a=1&ot_click=older#f",
                "https://shop.example/p?ot_click=c1ID&a=1#f",
            ),
            (
                "https://shop.example/p?ot_click&a=1",
                "https://shop.example/p?ot_click=c1ID&a=1",
            ),
            (
                "https://shop.example/p?x_ot_click=1&ot_clicks=2",
                "https://shop.example/p?x_ot_click=1&ot_clicks=2&ot_click=c1ID",
            ),
            (
                "https://shop.example/p#",
                "https://shop.example/p?ot_click=c1ID#",
            ),
        ] {
            assert_eq!(add(url), expected, "{url}");
        }
    }

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
