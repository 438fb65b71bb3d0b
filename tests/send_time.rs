//! Send-time content (`/s/`): the decision an email platform fetches while
//! it sends, against a real Redis. The subject, the image and the click
//! agree: a locking template keeps the send's decision for the open. A
//! send is no open: nothing is recorded for the recipient.

use crate::support;

use std::time::Duration;

use hyper::StatusCode;
use support::RedisServer;
use support::server::{TestServer, hset};

/// A renewal card whose subject and variant follow the plan, locked at
/// the first open (or send).
const RENEW: &str = r##"{
  "name": "renew", "width": 200, "height": 60, "access": "token", "scales": [1, 2],
  "alt": "Your renewal",
  "subject_line": "{{ profile.first_name | default('Hello') }}, your plan renews soon",
  "lock_at_first_open": true,
  "variants": [
    { "id": "gold", "when": "profile.plan == 'gold'",
      "subject_line": "{{ profile.first_name }}, keep your Gold perks",
      "link": "https://shop.example.com/renew?plan=gold",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 200, "height": 60, "text": "Gold for {{ profile.first_name }}", "size": 18 } ] },
    { "id": "default", "link": "https://shop.example.com/renew",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 200, "height": 60, "text": "Renew today", "size": 18 } ] }
  ]
}"##;

async fn launch(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[("renew.json", RENEW)], |config| {
        config.server.public_url = Some("https://ot.example.com".to_string());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_fetches_the_subject_and_the_open_agrees_with_it() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    hset(&redis, "gus", &[("first_name", "Gus"), ("plan", "gold")]);
    let token = server.token("gus");

    let answer = server
        .get(&format!("/s/renew.json?t={token}&e=renewal-1"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["cache-control"], "private, no-store");
    let json = answer.json();
    assert_eq!(json["variant"], "gold");
    assert_eq!(json["subject"], "Gus, keep your Gold perks");
    assert_eq!(json["alt"], "Your renewal");
    assert_eq!(json["texts"][0], "Gold for Gus");
    assert_eq!(json["link"], "https://shop.example.com/renew?plan=gold");
    assert_eq!(json["locked"], true);
    assert_eq!(json["e"], "renewal-1");
    let image = json["image_url"].as_str().unwrap();
    assert!(
        image.starts_with("https://ot.example.com/i/renew.png?"),
        "{image}"
    );
    assert!(
        image.contains(&format!("t={token}")) && image.contains("e=renewal-1"),
        "{image}"
    );
    assert!(
        json["image_2x_url"]
            .as_str()
            .unwrap()
            .contains("/i/renew@2x.png?")
    );
    assert!(
        json["click_url"]
            .as_str()
            .unwrap()
            .starts_with("https://ot.example.com/c/renew?")
    );

    // The subject alone, as plain text.
    let text = server
        .get(&format!("/s/renew.txt?t={token}&e=renewal-1"))
        .await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(text.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(&text.body[..], b"Gus, keep your Gold perks");
    let alt = server
        .get(&format!("/s/renew.txt?t={token}&field=alt"))
        .await;
    assert_eq!(&alt.body[..], b"Your renewal");

    // Gus leaves Gold before he opens: the locked send still decides, so
    // the image and the click say what the subject said.
    hset(&redis, "gus", &[("plan", "basic")]);
    let click = server.get(&format!("/c/renew?t={token}&e=renewal-1")).await;
    assert_eq!(click.status, StatusCode::FOUND);
    assert_eq!(
        click.headers["location"],
        "https://shop.example.com/renew?plan=gold"
    );

    // A send is no open: nothing was written to the events stream for it
    // (the click above is the first event).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = redis.events();
    assert!(
        events.iter().all(|event| event["type"] != "open"),
        "{events:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sends_and_mistakes_get_clear_answers() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    // A test send: no token, or the merge tag unfilled. The default variant
    // and the template's own subject.
    for path in ["/s/renew.json", "/s/renew.json?t=%25%25ot_token%25%25"] {
        let json = server.get(path).await.json();
        assert_eq!(json["variant"], "default", "{path}");
        assert_eq!(json["subject"], "Hello, your plan renews soon", "{path}");
        assert_eq!(json["locked"], false, "{path}");
    }
    assert_eq!(
        server.get("/s/nothing.json").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.get("/s/renew").await.status, StatusCode::NOT_FOUND);
    let bad = server.get("/s/renew.txt?field=password").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&bad.body).contains("subject"));
    let post = server
        .send(
            hyper::Method::POST,
            "/s/renew.json",
            &[],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    server.shutdown().await;
}
