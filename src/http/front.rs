//! `GET /` on the demo server: every template with its images for the demo
//! recipients, each linked to its click-through, and the vote, preference
//! and preview URLs beside the curl commands that reproduce them. A
//! newcomer sees the product working before reading a line of docs.
//!
//! The same samples are what `opentime serve` prints at start in demo mode
//! ([`samples`]), so the page and the terminal never disagree. With Redis
//! (a real store) `/` is a 404: a production server shows nobody its
//! templates.

use std::path::Path;
use std::sync::LazyLock;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use minijinja::{Environment, context};
use serde::Serialize;

use super::head::is_plain_host;
use super::response::{self, Body};
use crate::app::App;
use crate::recipient::RecipientId;
use crate::template::{AccessMode, Template};

/// A User-Agent that the shipped opener rules file under `human`, for
/// curl commands that should count like a person's open.
pub const MAIL_CLIENT_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

const PAGE: &str = include_str!("../../assets/pages/front.html");

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut pages = Environment::new();
    // The `.html` name turns on HTML escaping of every value.
    pages
        .add_template("front.html", PAGE)
        .expect("the shipped front page compiles");
    pages
});

/// One template's sample URLs, as paths (`/i/loyalty.png?t=...`).
#[derive(Debug, Clone, Serialize)]
pub struct TemplateSamples {
    pub name: String,
    pub access: &'static str,
    pub size: String,
    pub variants: Vec<String>,
    /// The image with no recipient: the default variant.
    pub image: String,
    pub click: String,
    pub recipients: Vec<RecipientSamples>,
}

/// A demo recipient's URLs for one template.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientSamples {
    pub id: String,
    pub image: String,
    pub click: String,
    pub preferences: String,
    pub votes: Vec<VoteSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VoteSample {
    pub label: String,
    pub url: String,
}

/// The sample URLs of every template for the demo recipients whose ids
/// start with its name (`loyalty-gold` belongs to `loyalty`).
pub fn samples(app: &App) -> Vec<TemplateSamples> {
    let recipients = demo_recipient_ids(&app.config.store.demo_dir);
    let snapshot = app.templates.snapshot();
    let templates = snapshot.templates();
    // The longest template name that prefixes an id wins: "renewal-timer-anna"
    // belongs to renewal-timer, not renewal.
    let owner = |id: &str| {
        templates
            .iter()
            .filter(|template| id.starts_with(&format!("{}-", template.name)))
            .max_by_key(|template| template.name.len())
            .map(|template| template.name.clone())
    };
    templates
        .iter()
        .map(|template| {
            let owned = recipients
                .iter()
                .filter(|id| owner(id).as_deref() == Some(template.name.as_str()))
                .filter_map(|id| RecipientId::new(id.as_str()).ok())
                .map(|recipient| recipient_samples(app, template, &recipient))
                .collect();
            template_samples(app, template, owned)
        })
        .collect()
}

fn template_samples(
    app: &App,
    template: &Template,
    recipients: Vec<RecipientSamples>,
) -> TemplateSamples {
    let image = format!("/i/{}.{}", template.name, template.format.extension());
    let click = format!("/c/{}", template.name);
    TemplateSamples {
        name: template.name.clone(),
        access: template.access.as_str(),
        size: format!("{}x{}", template.width, template.height),
        variants: template.variants.iter().map(|v| v.id.clone()).collect(),
        image: signed(app, template, image, ""),
        click: signed(app, template, click, ""),
        recipients,
    }
}

fn recipient_samples(app: &App, template: &Template, recipient: &RecipientId) -> RecipientSamples {
    let token = app.keys.sign_recipient(recipient);
    let extension = template.format.extension();
    let votes = template
        .poll
        .iter()
        .flat_map(|poll| {
            poll.options.iter().map(|option| VoteSample {
                label: option.label.clone(),
                url: format!("/v/{}/{}?t={token}", poll.id, option.id),
            })
        })
        .collect();
    RecipientSamples {
        id: recipient.as_str().to_string(),
        image: signed(
            app,
            template,
            format!("/i/{}.{extension}", template.name),
            &token,
        ),
        click: signed(app, template, format!("/c/{}", template.name), &token),
        preferences: format!("/p?t={token}"),
        votes,
    }
}

/// `path` with the recipient's token, and with a signature when the
/// template answers only signed URLs.
fn signed(app: &App, template: &Template, path: String, token: &str) -> String {
    let mut pairs = Vec::new();
    if !token.is_empty() {
        pairs.push(format!("t={token}"));
    }
    if template.access == AccessMode::SignedUrl {
        pairs.push(format!("s={}", app.keys.sign_url(&path, &[])));
    }
    if pairs.is_empty() {
        path
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// The recipient ids of the demo file, sorted.
fn demo_recipient_ids(demo_dir: &Path) -> Vec<String> {
    let path = demo_dir.join("recipients.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Object(recipients)) = serde_json::from_str(&text) else {
        return Vec::new();
    };
    recipients.keys().cloned().collect()
}

/// `GET /`: the page in demo mode, 404 with a real store.
pub fn serve(app: &App, host: Option<&str>) -> Response<Body> {
    if !app.store.is_demo() {
        return response::text(StatusCode::NOT_FOUND, "not found");
    }
    // The Host header only decorates the curl commands of a demo page,
    // which no recipient ever sees.
    let base = match (&app.config.server.public_url, host) {
        (Some(public), _) => public.clone(),
        (None, Some(host)) if is_plain_host(host) => format!("http://{host}"),
        _ => format!("http://{}", app.config.server.listen),
    };
    let html = PAGES
        .get_template("front.html")
        .and_then(|page| {
            page.render(context! {
                base,
                templates => minijinja::Value::from(minijinja::value::Serde(samples(app))),
                user_agent => MAIL_CLIENT_USER_AGENT,
                admin => !app.config.access.admin_tokens.is_empty(),
            })
        })
        .unwrap_or_else(|error| {
            tracing::error!(%error, "the front page did not render");
            "<!doctype html><title>opentime</title><p>The demo page did not render; see the server's log.".to_string()
        });
    let mut answer = response::no_store(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from(html),
    );
    // Images from this server only, no script, no frames.
    answer.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    answer
}
