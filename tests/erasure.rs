//! The admin API's recipient calls against a real Redis: get, merge, and a
//! privacy erasure that leaves no key of the recipient and takes their
//! vote out of the tally.

use crate::support;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use support::RedisServer;
use support::server::TestServer;

const ADMIN: &str = "erasure-test-admin-token";
const ENGAGEMENT_ONLY: &str = "erasure-test-engagement-token";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";

async fn api(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let answer = server
        .admin(method, path, token, "", body.to_string())
        .await;
    let json: serde_json::Value = serde_json::from_slice(&answer.body).expect("a JSON answer");
    (answer.status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_is_read_merged_and_erased_completely() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens =
            vec![ADMIN.to_string(), format!("engagement:{ENGAGEMENT_ONLY}")].into();
    })
    .await;
    let (status, merged) = api(
        &server,
        Method::PATCH,
        "/api/v1/recipients/ann",
        ADMIN,
        r#"{"first_name":"Ann","points":1200,"vip":true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    let (_, read) = api(&server, Method::GET, "/api/v1/recipients/ann", ADMIN, "").await;
    assert_eq!(read["profile"]["points"], "1200");
    assert_eq!(read["profile"]["vip"], "true");
    let (status, refused) = api(
        &server,
        Method::PATCH,
        "/api/v1/recipients/ann",
        ADMIN,
        r#"{"nested":{"a":1}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, _) = api(
        &server,
        Method::DELETE,
        "/api/v1/recipients/ann",
        ENGAGEMENT_ONLY,
        "",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the recipients scope is needed"
    );

    // Ann opens, clicks, votes and unsubscribes: records everywhere.
    let token = server.token("ann");
    for path in [
        format!("/i/loyalty.png?t={token}"),
        format!("/c/loyalty?t={token}"),
        format!("/v/care-rating/5?t={token}"),
    ] {
        server
            .request(Method::GET, &path, &[("user-agent", IPHONE)])
            .await;
        server
            .app
            .clock
            .advance(jiff::SignedDuration::from_secs(60));
    }
    server
        .send(
            Method::POST,
            &format!("/u?t={token}&list=offers"),
            &[("content-type", "application/x-www-form-urlencoded")],
            Bytes::from("List-Unsubscribe=One-Click"),
        )
        .await;
    let ann_keys = || -> Vec<String> {
        redis
            .keys()
            .into_iter()
            .filter(|key| key.contains("{ann}"))
            .collect()
    };
    // Every event written first: an erasure does not reach into the
    // writer's queue (docs/api.md).
    support::eventually(
        "ann's four events written",
        std::time::Duration::from_secs(10),
        || async {
            let written = server.metric("opentime_events_written_total").await;
            (written >= 4.0 && ann_keys().len() >= 5).then_some(())
        },
    )
    .await;
    assert_eq!(redis.hgetall("ot:poll:{care-rating}:tally")["5"], "1");

    let (status, erased) = api(&server, Method::DELETE, "/api/v1/recipients/ann", ADMIN, "").await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert!(erased["erased"].as_u64().unwrap() >= 6, "{erased}");
    assert_eq!(
        ann_keys(),
        Vec::<String>::new(),
        "no key of the recipient is left"
    );
    assert_eq!(
        redis.hgetall("ot:poll:{care-rating}:tally")["5"],
        "0",
        "the vote left the tally"
    );
    assert!(
        !redis
            .hgetall("ot:poll:{care-rating}:votes")
            .contains_key("ann")
    );
    let (status, gone) = api(&server, Method::GET, "/api/v1/recipients/ann", ADMIN, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["error"]["code"], "no_recipient");
    server.shutdown().await;
}
