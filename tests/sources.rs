//! Templates' sources against a real JSON API: a small hyper server on
//! 127.0.0.1 that answers as a shop's order API would (or slowly, with a
//! 500, or with bad JSON, as a test asks), counts its calls and keeps the
//! headers it was sent. opentime runs for real against a real Redis; what
//! an open saw is read from the AMP answer, which lists the texts of the
//! variant it chose.

use crate::support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentime::config::Config;
use opentime::sources::SecretMap;
use serde_json::{Value, json};
use support::RedisServer;
use support::server::{TestServer, hset};
use tokio::net::TcpListener;

const SECRET: &str = "shop-api-key-7f3e9c";

/// How the API answers, set by a test as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    Error,
    BadJson,
}

struct Api {
    port: u16,
    calls: AtomicUsize,
    mode: Mutex<Mode>,
    /// How long each answer waits, in milliseconds.
    delay_ms: AtomicU64,
    authorization: Mutex<Vec<String>>,
    /// The path of every call, in order.
    paths: Mutex<Vec<String>>,
}

impl Api {
    async fn start() -> Arc<Api> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an API");
        let api = Arc::new(Api {
            port: listener.local_addr().unwrap().port(),
            calls: AtomicUsize::new(0),
            mode: Mutex::new(Mode::Ok),
            delay_ms: AtomicU64::new(0),
            authorization: Mutex::new(Vec::new()),
            paths: Mutex::new(Vec::new()),
        });
        let serving = api.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let api = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.answer(request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        api
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.paths
            .lock()
            .unwrap()
            .push(request.uri().path().to_string());
        if let Some(value) = request.headers().get("authorization") {
            self.authorization
                .lock()
                .unwrap()
                .push(value.to_str().unwrap().to_string());
        }
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let customer = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let mode = *self.mode.lock().unwrap();
        let (status, body) = match mode {
            // No customer id, as an open without a recipient asks: a real
            // API has no such customer.
            Mode::Ok if customer.is_empty() => (
                StatusCode::NOT_FOUND,
                r#"{"error": "no customer"}"#.to_string(),
            ),
            Mode::Ok => (
                StatusCode::OK,
                format!(
                    r#"{{"customer": "{customer}", "number": "A-991", "status": "shipped", "items": 3}}"#
                ),
            ),
            Mode::Error => (StatusCode::INTERNAL_SERVER_ERROR, "oops".to_string()),
            Mode::BadJson => (StatusCode::OK, "{\"status\": ".to_string()),
        };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The paths called so far, each once, sorted.
    fn paths(&self) -> Vec<String> {
        let mut paths = self.paths.lock().unwrap().clone();
        paths.sort();
        paths.dedup();
        paths
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// An order card whose first variant needs the order API's answer.
fn order_card(api: &Api, timeout_ms: u64, ttl_s: u64) -> String {
    format!(
        r##"{{
  "name": "order-card", "width": 400, "height": 100, "access": "token",
  "sources": {{
    "orders": {{ "url": "{origin}/customers/{{{{ recipient.id | urlencode }}}}",
                "headers": {{ "Authorization": "Bearer {{{{ secret('shop_api') }}}}" }},
                "timeout_ms": {timeout_ms}, "ttl_s": {ttl_s}, "stale_s": 3600 }}
  }},
  "variants": [
    {{ "id": "shipped", "when": "source.orders.status == 'shipped'",
      "layers": [ {{ "type": "text", "x": 10, "y": 10, "width": 380, "height": 80, "size": 20,
                    "text": "Order {{{{ source.orders.number }}}} is on its way, {{{{ profile.first_name | default('friend') }}}}" }} ] }},
    {{ "id": "default",
      "layers": [ {{ "type": "text", "x": 10, "y": 10, "width": 380, "height": 80, "size": 20, "text": "Thanks for shopping" }} ] }}
  ]
}}"##,
        origin = api.origin()
    )
}

async fn launch(redis: &RedisServer, api: &Api, template: &str) -> TestServer {
    launch_with(redis, api, template, |_| {}).await
}

/// [`launch`], with `adjust` changing the configuration last.
async fn launch_with(
    redis: &RedisServer,
    api: &Api,
    template: &str,
    adjust: impl FnOnce(&mut Config),
) -> TestServer {
    let origin = api.origin();
    TestServer::launch(redis, &[("order-card.json", template)], move |config| {
        config.sources.hosts.push(origin);
        config.sources.secrets = SecretMap::new(BTreeMap::from([(
            "shop_api".to_string(),
            SECRET.to_string(),
        )]));
        config.sources.budget = Duration::from_millis(2_000);
        config.amp.senders = vec!["news@example.com".to_string()];
        adjust(config);
    })
    .await
}

/// The variant and texts an open of `id` gets, through the AMP answer.
async fn open(server: &TestServer, id: &str) -> (String, Vec<String>) {
    let token = server.token(id);
    let answer = server
        .request(
            Method::GET,
            &format!("/a/order-card.json?t={token}"),
            &[("amp-email-sender", "news@example.com")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let item = answer.json()["items"][0].clone();
    let texts = item["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|text| text.as_str().unwrap().to_string())
        .collect();
    (item["variant"].as_str().unwrap().to_string(), texts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_is_personalized_from_the_api_with_the_secret_sent_and_shown_nowhere() {
    let logs = capture_logs();
    let redis = RedisServer::new();
    let api = Api::start().await;
    let server = launch(&redis, &api, &order_card(&api, 1_000, 60)).await;
    hset(&redis, "cust-1", &[("first_name", "Ada")]);

    let (variant, texts) = open(&server, "cust-1").await;
    assert_eq!(variant, "shipped");
    assert_eq!(texts, ["Order A-991 is on its way, Ada"]);
    assert_eq!(
        *api.authorization.lock().unwrap(),
        [format!("Bearer {SECRET}")],
        "the header carries the secret"
    );
    // The image path shows the same.
    let token = server.token("cust-1");
    let image = server.get(&format!("/i/order-card.png?t={token}")).await;
    assert_eq!(image.status, StatusCode::OK);

    // Make a call fail too, so that the failure is logged.
    api.set(Mode::Error);
    let (variant, _) = open(&server, "cust-2").await;
    assert_eq!(variant, "default", "no answer: the rules fall back");

    let metrics = server.get("/metrics").await;
    let metrics = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(
        metrics.contains("opentime_source_calls_total{source=\"order-card/orders\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "opentime_source_errors_total{kind=\"status\",source=\"order-card/orders\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("opentime_source_seconds_count{source=\"order-card/orders\"} 2"));
    assert!(!metrics.contains(SECRET), "a secret in the metrics");
    assert!(!metrics.contains("cust-"), "a recipient in the metrics");
    let logged = logs.lock().unwrap().clone();
    let logged = String::from_utf8_lossy(&logged);
    assert!(
        logged.contains("a source's call failed"),
        "the failure is logged: {logged}"
    );
    assert!(!logged.contains(SECRET), "a secret in the logs: {logged}");
    assert!(
        !logged.contains("/customers/"),
        "a source's path in the logs"
    );
    server.shutdown().await;
}

const ADMIN: &str = "sources-preview-admin-token";

/// A studio call (`/preview/render`, `/preview/board`), which must answer 200.
async fn studio(server: &TestServer, path: &str, request: Value) -> Value {
    let answer = server
        .admin(
            Method::POST,
            path,
            ADMIN,
            "application/json",
            request.to_string(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    answer.json()
}

/// The PNG behind a preview's `data:` URL.
fn png_of(image: &Value) -> Vec<u8> {
    use base64::Engine;
    let url = image.as_str().unwrap();
    let data = url.strip_prefix("data:image/png;base64,").unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_shows_the_apis_data_as_an_open_does() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    let server = launch_with(&redis, &api, &order_card(&api, 1_000, 60), |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    hset(&redis, "cust-7", &[("first_name", "Ada")]);

    // The studio's "Try a state" with a recipient: the API is asked about
    // them and its answer picks the variant.
    let preview = studio(
        &server,
        "/preview/render",
        json!({ "template": "order-card", "recipient": "cust-7", "state": { "first_name": "Ada" } }),
    )
    .await;
    assert_eq!(preview["chosen"], "shipped", "{preview}");
    assert_eq!(preview["variant"], "shipped");
    assert_eq!(api.paths(), ["/customers/cust-7"]);
    // The recipient's open shows the same variant and the very same image.
    let (variant, texts) = open(&server, "cust-7").await;
    assert_eq!(variant, "shipped");
    assert_eq!(texts, ["Order A-991 is on its way, Ada"]);
    let token = server.token("cust-7");
    let image = server.get(&format!("/i/order-card.png?t={token}")).await;
    assert_eq!(image.status, StatusCode::OK);
    assert!(
        image.body == png_of(&preview["image"]),
        "the preview drew other bytes than the open served"
    );
    // Without a recipient the API is asked as for an open without a
    // token, with no customer id, and has no order to show.
    let anonymous = studio(
        &server,
        "/preview/render",
        json!({ "template": "order-card", "state": { "first_name": "Ada" } }),
    )
    .await;
    assert_eq!(anonymous["chosen"], "default", "{anonymous}");
    assert_eq!(api.paths(), ["/customers/", "/customers/cust-7"]);

    // A board asks the API about each demo recipient it shows; the samples
    // that are no recipient (a test send, the author's state) are asked
    // about as an open without a token is, never under their own names.
    let board = studio(
        &server,
        "/preview/board",
        json!({
            "template": "order-card",
            "samples": ["none", "state", "order-status-ada"],
            "state": { "first_name": "Ada" },
            "scales": [1],
        }),
    )
    .await;
    let chosen = |sample: &str| {
        board["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|cell| cell["sample"] == sample && cell["chosen"] == true)
            .unwrap_or_else(|| panic!("no chosen cell for {sample}: {board}"))["variant"]
            .clone()
    };
    assert_eq!(chosen("order-status-ada"), "shipped");
    assert_eq!(chosen("none"), "default");
    assert_eq!(chosen("state"), "default");
    assert_eq!(
        api.paths(),
        [
            "/customers/",
            "/customers/cust-7",
            "/customers/order-status-ada"
        ]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_per_url_within_the_ttl_and_one_for_fifty_opens_at_once() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    api.delay_ms.store(200, Ordering::SeqCst);
    let server = launch(&redis, &api, &order_card(&api, 1_500, 300)).await;
    let server = Arc::new(server);

    let opens: Vec<_> = (0..50)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { open(&server, "cust-9").await })
        })
        .collect();
    for opened in opens {
        assert_eq!(opened.await.unwrap().0, "shipped");
    }
    assert_eq!(api.calls(), 1, "fifty opens at once make one call");
    let hits = server.metric("opentime_source_hits_total").await;
    for _ in 0..5 {
        assert_eq!(open(&server, "cust-9").await.0, "shipped");
    }
    assert_eq!(api.calls(), 1, "within the ttl, no call");
    assert_eq!(
        server.metric("opentime_source_hits_total").await - hits,
        5.0,
        "each open within the ttl is a cache hit"
    );
    open(&server, "cust-10").await;
    assert_eq!(api.calls(), 2, "another recipient's URL is another call");

    // A second replica finds the answer in Redis.
    let second = launch(&redis, &api, &order_card(&api, 1_500, 300)).await;
    assert_eq!(open(&second, "cust-9").await.0, "shipped");
    assert_eq!(api.calls(), 2, "the other replica's answer is shared");
    assert_eq!(
        second
            .metric("opentime_source_hits_total{source=\"order-card/orders\"}")
            .await,
        1.0,
        "an answer from Redis counts as a hit"
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_api_is_cut_at_its_timeout_and_the_default_variant_shows() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    api.delay_ms.store(3_000, Ordering::SeqCst);
    let server = launch(&redis, &api, &order_card(&api, 150, 60)).await;
    let started = Instant::now();
    let (variant, texts) = open(&server, "cust-3").await;
    let took = started.elapsed();
    assert_eq!(variant, "default");
    assert_eq!(texts, ["Thanks for shopping"]);
    assert!(
        took < Duration::from_millis(1_500),
        "the open waited {took:?}"
    );
    support::eventually("the timeout counted", Duration::from_secs(3), || async {
        (server
            .metric("opentime_source_errors_total{kind=\"timeout\"")
            .await
            == 1.0)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stops_waiting_at_the_budget_and_the_call_finishes_for_the_next() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    api.delay_ms.store(1_500, Ordering::SeqCst);
    // Each call may take 2 s, but an open waits 300 ms for all its sources.
    let server = launch_with(&redis, &api, &order_card(&api, 2_000, 60), |config| {
        config.sources.budget = Duration::from_millis(300);
    })
    .await;
    let started = Instant::now();
    let (variant, _) = open(&server, "cust-13").await;
    let took = started.elapsed();
    assert_eq!(variant, "default");
    assert!(
        took < Duration::from_millis(1_200),
        "the open waited {took:?}"
    );
    assert_eq!(
        server
            .metric("opentime_source_errors_total{kind=\"budget\"")
            .await,
        1.0
    );
    // The call was not cut with the open: its answer serves the next open.
    support::eventually("the call finishes", Duration::from_secs(5), || async {
        (open(&server, "cust-13").await.0 == "shipped").then_some(())
    })
    .await;
    assert_eq!(api.calls(), 1);
    assert_eq!(
        server
            .metric("opentime_source_errors_total{kind=\"timeout\"")
            .await,
        0.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_good_answer_stands_in_for_a_500_and_for_bad_json() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    let server = launch(&redis, &api, &order_card(&api, 500, 1)).await;
    assert_eq!(open(&server, "cust-4").await.0, "shipped");
    for mode in [Mode::Error, Mode::BadJson] {
        api.set(mode);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let calls = api.calls();
        let (variant, texts) = open(&server, "cust-4").await;
        assert_eq!(
            api.calls(),
            calls + 1,
            "{mode:?}: the old answer was called again"
        );
        assert_eq!(variant, "shipped", "{mode:?}: the last good answer serves");
        assert_eq!(texts, ["Order A-991 is on its way, friend"]);
    }
    assert_eq!(server.metric("opentime_source_stale_total").await, 2.0);
    assert_eq!(
        server
            .metric("opentime_source_errors_total{kind=\"bad_json\"")
            .await,
        1.0
    );
    // A recipient with no earlier answer gets none.
    assert_eq!(open(&server, "cust-5").await.0, "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_host_is_skipped_then_tried_again() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    api.set(Mode::Error);
    let server = launch(&redis, &api, &order_card(&api, 500, 60)).await;
    for customer in 0..5 {
        assert_eq!(
            open(&server, &format!("down-{customer}")).await.0,
            "default"
        );
    }
    assert_eq!(api.calls(), 5);
    let circuit = format!("opentime_source_circuit_open{{host=\"{}\"}}", api.origin());
    assert_eq!(server.metric(&circuit).await, 1.0);
    for customer in 5..10 {
        assert_eq!(
            open(&server, &format!("down-{customer}")).await.0,
            "default"
        );
    }
    assert_eq!(api.calls(), 5, "an open circuit makes no call");
    assert_eq!(
        server
            .metric("opentime_source_errors_total{kind=\"circuit_open\"")
            .await,
        5.0
    );
    // The API comes back; after the open period one trial closes it.
    api.set(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(10_100)).await;
    assert_eq!(open(&server, "back-1").await.0, "shipped");
    assert_eq!(server.metric(&circuit).await, 0.0);
    assert_eq!(open(&server, "back-2").await.0, "shipped");
    assert_eq!(api.calls(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_host_off_the_list_or_an_unknown_secret_is_refused_at_put() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    let admin = "a-long-enough-admin-token-for-tests";
    let origin = api.origin();
    let server = TestServer::launch(&redis, &[], move |config| {
        config.sources.hosts.push(origin);
        config.access.admin_tokens = vec![admin.to_string()].into();
    })
    .await;
    let off_list = order_card(&api, 500, 60).replace(&api.origin(), "http://127.0.0.1:9");
    let answer = server
        .admin(
            Method::PUT,
            "/api/v1/templates/order-card",
            admin,
            "application/json",
            off_list,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = String::from_utf8_lossy(&answer.body).to_string();
    assert!(body.contains("sources.orders.url"), "{body}");
    assert!(body.contains("not in source_hosts"), "{body}");

    // The host is listed, but no [secrets] holds shop_api.
    let answer = server
        .admin(
            Method::PUT,
            "/api/v1/templates/order-card",
            admin,
            "application/json",
            order_card(&api, 500, 60),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = String::from_utf8_lossy(&answer.body).to_string();
    assert!(body.contains("shop_api"), "{body}");
    assert!(body.contains("[secrets]"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_refuses_a_source_host_off_the_list_and_the_old_version_serves() {
    let redis = RedisServer::new();
    let api = Api::start().await;
    let server = launch(&redis, &api, &order_card(&api, 1_000, 60)).await;
    assert_eq!(open(&server, "cust-11").await.0, "shipped");

    // An edit on disk that moves the source to a host off the list, and
    // changes the text so that the new version would show if it loaded.
    let edited = order_card(&api, 1_000, 60)
        .replace(&api.origin(), "http://127.0.0.1:9")
        .replace("is on its way", "was edited");
    std::fs::write(server.templates_dir.join("order-card.json"), &edited).unwrap();
    support::eventually("the edit is reloaded", Duration::from_secs(10), || async {
        (server
            .metric("opentime_template_reloads_total{result=\"partial\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;

    // The previous version still serves, calling the listed host.
    let (variant, texts) = open(&server, "cust-12").await;
    assert_eq!(variant, "shipped");
    assert_eq!(texts, ["Order A-991 is on its way, friend"]);
    assert_eq!(api.paths(), ["/customers/cust-11", "/customers/cust-12"]);
    assert_eq!(
        server
            .metric("opentime_source_errors_total{kind=\"not_allowed\"")
            .await,
        0.0
    );
    // The reload names the template's field and the reason.
    let templates = server.app.templates.clone();
    let report = tokio::task::spawn_blocking(move || templates.reload())
        .await
        .unwrap();
    let refused = report
        .errors
        .iter()
        .map(ToString::to_string)
        .find(|error| error.contains("order-card"))
        .unwrap_or_else(|| panic!("the edit was not refused: {:?}", report.errors));
    assert!(refused.contains("sources.orders.url"), "{refused}");
    assert!(refused.contains("not in source_hosts"), "{refused}");
    server.shutdown().await;
}

/// Everything the server logs from here on, at every level.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buffer.clone());
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the only test that installs a subscriber");
    buffer
}
