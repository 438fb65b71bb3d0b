//! Alerts about someone else: a template names the record it is about
//! through a signed parameter (`subject`), expressions read it as
//! `subject.*`, and the open stays the recipient's. Against a real Redis,
//! with the demo `account-alert` template.

use crate::support;

use std::time::Duration;

use hyper::StatusCode;
use support::RedisServer;
use support::server::{TestServer, assert_image, hset};

/// `path?t=TOKEN&account=ACCOUNT&s=SIGNATURE` for the rep `rep`.
fn signed(server: &TestServer, path: &str, rep: &str, account: &str) -> String {
    let pairs = vec![("account".to_string(), account.to_string())];
    let signature = server.app.keys.sign_url(path, &pairs);
    format!(
        "{path}?t={}&account={account}&s={signature}",
        server.token(rep)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_sees_the_accounts_live_state_and_the_open_is_the_reps() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |_| {}).await;
    hset(&redis, "rep-maria", &[("first_name", "Maria")]);
    hset(
        &redis,
        "acct-northwind",
        &[
            ("name", "Northwind Traders"),
            ("last_login_at", "2026-11-01T09:00:00Z"),
            ("seats", "40"),
        ],
    );
    hset(
        &redis,
        "acct-contoso",
        &[
            ("name", "Contoso"),
            ("last_login_at", "2026-11-21T09:00:00Z"),
        ],
    );
    let decision = |account: &'static str| {
        let path = signed(&server, "/s/account-alert.json", "rep-maria", account);
        let server = &server;
        async move { server.get(&path).await.json() }
    };
    let stalled = decision("acct-northwind").await;
    let stalled_image = server
        .get(&signed(
            &server,
            "/i/account-alert@2x.png",
            "rep-maria",
            "acct-northwind",
        ))
        .await;
    assert_image(&stalled_image);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("account-alert-stalled@2x.png"),
        &stalled_image.body,
    )
    .unwrap();
    assert_eq!(stalled["variant"], "stalled", "{stalled}");
    assert_eq!(stalled["texts"][0], "Maria, an account needs you");
    assert_eq!(
        stalled["texts"][1],
        "Northwind Traders has not logged in for 21 days"
    );
    assert_eq!(stalled["subject"], "Northwind Traders stopped logging in");
    let active = decision("acct-contoso").await;
    assert_eq!(active["variant"], "active", "{active}");
    assert_eq!(active["texts"][1], "Contoso was last active yesterday");
    // An account that does not exist: the default variant.
    assert_eq!(decision("acct-gone").await["variant"], "default");

    // The account changes: the next open shows it.
    hset(
        &redis,
        "acct-northwind",
        &[("last_login_at", "2026-11-22T08:00:00Z")],
    );
    assert_eq!(decision("acct-northwind").await["variant"], "active");

    // The image, and the open recorded as the rep's.
    let image = server
        .get(&signed(
            &server,
            "/i/account-alert@2x.png",
            "rep-maria",
            "acct-contoso",
        ))
        .await;
    assert_image(&image);
    std::fs::write(dir.join("account-alert@2x.png"), &image.body).unwrap();
    let events = support::eventually("the two opens", Duration::from_secs(10), || async {
        let events: Vec<_> = redis
            .events()
            .into_iter()
            .filter(|event| event["type"] == "open")
            .collect();
        (events.len() >= 2).then_some(events)
    })
    .await;
    let last = events.last().unwrap();
    assert_eq!(last["recipient"], "rep-maria");
    assert_eq!(last["variant"], "active");
    assert_eq!(redis.hgetall("ot:r:{acct-contoso}").get("opens"), None);

    // Whoever edits the account in the URL breaks the signature: the
    // template's default parameter decides, never the edited one.
    let tampered = signed(
        &server,
        "/s/account-alert.json",
        "rep-maria",
        "acct-contoso",
    )
    .replace("account=acct-contoso", "account=acct-northwind");
    let answer = server.get(&tampered).await.json();
    // The edited account exists and is active; the default,
    // account-alert-northwind, has no record in this store.
    assert_eq!(answer["variant"], "default", "{answer}");
    // And the URLs the answer writes never carry the edited account with
    // a signature of their own.
    let image = answer["image_url"].as_str().unwrap();
    assert!(!image.contains("account="), "{image}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_signed_template_may_name_another_record() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec!["subject-records-admin-token".to_string()].into();
    })
    .await;
    let template = r#"{ "name": "peek", "width": 100, "height": 40, "access": "token",
        "subject": "{{ query.who }}", "params": { "who": { "max_len": 64 } },
        "variants": [ { "id": "default", "layers": [] } ] }"#;
    let answer = server
        .admin(
            hyper::Method::PUT,
            "/api/v1/templates/peek",
            "subject-records-admin-token",
            "application/json",
            template,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.starts_with("subject: "), "{message}");
    assert!(message.contains("signed_url"), "{message}");
    server.shutdown().await;
}
