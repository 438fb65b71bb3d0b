//! Product feeds end to end, against a real Redis and a real HTTP server
//! on 127.0.0.1: every format read from its fixture, a URL feed read by
//! an open, failed refreshes that keep the last good items, the admin API,
//! and one fetch per period among two replicas.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentime::feeds::{FeedConfig, FeedFormat, FeedSource};
use opentime::remote::PostUrl;
use serde_json::{Value, json};
use support::RedisServer;
use support::server::{TestServer, hset};

const ADMIN: &str = "feeds-test-admin-token";

/// Shows `sku-2` of the `products` feed, looked up by its key.
const PICK_TEMPLATE: &str = r#"{
  "name": "feed-pick", "width": 300, "height": 60, "format": "png", "access": "token",
  "variants": [
    { "id": "pick", "when": "feed_item('products', 'sku-2') is defined",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 300, "height": 60, "size": 14,
        "text": "{% set item = feed_item('products', 'sku-2') %}{{ item.title }}|{{ item.sale_price }}|{{ item.sale_currency }}|{{ feed.products | length }}" } ] },
    { "id": "default",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 300, "height": 60, "size": 14, "text": "Our catalogue" } ] }
  ]
}"#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/feeds")
        .join(name)
}

fn feed(name: &str, source: FeedSource, format: FeedFormat, refresh: Duration) -> FeedConfig {
    FeedConfig {
        name: name.to_string(),
        source,
        format,
        refresh,
        key: "id".to_string(),
    }
}

async fn launch(redis: &RedisServer, feeds: Vec<FeedConfig>) -> TestServer {
    TestServer::launch(redis, &[("feed-pick.json", PICK_TEMPLATE)], move |config| {
        config.feeds = feeds;
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
        config.server.public_url = Some("https://ot.example.com".to_string());
        config.amp.senders = vec!["@shop.example".to_string()];
    })
    .await
}

async fn wait_loaded(server: &TestServer, name: &str) {
    support::eventually(
        &format!("feed {name} loads"),
        Duration::from_secs(10),
        || async { (server.app.feeds.loaded_items(name) > 0).then_some(()) },
    )
    .await;
}

/// The feed's items as JSON, in feed order.
fn items(server: &TestServer, name: &str) -> Vec<Value> {
    let feeds = server.app.feeds.value().expect("feeds are configured");
    let list = feeds.get_attr(name).expect("the feed is there");
    serde_json::to_value(&list)
        .expect("items serialize")
        .as_array()
        .expect("a list")
        .clone()
}

async fn report(server: &TestServer, name: &str) -> Value {
    let answer = server
        .admin(Method::GET, "/api/v1/feeds", ADMIN, "", "")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.json()["feeds"]
        .as_array()
        .expect("a list of feeds")
        .iter()
        .find(|feed| feed["name"] == name)
        .cloned()
        .expect("the feed is reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_is_read_into_its_items() {
    let redis = RedisServer::new();
    let hour = Duration::from_secs(3600);
    let feeds = vec![
        feed(
            "products",
            FeedSource::File(fixture("products.xml")),
            FeedFormat::GoogleMerchant,
            hour,
        ),
        feed(
            "news",
            FeedSource::File(fixture("news.rss")),
            FeedFormat::Rss,
            hour,
        ),
        feed(
            "posts",
            FeedSource::File(fixture("posts.atom")),
            FeedFormat::Atom,
            hour,
        ),
        feed(
            "sheet",
            FeedSource::File(fixture("products.csv")),
            FeedFormat::Csv,
            hour,
        ),
        feed(
            "api",
            FeedSource::File(fixture("products.json")),
            FeedFormat::Json,
            hour,
        ),
    ];
    let server = launch(&redis, feeds).await;
    for name in ["products", "news", "posts", "sheet", "api"] {
        wait_loaded(&server, name).await;
    }

    let products = items(&server, "products");
    assert_eq!(products.len(), 3);
    assert_eq!(products[0]["title"], "Trail Runner 2 & Gaiters");
    assert_eq!(
        products[0]["description"],
        "Light trail shoe <b>with</b> gaiters"
    );
    assert_eq!(products[0]["price"], json!(49.9));
    assert_eq!(products[0]["currency"], "EUR");
    assert_eq!(products[0]["availability"], "in stock");
    assert_eq!(products[1]["sale_price"], json!(14.5));
    assert_eq!(products[1]["sale_currency"], "EUR");
    assert_eq!(
        products[1]["shipping"],
        json!({"country": "DE", "price": "4.95 EUR"})
    );
    assert_eq!(products[2]["price"], json!(189.0));
    assert_eq!(products[2]["availability"], "out of stock");
    let reported = report(&server, "products").await;
    assert_eq!(reported["items"], 3);
    assert_eq!(reported["skipped"], 1);
    assert_eq!(reported["source"], "file products.xml");
    assert_eq!(reported["format"], "google_merchant");
    assert!(reported["last_refresh"].is_string(), "{reported}");

    let news = items(&server, "news");
    assert_eq!(news.len(), 2);
    assert_eq!(news[0]["id"], "https://shop.example/journal/five-trails");
    assert_eq!(news[0]["description"], "Where to walk <em>this</em> month");
    assert_eq!(news[0]["dc:creator"], "Ana Ruiz");
    assert_eq!(news[0]["enclosure"], "https://cdn.shop.example/trails.jpg");
    assert_eq!(news[1]["id"], "journal-42");
    assert_eq!(news[1]["title"], "Care for your boots: wax & leather");
    assert_eq!(news[1]["category"], json!(["care", "boots"]));

    let posts = items(&server, "posts");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0]["id"], "urn:northwind:release:winter");
    assert_eq!(posts[0]["link"], "https://shop.example/releases/winter");
    assert_eq!(posts[0]["summary"], "New shells, insulated boots & more.");
    assert_eq!(posts[0]["author"]["name"], "Northwind team");
    assert_eq!(posts[1]["title"], "Repair <b>service</b>");

    let sheet = items(&server, "sheet");
    assert_eq!(sheet.len(), 3);
    assert_eq!(sheet[0]["title"], "Trail Runner 2, with gaiters");
    assert_eq!(sheet[1]["title"], "The \"Merino\" sock");
    assert_eq!(sheet[1]["price"], json!(19.0));
    assert_eq!(sheet[1]["currency"], "USD");
    assert_eq!(sheet[2]["title"], "Storm Shell\nJacket");
    assert_eq!(sheet[2]["price"], json!(189.0));
    assert_eq!(report(&server, "sheet").await["skipped"], 1);

    let api = items(&server, "api");
    assert_eq!(api.len(), 2);
    assert_eq!(api[0]["tags"], json!(["trail", "shoes"]));
    assert_eq!(api[0]["dimensions"]["weight_g"], 280);
    assert_eq!(api[0]["stock"], 12);
    assert_eq!(api[1]["id"], 2);
    assert_eq!(report(&server, "api").await["skipped"], 2);

    let metric = server
        .metric("opentime_feed_items{feed=\"products\"}")
        .await;
    assert_eq!(metric, 3.0);
    server.shutdown().await;
}

/// A feed origin on 127.0.0.1 whose answer the test chooses.
struct Origin {
    port: u16,
    /// 0: the feed, 1: status 500, 2: broken XML, 3: the feed, renamed.
    mode: Arc<AtomicU8>,
    hits: Arc<AtomicUsize>,
}

impl Origin {
    async fn start() -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(0));
        let hits = Arc::new(AtomicUsize::new(0));
        let feed = std::fs::read_to_string(fixture("products.xml")).unwrap();
        let (served_mode, served_hits) = (mode.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (mode, hits, feed) = (served_mode.clone(), served_hits.clone(), feed.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let mode = mode.load(Ordering::SeqCst);
                            let feed = feed.clone();
                            if request.uri().path() == "/feed.xml" {
                                hits.fetch_add(1, Ordering::SeqCst);
                            }
                            async move {
                                let (status, body) = match mode {
                                    1 => (500, "oops".to_string()),
                                    2 => (200, feed.replace("</channel>", "")),
                                    3 => (
                                        200,
                                        feed.replace("Merino Hiking Socks", "Merino Socks II"),
                                    ),
                                    _ => (200, feed),
                                };
                                Ok::<_, std::convert::Infallible>(
                                    Response::builder()
                                        .status(status)
                                        .header("content-type", "application/rss+xml")
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                )
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Origin { port, mode, hits }
    }

    fn source(&self) -> FeedSource {
        let url = format!(
            "http://127.0.0.1:{}/feed.xml?token=s3cret-feed-key",
            self.port
        );
        FeedSource::Url(PostUrl::parse(&url).unwrap())
    }
}

async fn picked(server: &TestServer, token: &str) -> Value {
    let answer = server
        .request(
            Method::GET,
            &format!("/a/feed-pick.json?t={token}"),
            &[("amp-email-sender", "news@shop.example")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.json()["items"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_feed_serves_opens_and_a_failed_refresh_keeps_the_last_good_items() {
    let redis = RedisServer::new();
    let origin = Origin::start().await;
    let products = feed(
        "products",
        origin.source(),
        FeedFormat::GoogleMerchant,
        Duration::from_secs(3600),
    );
    let server = launch(&redis, vec![products]).await;
    wait_loaded(&server, "products").await;
    hset(&redis, "mia", &[("first_name", "Mia")]);
    let token = server.token("mia");

    let item = picked(&server, &token).await;
    assert_eq!(item["variant"], "pick");
    assert_eq!(item["texts"], json!(["Merino Hiking Socks|14.5|EUR|3"]));
    let reported = report(&server, "products").await;
    assert_eq!(
        reported["source"],
        format!("http://127.0.0.1:{}", origin.port)
    );
    assert!(!reported.to_string().contains("s3cret"), "{reported}");
    assert_eq!(reported["failing"], false);

    // A 500: the refresh fails, says why, and the items stay.
    origin.mode.store(1, Ordering::SeqCst);
    let refresh = server
        .admin(
            Method::POST,
            "/api/v1/feeds/products/refresh",
            ADMIN,
            "",
            "",
        )
        .await;
    assert_eq!(
        refresh.status,
        StatusCode::BAD_GATEWAY,
        "{:?}",
        refresh.json()
    );
    let reported = report(&server, "products").await;
    assert!(
        reported["last_error"]
            .as_str()
            .unwrap()
            .contains("status 500"),
        "{reported}"
    );
    assert!(reported["last_error_at"].is_string());
    assert_eq!(reported["failing"], true);
    assert_eq!(reported["items"], 3);
    assert!(!reported.to_string().contains("s3cret"), "{reported}");
    assert_eq!(picked(&server, &token).await["texts"], item["texts"]);

    // Broken XML: the same.
    origin.mode.store(2, Ordering::SeqCst);
    let refresh = server
        .admin(
            Method::POST,
            "/api/v1/feeds/products/refresh",
            ADMIN,
            "",
            "",
        )
        .await;
    assert_eq!(refresh.status, StatusCode::BAD_GATEWAY);
    let reported = report(&server, "products").await;
    assert!(
        reported["last_error"].as_str().unwrap().contains("XML"),
        "{reported}"
    );
    assert_eq!(picked(&server, &token).await["texts"], item["texts"]);
    assert_eq!(
        server
            .metric("opentime_feed_refreshes_total{feed=\"products\",result=\"error\"}")
            .await,
        2.0
    );

    // A good answer again: the new items serve at once.
    origin.mode.store(3, Ordering::SeqCst);
    let refresh = server
        .admin(
            Method::POST,
            "/api/v1/feeds/products/refresh",
            ADMIN,
            "",
            "",
        )
        .await;
    assert_eq!(refresh.status, StatusCode::OK);
    assert_eq!(refresh.json()["items"], 3);
    assert_eq!(refresh.json()["skipped"], 1);
    assert_eq!(
        picked(&server, &token).await["texts"],
        json!(["Merino Socks II|14.5|EUR|3"])
    );
    assert_eq!(report(&server, "products").await["failing"], false);

    // Another replica's lock: 409. An unknown feed: 404.
    let mut redis_connection = redis.connection();
    let _: () = redis::cmd("SET")
        .arg("ot:feed:{products}:lock")
        .arg("another-replica")
        .arg("PX")
        .arg(60_000)
        .query(&mut redis_connection)
        .unwrap();
    let busy = server
        .admin(
            Method::POST,
            "/api/v1/feeds/products/refresh",
            ADMIN,
            "",
            "",
        )
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    let owner: String = redis::cmd("GET")
        .arg("ot:feed:{products}:lock")
        .query(&mut redis_connection)
        .unwrap();
    assert_eq!(
        owner, "another-replica",
        "a lock is let go by its owner only"
    );
    let unknown = server
        .admin(Method::POST, "/api/v1/feeds/nope/refresh", ADMIN, "", "")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_fetch_a_feed_once_per_period() {
    let redis = RedisServer::new();
    let origin = Origin::start().await;
    let period = Duration::from_secs(1);
    let first = launch(
        &redis,
        vec![feed(
            "products",
            origin.source(),
            FeedFormat::GoogleMerchant,
            period,
        )],
    )
    .await;
    let second = launch(
        &redis,
        vec![feed(
            "products",
            origin.source(),
            FeedFormat::GoogleMerchant,
            period,
        )],
    )
    .await;
    wait_loaded(&first, "products").await;
    wait_loaded(&second, "products").await;
    let before = origin.hits.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let fetches = origin.hits.load(Ordering::SeqCst) - before;
    // One replica alone fetches every 1 to 1.25 s: 3 to 4 times in 4 s,
    // one more at the edges. Both on their own would fetch twice as often.
    assert!((2..=5).contains(&fetches), "{fetches} fetches in 4 s");
    first.shutdown().await;
    second.shutdown().await;
}

/// On the embedded demo store, with no feed configured, the bundled
/// catalogue serves as `products`, through the same store calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_its_bundled_catalogue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = opentime::config::Config::default();
    config.templates.dir = root.join("assets/templates");
    config.render.fonts_dir = root.join("fonts");
    config.store.demo_dir = root.join("assets/demo");
    let (app, _) = opentime::app::App::build(config, opentime::clock::Clock::System)
        .await
        .expect("the demo builds");
    support::eventually("the demo feed loads", Duration::from_secs(10), || async {
        (app.feeds.loaded_items("products") == 6).then_some(())
    })
    .await;
    let reports = app.feeds.report().await.expect("the demo store answers");
    assert_eq!(reports[0].source, "file products.xml");
    assert_eq!(reports[0].items, 6);
    let list = app.feeds.value().unwrap().get_attr("products").unwrap();
    let first = serde_json::to_value(&list).unwrap()[0].clone();
    assert_eq!(first["price"], json!(49.9));
    assert_eq!(first["currency"], "EUR");
    assert_eq!(
        first["image_link"],
        "http://127.0.0.1:8089/img/trail-runner.png"
    );
}
