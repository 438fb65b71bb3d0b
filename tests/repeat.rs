//! The repeat layer against real parts: a product grid whose items come
//! from a source (a shop's recommendations API on 127.0.0.1, which also
//! serves the product photos through the remote-image path), drawn for
//! readers in two locales and compared with golden images
//! (`OPENTIME_BLESS=1` writes them; look at them first).

use crate::support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use support::RedisServer;
use support::server::{TestServer, assert_image, hset};
use tokio::net::TcpListener;

/// Three shoes in stock and one that is not, with photos of three colors.
const PRODUCTS: &str = r#"{ "products": [
  { "id": "p1", "title": "Trail runner", "price": 89.9, "currency": "EUR", "availability": "in stock", "image_link": "ORIGIN/img/red.png" },
  { "id": "p2", "title": "Canvas tote", "price": 1249.5, "currency": "EUR", "availability": "out of stock", "image_link": "ORIGIN/img/gray.png" },
  { "id": "p3", "title": "Rain jacket", "price": 129, "currency": "EUR", "availability": "in stock", "image_link": "ORIGIN/img/green.png" },
  { "id": "p4", "title": "Wool socks", "price": 14.5, "currency": "EUR", "availability": "in stock", "image_link": "ORIGIN/img/blue.png" }
] }"#;

struct Shop {
    origin: String,
    calls: AtomicUsize,
}

impl Shop {
    async fn start() -> Arc<Shop> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shop = Arc::new(Shop {
            origin: format!("http://{}", listener.local_addr().unwrap()),
            calls: AtomicUsize::new(0),
        });
        let serving = shop.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shop = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let shop = shop.clone();
                        async move { Ok::<_, Infallible>(shop.answer(request)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        shop
    }

    fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_string();
        let (content_type, body) = if path.starts_with("/recs/") {
            self.calls.fetch_add(1, Ordering::SeqCst);
            (
                "application/json",
                PRODUCTS.replace("ORIGIN", &self.origin).into_bytes(),
            )
        } else {
            let color = match path.as_str() {
                "/img/red.png" => [0xd9, 0x3a, 0x2b],
                "/img/green.png" => [0x2e, 0x8b, 0x57],
                "/img/blue.png" => [0x1f, 0x5f, 0xbf],
                _ => [0x80, 0x80, 0x80],
            };
            ("image/png", solid_png(color))
        };
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    }
}

fn solid_png(color: [u8; 3]) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 40, 30);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let pixels: Vec<u8> = (0..40 * 30).flat_map(|_| color).collect();
        writer.write_image_data(&pixels).unwrap();
    }
    bytes
}

fn grid_template(shop: &Shop) -> String {
    r##"{
  "name": "picks", "width": 600, "height": 260, "access": "token",
  "sources": { "recs": { "url": "ORIGIN/recs/{{ recipient.id | urlencode }}", "timeout_ms": 1000 } },
  "variants": [
    { "id": "grid", "when": "source.recs.products is defined",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 600, "height": 260, "fill": "#fbf7f0" },
        { "type": "text", "x": 20, "y": 10, "width": 560, "height": 34, "size": 22, "weight": "bold", "color": "#222222",
          "text": "Picked for you, {{ profile.first_name | default('friend') }}" },
        { "type": "repeat", "items": "source.recs.products | selectattr('availability', 'eq', 'in stock') | list",
          "max": 3, "x": 20, "y": 50, "width": 560, "height": 200, "columns": 3, "gap": 16,
          "layers": [
            { "type": "rect", "x": 0, "y": 0, "width": 176, "height": 200, "fill": "#ffffff", "radius": 10 },
            { "type": "image", "url": "{{ item.image_link }}", "x": 8, "y": 8, "width": 160, "height": 110, "fit": "cover", "radius": 6 },
            { "type": "text", "text": "{{ loop.index }}. {{ item.title }}", "x": 8, "y": 124, "width": 160, "height": 30, "size": 16, "color": "#222222" },
            { "type": "text", "text": "{{ item.price | money(item.currency, profile.locale | default('en-US')) }}",
              "x": 8, "y": 158, "width": 160, "height": 30, "size": 18, "weight": "bold", "color": "#b5452d" } ] } ] },
    { "id": "default",
      "layers": [ { "type": "text", "x": 20, "y": 20, "width": 560, "height": 60, "size": 22, "text": "See what's new" } ] }
  ]
}"##
    .replace("ORIGIN", &shop.origin)
}

async fn launch(redis: &RedisServer, shop: &Shop) -> TestServer {
    let origin = shop.origin.clone();
    let template = grid_template(shop);
    TestServer::launch(redis, &[("picks.json", &template)], move |config| {
        config.sources.hosts.push(origin.clone());
        config.remote_images.allowed_origins = vec![origin];
        config.amp.senders = vec!["news@example.com".to_string()];
    })
    .await
}

fn check_golden(name: &str, bytes: &[u8]) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.png"));
    if std::env::var_os("OPENTIME_BLESS").is_some_and(|value| value == "1") {
        std::fs::write(&file, bytes).unwrap();
        return;
    }
    let golden = std::fs::read(&file).unwrap_or_else(|error| {
        panic!("{}: {error} (bless with OPENTIME_BLESS=1)", file.display())
    });
    if golden != bytes {
        let actual = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        std::fs::write(&actual, bytes).unwrap();
        panic!(
            "{name} differs from {}; new image in {}",
            file.display(),
            actual.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_of_in_stock_products_is_drawn_with_prices_in_each_readers_locale() {
    let redis = RedisServer::new();
    let shop = Shop::start().await;
    let server = launch(&redis, &shop).await;
    hset(&redis, "ada", &[("first_name", "Ada"), ("locale", "en-US")]);
    hset(
        &redis,
        "jonas",
        &[("first_name", "Jonas"), ("locale", "de-DE")],
    );

    let mut etags = BTreeMap::new();
    for (id, golden) in [("ada", "repeat-grid-en"), ("jonas", "repeat-grid-de")] {
        let answer = server
            .get(&format!("/i/picks.png?t={}", server.token(id)))
            .await;
        assert_image(&answer);
        check_golden(golden, &answer.body);
        etags.insert(id, answer.headers["etag"].to_str().unwrap().to_string());
    }
    assert_ne!(etags["ada"], etags["jonas"], "the prices differ by locale");

    // The AMP answer lists the same items, out-of-stock one left out.
    let answer = server
        .request(
            Method::GET,
            &format!("/a/picks.json?t={}", server.token("jonas")),
            &[("amp-email-sender", "news@example.com")],
        )
        .await;
    let item = &answer.json()["items"][0];
    assert_eq!(item["variant"], "grid");
    let items: Vec<Vec<String>> = item["items"]
        .as_array()
        .expect("the AMP answer lists the grid's items")
        .iter()
        .map(|cell| {
            cell["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|text| text.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0][0], format!("{}/img/red.png", shop.origin));
    assert_eq!(items[0][1], "1. Trail runner");
    assert_eq!(items[1][1], "2. Rain jacket");
    assert_eq!(items[2][1], "3. Wool socks");
    assert_eq!(items[1][2], "129,00\u{a0}€");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_grids_share_one_render() {
    let redis = RedisServer::new();
    let shop = Shop::start().await;
    let server = launch(&redis, &shop).await;
    hset(&redis, "ana", &[("first_name", "Sam"), ("locale", "en-US")]);
    hset(&redis, "ben", &[("first_name", "Sam"), ("locale", "en-US")]);
    let first = server
        .get(&format!("/i/picks.png?t={}", server.token("ana")))
        .await;
    let renders = server.metric("opentime_renders_total").await;
    let second = server
        .get(&format!("/i/picks.png?t={}", server.token("ben")))
        .await;
    assert_eq!(first.headers["etag"], second.headers["etag"]);
    assert_eq!(first.body, second.body);
    assert_eq!(
        server.metric("opentime_renders_total").await,
        renders,
        "the second open was served from the cache"
    );
    assert_eq!(
        shop.calls.load(Ordering::SeqCst),
        2,
        "one call per recipient"
    );
    server.shutdown().await;
}
