//! Names in expressions, caught before the send: `opentime check`, a
//! reload of the templates directory and the admin API's put all refuse a
//! filter, test or function the language lacks, and `check` warns about
//! `profile` fields no sample state has and unsigned parameters that reach
//! a link's host, a remote image's URL or a public template's text.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use hyper::{Method, StatusCode};
use support::server::{TestServer, assert_image};
use support::{RedisServer, eventually};

const ADMIN: &str = "check-names-admin-token";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `opentime check` on `templates_dir`, with the shipped fonts and demo
/// recipients as sample states.
fn check(templates_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_opentime"))
        .arg("check")
        .env_remove("OPENTIME_REDIS_URL")
        .env("OPENTIME_SIGNING_KEYS", "check-names-signing-key-0123")
        .env("OPENTIME_TEMPLATES_DIR", templates_dir)
        .env("OPENTIME_FONTS_DIR", root().join("fonts"))
        .env("OPENTIME_DEMO_DIR", root().join("assets/demo"))
        .output()
        .expect("the opentime binary runs")
}

/// A template with a `vip` variant (whose `when`, link and text a test
/// fills in) before the default one.
fn template(name: &str, access: &str, when: &str, link: &str, text: &str) -> String {
    format!(
        r##"{{ "name": "{name}", "width": 300, "height": 80, "access": "{access}",
  "params": {{ "sub": {{ "max_len": 32 }}, "page": {{ "max_len": 32 }}, "photo": {{ "max_len": 64 }} }},
  "variants": [
    {{ "id": "vip", "when": "{when}", "link": "{link}",
      "layers": [ {{ "type": "rect", "x": 0, "y": 0, "width": 300, "height": 80, "fill": "#0b3d91" }},
                  {{ "type": "text", "x": 10, "y": 10, "width": 280, "height": 60,
                     "text": "{text}", "size": 24, "color": "#ffffff" }} ] }},
    {{ "id": "default", "link": "https://example.com/", "layers": [] }} ] }}"##
    )
}

fn write(dir: &Path, name: &str, json: &str) {
    std::fs::write(dir.join(format!("{name}.json")), json).unwrap();
}

#[test]
fn check_refuses_unknown_filters_functions_and_tests_with_where_they_are() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(
        dir,
        "filter",
        &template(
            "filter",
            "token",
            "profile.first_name is defined",
            "https://example.com/",
            "Hi {{ profile.first_name | upercase }}",
        ),
    );
    write(
        dir,
        "function",
        &template(
            "function",
            "token",
            "days_sinse(profile.last_order_at) > 90",
            "https://example.com/",
            "Welcome back",
        ),
    );
    write(
        dir,
        "test",
        &template(
            "test",
            "token",
            "profile.first_name is defined",
            "https://example.com/{% if profile.first_name is defnied %}hi{% endif %}",
            "Hi",
        ),
    );
    let output = check(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stderr.contains("3 of 3 template files have problems"),
        "{stderr}"
    );
    for expected in [
        "filter.json: variant \"vip\": variants[0].layers[1].text: line 1, column 28: \
         unknown filter \"upercase\" (did you mean \"upper\"?)",
        "function.json: variant \"vip\": variants[0].when: line 1, column 1: \
         unknown function \"days_sinse\" (did you mean \"days_since\"?)",
        "test.json: variant \"vip\": variants[0].link: line 1, column 49: \
         unknown test \"defnied\" (did you mean \"defined\"?)",
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with("error  ") && line.ends_with(expected)),
            "{expected}\n{stdout}"
        );
    }
}

#[test]
fn check_warns_about_unknown_profile_fields_and_unsigned_parameters() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // A typo of a field the demo recipients have.
    write(
        dir,
        "typo",
        &template(
            "typo",
            "token",
            "profile.frist_name is defined",
            "https://example.com/",
            "Hi {{ profile.first_name }}",
        ),
    );
    // The host of a link; the same parameter in the path is harmless.
    write(
        dir,
        "redirect",
        &template(
            "redirect",
            "token",
            "profile.first_name is defined",
            "https://{{ query.sub }}.example.com/{{ query.page }}",
            "Hi",
        ),
    );
    // A remote image's URL.
    let remote = template(
        "remote",
        "token",
        "profile.first_name is defined",
        "https://example.com/",
        "Hi",
    )
    .replace(
        r##"{ "type": "rect", "x": 0, "y": 0, "width": 300, "height": 80, "fill": "#0b3d91" }"##,
        r##"{ "type": "image", "x": 0, "y": 0, "width": 80, "height": 80, "url": "https://img.example.com/{{ query.photo }}" }"##,
    );
    assert!(remote.contains("query.photo"));
    write(dir, "remote", &remote);
    // A text on a public template.
    write(
        dir,
        "public",
        &template(
            "public",
            "public",
            "query.page == 'x'",
            "https://example.com/",
            "Page {{ query.page }}",
        ),
    );
    // All of it again, signed: nothing to say.
    let signed = template(
        "signed",
        "signed_url",
        "query.page == 'x'",
        "https://{{ query.sub }}.example.com/",
        "Page {{ query.page }}",
    );
    write(dir, "signed", &signed);

    let output = check(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "warnings never fail the check: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("warning "))
        .collect();
    let expected = [
        "typo.json: variant \"vip\": variants[0].when: profile.frist_name is a field no \
         sample state has (did you mean profile.first_name?)",
        "redirect.json: variant \"vip\": variants[0].link: the unsigned parameter query.sub \
         reaches the link's host: anyone who edits the URL chooses the site a click lands on \
         (an open redirect); sign it",
        "remote.json: variant \"vip\": variants[0].layers[0].url: the unsigned parameter \
         query.photo reaches a remote image's URL",
        "public.json: variant \"vip\": variants[0].layers[1].text: the unsigned parameter \
         query.page reaches a text of a public template: every new value is a new render",
    ];
    for expected in expected {
        assert!(
            warnings.iter().any(|line| line.contains(expected)),
            "{expected}\n{stdout}"
        );
    }
    assert_eq!(warnings.len(), expected.len(), "{stdout}");
    assert!(stdout.contains("\"access\": \"signed_url\""), "{stdout}");
    assert!(stdout.contains("1 warning: profile fields no sample state has"));
    assert!(stdout.contains("3 warnings: unsigned parameters anyone can change"));
}

#[test]
fn the_shipped_templates_pass_without_warnings() {
    let output = check(&root().join("assets/templates"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
}

fn banner(text: &str) -> String {
    template(
        "banner",
        "token",
        "profile.first_name is defined",
        "https://example.com/",
        text,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_put_refuses_an_unknown_filter_and_says_where() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[("banner.json", &banner("Hello"))], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    let before = server.get("/i/banner.png").await;
    assert_image(&before);
    let answer = server
        .admin(
            Method::PUT,
            "/api/v1/templates/banner",
            ADMIN,
            "",
            banner("Hi {{ profile.first_name | upercase }}"),
        )
        .await;
    let refusal = answer.json();
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
    assert_eq!(refusal["error"]["code"], "invalid_template");
    assert_eq!(
        refusal["error"]["message"],
        "variants[0].layers[1].text: line 1, column 28: unknown filter \"upercase\" \
         (did you mean \"upper\"?)"
    );
    assert_eq!(refusal["error"]["details"]["variant"], "vip");
    let text = refusal.to_string();
    let templates_dir = server.templates_dir.display().to_string();
    assert!(!text.contains(&templates_dir), "{text}");
    assert_eq!(server.get("/i/banner.png").await.body, before.body);
}

/// A public template of one variant, which draws `text`.
fn card(text: &str) -> String {
    format!(
        r##"{{ "name": "card", "width": 300, "height": 80, "access": "public",
  "params": {{ "page": {{ "max_len": 32 }} }},
  "variants": [ {{ "id": "default", "link": "https://example.com/",
    "layers": [ {{ "type": "text", "x": 10, "y": 10, "width": 280, "height": 60,
                   "text": "{text}", "size": 24, "color": "#000000" }} ] }} ] }}"##
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_previous_version_when_an_edit_has_an_unknown_name() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[("card.json", &card("Hello"))], |_| {}).await;
    let before = server.get("/i/card.png").await;
    assert_image(&before);
    let partial = "opentime_template_reloads_total{result=\"partial\"}";
    let partial_before = server.metric(partial).await;

    // The typo is in a branch that no open without `page` takes, so only
    // a look at the names finds it.
    let path = server.templates_dir.join("card.json");
    std::fs::write(
        &path,
        card("{% if query.page %}{{ query.page | upercase }}{% endif %}Goodbye"),
    )
    .unwrap();
    eventually(
        "the reload notices the unknown filter",
        Duration::from_secs(10),
        || async { (server.metric(partial).await > partial_before).then_some(()) },
    )
    .await;
    let still = server.get("/i/card.png").await;
    assert_image(&still);
    assert_eq!(still.body, before.body, "the previous version still serves");
    let template = server.app.templates.get("card").expect("still loaded");
    let texts = &template.texts;
    assert!(
        (0..texts.len()).any(|id| texts.source(opentime::expr::TextId(id)) == Some("Hello")),
        "the old text is the one loaded"
    );
}

/// A countdown whose day label has Russian plural forms, with `locale`
/// given as `locale_field` (a JSON member, or nothing).
fn plural_countdown(name: &str, locale_field: &str) -> String {
    format!(
        r##"{{ "name": "{name}", "width": 300, "height": 80, "access": "token", "format": "gif",
  "timer": {{ "until": "2030-01-01T00:00:00Z" }},
  "variants": [
    {{ "id": "counting", "link": "https://example.com/",
      "layers": [ {{ "type": "countdown", "x": 0, "y": 0, "width": 300, "height": 80, "size": 30,
                     "units": ["days", "hours"], {locale_field}
                     "labels": {{ "days": {{ "one": "день", "few": "дня", "many": "дней", "other": "дня" }},
                                  "hours": "ч" }} }} ] }} ] }}"##
    )
}

#[test]
fn countdown_labels_with_plural_forms_need_a_locale() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(
        dir,
        "plural",
        &plural_countdown(
            "plural",
            r#""locale": "{{ profile.locale | default('ru') }}","#,
        ),
    );
    let output = check(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");

    write(dir, "plural", &plural_countdown("plural", ""));
    let output = check(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains("variants[0].layers[0].locale: labels with plural forms need the locale"),
        "{stdout}"
    );
}

/// `feed.NAME` of a feed that is not configured is always undefined: check
/// says so, and stays quiet about the demo's `products` and about
/// `feed_item`, which the language knows.
#[test]
fn check_warns_about_feeds_that_are_not_configured() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(
        dir,
        "grid",
        &template(
            "grid",
            "token",
            "feed.prodcts | length > 0",
            "https://example.com/",
            "{{ feed.products[0].title }} {{ feed_item('products', 'camp-mug').title }}",
        ),
    );
    let output = check(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "warning grid: feed.prodcts is not a configured feed (the feeds are products)"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("feed.products is not"), "{stdout}");
    assert!(!stdout.contains("unknown function"), "{stdout}");
}
