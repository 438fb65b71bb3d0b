//! The admin API's bulk calls against a real Redis: an NDJSON import whose
//! good lines land and whose bad lines are reported by number, and token
//! signing in NDJSON and CSV.

use crate::support;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use support::RedisServer;
use support::server::TestServer;

const ADMIN: &str = "bulk-test-admin-token";
const POOLS_ONLY: &str = "bulk-test-pools-token";

async fn launch(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string(), format!("pools:{POOLS_ONLY}")].into();
    })
    .await
}

async fn post(
    server: &TestServer,
    path: &str,
    token: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, Bytes) {
    let answer = server
        .admin(Method::POST, path, token, content_type, body)
        .await;
    (answer.status, answer.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_writes_good_lines_and_reports_bad_ones_by_number() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    redis.hset("ot:r:{old}", "plan", "basic");
    redis.hset("ot:r:{old}", "stale", "yes");
    // A string where a profile hash should be: the store refuses that line.
    redis
        .client()
        .get_connection()
        .and_then(|mut c| {
            redis::cmd("SET")
                .arg("ot:r:{broken}")
                .arg("x")
                .query::<()>(&mut c)
        })
        .expect("SET");

    let mut body = String::new();
    for n in 0..1234 {
        body.push_str(&format!(
            "{{\"recipient\":\"user-{n}\",\"fields\":{{\"first_name\":\"U{n}\",\"points\":{n}}}}}\n"
        ));
    }
    body.push_str("not json\n"); // line 1235
    body.push_str("{\"recipient\":\"old\",\"fields\":{\"plan\":\"pro\"},\"remove\":[\"stale\"]}\n");
    body.push_str("{\"recipient\":\"\",\"fields\":{\"a\":\"1\"}}\n"); // line 1237
    body.push_str(&format!(
        "{{\"recipient\":\"long\",\"fields\":{{\"a\":\"{}\"}}}}\n",
        "x".repeat(70_000)
    ));
    body.push_str("{\"recipient\":\"broken\",\"fields\":{\"a\":\"1\"}}\n"); // line 1239
    body.push_str("{\"recipient\":\"last\",\"fields\":{\"a\":true}}"); // no newline

    let (status, answer) = post(
        &server,
        "/api/v1/recipients",
        ADMIN,
        "application/x-ndjson",
        body,
    )
    .await;
    let report: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["lines"], 1240, "{report}");
    assert_eq!(report["written"], 1236, "{report}");
    assert_eq!(report["refused"], 4, "{report}");
    let errors: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (1235, "invalid_line"),
            (1237, "invalid_recipient"),
            (1238, "line_too_long"),
            (1239, "store_refused"),
        ]
    );
    assert_eq!(redis.hgetall("ot:r:{user-0}")["first_name"], "U0");
    assert_eq!(redis.hgetall("ot:r:{user-1233}")["points"], "1233");
    let old = redis.hgetall("ot:r:{old}");
    assert_eq!(old.get("plan").map(String::as_str), Some("pro"));
    assert!(!old.contains_key("stale"), "{old:?}");
    assert_eq!(redis.hgetall("ot:r:{last}")["a"], "true");

    let (status, _) = post(
        &server,
        "/api/v1/recipients",
        POOLS_ONLY,
        "application/x-ndjson",
        "{}".into(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_redis_cannot_take_yet_ends_with_503_not_with_refused_lines() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    // Every write refused, as writes are with LOADING after a restart:
    // nothing is wrong with the lines.
    redis.refuse_writes(true);
    let body = "{\"recipient\":\"ann\",\"fields\":{\"tier\":\"gold\"}}\n".to_string();
    let (status, answer) = post(
        &server,
        "/api/v1/recipients",
        ADMIN,
        "application/x-ndjson",
        body,
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("store_unavailable"), "{text}");
    assert!(!text.contains("store_refused"), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_signed_in_ndjson_and_csv() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let (status, body) = post(
        &server,
        "/api/v1/tokens",
        ADMIN,
        "application/x-ndjson",
        "{\"recipient\":\"alice\",\"send\":\"nov\"}\n{\"recipient\":\"bob\"}\n".into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<serde_json::Value> = body
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["send"], "nov");
    // The token opens the recipient's image.
    let token = lines[1]["token"].as_str().unwrap();
    assert_eq!(token, server.token("bob"));

    let (status, body) = post(
        &server,
        "/api/v1/tokens?column=id",
        ADMIN,
        "text/csv",
        "id,name\nalice,Alice\n".into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(
        csv,
        format!("id,name,token\nalice,Alice,{}\n", server.token("alice"))
    );

    let (status, body) = post(
        &server,
        "/api/v1/tokens",
        ADMIN,
        "text/csv",
        "name\nx\n".into(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _) = post(&server, "/api/v1/tokens", ADMIN, "image/png", String::new()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = post(
        &server,
        "/api/v1/tokens",
        POOLS_ONLY,
        "text/csv",
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_credentials_open_the_preview_only() {
    use base64::Engine;
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens =
            vec![ADMIN.to_string(), "templates:author-only-token".to_string()].into();
    })
    .await;
    let basic = |token: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("any:{token}"))
        )
    };
    // The API takes Bearer only: a browser's stored Basic credentials are
    // no way in for a page on another site.
    let answer = server
        .request(
            Method::GET,
            "/api/v1/templates",
            &[("authorization", &basic(ADMIN))],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = server
        .request(
            Method::GET,
            "/preview/templates",
            &[("authorization", &basic(ADMIN))],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    // A profile needs the recipients scope as in the API.
    redis.hset("ot:r:{ann}", "first_name", "Ann");
    let answer = server
        .request(
            Method::GET,
            "/preview/state?recipient=ann",
            &[("authorization", &basic("author-only-token"))],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = server
        .request(
            Method::GET,
            "/preview/state?recipient=ann",
            &[("authorization", &basic(ADMIN))],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    // A request another site's page makes is refused.
    let answer = server
        .request(
            Method::GET,
            "/preview/templates",
            &[
                ("authorization", &basic(ADMIN)),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Ids in bodies are taken as they are: a%41 is not aA.
    let (status, body) = post(
        &server,
        "/api/v1/tokens",
        ADMIN,
        "application/x-ndjson",
        "{\"recipient\":\"a%41\"}\n".into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let line: serde_json::Value = serde_json::from_slice(body.trim_ascii()).unwrap();
    assert_eq!(line["token"], server.token("a%41"));
    server.shutdown().await;
}
