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

use super::content;
use super::query::QueryPairs;
use super::recipient::{RequestHead, prepare};
use super::response::Body;
use crate::app::App;
use crate::decide::with_timer;
use crate::poll::{Poll, PollView};
use crate::template::{AccessMode, Template, Variant, VariantLayer};

/// The query parameter AMP's version 1 adds; it is no template parameter
/// and no part of a URL's signature.
const SOURCE_ORIGIN: &str = "__amp_source_origin";

pub async fn serve(app: &App, head: &RequestHead<'_>, file: &str) -> Response<Body> {
    let count = |template: &str, variant: &str, outcome: &str| {
        app.metrics
            .requests
            .with_label_values(&["amp", template, variant, outcome])
            .inc();
    };
    let cors = match Cors::of(app, head) {
        Ok(cors) => cors,
        Err((code, message)) => {
            count("-", "-", "forbidden");
            return error(StatusCode::FORBIDDEN, code, message, None);
        }
    };
    let Some(template) = file
        .strip_suffix(".json")
        .and_then(|name| app.templates.get(name))
    else {
        count("-", "-", "not_found");
        return error(
            StatusCode::NOT_FOUND,
            "unknown_template",
            "no such template: use /a/{template}.json",
            Some(&cors),
        );
    };
    // The signature and the template's parameters are those of the URL as
    // written in the email, without what the AMP client appended.
    let own = RequestHead {
        query: QueryPairs(
            head.query
                .0
                .iter()
                .filter(|(key, _)| key != SOURCE_ORIGIN)
                .cloned()
                .collect(),
        ),
        ..*head
    };
    let wants = content::open_request(&template);
    let prepared = match prepare(app, &template, &own, &wants, None).await {
        Ok(prepared) => prepared,
        Err(refused) => {
            count(&template.name, "-", "forbidden");
            return error(
                StatusCode::FORBIDDEN,
                "bad_token",
                &refused.to_string(),
                Some(&cors),
            );
        }
    };
    let started = content::evergreen_start(app, &template, &prepared).await;
    let (context, _, _) = with_timer(&template, &prepared.context, started);
    let (context, coupon) = content::with_records(app, &template, &prepared, context).await;
    let shown = match content::decide(app, &template, &prepared, &context, coupon.as_ref()).await {
        Ok(shown) => shown,
        Err(failure) => {
            tracing::warn!(template = %template.name, error = %failure, "a text did not resolve for AMP");
            count(&template.name, "-", "render_error");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text_error",
                "a text of the template did not resolve",
                Some(&cors),
            );
        }
    };
    let variant = shown.variant.id.as_str();
    // The open itself is recorded by the image request the item points to,
    // so an AMP open counts once; the link goes through /c/, so the click
    // is classified and recorded like any other.
    let base = public_base(app, head);
    let own_url = |path: String| own_url(app, &base, &template, &own.query, path);
    let extension = template.format.extension();
    let mut item = json!({
        "template": template.name,
        "variant": variant,
        "texts": plain_texts(shown.variant, &shown.texts),
        "link": linked(&template, shown.variant).then(|| own_url(format!("/c/{}", template.name))),
        "image": own_url(format!("/i/{}.{extension}", template.name)),
        "width": template.width,
        "height": template.height,
    });
    if template.allows_scale(2) {
        item["image_2x"] = json!(own_url(format!("/i/{}@2x.{extension}", template.name)));
    }
    if let (Some(poll), Some(view)) = (&template.poll, &context.poll) {
        item["poll"] = poll_json(poll, view);
    }
    count(&template.name, variant, prepared.personalization.as_str());
    let body = json!({ "items": [item] }).to_string();
    with_json(StatusCode::OK, body, Some(&cors))
}

/// Which CORS for email the request speaks, with the sender it names.
enum Cors {
    V2 { sender: String },
    V1 { origin: String, sender: String },
}

impl Cors {
    fn of(app: &App, head: &RequestHead<'_>) -> Result<Cors, (&'static str, &'static str)> {
        let header = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
        let allowed = |sender: &str| sender_allowed(&app.config.amp_senders, sender);
        if let Some(sender) = header("amp-email-sender") {
            return if allowed(sender) {
                Ok(Cors::V2 {
                    sender: sender.to_string(),
                })
            } else {
                Err(("sender_not_allowed", "this sender is not in amp_senders"))
            };
        }
        match (header("origin"), head.query.get(SOURCE_ORIGIN)) {
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
pub(super) fn public_base(app: &App, head: &RequestHead<'_>) -> String {
    if let Some(url) = &app.config.public_url {
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
fn own_url(app: &App, base: &str, template: &Template, query: &QueryPairs, path: String) -> String {
    let mut pairs: Vec<(String, String)> = query
        .0
        .iter()
        .filter(|(key, _)| key == "t" || template.params.contains_key(key))
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

/// Whether a click on the variant has somewhere to go: its own link or the
/// default variant's.
fn linked(template: &Template, variant: &Variant) -> bool {
    variant.link.is_some() || template.default_variant().link.is_some()
}

/// The resolved texts of text-like layers, in layer order, without the
/// slots that carry a poll's results (given as `poll` instead).
fn plain_texts<'t>(variant: &Variant, texts: &'t [String]) -> Vec<&'t str> {
    let mut plain = Vec::new();
    let mut slot = 0;
    for layer in &variant.layers {
        let slots = layer.text_slots();
        if !matches!(layer, VariantLayer::PollResults(_)) {
            plain.extend(texts.iter().skip(slot).take(slots).map(String::as_str));
        }
        slot += slots;
    }
    plain
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
