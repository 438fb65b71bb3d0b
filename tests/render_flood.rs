//! Distinct renders on demand, against a real Redis: a parameter a
//! template shows lets anyone ask for as many distinct images as they like.
//! A render asked for once stays in its replica, and only one asked for
//! again (or warmed) reaches the shared cache in Redis; and opens without a
//! verified recipient render within a budget of their own, so that when it
//! is spent they get the fallback image while recipients still get theirs.

use crate::support;

use std::time::Duration;

use hyper::{Method, StatusCode};
use support::server::{TestServer, assert_image, hset};
use support::{RedisServer, eventually};

/// A public template that draws the unsigned `name` it is given.
const HELLO: &str = r##"{
  "name": "hello",
  "width": 240, "height": 60,
  "access": "public",
  "params": { "name": { "max_len": 64, "default": "there" } },
  "variants": [
    { "id": "default",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 240, "height": 60, "fill": "#0b3d91" },
        { "type": "text", "x": 8, "y": 8, "width": 224, "height": 44,
          "text": "Hello {{ query.name }}", "size": 22, "color": "#ffffff" } ] }
  ]
}"##;

/// A token template whose default variant draws the unsigned `name`, so an
/// open with a token and one without both miss the cache.
const GREETING: &str = r##"{
  "name": "greeting",
  "width": 240, "height": 60,
  "access": "token",
  "params": { "name": { "max_len": 64, "default": "there" } },
  "variants": [
    { "id": "default",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 240, "height": 60, "fill": "#1f6f3f" },
        { "type": "text", "x": 8, "y": 8, "width": 224, "height": 44,
          "text": "Hi {{ query.name }}", "size": 22, "color": "#ffffff" } ] }
  ]
}"##;

const ADMIN: &str = "render-flood-admin-token";

/// The shared cache's key of the image an answer carries: its ETag is the
/// render key (with a `z` after it for the compact encoding of a PNG).
fn shared_key(answer: &support::server::Answer) -> String {
    let etag = answer.headers["etag"].to_str().unwrap().trim_matches('"');
    format!("ot:render:v2:{}", etag.trim_end_matches('z'))
}

fn shared_renders(redis: &RedisServer) -> Vec<String> {
    redis
        .keys()
        .into_iter()
        .filter(|key| key.starts_with("ot:render:v2:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_renders_asked_for_again_or_warmed_reach_the_shared_cache() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[("hello.json", HELLO)], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
        config.warm.rate = 1000;
    })
    .await;

    // Distinct one-offs: served, rendered, and not written to Redis.
    for n in 0..5 {
        let answer = server.get(&format!("/i/hello.png?name=once-{n}")).await;
        assert_image(&answer);
        assert_eq!(
            answer.headers["etag"],
            format!("\"{}\"", &shared_key(&answer)["ot:render:v2:".len()..])
        );
    }
    assert_eq!(server.metric("opentime_renders_total").await, 5.0);
    assert_eq!(
        server
            .metric("opentime_shared_cache_writes_total{result=\"not_repeated\"}")
            .await,
        5.0
    );

    // Asked for again: the second request offers it to the other replicas.
    let first = server.get("/i/hello.png?name=again").await;
    assert_image(&first);
    let again = server.get("/i/hello.png?name=again").await;
    assert_eq!(again.body, first.body);
    let repeated = shared_key(&first);
    eventually(
        "the repeated render reaches Redis",
        Duration::from_secs(10),
        || {
            let stored = shared_renders(&redis).contains(&repeated);
            async move { stored.then_some(()) }
        },
    )
    .await;
    // A third request writes nothing more.
    server.get("/i/hello.png?name=again").await;
    assert_eq!(
        server
            .metric("opentime_shared_cache_writes_total{result=\"stored\"}")
            .await,
        1.0
    );
    assert_eq!(
        shared_renders(&redis),
        vec![shared_key(&first)],
        "no one-off is in Redis"
    );

    // Warmed: in Redis before anyone opens it.
    hset(
        &redis,
        "flood-warm",
        &[
            ("first_name", "Wren"),
            ("last_name", "Ash"),
            ("points", "10"),
            ("tier", "gold"),
        ],
    );
    let started = server
        .admin(
            Method::POST,
            "/api/v1/warm",
            ADMIN,
            "application/json",
            r#"{"template":"loyalty","recipients":["flood-warm"]}"#,
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let job = started.json()["job"].as_str().unwrap().to_string();
    eventually("the warm job ends", Duration::from_secs(30), || async {
        let progress = server
            .admin(Method::GET, &format!("/api/v1/warm/{job}"), ADMIN, "", "")
            .await
            .json();
        (progress["state"] == "done").then_some(())
    })
    .await;
    assert_eq!(
        shared_renders(&redis).len(),
        2,
        "{:?}",
        shared_renders(&redis)
    );
    let warmed = server
        .get(&format!("/i/loyalty.png?t={}", server.token("flood-warm")))
        .await;
    assert_image(&warmed);
    assert!(
        shared_renders(&redis).contains(&shared_key(&warmed)),
        "the warmed render is the one in Redis"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_opens_past_their_budget_get_the_fallback_while_recipients_render() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[("greeting.json", GREETING)], |config| {
        config.render.anonymous_share = 0;
    })
    .await;
    let fallback = server
        .app
        .templates
        .get("greeting")
        .unwrap()
        .fallback(1, opentime::render::OutputFormat::Png)
        .unwrap()
        .bytes
        .clone();

    // No token, or a bad one: the fallback image, at once, counted.
    for path in [
        "/i/greeting.png?name=Ana",
        "/i/greeting.png?name=Ana&t=%25%25ot_token%25%25",
    ] {
        let answer = server.get(path).await;
        assert_image(&answer);
        assert_eq!(answer.body, fallback, "{path}");
    }
    assert_eq!(
        server
            .metric("opentime_requests_total{outcome=\"anonymous_budget\",route=\"image\",template=\"greeting\"")
            .await,
        2.0
    );
    assert_eq!(
        server
            .metric("opentime_fallbacks_total{reason=\"anonymous_budget\",template=\"greeting\"")
            .await,
        2.0
    );
    assert_eq!(server.metric("opentime_renders_total").await, 0.0);

    // A verified recipient (with no state: still someone) gets the render.
    let tokened = server
        .get(&format!(
            "/i/greeting.png?name=Ana&t={}",
            server.token("flood-ana")
        ))
        .await;
    assert_image(&tokened);
    assert_ne!(tokened.body, fallback);
    assert_eq!(server.metric("opentime_renders_total").await, 1.0);

    // What is rendered is served to anyone: the budget is for renders.
    let anonymous = server.get("/i/greeting.png?name=Ana").await;
    assert_eq!(anonymous.body, tokened.body);
    server.shutdown().await;
}
