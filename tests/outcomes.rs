//! Every open and click ends well (docs/outcomes.md), against a real
//! Redis: a link that fails at click time follows the template's
//! `fallback_link` or the default variant's link, a link cannot be moved to
//! another host by what the query fills in, a bad signature shows the
//! template as if its parameters were absent, a vote with a bad token
//! changes nothing, and a replica stays ready while Redis is down.

use crate::support;

use hyper::StatusCode;
use support::RedisServer;
use support::server::{Answer, TestServer, assert_image};

/// A public template whose links read the query: one that can fail (a
/// filter given a bad argument), one whose host the query fills in.
const LINKS: &str = r##"{
  "name": "links",
  "width": 200, "height": 50,
  "access": "public",
  "params": { "sub": { "max_len": 64 }, "mode": { "max_len": 16 } },
  "fallback_link": "https://example.com/help",
  "variants": [
    { "id": "broken", "when": "query.mode == 'broken'",
      "link": "https://example.com/{{ 1 // 0 }}",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 50, "fill": "#102030" } ] },
    { "id": "shop", "when": "query.mode == 'shop'",
      "link": "https://{{ query.sub }}.example.com/offers",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 50, "fill": "#203040" } ] },
    { "id": "default", "link": "https://example.com/start",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 50, "fill": "#304050" } ] }
  ]
}"##;

/// The same without a `fallback_link`: a failed link goes to the default
/// variant's.
const NO_FALLBACK: &str = r##"{
  "name": "nofallback",
  "width": 200, "height": 50,
  "access": "public",
  "params": { "mode": { "max_len": 16 } },
  "variants": [
    { "id": "broken", "when": "query.mode == 'broken'",
      "link": "{{ query.nothing | upper }}not a url",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 50, "fill": "#102030" } ] },
    { "id": "default", "link": "https://example.com/start",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 50, "fill": "#304050" } ] }
  ]
}"##;

/// A `signed_url` template whose text shows its signed parameter.
const SIGNED: &str = r##"{
  "name": "signed",
  "width": 300, "height": 60,
  "access": "signed_url",
  "params": { "code": { "max_len": 16, "default": "WELCOME" } },
  "variants": [
    { "id": "default",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 300, "height": 60, "text": "{{ query.code }}", "size": 24, "color": "#000000" } ] }
  ]
}"##;

fn location(answer: &Answer) -> &str {
    assert_eq!(answer.status, StatusCode::FOUND, "a redirect");
    answer.headers["location"].to_str().expect("ASCII location")
}

async fn start(redis: &RedisServer) -> TestServer {
    TestServer::launch(
        redis,
        &[
            ("links.json", LINKS),
            ("nofallback.json", NO_FALLBACK),
            ("signed.json", SIGNED),
        ],
        |_| {},
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_fails_at_click_time_follows_the_fallback_never_a_5xx() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let click = server.get("/c/links?mode=broken").await;
    assert_eq!(location(&click), "https://example.com/help");
    let click = server.get("/c/nofallback?mode=broken").await;
    assert_eq!(location(&click), "https://example.com/start");
    assert_eq!(
        server
            .metric("opentime_requests_total{outcome=\"link_error\",route=\"click\"")
            .await,
        2.0,
        "each failed link is counted"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_cannot_move_a_link_to_another_host() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let click = server.get("/c/links?mode=shop&sub=spring").await;
    assert_eq!(location(&click), "https://spring.example.com/offers");
    for sub in ["evil.com%2F", "evil.com%3F", "evil.com%23", "evil.com%5C"] {
        let click = server.get(&format!("/c/links?mode=shop&sub={sub}")).await;
        assert_eq!(
            location(&click),
            "https://example.com/help",
            "sub={sub}: the fallback, not another host"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_with_a_bad_fallback_link_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let bad = LINKS.replace(
        "\"https://example.com/help\"",
        "\"https://example.com/{{ query.sub }}\"",
    );
    std::fs::write(templates.join("links.json"), bad).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_opentime"))
        .arg("check")
        .env("OPENTIME_TEMPLATES_DIR", &templates)
        .env(
            "OPENTIME_FONTS_DIR",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"),
        )
        .output()
        .expect("opentime runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        format!("{stdout}{stderr}").contains("fallback_link"),
        "the error names the field: {stdout}{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_counted_and_shows_the_template_without_its_parameters() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let query = vec![("code".to_string(), "VIP50".to_string())];
    let signature = server.app.keys.sign_url("/i/signed.png", &query);
    let signed = server
        .get(&format!("/i/signed.png?code=VIP50&s={signature}"))
        .await;
    assert_image(&signed);
    let tampered = server
        .get(&format!("/i/signed.png?code=FREE99&s={signature}"))
        .await;
    assert_image(&tampered);
    let unsigned = server.get("/i/signed.png?code=FREE99").await;
    // As if `code` were absent: its default, never the tampered value.
    let absent_query = vec![];
    let absent = server.app.keys.sign_url("/i/signed.png", &absent_query);
    let default = server.get(&format!("/i/signed.png?s={absent}")).await;
    assert_eq!(tampered.body, default.body);
    assert_eq!(unsigned.body, default.body);
    assert_ne!(signed.body, default.body);
    assert_eq!(
        server
            .metric("opentime_requests_total{outcome=\"bad_signature\",route=\"image\",template=\"signed\"")
            .await,
        2.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_with_a_bad_token_changes_nothing_and_says_so() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let tampered = format!("{}x", server.token("ann"));
    let answer = server.get(&format!("/v/care-rating/5?t={tampered}")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let page = String::from_utf8_lossy(&answer.body);
    assert!(page.contains("not valid"), "{page}");
    assert!(
        redis.hgetall("ot:poll:{care-rating}:tally").is_empty(),
        "no tally moved"
    );
    assert_eq!(
        server
            .metric("opentime_votes_total{option=\"5\",poll=\"care-rating\",result=\"bad_token\"}")
            .await,
        1.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stays_ready_and_serves_defaults_while_redis_is_down() {
    let mut redis = RedisServer::new();
    let server = start(&redis).await;
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&ready.body).contains("store: ok"));
    assert_eq!(server.metric("opentime_store_up").await, 1.0);
    let metrics = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    let version = format!(
        "opentime_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.lines().any(|line| line == version), "{version}");
    for process in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ] {
        assert!(
            metrics.lines().any(|line| line.starts_with(process)),
            "{process} is exported"
        );
    }
    redis.stop();
    let ready = server.get("/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "Redis down is no reason to leave"
    );
    assert!(String::from_utf8_lossy(&ready.body).contains("store: down"));
    assert_eq!(server.metric("opentime_store_up").await, 0.0);
    let open = server
        .get(&format!("/i/loyalty.png?t={}", server.token("ann")))
        .await;
    assert_image(&open);
    redis.start();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_forged_with_the_public_demo_key_is_no_recipient() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    support::server::hset(
        &redis,
        "dee",
        &[("first_name", "Deirdre"), ("points", "900")],
    );
    let recipient = opentime::recipient::RecipientId::new("dee").unwrap();
    let forged = opentime::access::KeyRing::demo().sign_recipient(&recipient);
    let genuine = server
        .get(&format!("/i/loyalty.png?t={}", server.token("dee")))
        .await;
    let anonymous = server.get("/i/loyalty.png").await;
    let answer = server.get(&format!("/i/loyalty.png?t={forged}")).await;
    assert_image(&answer);
    assert_eq!(answer.body, anonymous.body, "the default variant");
    assert_ne!(answer.body, genuine.body, "never dee's own card");
    assert_eq!(
        server
            .metric(
                "opentime_requests_total{outcome=\"bad_token\",route=\"image\",template=\"loyalty\""
            )
            .await,
        1.0
    );
    server.shutdown().await;
}
