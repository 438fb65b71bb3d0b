//! AMP for Email JSON end to end, against a real Redis: the decision is the
//! image path's, CORS for email v1 and v2 headers are exact, and any sender
//! not configured is refused.

use crate::support;

use hyper::{Method, StatusCode};
use serde_json::Value;
use support::RedisServer;
use support::server::{Answer, TestServer, assert_image, hset};

const PUBLIC: &str = "https://ot.example.com";

async fn start(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[], |config| {
        config.server.public_url = Some(PUBLIC.to_string());
        config.amp.senders = vec!["news@example.com".to_string(), "@shop.example".to_string()];
    })
    .await
}

fn json(answer: &Answer) -> Value {
    assert_eq!(answer.headers["content-type"], "application/json");
    serde_json::from_slice(&answer.body).expect("a JSON body")
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .headers
        .get(name)
        .map(|value| value.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_2_gets_the_image_paths_decision_with_its_exact_header() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    hset(
        &redis,
        "mia",
        &[("first_name", "Mia"), ("points", "12480"), ("tier", "gold")],
    );
    let token = server.token("mia");
    let answer = server
        .request(
            Method::GET,
            &format!("/a/loyalty.json?t={token}"),
            &[("amp-email-sender", "news@example.com")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        header(&answer, "amp-email-allow-sender"),
        Some("news@example.com")
    );
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    assert_eq!(header(&answer, "cache-control"), Some("private, no-store"));
    let body = json(&answer);
    let item = &body["items"][0];
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(item["variant"], "member");
    assert_eq!(item["template"], "loyalty");
    // The link goes through the click-through, which leads where the
    // variant links to.
    assert_eq!(item["link"], format!("{PUBLIC}/c/loyalty?t={token}"));
    let click = server.get(&format!("/c/loyalty?t={token}")).await;
    assert_eq!(
        click.headers["location"],
        "https://example.com/rewards?tier=gold"
    );
    assert_eq!(
        item["texts"],
        serde_json::json!([
            "Mia ",
            "12,480 points",
            "GOLD",
            "Free shipping on every order"
        ])
    );
    assert_eq!(item["image"], format!("{PUBLIC}/i/loyalty.png?t={token}"));
    assert_eq!(
        item["image_2x"],
        format!("{PUBLIC}/i/loyalty@2x.png?t={token}")
    );
    assert_eq!(item["width"], 600);
    // The image URL it gives is the recipient's image, and fetching it is
    // what counts the open, once.
    assert_eq!(server.metric("opentime_opens_total").await, 0.0);
    let image = server.get(&format!("/i/loyalty.png?t={token}")).await;
    assert_image(&image);
    assert_eq!(server.metric("opentime_opens_total").await, 1.0);
    // A domain entry allows every address of the domain.
    let shop = server
        .request(
            Method::GET,
            &format!("/a/loyalty.json?t={token}"),
            &[("amp-email-sender", "Deals@Shop.example")],
        )
        .await;
    assert_eq!(shop.status, StatusCode::OK);
    assert_eq!(
        header(&shop, "amp-email-allow-sender"),
        Some("Deals@Shop.example")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_gets_its_three_headers_and_the_source_origin_is_not_signed() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("ann");
    let answer = server
        .request(
            Method::GET,
            &format!("/a/loyalty.json?t={token}&__amp_source_origin=news%40example.com"),
            &[("origin", "https://mail.google.com")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some("https://mail.google.com")
    );
    assert_eq!(
        header(&answer, "amp-access-control-allow-source-origin"),
        Some("news@example.com")
    );
    assert_eq!(
        header(&answer, "access-control-expose-headers"),
        Some("AMP-Access-Control-Allow-Source-Origin")
    );
    assert_eq!(header(&answer, "amp-email-allow-sender"), None);
    let body = json(&answer);
    assert_eq!(body["items"][0]["variant"], "default", "ann has no state");
    assert_eq!(
        body["items"][0]["image"],
        format!("{PUBLIC}/i/loyalty.png?t={token}"),
        "without what the AMP client appended"
    );

    // A signed URL keeps working when the client appends its parameter,
    // and the image URL it answers carries a signature of its own.
    let signed = server
        .app
        .keys
        .sign_url_string("/a/flash-sale.json?until=2026-11-22T12:00:00Z")
        .unwrap();
    let answer = server
        .request(
            Method::GET,
            &format!("{signed}&__amp_source_origin=news%40example.com&t={token}"),
            &[("origin", "https://mail.google.com")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let body = json(&answer);
    assert_eq!(body["items"][0]["variant"], "running");
    let image = body["items"][0]["image"].as_str().unwrap();
    let path = image.strip_prefix(PUBLIC).expect("an absolute URL");
    assert!(path.starts_with("/i/flash-sale.gif?"), "{path}");
    let gif = server.get(path).await;
    assert_eq!(
        gif.status,
        StatusCode::OK,
        "the answered image URL verifies"
    );
    assert_eq!(gif.headers["content-type"], "image/gif");
    server.shutdown().await;
}

/// A request's path and headers, and the status and error code it gets.
type Refusal<'a> = (String, Vec<(&'a str, &'a str)>, StatusCode, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_senders_and_plain_requests_are_refused_and_bad_tokens_get_the_default() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("ann");
    let cases: [Refusal; 5] = [
        (
            format!("/a/loyalty.json?t={token}"),
            vec![("amp-email-sender", "spoof@evil.example")],
            StatusCode::FORBIDDEN,
            "sender_not_allowed",
        ),
        (
            format!("/a/loyalty.json?t={token}&__amp_source_origin=spoof%40evil.example"),
            vec![("origin", "https://mail.google.com")],
            StatusCode::FORBIDDEN,
            "sender_not_allowed",
        ),
        (
            format!("/a/loyalty.json?t={token}"),
            vec![],
            StatusCode::FORBIDDEN,
            "not_amp",
        ),
        (
            format!("/a/loyalty.json?t={token}"),
            vec![("origin", "https://mail.google.com")],
            StatusCode::FORBIDDEN,
            "not_amp",
        ),
        (
            format!("/a/nothing.json?t={token}"),
            vec![("amp-email-sender", "news@example.com")],
            StatusCode::NOT_FOUND,
            "unknown_template",
        ),
    ];
    for (path, headers, status, code) in cases {
        let answer = server.request(Method::GET, &path, &headers).await;
        assert_eq!(answer.status, status, "{path} {headers:?}");
        assert_eq!(json(&answer)["error"]["code"], code, "{path} {headers:?}");
        if code != "unknown_template" {
            assert_eq!(header(&answer, "amp-email-allow-sender"), None);
            assert_eq!(header(&answer, "access-control-allow-origin"), None);
        }
    }
    // A tampered token is no recipient: the default variant, as an image
    // with it shows, with the sender's CORS answer.
    let tampered = server
        .request(
            Method::GET,
            &format!("/a/loyalty.json?t={token}x"),
            &[("amp-email-sender", "news@example.com")],
        )
        .await;
    assert_eq!(tampered.status, StatusCode::OK);
    let item = &json(&tampered)["items"][0];
    assert_eq!(item["variant"], "default");
    assert_eq!(
        header(&tampered, "amp-email-allow-sender"),
        Some("news@example.com")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_public_url_no_token_is_written_under_a_host_the_request_names() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.amp.senders = vec!["news@example.com".to_string()];
    })
    .await;
    let token = server.token("ann");
    let answer = server
        .request(
            Method::GET,
            &format!("/a/loyalty.json?t={token}"),
            &[
                ("amp-email-sender", "news@example.com"),
                ("host", "evil.example"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let item = &json(&answer)["items"][0];
    let image = item["image"].as_str().unwrap();
    assert!(
        image.starts_with("http://evil.example/i/loyalty.png"),
        "{image}"
    );
    assert!(
        !image.contains(&token),
        "no token under a Host anyone can set: {image}"
    );
    assert!(!item["link"].as_str().unwrap().contains(&token));
    server.shutdown().await;
}
