//! `GET /a/{template}.json`: the image path's decision as JSON, for an
//! `amp-list` in an AMP email.
//!
//! The answer is `{"items":[{...}]}` with one item: the variant, its resolved
//! texts, its link and the image URLs, decided exactly as `/i/` decides (the
//! lock, the coupon, the timer, the poll), and recorded as an open.
//!
//! AMP email clients say which sender's email asks, with CORS for email:
//! version 2 sends `AMP-Email-Sender` and expects `AMP-Email-Allow-Sender`;
//! version 1 sends `Origin` and a `__amp_source_origin` query parameter and
//! expects `Access-Control-Allow-Origin`,
//! `AMP-Access-Control-Allow-Source-Origin` and
//! `Access-Control-Expose-Headers`. Only senders in `amp_senders` are
//! answered; any other request is refused with a JSON error.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;

use super::head::RequestHead;
use super::response::Body;
use crate::app::App;
use crate::open::amp::{AmpBody, AmpDecision};
use crate::open::{Counted, QueryPairs, Visit};
use crate::poll::{Poll, PollView};
use crate::template::{AccessMode, Template};

/// The query parameter AMP's version 1 adds; it is no template parameter
/// and no part of a URL's signature.
const SOURCE_ORIGIN: &str = "__amp_source_origin";

pub async fn serve(app: &App, head: &RequestHead<'_>, file: &str) -> Response<Body> {
    let cors = match Cors::of(app, head) {
        Ok(cors) => cors,
        Err((code, message)) => {
            count_refused(app, "forbidden");
            return error(StatusCode::FORBIDDEN, code, message, None);
        }
    };
    let Some(name) = file.strip_suffix(".json") else {
        count_refused(app, "not_found");
        return not_found(&cors);
    };
    // The signature and the template's parameters are those of the URL as
    // written in the email, without what the AMP client appended.
    let own = Visit {
        query: QueryPairs(
            head.visit
                .query
                .0
                .iter()
                .filter(|(key, _)| key != SOURCE_ORIGIN)
                .cloned()
                .collect(),
        ),
        ..head.visit.clone()
    };
    let answer = app.pipeline.amp(&own, name).await;
    super::count_request(app, "amp", answer.counted());
    match (answer.template.as_deref(), &answer.body) {
        (Some(template), AmpBody::Decided(decision)) => {
            let signature_held = answer.outcome != "bad_signature";
            let item = item(app, head, &own.query, signature_held, template, decision);
            let body = json!({ "items": [item] }).to_string();
            with_json(StatusCode::OK, body, Some(&cors))
        }
        // No item: the AMP email shows its own fallback content, and the
        // recipient no error.
        (_, AmpBody::TextError) => {
            let body = json!({ "items": [] }).to_string();
            with_json(StatusCode::OK, body, Some(&cors))
        }
        (_, AmpBody::NotFound | AmpBody::Decided(_)) => not_found(&cors),
    }
}

/// The answer's one item: the decision, and the URLs of the image and the
/// click for the same recipient. The open itself is recorded by the image
/// request the item points to, so an AMP open counts once; the link goes
/// through /c/, so the click is classified and recorded like any other.
fn item(
    app: &App,
    head: &RequestHead<'_>,
    query: &QueryPairs,
    signature_held: bool,
    template: &Template,
    decision: &AmpDecision,
) -> serde_json::Value {
    let base = public_base(app, head);
    let own_url = |path: String| own_url(app, &base, template, query, signature_held, path);
    let extension = template.format.extension();
    let mut item = json!({
        "template": template.name,
        "variant": decision.variant,
        "texts": decision.content.plain_texts(),
        "link": decision.linked.then(|| own_url(format!("/c/{}", template.name))),
        "image": own_url(format!("/i/{}.{extension}", template.name)),
        "width": template.width,
        "height": template.height,
    });
    if template.allows_scale(2) {
        item["image_2x"] = json!(own_url(format!("/i/{}@2x.{extension}", template.name)));
    }
    // A repeat layer's items (a product grid, an order's lines), each
    // with its texts and image URLs in layer order, for an `amp-list`.
    let repeated = decision.content.repeated_items();
    if !repeated.is_empty() {
        item["items"] = repeated
            .into_iter()
            .map(|texts| json!({ "texts": texts }))
            .collect();
    }
    if let (Some(poll), Some(view)) = (&template.poll, &decision.poll) {
        item["poll"] = poll_json(poll, view);
    }
    item
}

/// Counts a request refused before the pipeline saw it.
fn count_refused(app: &App, outcome: &'static str) {
    let counted = Counted {
        template: "-",
        variant: "-",
        outcome,
    };
    super::count_request(app, "amp", counted);
}

fn not_found(cors: &Cors) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "unknown_template",
        "no such template: use /a/{template}.json",
        Some(cors),
    )
}

/// Which CORS for email the request speaks, with the sender it names.
enum Cors {
    V2 { sender: String },
    V1 { origin: String, sender: String },
}

impl Cors {
    fn of(app: &App, head: &RequestHead<'_>) -> Result<Cors, (&'static str, &'static str)> {
        let header = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
        let allowed = |sender: &str| sender_allowed(&app.config.amp.senders, sender);
        if let Some(sender) = header("amp-email-sender") {
            return if allowed(sender) {
                Ok(Cors::V2 {
                    sender: sender.to_string(),
                })
            } else {
                Err(("sender_not_allowed", "this sender is not in amp_senders"))
            };
        }
        match (header("origin"), head.visit.query.get(SOURCE_ORIGIN)) {
            (Some(origin), Some(sender)) if allowed(sender) => Ok(Cors::V1 {
                origin: origin.to_string(),
                sender: sender.to_string(),
            }),
            (Some(_), Some(_)) => Err(("sender_not_allowed", "this sender is not in amp_senders")),
            _ => Err((
                "not_amp",
                "an AMP for Email request carries AMP-Email-Sender, or Origin and __amp_source_origin",
            )),
        }
    }

    fn apply(&self, headers: &mut hyper::HeaderMap) {
        let value = |text: &str| HeaderValue::from_str(text).ok();
        match self {
            Cors::V2 { sender } => {
                if let Some(sender) = value(sender) {
                    headers.insert(HeaderName::from_static("amp-email-allow-sender"), sender);
                }
            }
            Cors::V1 { origin, sender } => {
                if let (Some(origin), Some(sender)) = (value(origin), value(sender)) {
                    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                    headers.insert(
                        HeaderName::from_static("amp-access-control-allow-source-origin"),
                        sender,
                    );
                    headers.insert(
                        header::ACCESS_CONTROL_EXPOSE_HEADERS,
                        HeaderValue::from_static("AMP-Access-Control-Allow-Source-Origin"),
                    );
                }
            }
        }
    }
}

/// Whether `sender` is listed, as an address or by its domain
/// (`@example.com`); case does not matter.
fn sender_allowed(allowed: &[String], sender: &str) -> bool {
    let sender = sender.trim().to_ascii_lowercase();
    let Some((_, domain)) = sender.rsplit_once('@') else {
        return false;
    };
    !domain.is_empty()
        && allowed.iter().any(|entry| match entry.strip_prefix('@') {
            Some(listed) => listed == domain,
            None => *entry == sender,
        })
}

/// Where recipients reach opentime: `public_url`, else the request's host.
/// Whether it is the configured address is [`carries_token`]'s question.
pub(super) fn public_base(app: &App, head: &RequestHead<'_>) -> String {
    if let Some(url) = &app.config.server.public_url {
        return url.clone();
    }
    let host = head
        .headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| !host.is_empty() && !host.contains(['/', ' ', '@']))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `path` on opentime for the same request: the token and the template's
/// parameters as the email had them, and for a `signed_url` template a
/// signature of its own, since `s` covers the path.
///
/// A request whose signature did not hold had its parameters refused: its
/// URLs carry none of them, or this answer would sign what someone edited.
pub(super) fn own_url(
    app: &App,
    base: &str,
    template: &Template,
    query: &QueryPairs,
    signature_held: bool,
    path: String,
) -> String {
    let carries_token = carries_token(app);
    let mut pairs: Vec<(String, String)> = query
        .0
        .iter()
        .filter(|(key, _)| {
            (key == "t" && carries_token)
                || (signature_held && (key == "e" || template.params.contains_key(key)))
        })
        .cloned()
        .collect();
    if template.access == AccessMode::SignedUrl {
        let signature = app.keys.sign_url(&path, &pairs);
        pairs.push(("s".to_string(), signature));
    }
    let mut url = format!("{base}{path}");
    if !pairs.is_empty() {
        url.push('?');
        url.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish(),
        );
    }
    url
}

/// Whether URLs written into an answer may carry the recipient's token:
/// only under the configured `public_url`. Without it the host comes from
/// the request's `Host` header, which anyone can set, and a token written
/// under it would go wherever that header points; such URLs show the
/// default content instead.
fn carries_token(app: &App) -> bool {
    app.config.server.public_url.is_some()
}

/// A poll's results as the item gives them.
fn poll_json(poll: &Poll, view: &PollView) -> serde_json::Value {
    let percentages = view.percentages();
    let options: Vec<serde_json::Value> = poll
        .options
        .iter()
        .enumerate()
        .map(|(index, option)| {
            json!({
                "id": option.id,
                "label": option.label,
                "count": view.counts.as_ref().map(|counts| counts[index]),
                "percent": percentages.get(index),
                "chosen": view.choice == Some(index),
            })
        })
        .collect();
    json!({
        "id": poll.id,
        "known": view.counts.is_some(),
        "total": view.total(),
        "options": options,
    })
}

fn error(status: StatusCode, code: &str, message: &str, cors: Option<&Cors>) -> Response<Body> {
    let body = json!({ "error": { "code": code, "message": message } }).to_string();
    with_json(status, body, cors)
}

fn with_json(status: StatusCode, body: String, cors: Option<&Cors>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Per recipient and per moment: never cached.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Some(cors) = cors {
        cors.apply(headers);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_match_by_address_or_domain_whatever_the_case() {
        let allowed = vec!["news@example.com".to_string(), "@shop.example".to_string()];
        assert!(sender_allowed(&allowed, "News@Example.com"));
        assert!(sender_allowed(&allowed, "anyone@shop.example"));
        assert!(!sender_allowed(&allowed, "other@example.com"));
        assert!(!sender_allowed(&allowed, "news@example.com.evil"));
        assert!(!sender_allowed(&allowed, "anyone@sub.shop.example"));
        assert!(!sender_allowed(&allowed, "shop.example"));
        assert!(!sender_allowed(&[], "news@example.com"));
    }
}
