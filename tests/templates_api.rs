//! Templates through the admin API, on two replicas sharing one Redis: a
//! put is checked like `opentime check`, serves on the replica that took
//! it from its answer on and on the other within the poll interval, and a
//! delete brings the file back.

use crate::support;

use std::time::Duration;

use hyper::{Method, StatusCode};
use support::server::{TestServer, assert_image};
use support::{RedisServer, eventually};

const ADMIN: &str = "templates-test-admin-token";
const POOLS_ONLY: &str = "templates-test-pools-token";

fn card(name: &str, headline: &str, fill: &str) -> String {
    format!(
        r##"{{ "name": "{name}", "width": 300, "height": 80, "format": "png", "access": "public",
  "variants": [ {{ "id": "default", "link": "https://example.com/{name}",
    "layers": [ {{ "type": "rect", "x": 0, "y": 0, "width": 300, "height": 80, "fill": "{fill}" }},
                {{ "type": "text", "x": 10, "y": 10, "width": 280, "height": 60,
                   "text": "{headline}", "size": 24, "color": "#ffffff" }} ] }} ] }}"##
    )
}

async fn launch(redis: &RedisServer) -> TestServer {
    TestServer::launch(
        redis,
        &[("banner.json", &card("banner", "From the file", "#0b3d91"))],
        |config| {
            config.access.admin_tokens =
                vec![ADMIN.to_string(), format!("pools:{POOLS_ONLY}")].into();
        },
    )
    .await
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: String,
) -> (StatusCode, serde_json::Value) {
    let answer = server.admin(method, path, token, "", body).await;
    (answer.status, answer.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_template_serves_on_every_replica_and_a_delete_restores_the_file() {
    let redis = RedisServer::new();
    let one = launch(&redis).await;
    let two = launch(&redis).await;
    let from_file = one.get("/i/banner.png").await;
    assert_image(&from_file);

    // Refusals: no scope, a bad name, an invalid template (with the field).
    let (status, _) = call(
        &one,
        Method::PUT,
        "/api/v1/templates/banner",
        POOLS_ONLY,
        card("banner", "x", "#000000"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &one,
        Method::PUT,
        "/api/v1/templates/Bad%20Name",
        ADMIN,
        "{}".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, refusal) = call(
        &one,
        Method::PUT,
        "/api/v1/templates/banner",
        ADMIN,
        card("banner", "x", "not-a-color"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
    assert_eq!(refusal["error"]["code"], "invalid_template");
    assert!(
        refusal["error"]["details"]["field"]
            .as_str()
            .unwrap()
            .contains("fill"),
        "{refusal}"
    );
    let (status, refusal) = call(
        &one,
        Method::PUT,
        "/api/v1/templates/banner",
        ADMIN,
        card("other", "x", "#000000"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the name must match: {refusal}"
    );
    assert_eq!(
        one.get("/i/banner.png").await.body,
        from_file.body,
        "nothing changed"
    );

    // A put: served here from the answer on, with a new version.
    let (status, put) = call(
        &one,
        Method::PUT,
        "/api/v1/templates/banner",
        ADMIN,
        card("banner", "From the API", "#8b0000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["created"], false);
    let version = put["version"].as_str().unwrap().to_string();
    let after = one.get("/i/banner.png").await;
    assert_image(&after);
    assert_ne!(
        after.body, from_file.body,
        "the next open renders the new version"
    );
    assert_ne!(after.headers["etag"], from_file.headers["etag"]);

    // The other replica picks it up from Redis, without a restart.
    eventually(
        "the second replica serves the put template",
        Duration::from_secs(10),
        || async {
            let answer = two.get("/i/banner.png").await;
            (answer.body == after.body).then_some(())
        },
    )
    .await;

    let (_, listed) = call(&two, Method::GET, "/api/v1/templates", ADMIN, String::new()).await;
    let banner = listed["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["template"] == "banner")
        .unwrap()
        .clone();
    assert_eq!(banner["origin"], "store");
    assert_eq!(banner["version"], version.as_str());
    let (_, got) = call(
        &two,
        Method::GET,
        "/api/v1/templates/banner",
        ADMIN,
        String::new(),
    )
    .await;
    assert_eq!(
        got["source"]["variants"][0]["layers"][1]["text"],
        "From the API"
    );

    // A brand new template, then deletes.
    let (status, put) = call(
        &one,
        Method::PUT,
        "/api/v1/templates/extra",
        ADMIN,
        card("extra", "New", "#006400"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["created"], true);
    assert_image(&one.get("/i/extra.png").await);
    let (status, _) = call(
        &one,
        Method::DELETE,
        "/api/v1/templates/extra",
        ADMIN,
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one.get("/i/extra.png").await.status, StatusCode::NOT_FOUND);
    let (status, deleted) = call(
        &one,
        Method::DELETE,
        "/api/v1/templates/banner",
        ADMIN,
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        one.get("/i/banner.png").await.body,
        from_file.body,
        "the file serves again"
    );
    let (status, again) = call(
        &one,
        Method::DELETE,
        "/api/v1/templates/banner",
        ADMIN,
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{again}");
    assert_eq!(again["error"]["code"], "no_stored_template");
    eventually(
        "the second replica serves the file again",
        Duration::from_secs(10),
        || async {
            let answer = two.get("/i/banner.png").await;
            (answer.body == from_file.body).then_some(())
        },
    )
    .await;

    // A replica that starts later serves what is stored from its first open.
    let (status, _) = call(
        &one,
        Method::PUT,
        "/api/v1/templates/banner",
        ADMIN,
        card("banner", "Stored", "#4b0082"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stored = one.get("/i/banner.png").await;
    let three = launch(&redis).await;
    assert_eq!(three.get("/i/banner.png").await.body, stored.body);

    one.shutdown().await;
    two.shutdown().await;
    three.shutdown().await;
}

async fn embed(server: &TestServer, path: &str, token: &str) -> (StatusCode, serde_json::Value) {
    call(server, Method::GET, path, token, String::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_gives_the_html_to_paste_under_public_url_or_the_host() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    // Without public_url, the address the caller reached the server at.
    let host = server.base.trim_start_matches("http://").to_string();
    let (status, answer) = embed(
        &server,
        "/api/v1/templates/renewal/embed?esp=hubspot&e=renewal-1",
        ADMIN,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({ "html": format!(
            "<a href=\"http://{host}/c/renewal?t={{{{contact.ot_token}}}}&amp;e=renewal-1\">\
             <img src=\"http://{host}/i/renewal.png?t={{{{contact.ot_token}}}}&amp;e=renewal-1\" \
             width=600 height=200 alt=\"Your membership renewal\" style=\"display:block;border:0\"></a>"
        ) })
    );
    // A template put through the API embeds as its file would; a public
    // one takes no token.
    let (status, _) = call(
        &server,
        Method::PUT,
        "/api/v1/templates/extra",
        ADMIN,
        card("extra", "New", "#006400"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, answer) = embed(
        &server,
        "/api/v1/templates/extra/embed?esp=customerio&attribute=token2",
        ADMIN,
    )
    .await;
    assert_eq!(
        answer["html"],
        format!(
            "<a href=\"http://{host}/c/extra\"><img src=\"http://{host}/i/extra.png\" \
             width=300 height=80 alt=\"Extra\" style=\"display:block;border:0\"></a>"
        )
    );

    // Refusals, each with its code and what to do.
    for (path, status, code, message) in [
        (
            "/api/v1/templates/renewal/embed?esp=marketo",
            StatusCode::BAD_REQUEST,
            "unknown_esp",
            "unknown email platform \"marketo\": use one of braze, sfmc, klaviyo, mailchimp, customerio, iterable, hubspot, sendgrid, plain",
        ),
        (
            "/api/v1/templates/renewal/embed",
            StatusCode::BAD_REQUEST,
            "unknown_esp",
            "give the email platform as esp: one of braze, sfmc",
        ),
        (
            "/api/v1/templates/renewal/embed?esp=sfmc&e=a%26b",
            StatusCode::BAD_REQUEST,
            "bad_email_id",
            "e \"a&b\" is not an email id: 1 to 64 ASCII letters, digits, '.', '_' and '-'",
        ),
        (
            "/api/v1/templates/renewal/embed?esp=sfmc&attribute=",
            StatusCode::BAD_REQUEST,
            "bad_attribute",
            "the attribute \"\" is not a profile attribute name",
        ),
        (
            "/api/v1/templates/nothing/embed?esp=sfmc",
            StatusCode::NOT_FOUND,
            "no_template",
            "no template \"nothing\" is loaded",
        ),
    ] {
        let (got, refusal) = embed(&server, path, ADMIN).await;
        assert_eq!(got, status, "{path}: {refusal}");
        assert_eq!(refusal["error"]["code"], code, "{path}: {refusal}");
        let said = refusal["error"]["message"].as_str().unwrap();
        assert!(said.starts_with(message), "{path}: {said}");
    }
    let (status, _) = embed(
        &server,
        "/api/v1/templates/renewal/embed?esp=sfmc",
        POOLS_ONLY,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the templates scope");
    server.shutdown().await;

    // With public_url, under it whatever the Host.
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
        config.server.public_url = Some("https://ot.example.com".to_string());
    })
    .await;
    let answer = server
        .request(
            Method::GET,
            "/api/v1/templates/flash-sale/embed?esp=sfmc",
            &[
                ("authorization", &format!("Bearer {ADMIN}")),
                ("host", "attacker.example"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json()["html"],
        "<a href=\"https://ot.example.com/c/flash-sale?t=%%ot_token%%\">\
         <img src=\"https://ot.example.com/i/flash-sale.gif?t=%%ot_token%%\" width=600 height=150 \
         alt=\"Flash sale: the time left to shop\" style=\"display:block;border:0\"></a>"
    );
    server.shutdown().await;
}
