//! Engagement end to end, against a real Redis: the click follows what the
//! open showed, locks and coupon codes hold, machine requests are told
//! apart and change nothing, events reach the stream (and wait in memory
//! while Redis is down), remote images come only from allowed origins, and
//! the engagement API reports it all.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use support::server::{Answer, TestServer, assert_image};
use support::{RedisServer, eventually};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const APPLE_PREFETCH: &str = "Mozilla/5.0";
const GMAIL_PROXY: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const SCANNER: &str = "Microsoft Office Existence Discovery";
const ADMIN_TOKEN: &str = "test-admin-token";

/// A card whose variant and link follow the recipient's tier.
const DEAL_TEMPLATE: &str = r##"{
  "name": "deal", "width": 200, "height": 60, "access": "token", "scales": [1],
  "variants": [
    { "id": "vip", "when": "profile.tier == 'vip'",
      "link": "https://shop.example.com/vip?item={{ profile.item }}&utm_source=email&utm_content=vip",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#aa8800" } ] },
    { "id": "default", "link": "https://shop.example.com/all?utm_source=email",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#333333" } ] }
  ]
}"##;

/// The same card, locked at the first human open.
const LOCKED_TEMPLATE: &str = r##"{
  "name": "locked", "width": 200, "height": 60, "access": "token", "scales": [1],
  "lock_at_first_open": true,
  "variants": [
    { "id": "vip", "when": "profile.tier == 'vip'",
      "link": "https://shop.example.com/vip?item={{ profile.item }}",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#aa8800" },
        { "type": "text", "x": 5, "y": 5, "width": 190, "height": 50, "text": "Hi {{ profile.first_name }}", "size": 20 } ] },
    { "id": "default", "link": "https://shop.example.com/all",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#333333" } ] }
  ]
}"##;

/// A code from the `bf` pool, as text and as a QR code; a "no codes left"
/// variant for an empty pool.
const COUPON_TEMPLATE: &str = r##"{
  "name": "coupon", "width": 300, "height": 160, "access": "token", "scales": [1],
  "coupon": { "pool": "bf", "exhausted_variant": "none-left" },
  "variants": [
    { "id": "code", "when": "coupon.code is defined",
      "link": "https://shop.example.com/redeem?code={{ coupon.code }}",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 160, "fill": "#ffffff" },
        { "type": "text", "x": 10, "y": 10, "width": 130, "height": 40, "text": "{{ coupon.code }}", "size": 18 },
        { "type": "qr", "x": 150, "y": 0, "width": 150, "height": 150, "content": "{{ coupon.code }}" } ] },
    { "id": "none-left", "when": "coupon.exhausted",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 160, "fill": "#880000" } ] },
    { "id": "default", "link": "https://shop.example.com/",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 160, "fill": "#cccccc" } ] }
  ]
}"##;

/// A code per email of a sequence, from the `series` pool.
const SERIES_TEMPLATE: &str = r##"{
  "name": "series", "width": 200, "height": 60, "access": "token", "scales": [1],
  "lock_at_first_open": true,
  "coupon": { "pool": "series", "per_email": true },
  "variants": [
    { "id": "code", "when": "coupon.code is defined",
      "link": "https://shop.example.com/redeem?code={{ coupon.code }}",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 200, "height": 60, "text": "{{ coupon.code }}", "size": 18 } ] },
    { "id": "default", "link": "https://shop.example.com/",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#cccccc" } ] }
  ]
}"##;

/// A product photo from the recipient's profile.
const PHOTO_TEMPLATE: &str = r##"{
  "name": "photo", "width": 100, "height": 100, "access": "token", "scales": [1],
  "variants": [
    { "id": "default", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 100, "height": 100, "fill": "#ffffff" },
      { "type": "image", "x": 0, "y": 0, "width": 100, "height": 100, "url": "{{ profile.photo }}", "fit": "fill" } ] }
  ]
}"##;

async fn start(redis: &RedisServer) -> TestServer {
    start_with(redis, |_| {}).await
}

async fn start_with(
    redis: &RedisServer,
    adjust: impl FnOnce(&mut opentime::config::Config),
) -> TestServer {
    TestServer::launch(
        redis,
        &[
            ("deal.json", DEAL_TEMPLATE),
            ("locked.json", LOCKED_TEMPLATE),
            ("coupon.json", COUPON_TEMPLATE),
            ("photo.json", PHOTO_TEMPLATE),
            ("series.json", SERIES_TEMPLATE),
        ],
        |config| {
            config.access.admin_tokens = vec![ADMIN_TOKEN.to_string()].into();
            adjust(config);
        },
    )
    .await
}

async fn open_as(server: &TestServer, path: &str, user_agent: &str) -> Answer {
    server
        .request(Method::GET, path, &[("user-agent", user_agent)])
        .await
}

fn key(id: &str, suffix: &str) -> String {
    format!("ot:r:{{{id}}}:{suffix}")
}

fn get(redis: &RedisServer, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query(&mut redis.connection())
        .expect("GET")
}

fn hget(redis: &RedisServer, key: &str, field: &str) -> Option<String> {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query(&mut redis.connection())
        .expect("HGET")
}

async fn events_written(redis: &RedisServer, count: usize) -> Vec<BTreeMap<String, String>> {
    eventually(
        &format!("{count} events in the stream"),
        Duration::from_secs(10),
        || async {
            let events = redis.events();
            (events.len() >= count).then_some(events)
        },
    )
    .await
}

fn location(answer: &Answer) -> &str {
    assert_eq!(answer.status, StatusCode::FOUND, "a redirect");
    answer.headers["location"].to_str().expect("ASCII location")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_click_follows_the_variant_the_open_showed_even_after_the_state_changed() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("dana");
    support::server::hset(&redis, "dana", &[("tier", "vip"), ("item", "sku-1")]);

    // Without an open on record, the rules decide at the click.
    let before = server
        .get(&format!("/c/deal?t={}", server.token("erin")))
        .await;
    assert_eq!(
        location(&before),
        "https://shop.example.com/all?utm_source=email"
    );

    assert_image(&open_as(&server, &format!("/i/deal.png?t={token}"), IPHONE).await);
    eventually("the open record", Duration::from_secs(10), || async {
        hget(&redis, &key("dana", "shown"), "deal")
    })
    .await;
    // She is no longer a VIP, and the item moved on; the click still goes
    // to the VIP link she saw, with today's item in it.
    support::server::hset(&redis, "dana", &[("tier", "basic"), ("item", "sku-2")]);
    let click = open_as(&server, &format!("/c/deal?t={token}"), IPHONE).await;
    assert_eq!(
        location(&click),
        "https://shop.example.com/vip?item=sku-2&utm_source=email&utm_content=vip"
    );
    // The next open shows the new variant, and the click follows it.
    open_as(&server, &format!("/i/deal.png?t={token}"), IPHONE).await;
    eventually("the new open record", Duration::from_secs(10), || async {
        hget(&redis, &key("dana", "shown"), "deal").filter(|record| record.starts_with("default "))
    })
    .await;
    let click = open_as(&server, &format!("/c/deal?t={token}"), IPHONE).await;
    assert_eq!(
        location(&click),
        "https://shop.example.com/all?utm_source=email"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_emails_sharing_a_template_keep_separate_open_records() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("fay");
    support::server::hset(&redis, "fay", &[("tier", "vip"), ("item", "sku-1")]);
    // Step 1 of a sequence is opened as a VIP.
    open_as(&server, &format!("/i/deal.png?t={token}&e=step-1"), IPHONE).await;
    eventually("step 1's open record", Duration::from_secs(10), || async {
        hget(&redis, &key("fay", "shown"), "deal/step-1")
    })
    .await;
    // She is no longer a VIP when step 2 arrives, and opens it.
    support::server::hset(&redis, "fay", &[("tier", "basic")]);
    open_as(&server, &format!("/i/deal.png?t={token}&e=step-2"), IPHONE).await;
    eventually("step 2's open record", Duration::from_secs(10), || async {
        hget(&redis, &key("fay", "shown"), "deal/step-2")
    })
    .await;
    // Each step's click follows its own open.
    let first = open_as(&server, &format!("/c/deal?t={token}&e=step-1"), IPHONE).await;
    assert_eq!(
        location(&first),
        "https://shop.example.com/vip?item=sku-1&utm_source=email&utm_content=vip"
    );
    let second = open_as(&server, &format!("/c/deal?t={token}&e=step-2"), IPHONE).await;
    assert_eq!(
        location(&second),
        "https://shop.example.com/all?utm_source=email"
    );
    // The template without `e` keeps its own record, as before.
    assert_eq!(hget(&redis, &key("fay", "shown"), "deal"), None);
    // Events name the email.
    let events = events_written(&redis, 4).await;
    let emails: Vec<&str> = events.iter().map(|event| event["e"].as_str()).collect();
    assert_eq!(emails, ["step-1", "step-2", "step-1", "step-2"]);
    // A value that is no email id is left out: the template's records.
    open_as(
        &server,
        &format!("/i/deal.png?t={token}&e=no%20spaces"),
        IPHONE,
    )
    .await;
    eventually(
        "the template's own record",
        Duration::from_secs(10),
        || async { hget(&redis, &key("fay", "shown"), "deal") },
    )
    .await;

    // A template that draws a code per email gives each step its own,
    // and locks each step on its own.
    server
        .send(
            Method::POST,
            "/api/v1/pools/series/codes",
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            Bytes::from_static(b"S-1\nS-2\nS-3\n"),
        )
        .await;
    let grab = |email: &'static str| {
        let path = format!("/c/series?t={token}&e={email}");
        let server = &server;
        async move { location(&open_as(server, &path, IPHONE).await).to_string() }
    };
    open_as(
        &server,
        &format!("/i/series.png?t={token}&e=welcome-1"),
        IPHONE,
    )
    .await;
    open_as(
        &server,
        &format!("/i/series.png?t={token}&e=welcome-2"),
        IPHONE,
    )
    .await;
    let one = grab("welcome-1").await;
    let two = grab("welcome-2").await;
    assert!(
        one.starts_with("https://shop.example.com/redeem?code=S-"),
        "{one}"
    );
    assert!(
        two.starts_with("https://shop.example.com/redeem?code=S-"),
        "{two}"
    );
    assert_ne!(one, two, "each email its own code");
    assert_eq!(grab("welcome-1").await, one, "a code kept per email");
    assert!(get(&redis, &key("fay", "lock:series/welcome-1")).is_some());
    assert!(get(&redis, &key("fay", "code:series/welcome-2")).is_some());

    // An erasure takes the sequence's records too, once they are written.
    eventually(
        "the sequence's open records",
        Duration::from_secs(10),
        || async { hget(&redis, &key("fay", "shown"), "series/welcome-2") },
    )
    .await;
    let erased = server
        .send(
            Method::DELETE,
            "/api/v1/recipients/fay",
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            Bytes::new(),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    assert_eq!(get(&redis, &key("fay", "lock:series/welcome-1")), None);
    assert_eq!(get(&redis, &key("fay", "code:series/welcome-2")), None);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_holds_across_state_changes_and_machines_never_lock() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    support::server::hset(
        &redis,
        "lee",
        &[("tier", "vip"), ("first_name", "Lee"), ("item", "a1")],
    );
    let path = format!("/i/locked.png?t={}", server.token("lee"));

    // Apple's prefetch and a scanner come first: they see the card, but
    // lock nothing.
    for (user_agent, method) in [
        (APPLE_PREFETCH, Method::GET),
        (SCANNER, Method::GET),
        (IPHONE, Method::HEAD),
    ] {
        let answer = server
            .request(method.clone(), &path, &[("user-agent", user_agent)])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{user_agent} {method}");
        assert_eq!(
            get(&redis, &key("lee", "lock:locked")),
            None,
            "{user_agent} {method}"
        );
    }
    let first = open_as(&server, &path, IPHONE).await;
    assert_image(&first);
    assert!(
        get(&redis, &key("lee", "lock:locked")).is_some(),
        "the human open locks"
    );

    support::server::hset(
        &redis,
        "lee",
        &[("tier", "basic"), ("first_name", "Leonard"), ("item", "b2")],
    );
    let later = open_as(&server, &path, IPHONE).await;
    assert!(later.body == first.body, "the locked render, byte for byte");
    let click = open_as(
        &server,
        &format!("/c/locked?t={}", server.token("lee")),
        IPHONE,
    )
    .await;
    assert_eq!(location(&click), "https://shop.example.com/vip?item=a1");

    // Someone else, with the new state, sees the rules' choice.
    support::server::hset(&redis, "max", &[("tier", "basic"), ("first_name", "Max")]);
    let other = open_as(
        &server,
        &format!("/i/locked.png?t={}", server.token("max")),
        IPHONE,
    )
    .await;
    assert!(other.body != first.body);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_opens_never_start_an_evergreen_timer_but_gmail_opens_do() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    for (id, user_agent, starts) in [
        ("m1", APPLE_PREFETCH, false),
        ("m2", SCANNER, false),
        ("m3", "python-requests/2.31.0", false),
        // Gmail's proxy fetches when the person opens the email.
        ("m4", GMAIL_PROXY, true),
        ("m5", IPHONE, true),
    ] {
        support::server::hset(&redis, id, &[("first_name", "M")]);
        let path = format!("/i/welcome-offer.gif?t={}", server.token(id));
        assert_eq!(
            open_as(&server, &path, user_agent).await.status,
            StatusCode::OK
        );
        let started = get(&redis, &key(id, "timer:welcome-offer")).is_some();
        assert_eq!(started, starts, "{user_agent}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_get_one_code_and_an_empty_pool_shows_its_variant() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let load = server
        .send(
            Method::POST,
            "/api/v1/pools/bf/codes",
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            Bytes::from_static(b"BF-7Q2K\nBF-9X4M\nBF-1A1A\n"),
        )
        .await;
    assert_eq!(load.status, StatusCode::OK, "{:?}", load.body);
    let loaded: serde_json::Value = serde_json::from_slice(&load.body).unwrap();
    assert_eq!(loaded["added"], 3);
    assert_eq!(loaded["remaining"], 3);

    support::server::hset(&redis, "cy", &[("first_name", "Cy")]);
    let path = format!("/i/coupon.png?t={}", server.token("cy"));
    // Apple's prefetch draws nothing.
    open_as(&server, &path, APPLE_PREFETCH).await;
    assert_eq!(get(&redis, &key("cy", "code:bf")), None);

    let server = Arc::new(server);
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let (server, path) = (server.clone(), path.clone());
            tokio::spawn(async move { open_as(&server, &path, IPHONE).await })
        })
        .collect();
    let mut answers = Vec::new();
    for open in opens {
        answers.push(open.await.expect("the open ran"));
    }
    let server = Arc::into_inner(server).expect("the opens are done");
    let code = get(&redis, &key("cy", "code:bf")).expect("a code was kept");
    for answer in &answers {
        assert_image(answer);
        assert_eq!(
            answer.body, answers[0].body,
            "every open shows the same code"
        );
    }
    assert_eq!(
        decode_qr(&answers[0].body),
        code,
        "the QR code reads back as the code"
    );
    assert_eq!(
        redis_scard(&redis, "ot:pool:bf"),
        2,
        "one code left the pool"
    );
    let click = open_as(
        &server,
        &format!("/c/coupon?t={}", server.token("cy")),
        IPHONE,
    )
    .await;
    assert_eq!(
        location(&click),
        format!("https://shop.example.com/redeem?code={code}")
    );

    // Two more recipients empty the pool; the next one sees "no codes left".
    for id in ["d1", "d2"] {
        support::server::hset(&redis, id, &[("first_name", "D")]);
        open_as(
            &server,
            &format!("/i/coupon.png?t={}", server.token(id)),
            IPHONE,
        )
        .await;
    }
    support::server::hset(&redis, "late", &[("first_name", "Late")]);
    let late = open_as(
        &server,
        &format!("/i/coupon.png?t={}", server.token("late")),
        IPHONE,
    )
    .await;
    assert_image(&late);
    assert_eq!(
        pixel(&late.body, 5, 5),
        [0x88, 0, 0, 255],
        "the exhausted variant"
    );
    assert_eq!(
        server
            .metric("opentime_coupons_total{pool=\"bf\",result=\"exhausted\"}")
            .await,
        1.0
    );
    let left = server
        .request(
            Method::GET,
            "/api/v1/pools/bf",
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        )
        .await;
    let left: serde_json::Value = serde_json::from_slice(&left.body).unwrap();
    assert_eq!(left["remaining"], 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_stream_with_the_documented_fields_and_update_the_profile() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    support::server::hset(&redis, "eve", &[("tier", "vip"), ("item", "x")]);
    let token = server.token("eve");
    // Events keep the milliseconds, though the rules see whole seconds.
    server
        .app
        .clock
        .advance(jiff::SignedDuration::from_millis(250));
    open_as(&server, &format!("/i/deal.png?t={token}"), IPHONE).await;
    open_as(&server, &format!("/i/deal.png?t={token}"), APPLE_PREFETCH).await;
    open_as(&server, &format!("/c/deal?t={token}"), IPHONE).await;
    // A test send's open names nobody: counted, never written.
    server.get("/i/deal.png").await;
    open_as(&server, &format!("/i/deal.png?t={token}"), SCANNER).await;
    let events = events_written(&redis, 4).await;
    assert_eq!(events.len(), 4);
    let open = &events[0];
    let names: Vec<&str> = open.keys().map(String::as_str).collect();
    for field in [
        "type",
        "template",
        "variant",
        "recipient",
        "at",
        "opener",
        "person",
        "device",
        "os",
        "client",
        "render",
        "id",
    ] {
        assert!(names.contains(&field), "{field} in {names:?}");
    }
    assert_eq!(open["type"], "open");
    assert_eq!(open["template"], "deal");
    assert_eq!(open["variant"], "vip");
    assert_eq!(open["recipient"], "eve");
    assert_eq!(open["at"], "2026-11-22T10:00:00.250Z");
    assert_eq!(open["opener"], "human");
    assert_eq!(open["person"], "1");
    assert_eq!(open["device"], "mobile");
    assert_eq!(open["os"], "ios");
    assert_eq!(open["render"].len(), 32);
    assert_eq!(events[1]["opener"], "apple_proxy");
    assert_eq!(events[1]["person"], "0");
    assert_eq!(events[2]["type"], "click");
    assert_eq!(events[2]["at"], "2026-11-22T10:00:00.250Z");
    assert_eq!(
        (events[3]["type"].as_str(), events[3]["recipient"].as_str()),
        ("open", "eve"),
        "the open without a token before it is not in the stream"
    );
    let metrics = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    assert!(
        metrics.lines().any(|line| line.starts_with(
            "opentime_requests_total{outcome=\"anonymous\",route=\"image\",template=\"deal\""
        )),
        "the open without a token is counted"
    );
    assert_ne!(events[0]["id"], events[1]["id"]);

    // Only the person's open and click count in the profile.
    let profile = redis.hgetall("ot:r:{eve}");
    assert_eq!(profile["opens"], "1");
    assert_eq!(profile["clicks"], "1");
    assert_eq!(profile["last_open_at"], "2026-11-22T10:00:00.250Z");
    assert_eq!(profile["last_click_at"], "2026-11-22T10:00:00.250Z");
    assert_eq!(
        server
            .metric(
                "opentime_opens_total{opener=\"apple_proxy\",template=\"deal\",variant=\"vip\"}"
            )
            .await,
        1.0
    );
    assert_eq!(
        server
            .metric("opentime_clicks_total{opener=\"human\",template=\"deal\",variant=\"vip\"}")
            .await,
        1.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_events_wait_in_memory_and_are_written_when_it_returns() {
    let mut redis = RedisServer::new();
    let server = start_with(&redis, |config| config.events.buffer = 40).await;
    let token = server.token("ria");
    redis.stop();
    for _ in 0..25 {
        let answer = open_as(&server, &format!("/i/deal.png?t={token}"), IPHONE).await;
        assert_image(&answer);
    }
    assert_eq!(server.app.events.len(), 25, "queued, not lost");
    redis.start();
    let events = events_written(&redis, 25).await;
    assert_eq!(events.len(), 25);
    assert_eq!(server.metric("opentime_events_dropped_total").await, 0.0);

    // Past the bound, what does not fit is dropped and counted.
    redis.stop();
    for _ in 0..50 {
        open_as(&server, &format!("/i/deal.png?t={token}"), IPHONE).await;
    }
    assert_eq!(server.app.events.len(), 40);
    assert_eq!(server.metric("opentime_events_dropped_total").await, 10.0);
    redis.start();
    let events = events_written(&redis, 40).await;
    assert_eq!(events.len(), 40, "everything below the bound arrives");
    eventually("an empty queue", Duration::from_secs(10), || async {
        (server.metric("opentime_events_buffered").await == 0.0).then_some(())
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanner_bursts_and_the_honeypot_are_machine_clicks() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    support::server::hset(&redis, "sam", &[("tier", "vip"), ("item", "x")]);
    let token = server.token("sam");
    // A gateway follows every link of the email at once, with a browser's
    // User-Agent: the first click looks human, the next ones are a burst.
    open_as(&server, &format!("/c/deal?t={token}"), IPHONE).await;
    let second = open_as(&server, &format!("/c/locked?t={token}"), IPHONE).await;
    assert_eq!(
        second.status,
        StatusCode::FOUND,
        "a scanner still gets its redirect"
    );
    let hidden = open_as(&server, &format!("/c/deal/hidden?t={token}"), IPHONE).await;
    assert_eq!(
        location(&hidden),
        "https://shop.example.com/all?utm_source=email"
    );
    let events = events_written(&redis, 3).await;
    let openers: Vec<&str> = events
        .iter()
        .map(|event| event["opener"].as_str())
        .collect();
    assert_eq!(openers, ["human", "scanner", "scanner"]);
    assert_eq!(redis.hgetall("ot:r:{sam}")["clicks"], "1");
    assert_eq!(
        get(&redis, &key("sam", "lock:locked")),
        None,
        "a scanner's click locks nothing"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_images_come_only_from_allowed_origins() {
    let photo_server = PhotoServer::start().await;
    let other_server = PhotoServer::start().await;
    let redis = RedisServer::new();
    let origin = photo_server.origin();
    let server = start_with(&redis, |config| {
        config.remote_images.allowed_origins = vec![origin.clone()];
    })
    .await;
    support::server::hset(
        &redis,
        "pia",
        &[("photo", &format!("{}/shoe.png", photo_server.origin()))],
    );
    support::server::hset(
        &redis,
        "oli",
        &[("photo", &format!("{}/shoe.png", other_server.origin()))],
    );
    let allowed = open_as(
        &server,
        &format!("/i/photo.png?t={}", server.token("pia")),
        IPHONE,
    )
    .await;
    assert_image(&allowed);
    assert_eq!(
        pixel(&allowed.body, 50, 50),
        [0, 0x80, 0xff, 255],
        "the photo is drawn"
    );
    let refused = open_as(
        &server,
        &format!("/i/photo.png?t={}", server.token("oli")),
        IPHONE,
    )
    .await;
    assert_image(&refused);
    assert_eq!(
        pixel(&refused.body, 50, 50),
        [255, 255, 255, 255],
        "no photo"
    );
    assert_eq!(photo_server.requests(), 1);
    assert_eq!(
        other_server.requests(),
        0,
        "an origin off the list is never asked"
    );
    assert_eq!(
        server
            .metric("opentime_remote_images_total{result=\"not_allowed\"}")
            .await,
        1.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engagement_api_reports_human_and_machine_activity() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    support::server::hset(&redis, "ann", &[("tier", "vip"), ("item", "x")]);
    support::server::hset(&redis, "bob", &[("tier", "vip")]);
    let ann = server.token("ann");
    open_as(&server, &format!("/i/deal.png?t={ann}"), IPHONE).await;
    open_as(&server, &format!("/i/deal.png?t={ann}"), IPHONE).await;
    open_as(&server, &format!("/c/deal?t={ann}"), IPHONE).await;
    // Bob's email was only ever fetched by Apple's prefetch: he never read it.
    open_as(
        &server,
        &format!("/i/deal.png?t={}", server.token("bob")),
        APPLE_PREFETCH,
    )
    .await;
    events_written(&redis, 4).await;

    let auth = format!("Bearer {ADMIN_TOKEN}");
    let one = server
        .request(
            Method::GET,
            "/api/v1/recipients/ann/engagement?days=7",
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    let one: serde_json::Value = serde_json::from_slice(&one.body).unwrap();
    assert_eq!(one["opens"]["human"], 2);
    assert_eq!(one["opens"]["machine"], 0);
    assert_eq!(one["clicks"]["human"], 1);
    assert_eq!(one["last_human_open"], "2026-11-22T10:00:00.000Z");
    assert_eq!(one["engaged"], true);

    let bulk = server
        .send(
            Method::POST,
            "/api/v1/engagement",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Bytes::from_static(br#"{"recipients": ["ann", "bob", "nobody"], "days": 30}"#),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{:?}", bulk.body);
    let bulk: serde_json::Value = serde_json::from_slice(&bulk.body).unwrap();
    let engaged: Vec<bool> = bulk["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|summary| summary["engaged"].as_bool().unwrap())
        .collect();
    assert_eq!(engaged, [true, false, false]);
    // Bob's Apple Mail hides whether he read: kept, not dropped.
    let statuses: Vec<&str> = bulk["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|summary| summary["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["engaged", "privacy_protected", "unengaged"]);
    assert_eq!(bulk["recipients"][1]["opens"]["apple_privacy"], 1);
    assert_eq!(bulk["recipients"][1]["opens"]["machine"], 1);
    assert!(bulk["recipients"][1]["last_human_open"].is_null());

    // Without a token, with a wrong one, or with a bad body: clear refusals.
    let cases: [Refusal; 4] = [
        (
            "/api/v1/engagement",
            None,
            b"{}",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "/api/v1/engagement",
            Some("Bearer wrong"),
            b"{}",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "/api/v1/engagement",
            Some(auth.as_str()),
            b"{\"recipients\": 3}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/nothing",
            Some(auth.as_str()),
            b"",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (path, authorization, body, status, code) in cases {
        let headers: Vec<(&str, &str)> = authorization
            .map(|value| ("authorization", value))
            .into_iter()
            .collect();
        let answer = server
            .send(Method::POST, path, &headers, Bytes::copy_from_slice(body))
            .await;
        assert_eq!(answer.status, status, "{path} {authorization:?}");
        let error: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(error["error"]["code"], code, "{path}");
    }
    server.shutdown().await;
}

/// An API call that must be refused: path, Authorization, body, status,
/// error code.
type Refusal<'a> = (&'a str, Option<&'a str>, &'a [u8], StatusCode, &'a str);

fn redis_scard(redis: &RedisServer, key: &str) -> u64 {
    redis::cmd("SCARD")
        .arg(key)
        .query(&mut redis.connection())
        .expect("SCARD")
}

/// Decodes a PNG to 8-bit RGBA.
fn rgba(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    let pixels = match info.color_type {
        png::ColorType::Rgba => pixels,
        png::ColorType::Rgb => pixels
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected PNG color type {other:?}"),
    };
    (info.width, info.height, pixels)
}

fn pixel(png_bytes: &[u8], x: u32, y: u32) -> [u8; 4] {
    let (width, _, pixels) = rgba(png_bytes);
    let at = ((y * width + x) * 4) as usize;
    [pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]]
}

fn decode_qr(png_bytes: &[u8]) -> String {
    let (width, height, pixels) = rgba(png_bytes);
    let (w, h) = (width as usize, height as usize);
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[(y * w + x) * 4]);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    content
}

/// A tiny image host on 127.0.0.1: serves a 10x10 blue PNG at any path and
/// counts the requests it gets.
struct PhotoServer {
    address: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl PhotoServer {
    async fn start() -> PhotoServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let body = Bytes::from(blue_png());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = body.clone();
                        async move {
                            let mut response =
                                hyper::Response::new(http_body_util::Full::new(body));
                            response
                                .headers_mut()
                                .insert("content-type", "image/png".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        PhotoServer { address, requests }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.address)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn blue_png() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 10, 10);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let pixels: Vec<u8> = (0..100).flat_map(|_| [0u8, 0x80, 0xff]).collect();
        writer.write_image_data(&pixels).unwrap();
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_counter_redis_refuses_does_not_hold_up_the_events_behind_it() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    // The customer's systems wrote something else into `opens`.
    support::server::hset(&redis, "odd", &[("tier", "vip"), ("opens", "n/a")]);
    support::server::hset(&redis, "even", &[("tier", "vip")]);
    open_as(
        &server,
        &format!("/i/deal.png?t={}", server.token("odd")),
        IPHONE,
    )
    .await;
    let events = events_written(&redis, 1).await;
    assert_eq!(events.len(), 1);
    open_as(
        &server,
        &format!("/i/deal.png?t={}", server.token("even")),
        IPHONE,
    )
    .await;
    let events = events_written(&redis, 2).await;
    assert_eq!(
        events.len(),
        2,
        "each event written once, and the next one too"
    );
    assert_eq!(redis.hgetall("ot:r:{even}")["opens"], "1");
    assert_eq!(redis.hgetall("ot:r:{odd}")["opens"], "n/a");
    assert!(
        server
            .metric("opentime_event_write_errors_total{kind=\"refused\"}")
            .await
            >= 1.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_redis_cannot_take_yet_stay_queued_rather_than_counted_as_refused() {
    // A Redis that answers but refuses every write for a while (here
    // NOREPLICAS; after a restart it is LOADING, during a failover
    // READONLY) must not have the batch counted as written: that was the
    // loss the fault load test found.
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("ria");
    support::server::hset(&redis, "ria", &[("tier", "vip")]);
    redis.refuse_writes(true);
    for _ in 0..5 {
        assert_image(&open_as(&server, &format!("/i/deal.png?t={token}"), IPHONE).await);
    }
    eventually("a refused batch", Duration::from_secs(10), || async {
        (server
            .metric("opentime_event_write_errors_total{kind=\"unavailable\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(server.metric("opentime_events_written_total").await, 0.0);
    assert_eq!(server.app.events.len(), 5, "still queued");
    assert!(redis.events().is_empty());

    redis.refuse_writes(false);
    let events = events_written(&redis, 5).await;
    assert_eq!(events.len(), 5, "each event once");
    assert_eq!(server.metric("opentime_events_written_total").await, 5.0);
    assert_eq!(
        server
            .metric("opentime_event_write_errors_total{kind=\"refused\"}")
            .await,
        0.0
    );
    assert_eq!(redis.hgetall("ot:r:{ria}")["opens"], "5");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_known_only_by_their_open_counters_still_has_no_state() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let path = format!("/i/deal.png?t={}", server.token("newcomer"));
    open_as(&server, &path, IPHONE).await;
    events_written(&redis, 1).await;
    assert_eq!(redis.hgetall("ot:r:{newcomer}")["opens"], "1");
    open_as(&server, &path, IPHONE).await;
    assert_eq!(
        server
            .metric(
                "opentime_requests_total{outcome=\"anonymous\",route=\"image\",template=\"deal\""
            )
            .await,
        2.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_the_template_no_longer_has_is_replaced() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    support::server::hset(
        &redis,
        "ivy",
        &[("tier", "vip"), ("first_name", "Ivy"), ("item", "z")],
    );
    // Locked on a variant a later edit removed.
    redis::cmd("SET")
        .arg(key("ivy", "lock:locked"))
        .arg(r#"{"variant":"gone","texts":[],"link":null}"#)
        .exec(&mut redis.connection())
        .expect("SET");
    open_as(
        &server,
        &format!("/i/locked.png?t={}", server.token("ivy")),
        IPHONE,
    )
    .await;
    let lock = get(&redis, &key("ivy", "lock:locked")).expect("a lock");
    let lock: serde_json::Value = serde_json::from_str(&lock).expect("a lock record");
    assert_eq!(lock["variant"], "vip");
    assert_eq!(lock["texts"][0], "Hi Ivy");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_openers_in_the_rules_decide_whether_gmail_opens_lock_and_start_timers() {
    let rules_dir = tempfile::tempdir().expect("temp dir");
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/openers.toml"),
    )
    .expect("the shipped rules");
    let strict = shipped.replace(
        r#"person_openers = ["human", "gmail_proxy", "yahoo_proxy"]"#,
        r#"person_openers = ["human"]"#,
    );
    assert_ne!(strict, shipped, "the shipped rules name person_openers");
    let rules = rules_dir.path().join("openers.toml");
    std::fs::write(&rules, strict).expect("write the rules");
    let redis = RedisServer::new();
    let server = start_with(&redis, |config| config.openers.rules_file = Some(rules)).await;
    for (template, record) in [
        ("locked.png", "lock:locked"),
        ("welcome-offer.gif", "timer:welcome-offer"),
    ] {
        support::server::hset(&redis, "gil", &[("tier", "vip"), ("first_name", "Gil")]);
        let answer = open_as(
            &server,
            &format!("/i/{template}?t={}", server.token("gil")),
            GMAIL_PROXY,
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(get(&redis, &key("gil", record)), None, "{template}");
    }
    let events = events_written(&redis, 2).await;
    assert!(
        events
            .iter()
            .all(|event| event["opener"] == "gmail_proxy" && event["person"] == "0")
    );
    assert!(!redis.hgetall("ot:r:{gil}").contains_key("opens"));
    server.shutdown().await;
}
