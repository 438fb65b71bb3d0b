//! Remote images against real sockets: a small hyper server on 127.0.0.1
//! serves a PNG, a JPEG and every kind of bad answer, and counts the
//! requests it gets, so each test can say both what `RemoteImages` returned
//! and whether anything reached a server at all.
//!
//! The counting is the point of the allow-list tests: a refused URL must be
//! refused before any connection, not merely fail afterwards. The same
//! server also serves decompression bombs (small PNGs declaring large
//! pixels), for the decode limits, and the last test runs opentime itself
//! against it.

use crate::support;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentime::remote::{RemoteImageConfig, RemoteImageError, RemoteImages};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The body limit the tests configure; the large routes send one byte more.
const MAX_BYTES: usize = 64 * 1024;
/// How long the slow route waits before it answers: far beyond the
/// timeout, so the test fails clearly if the timeout does not work.
const SLOW_ROUTE_DELAY: Duration = Duration::from_secs(2);
const TEST_TIMEOUT: Duration = Duration::from_millis(200);

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct SeenRequest {
    path_and_query: String,
    host: String,
    user_agent: String,
    accept: String,
}

/// A test server's shared state.
struct ServerState {
    requests: AtomicUsize,
    seen: Mutex<Vec<SeenRequest>>,
    /// `/gated.png` waits for a permit, so a test can hold a fetch open
    /// while others pile up behind it.
    gate: Semaphore,
    png: Bytes,
    jpeg: Bytes,
    /// A valid 2048 x 2048 RGBA PNG of one color: 16 MiB decoded from a
    /// few kilobytes.
    bomb: Bytes,
    /// A valid 1024 x 1024 RGBA PNG: 4 MiB decoded, within the tests'
    /// budget, and slow enough to decode that many at once queue.
    large: Bytes,
}

struct TestServer {
    port: u16,
    state: Arc<ServerState>,
}

impl TestServer {
    async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test server on loopback");
        let port = listener.local_addr().expect("a bound address").port();
        let state = Arc::new(ServerState {
            requests: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
            png: Bytes::from(png_image(3, 2)),
            jpeg: Bytes::from(jpeg_image(5, 4)),
            bomb: Bytes::from(uniform_png(2048, 2048)),
            large: Bytes::from(uniform_png(1024, 1024)),
        });
        let accept_state = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| respond(Arc::clone(&state), request));
                    // A client that gives up mid-response is expected here.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestServer { port, state }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().expect("not poisoned").clone()
    }
}

type ResponseBody = BoxBody<Bytes, Infallible>;

async fn respond(
    state: Arc<ServerState>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let header = |name: hyper::header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    state.seen.lock().expect("not poisoned").push(SeenRequest {
        path_and_query: request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        host: header(hyper::header::HOST),
        user_agent: header(hyper::header::USER_AGENT),
        accept: header(hyper::header::ACCEPT),
    });
    let image = |content_type: &str, bytes: Bytes| reply(StatusCode::OK, content_type, full(bytes));
    let response = match request.uri().path() {
        "/photo.png" => image("image/png", state.png.clone()),
        "/photo.jpg" => image("image/jpeg; charset=binary", state.jpeg.clone()),
        "/gated.png" => {
            let permit = state
                .gate
                .acquire()
                .await
                .expect("the gate is never closed");
            permit.forget();
            image("image/png", state.png.clone())
        }
        "/slow.png" => {
            tokio::time::sleep(SLOW_ROUTE_DELAY).await;
            image("image/png", state.png.clone())
        }
        "/missing.png" => reply(StatusCode::NOT_FOUND, "text/plain", full("no such image")),
        "/moved.png" => {
            let mut response = reply(StatusCode::FOUND, "text/plain", full("see /photo.png"));
            response.headers_mut().insert(
                hyper::header::LOCATION,
                hyper::header::HeaderValue::from_static("/photo.png"),
            );
            response
        }
        "/page.png" => reply(
            StatusCode::OK,
            "text/html",
            full("<html>not an image</html>"),
        ),
        "/untyped.png" => {
            let mut response = image("image/png", state.png.clone());
            response.headers_mut().remove(hyper::header::CONTENT_TYPE);
            response
        }
        "/huge.png" => image("image/png", Bytes::from(vec![0u8; MAX_BYTES + 1])),
        "/huge-chunked.png" => {
            // No Content-Length: only counting while reading can catch it.
            let chunks = (0..=MAX_BYTES / 1024)
                .map(|_| Bytes::from(vec![0u8; 1024]))
                .collect();
            reply(StatusCode::OK, "image/png", Chunked(chunks).boxed())
        }
        "/garbage.png" => image("image/png", Bytes::from_static(b"GIF89a, or rather not")),
        "/vast.png" => image("image/png", Bytes::from(png_header_only(20_000, 20_000))),
        // Any query, so that each URL is a cache entry of its own.
        "/bomb.png" => image("image/png", state.bomb.clone()),
        "/large.png" => image("image/png", state.large.clone()),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", full("unknown route")),
    };
    Ok(response)
}

fn reply(status: StatusCode, content_type: &str, body: ResponseBody) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(body)
        .expect("a valid test response")
}

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).boxed()
}

/// A body of unknown length, which hyper sends chunked.
struct Chunked(VecDeque<Bytes>);

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// An RGBA PNG of the given size, in a gradient so no two pixels agree.
fn png_image(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height)
        .flat_map(|i| [(i * 40) as u8, 100, 200, 255])
        .collect();
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("write a PNG header");
    writer
        .write_image_data(&pixels)
        .expect("write PNG pixel data");
    writer.finish().expect("finish the PNG");
    bytes
}

fn jpeg_image(width: u16, height: u16) -> Vec<u8> {
    let pixels = vec![128u8; usize::from(width) * usize::from(height) * 3];
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 90)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode a JPEG");
    bytes
}

/// A real RGBA PNG whose every pixel is the same: it compresses about a
/// thousand to one, which is what makes it a bomb at larger sizes.
fn uniform_png(width: u32, height: u32) -> Vec<u8> {
    let pixels = [0u8, 0x80, 0xff, 0xff].repeat((width * height) as usize);
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().expect("write a PNG header");
    writer
        .write_image_data(&pixels)
        .expect("write PNG pixel data");
    writer.finish().expect("finish the PNG");
    bytes
}

/// A PNG that claims to be `width` x `height` but holds only the start of
/// its pixel data: what a decompression bomb looks like to a reader of
/// headers.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // 8-bit RGBA, deflate, adaptive filtering, not interlaced.
    header.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    // A zlib header alone: readers stop looking for the size at the first
    // IDAT chunk.
    for (kind, data) in [
        (b"IHDR", &header[..]),
        (b"IDAT", &[0x78, 0x9c][..]),
        (b"IEND", &[][..]),
    ] {
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    }
    bytes
}

fn remote_images(allowed_origins: &[String]) -> RemoteImages {
    RemoteImages::new(RemoteImageConfig {
        allowed_origins: allowed_origins.to_vec(),
        max_bytes: MAX_BYTES,
        timeout: TEST_TIMEOUT,
        ..RemoteImageConfig::default()
    })
    .expect("the test's allow-list is valid")
}

/// Waits until `condition` holds, for at most five seconds.
async fn eventually(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "condition never held");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_allowed_png_is_fetched_once_and_then_served_from_cache() {
    let server = TestServer::start().await;
    let remote = remote_images(&[server.origin()]);
    let url = server.url("/photo.png?sku=1234");

    let first = remote.fetch(&url).await.expect("the photo is fetched");
    assert_eq!((first.width, first.height), (3, 2));
    let second = remote.fetch(&url).await.expect("the photo is cached");
    assert!(
        Arc::ptr_eq(&first, &second),
        "the cache hands out one asset"
    );
    assert_eq!(server.requests(), 1);

    let seen = server.seen();
    assert_eq!(seen[0].path_and_query, "/photo.png?sku=1234");
    assert_eq!(seen[0].host, format!("127.0.0.1:{}", server.port));
    assert_eq!(seen[0].user_agent, "opentime");
    assert_eq!(seen[0].accept, "image/png,image/jpeg");

    let pixel_bytes = 3 * 2 * 4;
    let held = remote.cache_bytes();
    assert!(
        (pixel_bytes..pixel_bytes + 1024).contains(&held),
        "the cache weighs the decoded pixels, holds {held}"
    );
}

#[tokio::test]
async fn a_jpeg_with_content_type_parameters_is_fetched() {
    let server = TestServer::start().await;
    let remote = remote_images(&[server.origin()]);
    let asset = remote
        .fetch(&server.url("/photo.jpg"))
        .await
        .expect("the JPEG is fetched");
    assert_eq!((asset.width, asset.height), (5, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_of_one_url_share_one_request() {
    let server = TestServer::start().await;
    let remote = remote_images(&[server.origin()]);
    let url = server.url("/gated.png");
    let fetches: Vec<_> = (0..8)
        .map(|_| {
            let remote = remote.clone();
            let url = url.clone();
            tokio::spawn(async move { remote.fetch(&url).await })
        })
        .collect();
    // The first fetch is now held at the server. Without coalescing, the
    // other seven would each send a request of their own meanwhile; give
    // them a moment to, then let the one response go.
    eventually(|| server.requests() >= 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.requests(), 1);
    server.state.gate.add_permits(8);

    let mut assets = Vec::new();
    for fetch in fetches {
        assets.push(
            fetch
                .await
                .expect("the fetch task finished")
                .expect("the photo is fetched"),
        );
    }
    assert!(assets.iter().all(|asset| Arc::ptr_eq(asset, &assets[0])));
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn urls_off_the_allow_list_reach_no_server() {
    let allowed = TestServer::start().await;
    let other = TestServer::start().await;
    let remote = remote_images(&[allowed.origin()]);
    let port = allowed.port;
    let cases = [
        // Another server on another port of the same host.
        (other.url("/photo.png"), RemoteImageError::NotAllowed),
        // The same server under another name, or another scheme.
        (
            format!("http://localhost:{port}/photo.png"),
            RemoteImageError::NotAllowed,
        ),
        (
            format!("https://127.0.0.1:{port}/photo.png"),
            RemoteImageError::NotAllowed,
        ),
        (
            format!("http://127.1:{port}/photo.png"),
            RemoteImageError::NotAllowed,
        ),
        // Userinfo, which browsers read as "connect to what follows the @".
        (
            format!("http://user@127.0.0.1:{port}/photo.png"),
            RemoteImageError::BadUrl,
        ),
        (
            format!("http://127.0.0.1:{port}@127.0.0.1:{}/photo.png", other.port),
            RemoteImageError::BadUrl,
        ),
        ("javascript:alert(1)".to_string(), RemoteImageError::BadUrl),
        ("file:///etc/passwd".to_string(), RemoteImageError::BadUrl),
        (
            format!("ftp://127.0.0.1:{port}/photo.png"),
            RemoteImageError::BadUrl,
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(remote.check(&url), Err(expected.clone()), "check {url}");
        let fetched = remote.fetch(&url).await.map(|_| ());
        assert_eq!(fetched, Err(expected), "fetch {url}");
    }
    assert_eq!(allowed.requests(), 0);
    assert_eq!(other.requests(), 0);
}

#[tokio::test]
async fn an_empty_allow_list_turns_remote_images_off() {
    let server = TestServer::start().await;
    let remote = remote_images(&[]);
    let fetched = remote.fetch(&server.url("/photo.png")).await.map(|_| ());
    assert_eq!(fetched, Err(RemoteImageError::NotAllowed));
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn a_wildcard_allows_subdomains_but_not_the_bare_domain() {
    let server = TestServer::start().await;
    let remote = remote_images(&["https://*.images.example.com".to_string(), server.origin()]);
    assert_eq!(
        remote.check("https://shop1.images.example.com/a.jpg"),
        Ok(())
    );
    assert_eq!(remote.check("https://a.b.images.example.com/a.jpg"), Ok(()));
    for refused in [
        "https://images.example.com/a.jpg",
        "http://shop1.images.example.com/a.jpg",
        "https://shop1.images.example.com:8443/a.jpg",
        "https://shop1images.example.com/a.jpg",
        "https://shop1.images.example.com.evil.test/a.jpg",
    ] {
        assert_eq!(
            remote.fetch(refused).await.map(|_| ()),
            Err(RemoteImageError::NotAllowed),
            "{refused}"
        );
    }
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn each_bad_answer_gives_its_error_and_is_remembered() {
    let server = TestServer::start().await;
    let remote = remote_images(&[server.origin()]);
    let cases = [
        ("/missing.png", "status", Some(404)),
        ("/moved.png", "status", Some(302)),
        ("/page.png", "not_an_image", None),
        ("/untyped.png", "not_an_image", None),
        ("/huge.png", "too_large", None),
        ("/huge-chunked.png", "too_large", None),
        ("/garbage.png", "decode", None),
        ("/vast.png", "too_large", None),
        ("/slow.png", "timeout", None),
    ];
    for (path, code, status) in cases {
        let url = server.url(path);
        let before = server.requests();
        let started = Instant::now();
        let error = remote.fetch(&url).await.map(|_| ()).expect_err(path);
        assert_eq!(error.code(), code, "{path}: {error}");
        if let Some(status) = status {
            assert_eq!(error, RemoteImageError::Status(status), "{path}");
        }
        assert!(
            started.elapsed() < SLOW_ROUTE_DELAY,
            "{path} took {:?}, past the timeout",
            started.elapsed()
        );
        assert_eq!(server.requests(), before + 1, "{path} made one request");

        // Asked again within failure_ttl, the failure comes from the cache.
        let again = remote.fetch(&url).await.map(|_| ()).expect_err(path);
        assert_eq!(again, error, "{path}");
        assert_eq!(
            server.requests(),
            before + 1,
            "{path} was not fetched again"
        );
    }
    // The redirect was not followed.
    assert!(
        server
            .seen()
            .iter()
            .all(|seen| seen.path_and_query != "/photo.png")
    );
}

#[tokio::test]
async fn a_malformed_origin_entry_is_refused_by_name() {
    for bad in [
        "cdn.example.com",
        "https://cdn.example.com/images",
        "https://*.com",
        "https://user@cdn.example.com",
        "gopher://cdn.example.com",
    ] {
        let config = RemoteImageConfig {
            allowed_origins: vec!["https://cdn.example.com".to_string(), bad.to_string()],
            ..RemoteImageConfig::default()
        };
        let error = RemoteImages::new(config)
            .map(|_| ())
            .expect_err("the entry is malformed");
        assert_eq!(error.code(), "config");
        assert!(error.to_string().contains(bad), "{error} names {bad}");
    }
}

#[tokio::test]
async fn a_host_that_does_not_speak_https_or_is_down_is_a_fetch_error() {
    let server = TestServer::start().await;
    // A port that was just free: nothing listens there any more.
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port to close again");
        listener.local_addr().expect("a bound address").port()
    };
    let https_origin = format!("https://127.0.0.1:{}", server.port);
    let closed_origin = format!("http://127.0.0.1:{closed_port}");
    let remote = remote_images(&[https_origin.clone(), closed_origin.clone()]);

    // An https origin is fetched over TLS only, never retried in plain http:
    // the plain server cannot complete the handshake.
    let error = remote
        .fetch(&format!("{https_origin}/photo.png"))
        .await
        .map(|_| ())
        .expect_err("no TLS there");
    assert_eq!(error.code(), "fetch", "{error}");
    assert!(error.to_string().contains("TLS"), "{error}");
    assert!(
        !error.to_string().contains("photo"),
        "{error} names the path"
    );

    let error = remote
        .fetch(&format!("{closed_origin}/photo.png?user=42"))
        .await
        .map(|_| ())
        .expect_err("nothing listens");
    assert_eq!(error.code(), "fetch", "{error}");
    assert!(error.to_string().contains(&closed_origin), "{error}");
    assert!(
        !error.to_string().contains("user=42"),
        "{error} names the query"
    );
}

/// A budget that the large image fits, twice, and the bomb does not.
const TEST_DECODE_BUDGET: u64 = 12 * 1024 * 1024;

fn limited_remote_images(origin: String, max_concurrent_decodes: usize) -> RemoteImages {
    RemoteImages::new(RemoteImageConfig {
        allowed_origins: vec![origin],
        max_bytes: MAX_BYTES,
        timeout: Duration::from_secs(5),
        max_concurrent_decodes,
        decode_budget_bytes: TEST_DECODE_BUDGET,
        ..RemoteImageConfig::default()
    })
    .expect("the test's config is valid")
}

#[tokio::test]
async fn a_bomb_is_refused_from_its_header_and_remembered() {
    let server = TestServer::start().await;
    assert!(server.state.bomb.len() < MAX_BYTES, "the bomb is small");
    let remote = limited_remote_images(server.origin(), 2);
    let url = server.url("/bomb.png?sku=1");
    let error = remote.fetch(&url).await.map(|_| ()).expect_err("refused");
    assert_eq!(error, RemoteImageError::TooLarge);
    // Within failure_ttl the refusal comes from the cache: a bomb URL costs
    // one fetch per failure_ttl, not one per open.
    for _ in 0..3 {
        assert_eq!(remote.fetch(&url).await.map(|_| ()), Err(error.clone()));
    }
    assert_eq!(server.requests(), 1);
    // The refusal reserved nothing: an image within the budget decodes.
    let large = remote
        .fetch(&server.url("/large.png"))
        .await
        .expect("the large image fits the budget");
    assert_eq!((large.width, large.height), (1024, 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decodes_beyond_the_limit_wait_or_give_up_and_are_not_remembered_as_failures() {
    let server = TestServer::start().await;
    let remote = limited_remote_images(server.origin(), 1);
    let urls: Vec<String> = (0..24)
        .map(|n| server.url(&format!("/large.png?n={n}")))
        .collect();
    let fetches: Vec<_> = urls
        .iter()
        .map(|url| {
            let remote = remote.clone();
            let url = url.clone();
            tokio::spawn(async move { remote.fetch(&url).await.map(|asset| asset.width) })
        })
        .collect();
    let mut busy = Vec::new();
    for (url, fetch) in urls.iter().zip(fetches) {
        match fetch.await.expect("the fetch task finished") {
            Ok(width) => assert_eq!(width, 1024),
            Err(RemoteImageError::Busy) => busy.push(url.clone()),
            Err(other) => panic!("{url}: only a busy decoder may fail it, not {other}"),
        }
    }
    // A URL that found the decoder busy is not a cached failure: asked
    // again when the burst is over, it is fetched and decoded.
    let requests = server.requests();
    for url in &busy {
        let asset = remote
            .fetch(url)
            .await
            .expect("decoded once the burst is over");
        assert_eq!(asset.width, 1024);
    }
    assert_eq!(server.requests(), requests + busy.len());
}

/// A template that draws the photo a recipient's state names, over white.
const PHOTO_TEMPLATE: &str = r##"{
  "name": "photo", "width": 100, "height": 100, "access": "token", "scales": [1],
  "variants": [
    { "id": "default", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 100, "height": 100, "fill": "#ffffff" },
      { "type": "image", "x": 0, "y": 0, "width": 100, "height": 100, "url": "{{ profile.photo }}", "fit": "fill" } ] }
  ]
}"##;

/// Opens by many recipients at once, each naming a bomb or a large photo of
/// its own, all get an image: those past the decode limits show the
/// layer's placeholder, never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_past_the_decode_limits_still_get_an_image() {
    let photos = TestServer::start().await;
    let redis = support::RedisServer::new();
    let origin = photos.origin();
    let server =
        support::server::TestServer::launch(&redis, &[("photo.json", PHOTO_TEMPLATE)], |config| {
            config.remote_images.allowed_origins = vec![origin];
            config.remote_images.max_concurrent_decodes = 1;
            config.remote_images.decode_budget_bytes = TEST_DECODE_BUDGET;
        })
        .await;
    let recipients = 32;
    for n in 0..recipients {
        let path = if n % 2 == 0 {
            "/bomb.png"
        } else {
            "/large.png"
        };
        let photo = photos.url(&format!("{path}?n={n}"));
        support::server::hset(&redis, &format!("r{n}"), &[("photo", &photo)]);
    }
    let server = Arc::new(server);
    let opens: Vec<_> = (0..recipients)
        .map(|n| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let path = format!("/i/photo.png?t={}", server.token(&format!("r{n}")));
                server.get(&path).await
            })
        })
        .collect();
    for open in opens {
        let answer = open.await.expect("the open task finished");
        support::server::assert_image(&answer);
    }
    assert_eq!(
        server
            .metric("opentime_remote_images_total{result=\"too_large\"}")
            .await,
        f64::from(recipients / 2),
        "every bomb was refused"
    );
    let Ok(server) = Arc::try_unwrap(server) else {
        panic!("every open has finished");
    };
    server.shutdown().await;
}
