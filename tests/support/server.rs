//! A running opentime for the integration tests: the real server on
//! 127.0.0.1:0 with its own copy of the templates, against a test's own
//! `redis-server`, and an HTTP client to speak to it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentime::app::App;
use opentime::clock::Clock;
use opentime::config::Config;
use opentime::recipient::RecipientId;
use tokio::sync::oneshot;

use super::RedisServer;

pub const SIGNING_KEY: &str = "integration-test-signing-key";

/// A running opentime with its own copy of the templates.
pub struct TestServer {
    pub base: String,
    pub app: App,
    pub templates_dir: PathBuf,
    _templates: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON; `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl TestServer {
    /// Starts opentime on 127.0.0.1:0 against `redis`, with a copy of the
    /// demo templates plus `templates` (file name, JSON), after `adjust` has
    /// changed the test configuration.
    pub async fn launch(
        redis: &RedisServer,
        templates: &[(&str, &str)],
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let templates_copy = tempfile::tempdir().expect("temp dir");
        copy_dir(&root.join("assets/templates"), templates_copy.path());
        for (file, json) in templates {
            std::fs::write(templates_copy.path().join(file), json).unwrap();
        }
        let templates = templates_copy;
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.store.redis_url = Some(redis.url().into());
        config.access.signing_keys = vec![SIGNING_KEY.to_string()].into();
        config.templates.dir = templates.path().to_path_buf();
        config.render.fonts_dir = root.join("fonts");
        config.store.demo_dir = root.join("assets/demo");
        // Generous for a loaded CI machine; the budget's effect is
        // tested with a Redis that is made slower than it.
        config.store.budget = Duration::from_millis(250);
        // Tests compare the bytes of an image opened again and again; the
        // compact encoding of a hot PNG is tested where it is turned on.
        config.cache.recompress_png = false;
        // The demo templates call the demo shop's API, as demo mode allows.
        config.sources.hosts = vec![opentime::config::DEMO_API_ORIGIN.to_string()];
        adjust(&mut config);
        let (app, errors) = App::build(
            config,
            Clock::manual("2026-11-22T10:00:00Z".parse().unwrap()),
        )
        .await
        .expect("app builds");
        assert!(errors.is_empty(), "templates failed to load: {errors:?}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = tokio::spawn(opentime::http::run(listener, app.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer {
            base,
            app,
            templates_dir: templates.path().to_path_buf(),
            _templates: templates,
            stop: Some(stop),
            stopped: Some(stopped),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn token(&self, id: &str) -> String {
        self.app.keys.sign_recipient(&RecipientId::new(id).unwrap())
    }

    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(method, path, headers, Bytes::new()).await
    }

    /// A request with a body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.client.request(request.body(Full::new(body)).unwrap()),
        )
        .await
        .expect("the server answers within 10 s")
        .expect("the request goes through");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// An admin API call with `Authorization: Bearer <token>`; an empty
    /// `content_type` sends none.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Answer {
        let authorization = format!("Bearer {token}");
        let mut headers = vec![("authorization", authorization.as_str())];
        if !content_type.is_empty() {
            headers.push(("content-type", content_type));
        }
        self.send(method, path, &headers, body.into()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path, &[]).await
    }

    /// The value of a metric line, e.g. `opentime_renders_total`.
    pub async fn metric(&self, line_start: &str) -> f64 {
        let answer = self.get("/metrics").await;
        let text = String::from_utf8(answer.body.to_vec()).unwrap();
        text.lines()
            .filter(|line| line.starts_with(line_start))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            stopped.await.unwrap().unwrap();
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The width and height of a PNG, from its header.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height)
}

pub fn assert_image(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "image/png");
    assert_eq!(
        answer.headers["cache-control"],
        "no-cache, no-store, must-revalidate, max-age=0, private"
    );
    assert_eq!(answer.headers["pragma"], "no-cache");
    assert_eq!(answer.headers["expires"], "0");
    assert_eq!(
        answer.headers["content-length"],
        answer.body.len().to_string().as_str()
    );
    assert!(answer.headers.contains_key("etag"));
    png_size(&answer.body);
}

pub fn hset(redis: &RedisServer, id: &str, fields: &[(&str, &str)]) {
    for (field, value) in fields {
        redis.hset(&format!("ot:r:{{{id}}}"), field, value);
    }
}
