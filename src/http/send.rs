//! `GET /s/{template}.json` and `GET /s/{template}.txt`: the decision for a
//! recipient at send time, for an email platform that fetches content while
//! it sends (Braze Connected Content, Salesforce `HTTPGet`, Klaviyo web
//! feeds), server to server: no CORS, nothing an email client calls.
//!
//! `.json` answers the variant, its texts, the subject line, the alt text,
//! the link and the URLs of the image and the click for the same recipient
//! (`t`) and email (`e`). `.txt` answers one of them as plain text, for a
//! subject line: `?field=subject` (the default), `alt`, `link`, `variant`
//! or `texts` (one per line). A decision whose texts do not resolve answers
//! an empty subject, so the platform's own fallback is sent; an unknown
//! template is a 404.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::amp::{own_url, public_base};
use super::head::RequestHead;
use super::response::Body;
use crate::app::App;
use crate::open::send::{SendBody, SendDecision};
use crate::template::Template;

/// What `.txt` may answer.
const FIELDS: &[&str] = &["subject", "alt", "link", "variant", "texts"];

pub async fn serve(app: &App, head: &RequestHead<'_>, file: &str) -> Response<Body> {
    let (name, json) = if let Some(name) = file.strip_suffix(".json") {
        (name, true)
    } else if let Some(name) = file.strip_suffix(".txt") {
        (name, false)
    } else {
        return answer(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "use /s/{template}.json or /s/{template}.txt".to_string(),
        );
    };
    let field = head.visit.query.get("field").unwrap_or("subject");
    if !json && !FIELDS.contains(&field) {
        return answer(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            format!("field is one of {}", FIELDS.join(", ")),
        );
    }
    let decided = app.pipeline.send_time(&head.visit, name).await;
    super::count_request(app, "send", decided.counted());
    let Some(template) = decided.template.as_deref() else {
        return answer(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("no template {name:?}"),
        );
    };
    let decision = match &decided.body {
        SendBody::Decided(decision) => Some(decision),
        SendBody::NotFound | SendBody::TextError => None,
    };
    let signature_held = decided.outcome != "bad_signature";
    let whole = whole(app, head, template, decision, signature_held);
    if json {
        return answer(StatusCode::OK, "application/json", whole.to_string());
    }
    let text = match &whole[field] {
        Value::String(text) => text.clone(),
        Value::Array(texts) => texts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    answer(StatusCode::OK, "text/plain; charset=utf-8", text)
}

/// The JSON answer: the decision, and the URLs of the image and the click
/// for the same recipient and email, as the AMP answer writes them.
fn whole(
    app: &App,
    head: &RequestHead<'_>,
    template: &Template,
    decision: Option<&SendDecision>,
    signature_held: bool,
) -> Value {
    let base = public_base(app, head);
    let own_url = |path: String| {
        own_url(
            app,
            &base,
            template,
            &head.visit.query,
            signature_held,
            path,
        )
    };
    let extension = template.format.extension();
    let mut whole = json!({
        "template": template.name,
        "variant": decision.map(|d| d.variant.as_str()),
        "subject": decision.and_then(|d| d.subject.as_deref()),
        "alt": template.alt,
        "texts": decision.map(|d| d.texts.clone()).unwrap_or_default(),
        "link": decision.and_then(|d| d.link.as_deref()),
        "locked": decision.is_some_and(|d| d.locked),
        "click_url": own_url(format!("/c/{}", template.name)),
        "image_url": own_url(format!("/i/{}.{extension}", template.name)),
        "width": template.width,
        "height": template.height,
    });
    if template.allows_scale(2) {
        whole["image_2x_url"] = json!(own_url(format!("/i/{}@2x.{extension}", template.name)));
    }
    if let Some(email) = head.visit.email() {
        whole["e"] = json!(email);
    }
    whole
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Per recipient and per moment: never cached.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}
