//! The server end to end: a real opentime on 127.0.0.1:0, a real
//! redis-server of the test's own, and HTTP between them.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use opentime::access::KeyRing;
use opentime::config::Config;
use opentime::recipient::RecipientId;
use support::RedisServer;
use support::server::{TestServer, assert_image, hset, png_size};
use tokio::sync::oneshot;

/// This file's servers: the demo templates plus the test templates below.
impl TestServer {
    async fn start(redis: &RedisServer) -> TestServer {
        TestServer::start_with(redis, |_| {}).await
    }

    async fn start_with(redis: &RedisServer, adjust: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::launch(
            redis,
            &[
                ("sale.json", SIGNED_TEMPLATE),
                ("fragile.json", FRAGILE_TEMPLATE),
                ("strangers.json", STRANGERS_TEMPLATE),
                ("offer.json", TIMER_TEMPLATE),
                ("welcome.json", EVERGREEN_TEMPLATE),
            ],
            adjust,
        )
        .await
    }
}

/// A `signed_url` template: its deadline parameter must be signed.
const SIGNED_TEMPLATE: &str = r##"{
  "name": "sale", "width": 300, "height": 100, "access": "signed_url",
  "params": { "until": { "max_len": 40 } },
  "variants": [
    { "id": "default", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 100, "fill": "#222222" },
      { "type": "text", "x": 10, "y": 10, "width": 280, "height": 80, "text": "Ends {{ query.until }}",
        "size": 20, "color": "#ffffff" } ] }
  ]
}"##;

/// A template whose rules fail at run time for some recipients.
/// A per-recipient countdown: the deadline is the profile's `offer_ends`.
const TIMER_TEMPLATE: &str = r##"{
  "name": "offer", "width": 300, "height": 80, "format": "gif", "scales": [1], "access": "token",
  "timer": { "until": "{{ profile.offer_ends }}", "frames": 60 },
  "variants": [
    { "id": "ended", "when": "timer.expired", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 80, "fill": "#444444" } ] },
    { "id": "running", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 80, "fill": "#102030" },
      { "type": "countdown", "x": 10, "y": 5, "width": 280, "height": 70,
        "units": ["hours", "minutes", "seconds"],
        "labels": { "hours": "{{ 'ч' if profile.locale == 'ru' else 'h' }}", "minutes": "min", "seconds": "s" },
        "size": 30, "color": "#ffffff", "box": { "fill": "#304060", "radius": 6 } } ] }
  ]
}"##;

/// An evergreen countdown: 48 hours from the recipient's first human open.
const EVERGREEN_TEMPLATE: &str = r##"{
  "name": "welcome", "width": 300, "height": 80, "format": "gif", "scales": [1], "access": "token",
  "timer": { "evergreen_hours": 48, "frames": 5 },
  "variants": [
    { "id": "ended", "when": "timer.expired", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 80, "fill": "#444444" } ] },
    { "id": "running", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 80, "fill": "#102030" },
      { "type": "countdown", "x": 10, "y": 5, "width": 280, "height": 70,
        "units": ["hours", "minutes", "seconds"], "size": 30, "color": "#ffffff" } ] }
  ]
}"##;

const FRAGILE_TEMPLATE: &str = r##"{
  "name": "fragile", "width": 200, "height": 60, "access": "token",
  "variants": [
    { "id": "broken_rule", "when": "profile.count / 0 > 1", "layers": [] },
    { "id": "broken_text", "when": "profile.count is defined", "layers": [
      { "type": "text", "x": 0, "y": 0, "width": 200, "height": 60, "text": "{{ profile.count // 0 }}", "size": 20 } ] },
    { "id": "default", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#3366cc" } ] }
  ]
}"##;

/// A token template whose first rule would also hold for an empty profile.
const STRANGERS_TEMPLATE: &str = r##"{
  "name": "strangers", "width": 100, "height": 40, "access": "token",
  "variants": [
    { "id": "no_name", "when": "profile.first_name is not defined", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 100, "height": 40, "fill": "#cc0000" } ] },
    { "id": "default", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 100, "height": 40, "fill": "#0000cc" } ] }
  ]
}"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_change_between_two_opens_changes_the_image() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    let url = format!("/i/loyalty.png?t={}", server.token("ann"));

    let anonymous = server.get("/i/loyalty.png").await;
    assert_image(&anonymous);

    hset(&redis, "ann", &[("first_name", "Ann"), ("points", "120")]);
    let first = server.get(&url).await;
    assert_image(&first);
    assert_ne!(
        first.body, anonymous.body,
        "a member sees the member card, not the default"
    );

    hset(&redis, "ann", &[("points", "20500")]);
    let second = server.get(&url).await;
    assert_image(&second);
    assert!(
        second.body != first.body,
        "new points show at the next open"
    );
    assert_ne!(second.headers["etag"], first.headers["etag"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_gives_the_default_variant_and_recovers_by_itself() {
    let mut redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    hset(&redis, "bo", &[("first_name", "Bo"), ("points", "77")]);
    let url = format!("/i/loyalty.png?t={}", server.token("bo"));
    let anonymous = server.get("/i/loyalty.png").await.body;
    let personalized = server.get(&url).await.body;
    assert!(personalized != anonymous);

    redis.stop();
    for _ in 0..3 {
        let answer = server.get(&url).await;
        assert_image(&answer);
        assert_eq!(
            answer.body, anonymous,
            "with Redis down the default variant is served"
        );
    }
    assert!(server.metric("opentime_store_errors_total").await >= 3.0);

    redis.start();
    hset(&redis, "bo", &[("first_name", "Bo"), ("points", "77")]);
    let mut recovered = false;
    for _ in 0..50 {
        let answer = server.get(&url).await;
        assert_image(&answer);
        if answer.body == personalized {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "personalization came back without restarting opentime"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_costs_no_more_than_the_budget() {
    let redis = RedisServer::new();
    let server = TestServer::start_with(&redis, |config| {
        config.store.budget = Duration::from_millis(50);
    })
    .await;
    hset(&redis, "cy", &[("first_name", "Cy"), ("points", "5")]);
    let url = format!("/i/loyalty.png?t={}", server.token("cy"));
    let anonymous = server.get("/i/loyalty.png").await.body;

    // Freeze Redis (SIGSTOP): connections stay open but nothing answers.
    // The open must not wait for it.
    redis.pause();
    let started = std::time::Instant::now();
    let answer = server.get(&url).await;
    let waited = started.elapsed();
    redis.resume();
    assert_image(&answer);
    assert!(
        answer.body == anonymous,
        "a store slower than its budget gives the default variant"
    );
    assert!(
        waited < Duration::from_millis(1500),
        "the open waited {waited:?} for a frozen Redis"
    );
    assert!(
        server
            .metric("opentime_store_errors_total{kind=\"timeout\"}")
            .await
            >= 1.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_signatures_are_checked() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    hset(
        &redis,
        "dee",
        &[("first_name", "Deirdre"), ("points", "900")],
    );
    let token = server.token("dee");
    let dee = RecipientId::new("dee").unwrap();
    let legacy = server.app.keys.sign_recipient_legacy(&dee);

    // Opaque tokens: dee's token up to the end of its synthetic IV and
    // eve's after it, a changed character inside the sealed bytes, another
    // key's.
    let spliced = {
        let eve = server.token("eve");
        assert_eq!(
            eve.len(),
            token.len(),
            "ids of one length seal to one length"
        );
        format!("{}{}", &token[..24], &eve[24..])
    };
    let mut flipped = token.clone();
    let middle = flipped.remove(12);
    flipped.insert(12, if middle == 'A' { 'B' } else { 'A' });
    let foreign_keys = KeyRing::new(vec![b"some-other-signing-key".to_vec()]).unwrap();
    let foreign = foreign_keys.sign_recipient(&dee);
    // Legacy tokens: another id with dee's MAC, another key's.
    let (_, mac) = legacy.split_once('.').unwrap();
    let eve_legacy = server
        .app
        .keys
        .sign_recipient_legacy(&RecipientId::new("eve").unwrap());
    let other_id = format!("{}.{mac}", eve_legacy.split_once('.').unwrap().0);
    let foreign_legacy = foreign_keys.sign_recipient_legacy(&dee);
    // A bad token, or a merge tag the email platform left unfilled, is no
    // recipient: the image without a token, never a broken one.
    let missing = server.get("/i/loyalty.png").await;
    assert_image(&missing);
    let personal = server.get(&format!("/i/loyalty.png?t={token}")).await;
    assert_ne!(personal.body, missing.body, "dee's own card differs");
    // A token sent before opaque ones still names dee.
    let sent_before = server.get(&format!("/i/loyalty.png?t={legacy}")).await;
    assert_eq!(sent_before.body, personal.body, "a legacy token is dee's");
    for bad in [
        spliced,
        flipped,
        foreign,
        other_id,
        foreign_legacy,
        "garbage".to_string(),
        "%25%25ot_token%25%25".to_string(),
        "*%7COT_TOKEN%7C*".to_string(),
        "%7B%7Bcustom_attribute.%24%7Bot_token%7D%7D%7D".to_string(),
    ] {
        let answer = server.get(&format!("/i/loyalty.png?t={bad}")).await;
        assert_image(&answer);
        assert_eq!(
            answer.body, missing.body,
            "token {bad}: the default variant"
        );
        let click = server.get(&format!("/c/loyalty?t={bad}")).await;
        assert_eq!(click.status, StatusCode::FOUND, "token {bad}");
        assert_eq!(
            click.headers["location"], "https://example.com/rewards/join",
            "token {bad}: the default variant's link"
        );
    }
    let metrics = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    assert!(
        metrics.lines().any(|line| line.starts_with(
            "opentime_requests_total{outcome=\"bad_token\",route=\"image\",template=\"loyalty\""
        ) && line.ends_with(" 9")),
        "every bad token is counted"
    );
    let click = server.get("/c/loyalty").await;
    assert_eq!(click.status, StatusCode::FOUND);
    assert_eq!(
        click.headers["location"],
        "https://example.com/rewards/join"
    );
    let click = server.get(&format!("/c/loyalty?t={token}")).await;
    assert_eq!(
        click.headers["location"],
        "https://example.com/rewards?tier=member"
    );

    // A signed URL: valid, tampered, unsigned.
    let query = vec![("until".to_string(), "2026-12-01".to_string())];
    let s = server.app.keys.sign_url("/i/sale.png", &query);
    let signed = server
        .get(&format!("/i/sale.png?until=2026-12-01&s={s}"))
        .await;
    assert_image(&signed);
    let signed_with_token = server
        .get(&format!("/i/sale.png?until=2026-12-01&s={s}&t={token}"))
        .await;
    assert_image(&signed_with_token);
    // A tampered or missing signature: the template as if the parameters
    // were absent, which is the same image either way.
    let tampered = server
        .get(&format!("/i/sale.png?until=2027-12-01&s={s}"))
        .await;
    assert_image(&tampered);
    let unsigned = server.get("/i/sale.png?until=2026-12-01").await;
    assert_image(&unsigned);
    assert_eq!(tampered.body, unsigned.body);
    let bare = server.get("/i/sale.png").await;
    assert_eq!(bare.body, unsigned.body, "as if until were absent");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_tokens_are_no_one_once_turned_off() {
    let redis = RedisServer::new();
    let server = TestServer::start_with(&redis, |config| {
        config.access.legacy_tokens = false;
    })
    .await;
    hset(
        &redis,
        "dee",
        &[("first_name", "Deirdre"), ("points", "900")],
    );
    let dee = RecipientId::new("dee").unwrap();
    let legacy = server.app.keys.sign_recipient_legacy(&dee);
    let token = server.token("dee");
    assert!(!token.contains('.'), "new tokens are opaque: {token}");

    let missing = server.get("/i/loyalty.png").await;
    let personal = server.get(&format!("/i/loyalty.png?t={token}")).await;
    assert_ne!(
        personal.body, missing.body,
        "dee's opaque token still works"
    );
    let sent_before = server.get(&format!("/i/loyalty.png?t={legacy}")).await;
    assert_image(&sent_before);
    assert_eq!(
        sent_before.body, missing.body,
        "a legacy token names no one"
    );
    let click = server.get(&format!("/c/loyalty?t={legacy}")).await;
    assert_eq!(
        click.headers["location"], "https://example.com/rewards/join",
        "the default variant's link"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_templates_head_etags_and_scales() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    assert_eq!(
        server.get("/i/nope.png").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/i/loyalty.gif").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/i/loyalty@3x.png").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.get("/nowhere").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .request(Method::POST, "/i/loyalty.png", &[])
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    let get = server.get("/i/loyalty.png").await;
    assert_image(&get);
    let head = server.request(Method::HEAD, "/i/loyalty.png", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty(), "HEAD has no body");
    assert_eq!(
        head.headers["content-length"],
        get.headers["content-length"]
    );
    assert_eq!(head.headers["etag"], get.headers["etag"]);

    let etag = get.headers["etag"].to_str().unwrap().to_string();
    let cached = server
        .request(Method::GET, "/i/loyalty.png", &[("if-none-match", &etag)])
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    let stale = server
        .request(
            Method::GET,
            "/i/loyalty.png",
            &[("if-none-match", "\"old\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);

    let (width, height) = png_size(&get.body);
    assert_eq!((width, height), (600, 200));
    let retina = server.get("/i/loyalty@2x.png").await;
    assert_image(&retina);
    assert_eq!(png_size(&retina.body), (1200, 400));
    let jpeg = server.get("/i/loyalty.jpg").await;
    assert_eq!(jpeg.status, StatusCode::OK);
    assert_eq!(jpeg.headers["content-type"], "image/jpeg");
    assert_eq!(&jpeg.body[..2], b"\xff\xd8");

    let long = format!("/i/loyalty.png?x={}", "a".repeat(5000));
    assert_eq!(server.get(&long).await.status, StatusCode::URI_TOO_LONG);
    assert_eq!(server.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(server.get("/readyz").await.status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_opens_of_a_new_image_cost_one_render() {
    let redis = RedisServer::new();
    let server = Arc::new(TestServer::start(&redis).await);
    hset(&redis, "fay", &[("first_name", "Fay"), ("points", "31337")]);
    let url = format!("/i/loyalty@2x.png?t={}", server.token("fay"));
    let before = server.metric("opentime_renders_total").await;
    let opens: Vec<_> = (0..100)
        .map(|_| {
            let server = server.clone();
            let url = url.clone();
            tokio::spawn(async move { server.get(&url).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for open in opens {
        let answer = open.await.unwrap();
        assert_image(&answer);
        bodies.push(answer.body);
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]));
    let after = server.metric("opentime_renders_total").await;
    assert_eq!(after - before, 1.0, "one render served all hundred opens");
    assert!(
        server.metric("opentime_glyph_cache_bytes").await > 0.0,
        "glyphs are cached"
    );
    assert!(
        server.metric("opentime_shape_cache_bytes").await > 0.0,
        "shaped text is cached"
    );
    assert!(server.metric("opentime_render_cache_bytes").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_reload_while_requests_run_and_bad_edits_keep_the_old_version() {
    let redis = RedisServer::new();
    let server = Arc::new(TestServer::start(&redis).await);
    let before = server.get("/i/support.png").await;
    assert_image(&before);

    // Keep opens going during the reloads; every one must be a 200 image.
    let (stop, mut stopped) = oneshot::channel::<()>();
    let load = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut served = 0;
            loop {
                let answer = server.get("/i/support.png").await;
                assert_image(&answer);
                served += 1;
                if stopped.try_recv().is_ok() {
                    return served;
                }
            }
        })
    };

    let path = server.templates_dir.join("support.json");
    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replace(
        "Our support team answers within a day.",
        "We answer within the hour.",
    );
    assert_ne!(edited, original);
    std::fs::write(&path, &edited).unwrap();
    let changed =
        wait_for(|| async { server.get("/i/support.png").await.body != before.body }).await;
    assert!(changed, "the edit went live without a restart");
    let after_edit = server.get("/i/support.png").await.body;

    std::fs::write(&path, "{ this is not json").unwrap();
    let reloaded = wait_for(|| async {
        server
            .metric("opentime_template_reloads_total{result=\"partial\"}")
            .await
            >= 1.0
    })
    .await;
    assert!(reloaded, "the broken edit was noticed");
    let still = server.get("/i/support.png").await;
    assert_image(&still);
    assert_eq!(
        still.body, after_edit,
        "a broken edit keeps the previous version serving"
    );

    stop.send(()).unwrap();
    let served = load.await.unwrap();
    assert!(served > 0);
}

/// Polls `condition` for up to ten seconds.
async fn wait_for<F, Fut>(condition: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_recipient_renders_without_missing_glyphs() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    let demo: BTreeMap<String, BTreeMap<String, serde_json::Value>> = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/recipients.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let fonts = server.app.cache.renderer().fonts();
    for (id, fields) in &demo {
        for (field, value) in fields {
            if let serde_json::Value::String(text) = value {
                for weight in [
                    opentime::render::Weight::Regular,
                    opentime::render::Weight::Bold,
                ] {
                    let missing = fonts.missing_chars("sans", weight, text);
                    assert!(
                        missing.is_empty(),
                        "{id}.{field} {text:?} misses {missing:?} in {weight:?}"
                    );
                }
            }
        }
        // A demo id names its template as a prefix ("care-survey-ines");
        // the longest template name that prefixes it is the one.
        let names = server.app.templates.snapshot().templates();
        let template = names
            .iter()
            .map(|template| template.name.as_str())
            .filter(|name| id.starts_with(&format!("{name}-")))
            .max_by_key(|name| name.len())
            .unwrap_or_else(|| panic!("no template for the demo recipient {id}"));
        let values: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                )
            })
            .collect();
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        hset(&redis, id, &pairs);
        let answer = server
            .get(&format!("/i/{template}.png?t={}", server.token(id)))
            .await;
        assert_image(&answer);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish() {
    let redis = RedisServer::new();
    let server = TestServer::start_with(&redis, |config| {
        config.store.budget = Duration::from_secs(5);
    })
    .await;
    hset(&redis, "gil", &[("first_name", "Gil"), ("points", "1")]);
    let url = format!("{}/i/loyalty.png?t={}", server.base, server.token("gil"));

    let anonymous = server.get("/i/loyalty.png").await.body;

    // Freeze Redis so that the open below is surely in flight when shutdown
    // begins, then let it answer once shutdown is under way.
    redis.pause();
    let http = server.client.clone();
    let in_flight = tokio::spawn(async move {
        let request = Request::get(url).body(Full::new(Bytes::new())).unwrap();
        let response = http.request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shutting_down = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !in_flight.is_finished(),
        "the open waits for the frozen Redis"
    );
    redis.resume();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the open in flight finished after shutdown began"
    );
    assert!(body != anonymous, "and it was personalized");
    shutting_down.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_render_gives_the_bytes_the_server_serves() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    let state = [
        ("first_name", "Ольга"),
        ("last_name", "Смирнова"),
        ("points", "830"),
        ("tier", "silver"),
    ];
    hset(&redis, "olga", &state);
    let user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
    let served = server
        .request(
            Method::GET,
            &format!("/i/loyalty@2x.png?t={}", server.token("olga")),
            &[("user-agent", user_agent)],
        )
        .await;
    assert_image(&served);

    let work = tempfile::tempdir().unwrap();
    let state_file = work.path().join("olga.json");
    let fields: BTreeMap<&str, &str> = state.into_iter().collect();
    std::fs::write(&state_file, serde_json::to_string(&fields).unwrap()).unwrap();
    let output = work.path().join("olga.png");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_opentime"))
        .args([
            "render",
            "--template",
            "loyalty",
            "--scale",
            "2",
            "--at",
            "2026-11-22T10:00:00Z",
        ])
        .args(["--user-agent", user_agent])
        .arg("--state")
        .arg(&state_file)
        .arg("-o")
        .arg(&output)
        .env_remove("OPENTIME_REDIS_URL")
        .env("OPENTIME_TEMPLATES_DIR", &server.templates_dir)
        .env(
            "OPENTIME_FONTS_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"),
        )
        .status()
        .expect("opentime render runs");
    assert!(status.success());
    let rendered = std::fs::read(&output).unwrap();
    assert!(
        rendered == served.body,
        "opentime render wrote other bytes than the server served"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_rules_count_as_false_and_failing_texts_serve_the_fallback() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    let fallback = server.get("/i/fragile.png").await;
    assert_image(&fallback);
    hset(&redis, "hal", &[("count", "7")]);
    let answer = server
        .get(&format!("/i/fragile.png?t={}", server.token("hal")))
        .await;
    assert_image(&answer);
    assert!(
        answer.body == fallback.body,
        "a text that fails serves the pre-rendered default"
    );
    assert!(
        server
            .metric("opentime_condition_errors_total{template=\"fragile\"}")
            .await
            >= 1.0
    );
    assert!(
        server
            .metric("opentime_fallbacks_total{reason=\"render_error\",template=\"fragile\"}")
            .await
            >= 1.0
    );
    server.shutdown().await;
}

/// Sends `request` on a fresh connection and returns what comes back before
/// the server closes it or a second passes.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_refused_and_connections_are_bounded() {
    let redis = RedisServer::new();
    let server = TestServer::start_with(&redis, |config| {
        config.server.max_connections = 2;
        config.server.max_header_bytes = 16 * 1024;
    })
    .await;
    let huge = format!(
        "GET /i/loyalty.png HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let answer = raw_exchange(&server.base, huge.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );

    // Two idle connections take both slots; a third waits until one closes.
    let address = server.base.trim_start_matches("http://").to_string();
    let first = tokio::net::TcpStream::connect(&address).await.unwrap();
    let _second = tokio::net::TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let base = server.base.clone();
    let third = tokio::spawn(async move {
        raw_exchange(
            &base,
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let answer = third.await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "served once a slot freed: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_templates() {
    let redis = RedisServer::new();
    let server = TestServer::start_with(&redis, |config| config.templates.watch = false).await;
    let before = server.get("/i/support.png").await.body;
    let path = server.templates_dir.join("support.json");
    let edited = std::fs::read_to_string(&path).unwrap().replace(
        "Our support team answers within a day.",
        "Reloaded by SIGHUP.",
    );
    std::fs::write(&path, edited).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        server.get("/i/support.png").await.body == before,
        "no reload without a signal"
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let reloaded = wait_for(|| async { server.get("/i/support.png").await.body != before }).await;
    assert!(reloaded, "SIGHUP reloaded the edited template");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_recipient_a_token_template_shows_its_default_variant() {
    let mut redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    let no_token = server.get("/i/strangers.png").await;
    assert_image(&no_token);
    let no_state = server
        .get(&format!("/i/strangers.png?t={}", server.token("nobody")))
        .await;
    assert!(
        no_state.body == no_token.body,
        "a recipient without state sees the default"
    );
    hset(&redis, "ida", &[("points", "3")]);
    let ida = format!("/i/strangers.png?t={}", server.token("ida"));
    let known = server.get(&ida).await;
    assert!(
        known.body != no_token.body,
        "a known recipient without a name gets the no_name variant"
    );
    redis.stop();
    let store_down = server.get(&ida).await;
    assert!(
        store_down.body == no_token.body,
        "with the store down, the default variant"
    );
    server.shutdown().await;
}

/// Every frame of a GIF and its delay, as a mail client decodes it.
fn gif_frames(bytes: &[u8]) -> (usize, Vec<u16>, bool) {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(bytes).expect("a GIF");
    let mut delays = Vec::new();
    while let Some(frame) = decoder.read_next_frame().expect("frames decode") {
        delays.push(frame.delay);
    }
    let loops = decoder.repeat() == gif::Repeat::Infinite;
    (delays.len(), delays, loops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_countdown_shows_the_time_left_at_the_open_and_one_render_serves_the_second() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    // The server's clock is 2026-11-22T10:00:00Z: both have 1 h 1 min 1 s
    // left, one as a moment with an offset, one as a civil time in its
    // recipient's zone (UTC+1 in November).
    hset(&redis, "ann", &[("offer_ends", "2026-11-22T11:01:01Z")]);
    hset(
        &redis,
        "bea",
        &[
            ("offer_ends", "2026-11-22T12:01:01"),
            ("time_zone", "Europe/Paris"),
        ],
    );
    hset(&redis, "cal", &[("offer_ends", "2026-11-22T11:01:02Z")]);
    let open = |id: &str| format!("/i/offer.gif?t={}", server.token(id));
    let renders = server.metric("opentime_renders_total").await;
    let ann = server.get(&open("ann")).await;
    assert_eq!(ann.status, StatusCode::OK);
    assert_eq!(ann.headers["content-type"], "image/gif");
    assert_eq!(
        server.metric("opentime_renders_total").await - renders,
        1.0,
        "the first open rendered"
    );
    let bea = server.get(&open("bea")).await;
    assert!(
        ann.body == bea.body,
        "the same second left gives the same GIF, from the cache"
    );
    // Two opens in one second make the timer hot: the next three seconds
    // render in the background, once each, and nothing else renders.
    let ahead =
        wait_for(|| async { server.metric("opentime_renders_ahead_total").await == 3.0 }).await;
    assert!(ahead, "the next seconds were rendered ahead");
    server.get(&open("ann")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.metric("opentime_renders_ahead_total").await, 3.0);
    assert_eq!(server.metric("opentime_renders_total").await - renders, 4.0);
    let (frames, delays, loops) = gif_frames(&ann.body);
    assert_eq!(frames, 60);
    assert!(delays.iter().all(|&delay| delay == 100));
    assert!(loops);
    // One second more left is another GIF.
    let cal = server.get(&open("cal")).await;
    assert!(cal.body != ann.body);
    // Labels are texts: the same time left in Russian is another GIF.
    hset(
        &redis,
        "dan",
        &[("offer_ends", "2026-11-22T11:01:01Z"), ("locale", "ru")],
    );
    let dan = server.get(&open("dan")).await;
    assert_eq!(gif_frames(&dan.body).0, 60);
    assert!(dan.body != ann.body, "the hours label follows the locale");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_and_after_the_deadline_the_expired_variant_shows() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    hset(&redis, "now", &[("offer_ends", "2026-11-22T10:00:00Z")]);
    hset(&redis, "past", &[("offer_ends", "2026-11-21")]);
    hset(&redis, "soon", &[("offer_ends", "2026-11-22T10:00:05Z")]);
    hset(&redis, "junk", &[("offer_ends", "next tuesday")]);
    let open = |id: &str| format!("/i/offer.gif?t={}", server.token(id));
    let expired = server.get(&open("now")).await;
    assert_eq!(expired.status, StatusCode::OK);
    assert_eq!(
        gif_frames(&expired.body).0,
        1,
        "a still image, not a row of zeros"
    );
    let past = server.get(&open("past")).await;
    assert!(past.body == expired.body);
    // A deadline that does not parse shows the expired variant too, and is
    // counted.
    let errors = server.metric("opentime_deadline_errors_total").await;
    let junk = server.get(&open("junk")).await;
    assert!(junk.body == expired.body);
    assert_eq!(
        server.metric("opentime_deadline_errors_total").await - errors,
        1.0
    );
    // Five seconds before: 5, 4, 3, 2, 1, 0 and it stops.
    let (frames, _, loops) = gif_frames(&server.get(&open("soon")).await.body);
    assert_eq!(frames, 6);
    assert!(!loops);
    // Only countdown templates answer .gif.
    assert_eq!(
        server.get("/i/support.gif").await.status,
        StatusCode::NOT_FOUND
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evergreen_timer_starts_at_the_first_human_open_only() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    let start_key = |id: &str| format!("ot:r:{{{id}}}:timer:welcome");
    let start_of = |id: &str| -> Option<String> {
        redis::cmd("GET")
            .arg(start_key(id))
            .query(&mut redis.connection())
            .unwrap()
    };
    let open = |id: &str| format!("/i/welcome.gif?t={}", server.token(id));
    // Apple's privacy proxy prefetches with exactly this User-Agent, and a
    // scanner sends HEAD: neither starts the timer.
    let apple = server
        .request(Method::GET, &open("dana"), &[("user-agent", "Mozilla/5.0")])
        .await;
    assert_eq!(apple.status, StatusCode::OK);
    server.request(Method::HEAD, &open("dana"), &[]).await;
    assert_eq!(start_of("dana"), None, "a machine fetch started the timer");
    // The first human open starts it at the server's now.
    let mail = [(
        "user-agent",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    )];
    let first = server.request(Method::GET, &open("dana"), &mail).await;
    assert_eq!(start_of("dana").as_deref(), Some("2026-11-22T10:00:00Z"));
    // Another recipient who started 47 hours ago has one hour left; a
    // re-open keeps their start (the first open wins).
    redis::cmd("SET")
        .arg(start_key("eli"))
        .arg("2026-11-20T11:00:00Z")
        .exec(&mut redis.connection())
        .unwrap();
    let eli = server.request(Method::GET, &open("eli"), &mail).await;
    assert_eq!(start_of("eli").as_deref(), Some("2026-11-20T11:00:00Z"));
    assert!(eli.body != first.body, "one hour left is not 48");
    let again = server.request(Method::GET, &open("eli"), &mail).await;
    assert!(again.body == eli.body);
    // Started 49 hours ago: the timer has ended.
    redis::cmd("SET")
        .arg(start_key("fay"))
        .arg("2026-11-20T09:00:00Z")
        .exec(&mut redis.connection())
        .unwrap();
    let fay = server.request(Method::GET, &open("fay"), &mail).await;
    assert_eq!(gif_frames(&fay.body).0, 1, "the expired variant is a still");
    // The machine fetch saw the full 48 hours, as the first human open did.
    assert!(apple.body == first.body);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_deadline_in_the_url_cannot_be_changed() {
    let redis = RedisServer::new();
    let server = TestServer::start(&redis).await;
    let path = "/i/flash-sale.gif";
    let until = ("until".to_string(), "2026-11-22T10:00:30Z".to_string());
    let signature = server.app.keys.sign_url(path, std::slice::from_ref(&until));
    let signed = format!("{path}?until=2026-11-22T10:00:30Z&s={signature}");
    let answer = server.get(&signed).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "image/gif");
    // 30 seconds left: 31 frames ending on zero.
    assert_eq!(gif_frames(&answer.body).0, 31);
    // Moving the deadline breaks the signature: the template then sees no
    // deadline at all, never the moved one.
    let tampered = format!("{path}?until=2026-12-31T00:00:00Z&s={signature}");
    let tampered = server.get(&tampered).await;
    assert_eq!(tampered.status, StatusCode::OK);
    let moved = server.get(&format!("{path}?until=2026-12-31")).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(tampered.body, moved.body);
    assert_ne!(tampered.body, answer.body, "not the signed countdown");
    // A signed deadline in the past shows the expired variant.
    let past = ("until".to_string(), "2026-11-01".to_string());
    let signature = server.app.keys.sign_url(path, std::slice::from_ref(&past));
    let ended = server
        .get(&format!("{path}?until=2026-11-01&s={signature}"))
        .await;
    assert_eq!(gif_frames(&ended.body).0, 1);
    server.shutdown().await;
}

/// `opentime serve` in demo mode, in its own process, stopped on drop.
struct DemoServer {
    child: std::process::Child,
    base: String,
}

impl DemoServer {
    /// Starts the binary with no Redis URL, as a newcomer runs it.
    async fn start(env: &[(&str, &str)]) -> DemoServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_opentime"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OPENTIME_LISTEN", format!("127.0.0.1:{port}"))
            .env("OPENTIME_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the opentime binary starts");
        let server = DemoServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        support::eventually("the demo server listens", Duration::from_secs(30), || {
            let address = format!("127.0.0.1:{port}");
            async move { tokio::net::TcpStream::connect(address).await.ok() }
        })
        .await;
        server
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET of `url` with `headers`: the status and the body.
async fn fetch(url: &str, headers: &[(&str, &str)]) -> (StatusCode, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut request = Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(request.body(Full::new(Bytes::new())).unwrap()),
    )
    .await
    .expect("an answer within 10 s")
    .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_each_demo_customers_order_from_its_shop_api() {
    let server = DemoServer::start(&[("OPENTIME_AMP_SENDERS", "news@example.com")]).await;
    // The demo shop listens on a fixed port. Should another program hold
    // it, the demo warns and shows default variants; this test says so
    // rather than failing on the variants.
    let (status, order) = fetch(
        &format!(
            "{}/orders/order-status-ada",
            opentime::config::DEMO_API_ORIGIN
        ),
        &[],
    )
    .await;
    let order = String::from_utf8_lossy(&order);
    assert!(
        status == StatusCode::OK && order.contains("\"A-10481\""),
        "{} does not answer as the demo shop: {status} {order}",
        opentime::config::DEMO_API_ORIGIN
    );

    // What each demo customer's open shows, through the AMP answer, which
    // lists the chosen variant and its texts.
    let opened = |id: &'static str| {
        let base = server.base.clone();
        async move {
            let token = KeyRing::demo().sign_recipient(&RecipientId::new(id).unwrap());
            let (status, body) = fetch(
                &format!("{base}/a/order-status.json?t={token}"),
                &[("amp-email-sender", "news@example.com")],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{id}: {body:?}");
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let item = answer["items"][0].clone();
            let texts: Vec<String> = item["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|text| text.as_str().unwrap().to_string())
                .collect();
            (item["variant"].as_str().unwrap().to_string(), texts)
        }
    };
    let (variant, texts) = opened("order-status-ada").await;
    assert_eq!(variant, "shipped", "{texts:?}");
    assert_eq!(texts[..2], ["Order A-10481", "On its way, Ada"]);
    assert!(
        texts[2].starts_with("Arriving Thursday · 3 items · ") && texts[2].contains("129.80"),
        "{texts:?}"
    );
    assert_eq!(opened("order-status-kenji").await.0, "delivered");
    assert_eq!(opened("order-status-lucia").await.0, "processing");
    // A recipient the shop has no order for: its 404 leaves the default.
    assert_eq!(opened("loyalty-wang").await.0, "default");

    // The image of the shipped order is served too.
    let token = KeyRing::demo().sign_recipient(&RecipientId::new("order-status-ada").unwrap());
    let (status, image) = fetch(
        &format!("{}/i/order-status.png?t={token}", server.base),
        &[("user-agent", opentime::http::front::MAIL_CLIENT_USER_AGENT)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(png_size(&image), (600, 200));
}
