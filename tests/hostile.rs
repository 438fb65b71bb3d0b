//! Hostile requests, each with the answer it must get. The server is the
//! real one against a real Redis; nothing here may panic it, hang it, or
//! make it hold memory it should not.
//!
//! | request | answer |
//! |---|---|
//! | a request target over `max_url_bytes` | 414 |
//! | a head over `max_header_bytes` | 431, or the connection closed |
//! | a client that drips its head a byte at a time | the connection closed at `header_read_timeout`; others served meanwhile |
//! | `..`, `%2F`, NUL and backslashes in template names | 404 for images and clicks, 403 from AMP (not an AMP request), 400 from the admin API |
//! | a put template whose image asset climbs out of the templates directory | 422 `invalid_template` |
//! | a megabyte of text in a profile field | 200, an image |
//! | invalid UTF-8 in a profile field, a token, a query, a one-click body, an import line | an image, the default image, an image, 400 (nothing written), a refused line |
//! | 10,000 idle connections | a request beside them is served; they are closed at `header_read_timeout`; RSS stays bounded |

use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use support::RedisServer;
use support::server::{TestServer, assert_image, hset};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "hostile-test-admin-token";

async fn launch(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
        config.server.header_read_timeout = Duration::from_secs(1);
    })
    .await
}

/// Sends raw bytes and reads what comes back until the server closes or
/// a second passes.
async fn raw(base: &str, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> &str {
    answer.get(9..12).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_traversing_requests_get_precise_refusals() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;

    let long_url = format!("/i/loyalty.png?t={}", "a".repeat(8 * 1024));
    assert_eq!(server.get(&long_url).await.status, StatusCode::URI_TOO_LONG);

    let huge_head = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let answer = raw(&server.base, huge_head.as_bytes()).await;
    assert!(
        answer.is_empty() || status_of(&answer) == "431",
        "{}",
        &answer[..answer.len().min(100)]
    );

    for path in [
        "/i/..%2F..%2Fetc%2Fpasswd.png",
        "/i/%2E%2E%2Floyalty.png",
        "/i/loyalty%00.png",
        "/i/..%5Cloyalty.png",
        "/i/....png",
        "/c/..%2Floyalty",
    ] {
        let answer = server.get(path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    // AMP refuses a request that is not from an AMP email before it reads
    // any name.
    assert_eq!(
        server.get("/a/..%2Floyalty.json").await.status,
        StatusCode::FORBIDDEN
    );
    // Dot segments a client sends raw.
    let answer = raw(
        &server.base,
        b"GET /i/../../etc/passwd HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), "404", "{answer}");

    let authorization = format!("Bearer {ADMIN}");
    for name in ["..%2Fx", "a%00b", "%2E%2E", "UPPER", "a%5Cb"] {
        let answer = server
            .send(
                Method::PUT,
                &format!("/api/v1/templates/{name}"),
                &[("authorization", &authorization)],
                Bytes::from_static(b"{}"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}");
    }
    // An asset outside the templates directory is refused by name.
    let escaping = r#"{ "name": "escape", "width": 10, "height": 10, "format": "png", "access": "public",
        "variants": [ { "id": "default", "layers": [
          { "type": "image", "x": 0, "y": 0, "width": 10, "height": 10, "src": "../../../../etc/passwd" } ] } ] }"#;
    let answer = server
        .send(
            Method::PUT,
            "/api/v1/templates/escape",
            &[("authorization", &authorization)],
            Bytes::from_static(escaping.as_bytes()),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_invalid_text_gets_an_image_or_a_clear_refusal() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;

    // A megabyte of text where a name goes: the text shrinks, wraps and
    // stops at its box; the open gets an image.
    hset(
        &redis,
        "huge",
        &[("first_name", &"W".repeat(1 << 20)), ("points", "1")],
    );
    let answer = server
        .get(&format!("/i/loyalty.png?t={}", server.token("huge")))
        .await;
    assert_image(&answer);

    // Bytes that are not UTF-8 in a profile field: an image.
    let mut connection = redis.connection();
    let _: () = redis::cmd("HSET")
        .arg("ot:r:{binary}")
        .arg("first_name")
        .arg(&b"\xff\xfe\xfd"[..])
        .arg("points")
        .arg("7")
        .query(&mut connection)
        .unwrap();
    let answer = server
        .get(&format!("/i/loyalty.png?t={}", server.token("binary")))
        .await;
    assert_image(&answer);

    // A token that is not UTF-8 is a tampered token: the default image.
    assert_image(&server.get("/i/loyalty.png?t=%FF%FE%00").await);
    // A declared query parameter that is not UTF-8: an image.
    assert_image(&server.get("/i/renewal.png?campaign=%FF%FE").await);

    // A form body that is not UTF-8.
    let token = server.token("huge");
    let answer = server
        .send(
            Method::POST,
            &format!("/u?t={token}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            Bytes::from_static(b"List-Unsubscribe=One-Click\xff\xfe"),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "not the one-click body, so nothing is unsubscribed"
    );
    assert!(
        redis.hgetall("ot:r:{huge}:prefs").is_empty(),
        "no preference was written"
    );

    // An import line that is not UTF-8 is refused by number; the next lands.
    let authorization = format!("Bearer {ADMIN}");
    let mut body = b"{\"recipient\":\"\xff\xfe\",\"fields\":{\"a\":\"1\"}}\n".to_vec();
    body.extend_from_slice(b"{\"recipient\":\"after\",\"fields\":{\"a\":\"1\"}}\n");
    let answer = server
        .send(
            Method::POST,
            "/api/v1/recipients",
            &[
                ("authorization", &authorization),
                ("content-type", "application/x-ndjson"),
            ],
            Bytes::from(body),
        )
        .await;
    let report: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(report["written"], 1, "{report}");
    assert_eq!(report["errors"][0]["line"], 1, "{report}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_drips_its_head_is_cut_off_and_others_are_served() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let dripping = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let started = Instant::now();
        for byte in b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: "
            .iter()
            .cycle()
        {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The server closed it: a read sees the end (or a 408 first).
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut rest)).await;
        started.elapsed()
    });
    // Meanwhile, others are served at once.
    for _ in 0..5 {
        assert_eq!(server.get("/healthz").await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cut_after = dripping.await.unwrap();
    assert!(
        cut_after < Duration::from_secs(5),
        "a dripping client holds its connection only until header_read_timeout: {cut_after:?}"
    );
    server.shutdown().await;
}

/// The server binary in its own process, on the demo store, so that its
/// descriptors and memory are its own.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    fn start(env: &[(&str, &str)]) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = env!("CARGO_MANIFEST_DIR");
        let child = Command::new(env!("CARGO_BIN_EXE_opentime"))
            .current_dir(root)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OPENTIME_LISTEN", format!("127.0.0.1:{port}"))
            .env("OPENTIME_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the opentime binary starts");
        let process = Process {
            child,
            base: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&process.base).is_err() {
            assert!(
                Instant::now() < deadline,
                "opentime did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_neither_block_a_request_nor_stay_open() {
    const IDLE: usize = 10_000;
    // Every client of a test is 127.0.0.1: without the per-address limit,
    // which tests/limits.rs covers, this is the case of many clients.
    let server = Process::start(&[
        ("OPENTIME_MAX_CONNECTIONS", "10100"),
        ("OPENTIME_MAX_CONNECTIONS_PER_IP", "0"),
        ("OPENTIME_HEADER_READ_TIMEOUT_MS", "3000"),
    ]);
    let before = server.rss_kib();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        match tokio::net::TcpStream::connect(&server.base).await {
            Ok(stream) => idle.push(stream),
            Err(error) => panic!("connection {} refused: {error}", idle.len()),
        }
    }
    // A real request beside them.
    let answer = raw(
        &format!("http://{}", server.base),
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), "200", "{answer}");
    let during = server.rss_kib();
    assert!(
        during < before + 256 * 1024,
        "10,000 idle connections cost {} KiB",
        during - before
    );
    // They are closed once their head is overdue.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut closed = 0;
    for stream in &mut idle {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(5), stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            // A 408 before the close counts too.
            Ok(Ok(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert!(
        closed >= IDLE * 99 / 100,
        "only {closed} of {IDLE} idle connections were closed"
    );
    eprintln!(
        "RSS {} KiB before, {} KiB with {IDLE} idle connections; {closed} closed after the head timeout",
        before, during
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_answers_its_own_page_only() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let auth = format!("Bearer {ADMIN}");
    let body = br#"{"template": "loyalty"}"#.to_vec();
    let render = |headers: Vec<(&'static str, String)>| {
        let mut all = vec![("authorization", auth.clone())];
        all.extend(headers);
        let body = body.clone();
        let server = &server;
        async move {
            let headers: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            server
                .send(Method::POST, "/preview/render", &headers, body.into())
                .await
        }
    };
    let json = ("content-type", "application/json".to_string());
    assert_eq!(render(vec![json.clone()]).await.status, StatusCode::OK);
    // A form post from another page cannot declare JSON.
    let form = ("content-type", "text/plain".to_string());
    assert_eq!(
        render(vec![form]).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // Another site, however its browser writes the headers.
    for cross in [
        ("sec-fetch-site", "cross-site".to_string()),
        ("sec-fetch-site", "Cross-Site".to_string()),
        ("origin", "https://evil.example".to_string()),
        ("origin", "HTTPS://EVIL.EXAMPLE".to_string()),
    ] {
        let answer = render(vec![json.clone(), cross.clone()]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{cross:?}");
    }
    server.shutdown().await;
}
