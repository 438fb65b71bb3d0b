//! Cache warming against a real Redis with two replicas: a job started on
//! one renders each recipient's image once, its progress reads on the
//! other, and an open of a warmed recipient on the other replica does no
//! render (the shared cache has it) and writes nothing for the recipient.

use crate::support;

use std::time::Duration;

use hyper::{Method, StatusCode};
use support::server::{TestServer, assert_image, hset};
use support::{RedisServer, eventually};

const ADMIN: &str = "warm-test-admin-token";
const POOLS_ONLY: &str = "warm-test-pools-token";

async fn launch(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string(), format!("pools:{POOLS_ONLY}")].into();
        config.warm.rate = 1000;
    })
    .await
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, serde_json::Value) {
    let answer = server.admin(method, path, token, content_type, body).await;
    (answer.status, answer.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_job_on_one_replica_spares_the_other_its_renders() {
    let redis = RedisServer::new();
    let one = launch(&redis).await;
    let two = launch(&redis).await;
    // Twelve recipients in six pairs: each pair sees the same card.
    let ids: Vec<String> = (0..12).map(|n| format!("warm-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let pair = (n / 2).to_string();
        hset(
            &redis,
            id,
            &[
                ("first_name", "Warm"),
                ("last_name", &pair),
                ("points", "100"),
            ],
        );
    }

    // Refusals.
    let (status, _) = call(
        &one,
        Method::POST,
        "/api/v1/warm",
        POOLS_ONLY,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, refusal) = call(
        &one,
        Method::POST,
        "/api/v1/warm",
        ADMIN,
        "application/json",
        r#"{"template":"nope","recipients":["a"]}"#.into(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refusal}");
    let (status, _) = call(
        &one,
        Method::POST,
        "/api/v1/warm",
        ADMIN,
        "application/json",
        r#"{"template":"loyalty","scale":3,"recipients":["a"]}"#.into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, refusal) = call(
        &one,
        Method::POST,
        "/api/v1/warm?template=loyalty",
        ADMIN,
        "application/x-ndjson",
        "{\"recipient\":\"a\"}\nnot json\n".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2"),
        "{refusal}"
    );

    // Ten of the twelve, as NDJSON; scale 2, as retina clients ask.
    let list: String = ids[..10]
        .iter()
        .map(|id| format!("{{\"recipient\":\"{id}\"}}\n"))
        .collect();
    let (status, started) = call(
        &one,
        Method::POST,
        "/api/v1/warm?template=loyalty&scale=2",
        ADMIN,
        "application/x-ndjson",
        list,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let job = started["job"].as_str().unwrap().to_string();
    assert_eq!(started["total"], 10);

    // Its progress, read on the other replica through Redis.
    let path = format!("/api/v1/warm/{job}");
    let done = eventually("the job ends", Duration::from_secs(30), || async {
        let (status, progress) = call(&two, Method::GET, &path, ADMIN, "", String::new()).await;
        (status == StatusCode::OK && progress["state"] == "done").then_some(progress)
    })
    .await;
    assert_eq!(done["done"], 10, "{done}");
    assert_eq!(done["rendered"], 5, "five distinct cards: {done}");
    assert_eq!(done["cached"], 5, "{done}");
    assert_eq!(done["errors"], 0, "{done}");
    let (status, _) = call(
        &two,
        Method::GET,
        "/api/v1/warm/0123456789abcdef0123456789abcdef",
        ADMIN,
        "",
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The job wrote nothing for the recipients: no open counted (the
    // counter moves when an open is recorded, before the writer runs), no
    // event.
    assert_eq!(
        one.metric("opentime_opens_total").await,
        0.0,
        "the job recorded no open"
    );
    assert!(redis.events().is_empty(), "{:?}", redis.events());

    // A warmed open on the other replica renders nothing.
    let renders_before = two.metric("opentime_renders_total").await;
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
    for id in &ids[..10] {
        let path = format!("/i/loyalty@2x.png?t={}", two.token(id));
        let answer = two
            .request(Method::GET, &path, &[("user-agent", iphone)])
            .await;
        assert_image(&answer);
    }
    assert_eq!(
        two.metric("opentime_renders_total").await,
        renders_before,
        "every warmed open came from the shared cache"
    );
    assert!(
        two.metric("opentime_shared_cache_lookups_total{result=\"hit\"}")
            .await
            >= 5.0
    );
    // One that was not warmed is rendered.
    let path = format!("/i/loyalty@2x.png?t={}", two.token(&ids[10]));
    assert_image(
        &two.request(Method::GET, &path, &[("user-agent", iphone)])
            .await,
    );
    assert_eq!(
        two.metric("opentime_renders_total").await,
        renders_before + 1.0
    );

    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_starts_a_job_and_reports_its_end() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    for n in 0..6 {
        hset(
            &redis,
            &format!("cli-{n}"),
            &[("first_name", "Cli"), ("points", &n.to_string())],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    // Bare ids and NDJSON lines may mix.
    std::fs::write(
        &list,
        "cli-0\ncli-1\n{\"recipient\":\"cli-2\",\"fields\":{}}\n\ncli-3\ncli-4\ncli-5\n",
    )
    .unwrap();
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_opentime"))
            .args(["warm", "--server", &base, "--template", "loyalty"])
            .arg(&list)
            .env("OPENTIME_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let last: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(last["state"], "done");
    assert_eq!(last["done"], 6);
    assert_eq!(last["rendered"], 6);
    assert!(stderr.contains("100%  6/6"), "{stderr}");

    // A wrong token is a clear error, not a hang.
    let base = server.base.clone();
    let dir_path = dir.path().join("list.txt");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_opentime"))
            .args(["warm", "--server", &base, "--template", "loyalty"])
            .arg(&dir_path)
            .env("OPENTIME_ADMIN_TOKEN", "wrong")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unauthorized"));
    server.shutdown().await;
}
