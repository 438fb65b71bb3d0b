//! What an operator sees: the operations address (`ops_listen`), request
//! ids, the access log, and what the admin template API tells a caller
//! (no server paths) and refuses (a template too slow to render).
//!
//! The first tests run the real binary, since listeners and log lines are
//! its business; the others use the in-process server against a real
//! Redis.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use support::RedisServer;
use support::server::TestServer;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary in demo mode with `env`, its standard error piped.
struct Binary {
    child: Child,
}

impl Binary {
    fn start(listen: u16, env: &[(&str, &str)]) -> Binary {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let child = Command::new(env!("CARGO_BIN_EXE_opentime"))
            .current_dir(root)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OPENTIME_LISTEN", format!("127.0.0.1:{listen}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the opentime binary starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", listen)).is_err() {
            assert!(
                Instant::now() < deadline,
                "opentime did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Binary { child }
    }

    /// Stops the process and returns everything it wrote to standard error.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let _ = self.child.wait();
        stderr
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET with `headers`; the status, the headers (lowercase
/// names) and the body.
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let mut answer_headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            answer_headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let _ = reader.read_to_end(&mut body);
    (
        status,
        answer_headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn the_operations_address_serves_metrics_and_probes_and_the_public_one_no_metrics() {
    let (public, ops) = (free_port(), free_port());
    let ops_listen = format!("127.0.0.1:{ops}");
    let server = Binary::start(
        public,
        &[
            ("OPENTIME_OPS_LISTEN", &ops_listen),
            ("OPENTIME_LOG", "warn"),
        ],
    );
    let (status, _, body) = get(ops, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(body.contains("opentime_build_info"), "{body}");
    assert_eq!(get(ops, "/healthz", &[]).0, 200);
    let (status, _, body) = get(ops, "/readyz", &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get(ops, "/i/welcome-offer.png", &[]).0,
        404,
        "the operations address serves nothing else"
    );
    assert_eq!(
        get(public, "/metrics", &[]).0,
        404,
        "metrics stay off the public address"
    );
    assert_eq!(get(public, "/healthz", &[]).0, 200, "probes still answer");
    server.stop();
}

#[test]
fn every_answer_carries_a_request_id_and_the_access_log_has_no_query_string() {
    let port = free_port();
    let server = Binary::start(
        port,
        &[("OPENTIME_LOG", "info"), ("OPENTIME_LOG_FORMAT", "json")],
    );
    // A new id per request when the caller sends none.
    let (_, first, _) = get(port, "/healthz", &[]);
    let (_, second, _) = get(port, "/healthz", &[]);
    let first = header(&first, "x-request-id")
        .expect("a request id")
        .to_string();
    let second = header(&second, "x-request-id")
        .expect("a request id")
        .to_string();
    assert_ne!(first, second);
    // A proxy's id is kept; one that could forge a log line is replaced.
    let (_, kept, _) = get(port, "/healthz", &[("X-Request-Id", "lb-7f3a.42")]);
    assert_eq!(header(&kept, "x-request-id"), Some("lb-7f3a.42"));
    let (_, replaced, _) = get(port, "/healthz", &[("X-Request-Id", "a b\"}")]);
    assert_ne!(header(&replaced, "x-request-id"), Some("a b\"}"));

    let secret = "t=SECRET-TOKEN-VALUE";
    let (status, image, _) = get(port, &format!("/i/welcome-offer.png?{secret}"), &[]);
    assert_eq!(status, 200);
    let image_id = header(&image, "x-request-id").unwrap().to_string();
    let stderr = server.stop();
    assert!(!stderr.contains("SECRET-TOKEN-VALUE"), "{stderr}");
    let line = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| {
            line["target"] == "opentime::access" && line["fields"]["path"] == "/i/welcome-offer.png"
        })
        .unwrap_or_else(|| panic!("no access log line for the image: {stderr}"));
    assert_eq!(line["fields"]["status"], 200, "{line}");
    assert_eq!(line["span"]["id"], image_id.as_str(), "{line}");
}

#[test]
fn the_access_log_can_be_turned_off() {
    let port = free_port();
    let server = Binary::start(
        port,
        &[("OPENTIME_LOG", "info"), ("OPENTIME_ACCESS_LOG", "false")],
    );
    assert_eq!(get(port, "/healthz", &[]).0, 200);
    let stderr = server.stop();
    assert!(!stderr.contains("opentime::access"), "{stderr}");
}

const ADMIN: &str = "operations-test-admin-token";

fn card(image: &str) -> String {
    format!(
        r##"{{ "name": "card", "width": 300, "height": 80, "format": "png", "access": "public",
  "variants": [ {{ "id": "default", "link": "https://example.com/card",
    "layers": [ {{ "type": "image", "x": 0, "y": 0, "width": 300, "height": 80, "src": "{image}" }},
                {{ "type": "text", "x": 10, "y": 10, "width": 280, "height": 60,
                   "text": "Hello", "size": 24, "color": "#ffffff" }} ] }} ] }}"##
    )
}

/// Puts the `card` template with `image` through the admin API.
async fn put_card(server: &TestServer, image: &str) -> support::server::Answer {
    server
        .admin(
            Method::PUT,
            "/api/v1/templates/card",
            ADMIN,
            "application/json",
            card(image),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_api_errors_name_no_server_path() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    let answer = put_card(&server, "images/missing.png").await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    assert!(text.contains("missing.png"), "{text}");
    let templates_dir = server.templates_dir.display().to_string();
    assert!(!text.contains(&templates_dir), "{text}");
    assert!(!text.contains(env!("CARGO_MANIFEST_DIR")), "{text}");
    assert!(!text.contains("/tmp"), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_put_through_the_api_must_render_within_the_limit() {
    let redis = RedisServer::new();
    let strict = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
        config.templates.api_render_limit = Duration::from_nanos(1);
    })
    .await;
    let answer = put_card(&strict, "images/support-bg.png").await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let refusal = answer.json();
    assert_eq!(refusal["error"]["code"], "render_too_slow", "{refusal}");
    assert_eq!(
        refusal["error"]["details"]["variant"], "default",
        "{refusal}"
    );
    assert_eq!(
        strict.get("/i/card.png").await.status,
        StatusCode::NOT_FOUND,
        "nothing was stored"
    );
    strict.shutdown().await;

    let default = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    let answer = put_card(&default, "images/support-bg.png").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
    default.shutdown().await;
}

/// The `href` and `src` values of `html`, unescaped as a browser would.
fn attributes(html: &str, name: &str) -> Vec<String> {
    let marker = format!("{name}=\"");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest.find('"').map(|end| {
                rest[..end]
                    .replace("&#x2f;", "/")
                    .replace("&#x27;", "'")
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
        })
        .collect()
}

#[test]
fn the_demo_front_page_shows_every_template_with_working_urls() {
    let port = free_port();
    let server = Binary::start(port, &[("OPENTIME_LOG", "warn")]);
    let (status, headers, html) = get(port, "/", &[]);
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let templates =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates"))
            .unwrap()
            .filter_map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".json").map(str::to_string)
            })
            .collect::<Vec<_>>();
    assert!(!templates.is_empty());
    for template in &templates {
        assert!(
            html.contains(&format!("id=\"{template}\"")),
            "{template} is missing"
        );
    }
    // curl's own User-Agent is explained, and the commands send a mail
    // client's instead.
    assert!(
        html.contains("scanner") && html.contains("curl -A '"),
        "{html}"
    );

    let browser = [("User-Agent", opentime::http::front::MAIL_CLIENT_USER_AGENT)];
    let images = attributes(&html, "src");
    assert!(
        images.len() > templates.len(),
        "an image per template and recipient"
    );
    for image in &images {
        let (status, headers, _) = get(port, image, &browser);
        assert_eq!(status, 200, "{image}");
        assert!(
            header(&headers, "content-type")
                .unwrap()
                .starts_with("image/"),
            "{image}"
        );
    }
    let links = attributes(&html, "href");
    let clicks: Vec<_> = links
        .iter()
        .filter(|link| link.starts_with("/c/"))
        .collect();
    assert!(clicks.len() >= templates.len(), "{links:?}");
    for click in clicks {
        let (status, headers, _) = get(port, click, &browser);
        assert_eq!(status, 302, "{click}");
        assert!(
            header(&headers, "location").unwrap().starts_with("http"),
            "{click}"
        );
    }
    let votes: Vec<_> = links
        .iter()
        .filter(|link| link.starts_with("/v/"))
        .collect();
    assert!(!votes.is_empty(), "the poll's votes are linked");
    for vote in votes {
        let (status, _, _) = get(port, vote, &browser);
        assert!(status == 302 || status == 303, "{vote}: {status}");
    }
    let preferences = links.iter().find(|link| link.starts_with("/p?t=")).unwrap();
    assert_eq!(get(port, preferences, &browser).0, 200);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_real_store_there_is_no_front_page() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |_| {}).await;
    assert_eq!(server.get("/").await.status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}
