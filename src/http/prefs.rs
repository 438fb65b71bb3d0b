//! The preference center (`GET`/`POST /p`) and unsubscribe (`GET`/`POST
//! /u`), RFC 8058.
//!
//! Pages are small server-rendered HTML in the recipient's language (their
//! `locale` field), with no script. The preference form carries a key that
//! only a page opentime served for that recipient holds (`access::form`), and
//! a submission whose `Origin` or `Sec-Fetch-Site` says it came from another
//! site is refused, so no other site can change a recipient's choices. No
//! cookie is involved.
//!
//! `POST /u` is RFC 8058's one-click: a body holding
//! `List-Unsubscribe=One-Click`, form-urlencoded or multipart, no cookie, no
//! auth header, never a redirect, and a 200 with an empty body.
//! `GET /u`, which scanners and careless clicks send, changes nothing: it
//! shows a page with a button.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::http::body::RequestBody;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};
use minijinja::{Environment, Value, context};

use super::form::{self, FormError, MAX_FORM_BYTES};
use super::head::RequestHead;
use crate::access::FormKeyError;
use crate::app::App;
use crate::events::{Event, EventKind};
use crate::open::prepare::classify;
use crate::prefs::{
    PrefsChange, PrefsConfig, PrefsView, SOURCE_ONE_CLICK, SOURCE_PREFERENCE_CENTER, Words,
};
use crate::recipient::RecipientId;
use crate::store::{StateRequest, StoreError};

use super::response::Body;

const STYLE: &str = include_str!("../../assets/pages/style.css");

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut pages = Environment::new();
    // The `.html` names turn on HTML escaping of every value.
    for (name, source) in [
        ("base.html", include_str!("../../assets/pages/base.html")),
        (
            "preferences.html",
            include_str!("../../assets/pages/preferences.html"),
        ),
        (
            "unsubscribe.html",
            include_str!("../../assets/pages/unsubscribe.html"),
        ),
        (
            "problem.html",
            include_str!("../../assets/pages/problem.html"),
        ),
    ] {
        pages
            .add_template(name, source)
            .expect("the shipped pages compile");
    }
    pages
});

/// `GET /p` and `POST /p`.
pub async fn preferences(
    app: &App,
    method: &Method,
    head: &RequestHead<'_>,
    body: RequestBody,
) -> Response<Body> {
    let Some(recipient) = recipient_of(app, head) else {
        return problem(app, None, StatusCode::FORBIDDEN, |words| &words.invalid);
    };
    let store = app.store.with_budget(std::time::Duration::from_secs(2));
    let (locale, stored) = match read_state(&store, &recipient).await {
        Ok(state) => state,
        Err(error) => return store_down(app, None, &error),
    };
    let config = &app.prefs;
    let view = config.view(&stored);
    if method == Method::GET || head.visit.is_head {
        return page(app, &recipient, head, locale.as_deref(), &view, None);
    }
    if from_another_site(app, head) {
        return problem(app, locale.as_deref(), StatusCode::FORBIDDEN, |words| {
            &words.invalid
        });
    }
    let fields = match read_fields(head, body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let value = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    };
    let now = app.clock.now();
    match app
        .keys
        .verify_form(value("k").unwrap_or_default(), &recipient, now.as_second())
    {
        Ok(()) => {}
        Err(FormKeyError::Expired) => {
            // Nothing is saved; the page comes back, with a fresh key.
            let (_, words) = config.words(locale.as_deref());
            return page(
                app,
                &recipient,
                head,
                locale.as_deref(),
                &view,
                Some((words.expired.clone(), true)),
            );
        }
        Err(FormKeyError::Invalid) => {
            return problem(app, locale.as_deref(), StatusCode::FORBIDDEN, |words| {
                &words.invalid
            });
        }
    }
    let chosen = match choices(config, &fields) {
        Ok(chosen) => chosen,
        Err(message) => return plain(StatusCode::BAD_REQUEST, &message),
    };
    let set: BTreeMap<String, String> = chosen
        .into_iter()
        .filter(|(field, value)| stored.get(field) != Some(value) || !stored.contains_key(field))
        .collect();
    let change = PrefsChange {
        at: crate::events::format_at(now),
        source: SOURCE_PREFERENCE_CENTER.to_string(),
        set,
    };
    if let Err(error) = store.save_prefs(&recipient, &change).await {
        return store_down(app, locale.as_deref(), &error);
    }
    let mut saved = stored.clone();
    saved.extend(change.fields());
    let after = config.view(&saved);
    record_change(app, head, &recipient, &view, &after, &change);
    let (_, words) = config.words(locale.as_deref());
    page(
        app,
        &recipient,
        head,
        locale.as_deref(),
        &after,
        Some((words.saved.clone(), false)),
    )
}

/// The fields a submitted form sets: every topic (ticked or not), the
/// frequency and the master switch. An unknown topic or frequency is the
/// caller's mistake, said precisely.
fn choices(
    config: &PrefsConfig,
    fields: &[(String, String)],
) -> Result<BTreeMap<String, String>, String> {
    let mut set = BTreeMap::new();
    let ticked: Vec<&str> = fields
        .iter()
        .filter(|(name, _)| name == "topic")
        .map(|(_, value)| value.as_str())
        .collect();
    if let Some(unknown) = ticked.iter().find(|id| config.topic(id).is_none()) {
        return Err(format!("there is no topic {unknown:?}"));
    }
    for topic in &config.topics {
        let on = ticked.contains(&topic.id.as_str());
        set.insert(
            format!("topic:{}", topic.id),
            if on { "1" } else { "0" }.to_string(),
        );
    }
    let frequency = fields
        .iter()
        .find(|(name, _)| name == "frequency")
        .map(|(_, value)| value.as_str())
        .unwrap_or(config.default_frequency.as_str());
    if !config.frequencies.iter().any(|known| known == frequency) {
        return Err(format!("there is no frequency {frequency:?}"));
    }
    set.insert("frequency".to_string(), frequency.to_string());
    let all = fields
        .iter()
        .any(|(name, value)| name == "all" && value == "1");
    set.insert("all".to_string(), if all { "1" } else { "0" }.to_string());
    Ok(set)
}

/// `GET /u` and `POST /u`.
pub async fn unsubscribe(
    app: &App,
    method: &Method,
    head: &RequestHead<'_>,
    body: RequestBody,
) -> Response<Body> {
    let Some(recipient) = recipient_of(app, head) else {
        return match method {
            &Method::GET | &Method::HEAD => {
                problem(app, None, StatusCode::FORBIDDEN, |words| &words.invalid)
            }
            _ => plain(StatusCode::FORBIDDEN, "this unsubscribe link is not valid"),
        };
    };
    let config = &app.prefs;
    let list = head.visit.query.get("list").filter(|list| !list.is_empty());
    if let Some(list) = list
        && config.topic(list).is_none()
    {
        return plain(
            StatusCode::BAD_REQUEST,
            &format!("there is no list {list:?}"),
        );
    }
    let store = app.store.with_budget(std::time::Duration::from_secs(2));
    let state = read_state(&store, &recipient).await;
    if method == Method::GET || head.visit.is_head {
        let locale = state.ok().and_then(|(locale, _)| locale);
        return unsubscribe_page(app, head, &recipient, locale.as_deref(), list, false);
    }
    let fields = match read_fields(head, body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let one_click = fields
        .iter()
        .any(|(name, value)| name == "List-Unsubscribe" && value == "One-Click");
    if !one_click {
        return plain(
            StatusCode::BAD_REQUEST,
            "the body must hold List-Unsubscribe=One-Click",
        );
    }
    let (locale, before) = match state {
        Ok(state) => state,
        Err(error) => {
            tracing::warn!(recipient = %recipient, %error, "a one-click unsubscribe could not be stored");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again in a moment");
        }
    };
    let field = match list {
        Some(list) => format!("topic:{list}"),
        None => "all".to_string(),
    };
    let value = if list.is_some() { "0" } else { "1" };
    // Mail providers repeat one-click requests: one already applied
    // changes nothing, and writes no history entry or event.
    let already = before.get(&field).is_some_and(|held| held == value);
    let change = PrefsChange {
        at: crate::events::format_at(app.clock.now()),
        source: SOURCE_ONE_CLICK.to_string(),
        set: BTreeMap::from([(field, value.to_string())]),
    };
    if !already {
        if let Err(error) = store.save_prefs(&recipient, &change).await {
            tracing::warn!(recipient = %recipient, %error, "a one-click unsubscribe could not be stored");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again in a moment");
        }
        let mut after = before.clone();
        after.extend(change.fields());
        record_change(
            app,
            head,
            &recipient,
            &config.view(&before),
            &config.view(&after),
            &change,
        );
    }
    // The page's own button asks for a page; a mail provider gets RFC
    // 8058's empty 200.
    if fields
        .iter()
        .any(|(name, value)| name == "page" && value == "1")
    {
        return unsubscribe_page(app, head, &recipient, locale.as_deref(), list, true);
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The recipient's `locale` field and stored preferences, in one round
/// trip.
async fn read_state(
    store: &crate::store::Store,
    recipient: &RecipientId,
) -> Result<(Option<String>, BTreeMap<String, String>), StoreError> {
    let wants = StateRequest {
        prefs: true,
        ..StateRequest::default()
    };
    let state = store.state(recipient, &wants).await?;
    let locale = state
        .profile
        .and_then(|profile| profile.get("locale").map(str::to_string));
    Ok((locale, state.prefs))
}

/// The verified recipient of `t`; `None` without one or with a bad one.
fn recipient_of(app: &App, head: &RequestHead<'_>) -> Option<RecipientId> {
    let token = head
        .visit
        .query
        .get("t")
        .filter(|token| !token.is_empty())?;
    app.keys.verify_token(token).ok()
}

/// Whether the browser says the submission came from another site.
fn from_another_site(app: &App, head: &RequestHead<'_>) -> bool {
    super::head::from_another_site(head.headers, app.config.server.public_url.as_deref())
}

async fn read_fields(
    head: &RequestHead<'_>,
    body: RequestBody,
) -> Result<Vec<(String, String)>, Response<Body>> {
    let content_type = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let bytes = form::read_limited(body, MAX_FORM_BYTES)
        .await
        .map_err(|error| match error {
            FormError::TooLarge(_) => plain(StatusCode::PAYLOAD_TOO_LARGE, &error.to_string()),
            FormError::TooSlow => plain(StatusCode::REQUEST_TIMEOUT, &error.to_string()),
            other => plain(StatusCode::BAD_REQUEST, &other.to_string()),
        })?;
    form::fields(content_type, &bytes).map_err(|error| {
        let status = match error {
            FormError::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        plain(status, &error.to_string())
    })
}

/// Events of a change: `preferences` for every save of the form, and an
/// `unsubscribe` for each list left (`list` empty for all marketing).
fn record_change(
    app: &App,
    head: &RequestHead<'_>,
    recipient: &RecipientId,
    before: &PrefsView,
    after: &PrefsView,
    change: &PrefsChange,
) {
    let opener = classify(&app.pipeline, &head.visit);
    let device = crate::expr::Device::from_user_agent(head.visit.user_agent);
    let event = |kind: EventKind| {
        let mut event = Event::new(
            kind,
            "",
            "",
            Some(recipient.clone()),
            app.clock.now(),
            opener,
            app.openers.is_person(opener),
            device,
        );
        event.extra.push(("source", change.source.clone()));
        event
    };
    if change.source == SOURCE_PREFERENCE_CENTER {
        let mut saved = event(EventKind::Preferences);
        let set = serde_json::to_string(&change.set).expect("plain strings");
        saved.extra.push(("set", set));
        app.events.record(saved);
    }
    if after.unsubscribed_all && !before.unsubscribed_all {
        let mut left = event(EventKind::Unsubscribe);
        left.extra.push(("list", String::new()));
        app.events.record(left);
    }
    for ((id, was), (_, is)) in before.topics.iter().zip(&after.topics) {
        if *was && !*is {
            let mut left = event(EventKind::Unsubscribe);
            left.extra.push(("list", id.clone()));
            app.events.record(left);
        }
    }
    app.metrics
        .preference_changes
        .with_label_values(&[change.source.as_str()])
        .inc();
}

fn page(
    app: &App,
    recipient: &RecipientId,
    head: &RequestHead<'_>,
    locale: Option<&str>,
    view: &PrefsView,
    notice: Option<(String, bool)>,
) -> Response<Body> {
    let config = &app.prefs;
    let (lang, words) = config.words(locale);
    let topics: Vec<Value> = view
        .topics
        .iter()
        .map(|(id, checked)| {
            let topic_words = &words.topics[id];
            context! { id, checked, name => topic_words.name.as_str(), description => topic_words.description.as_str() }
        })
        .collect();
    let frequencies: Vec<Value> = config
        .frequencies
        .iter()
        .map(|id| context! { id, checked => *id == view.frequency, name => words.frequencies[id].as_str() })
        .collect();
    let (notice, problem) = notice.map_or((None, false), |(text, problem)| (Some(text), problem));
    let html = render(
        "preferences.html",
        context! {
            lang, w => words_value(words), style => STYLE,
            notice, problem,
            // Relative, so that a path in public_url is kept.
            action => format!("?{}", token_query(head)),
            form_key => app.keys.sign_form(recipient, app.clock.now().as_second()),
            topics, frequencies, unsubscribed_all => view.unsubscribed_all,
            privacy_url => config.privacy_url.as_str(),
        },
    );
    html_response(StatusCode::OK, html)
}

fn unsubscribe_page(
    app: &App,
    head: &RequestHead<'_>,
    recipient: &RecipientId,
    locale: Option<&str>,
    list: Option<&str>,
    done: bool,
) -> Response<Body> {
    let config = &app.prefs;
    let (lang, words) = config.words(locale);
    let topic = list.map(|list| words.topics[list].name.clone());
    // Relative to /u, so that a path in public_url is kept.
    let manage = format!(
        "p?t={}",
        form_urlencoded::byte_serialize(app.keys.sign_recipient(recipient).as_bytes())
            .collect::<String>()
    );
    let mut action = format!("?{}", token_query(head));
    if let Some(list) = list {
        action.push_str("&list=");
        action.extend(form_urlencoded::byte_serialize(list.as_bytes()));
    }
    let html = render(
        "unsubscribe.html",
        context! {
            lang, w => words_value(words), style => STYLE,
            done, topic, action, manage, privacy_url => config.privacy_url.as_str(),
        },
    );
    html_response(StatusCode::OK, html)
}

/// The page that says a recipient's link is not valid (a tampered or
/// retired token), in their language when it is known.
pub(super) fn invalid_link(app: &App) -> Response<Body> {
    problem(app, None, StatusCode::FORBIDDEN, |words| &words.invalid)
}

fn problem(
    app: &App,
    locale: Option<&str>,
    status: StatusCode,
    message: impl Fn(&Words) -> &String,
) -> Response<Body> {
    let (lang, words) = app.prefs.words(locale);
    let html = render(
        "problem.html",
        context! {
            lang, w => words_value(words), style => STYLE,
            message => message(words).as_str(), privacy_url => app.prefs.privacy_url.as_str(),
        },
    );
    html_response(status, html)
}

fn store_down(app: &App, locale: Option<&str>, error: &StoreError) -> Response<Body> {
    tracing::warn!(%error, "the preference center could not reach the store");
    app.count_store_error(error);
    let mut response = problem(app, locale, StatusCode::SERVICE_UNAVAILABLE, |words| {
        &words.unavailable
    });
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

/// `t=...`, as the request had it, for the form's own URL.
fn token_query(head: &RequestHead<'_>) -> String {
    let token = head.visit.query.get("t").unwrap_or_default();
    format!(
        "t={}",
        form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    )
}

/// The words as a value pages read (`w.title`, `w.topics`).
fn words_value(words: &Words) -> Value {
    Value::from_pairs(vec![
        ("title", words.title.as_str()),
        ("intro", words.intro.as_str()),
        ("topics_legend", words.topics_legend.as_str()),
        ("frequency_legend", words.frequency_legend.as_str()),
        ("all_label", words.all_label.as_str()),
        ("all_hint", words.all_hint.as_str()),
        ("transactional", words.transactional.as_str()),
        ("save", words.save.as_str()),
        ("privacy", words.privacy.as_str()),
        ("unsubscribe_title", words.unsubscribe_title.as_str()),
        ("unsubscribe_question", words.unsubscribe_question.as_str()),
        ("unsubscribe_button", words.unsubscribe_button.as_str()),
        (
            "unsubscribe_all_question",
            words.unsubscribe_all_question.as_str(),
        ),
        ("unsubscribed", words.unsubscribed.as_str()),
        ("manage", words.manage.as_str()),
    ])
}

fn render(name: &str, values: Value) -> String {
    PAGES
        .get_template(name)
        .and_then(|template| template.render(values))
        .expect("the shipped pages render with the values they are given")
}

fn html_response(status: StatusCode, html: String) -> Response<Body> {
    let mut response =
        super::response::no_store(status, "text/html; charset=utf-8", Bytes::from(html));
    let headers = response.headers_mut();
    // No script, no frames, no form posting anywhere else.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    // The token stays off other sites' logs; our own form still gets its
    // `Origin` (with `no-referrer` browsers send `Origin: null`).
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    super::response::text(status, message)
}
