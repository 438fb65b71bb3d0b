//! The render cache's background work, against a real Redis and through
//! the HTTP server: renders worth sharing are written to Redis in batches,
//! within the shared cache's byte budget, without an open ever waiting for
//! Redis.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hyper::StatusCode;
use support::server::{Answer, TestServer};
use support::{RedisServer, eventually};

/// A public card that thanks the `name` it is given, on a photo: the
/// shape of most open-time images.
const THANKS: &str = r##"{
  "name": "thanks",
  "width": 600, "height": 200,
  "access": "public",
  "params": { "name": { "max_len": 64, "default": "there" } },
  "variants": [
    { "id": "default",
      "layers": [
        { "type": "image", "x": 0, "y": 0, "width": 600, "height": 200, "src": "images/renewal-bg.png" },
        { "type": "text", "x": 32, "y": 36, "width": 536, "height": 64,
          "text": "Thank you, {{ query.name }}!", "size": 40, "weight": "bold", "color": "#ffffff" } ] }
  ]
}"##;

/// A small public card: cheap to render hundreds of times.
const TINY: &str = r##"{
  "name": "tiny",
  "width": 80, "height": 24,
  "access": "public",
  "params": { "name": { "max_len": 16, "default": "0" } },
  "variants": [
    { "id": "default",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 80, "height": 24, "fill": "#0b3d91" },
        { "type": "text", "x": 4, "y": 2, "width": 72, "height": 20,
          "text": "#{{ query.name }}", "size": 14, "color": "#ffffff" } ] }
  ]
}"##;

/// Calls of each Redis command since the server started (`INFO
/// commandstats`), by name: what the server did, whoever asked.
fn command_calls(redis: &RedisServer) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut redis.connection())
        .expect("INFO on the test redis-server");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.strip_prefix("calls=")?.split(',').next()?;
            Some((name.to_string(), calls.parse().ok()?))
        })
        .collect()
}

fn shared_renders(redis: &RedisServer) -> Vec<String> {
    redis
        .keys()
        .into_iter()
        .filter(|key| key.starts_with("ot:render:v2:"))
        .collect()
}

/// A JPEG, as the `.jpg` opens answer.
fn assert_jpeg(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "image/jpeg");
    assert!(answer.body.starts_with(&[0xFF, 0xD8]), "a JPEG");
}

/// Opens each path once, all at once.
async fn open_all(server: &TestServer, paths: &[String]) -> Vec<Answer> {
    join_all(paths.iter().map(|path| server.get(path))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_asked_for_again_are_written_in_a_few_batches() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[("thanks.json", THANKS)], |_| {}).await;
    // JPEGs: written at the second open, with no re-encoding between.
    let paths: Vec<String> = (0..40)
        .map(|n| format!("/i/thanks.jpg?name=Reader{n}"))
        .collect();
    for path in &paths {
        assert_jpeg(&server.get(path).await);
    }
    assert!(
        shared_renders(&redis).is_empty(),
        "asked for once: kept here"
    );
    let before = command_calls(&redis);

    for answer in open_all(&server, &paths).await {
        assert_jpeg(&answer);
    }
    eventually(
        "every render is stored",
        Duration::from_secs(10),
        || async {
            let stored = server
                .metric("opentime_shared_cache_writes_total{result=\"stored\"}")
                .await;
            (stored == 40.0).then_some(())
        },
    )
    .await;
    assert_eq!(shared_renders(&redis).len(), 40);
    let after = command_calls(&redis);
    let calls =
        |command: &str| after.get(command).unwrap_or(&0) - before.get(command).unwrap_or(&0);
    assert_eq!(calls("set"), 40, "one SET per render");
    assert_eq!(calls("incrby"), 40, "each render counted in the window");
    // One EXPIRE per batch, so one per two round trips.
    let batches = server
        .metric("opentime_shared_cache_write_batches_total")
        .await;
    assert_eq!(calls("expire") as f64, batches);
    assert!(batches <= 8.0, "40 renders took {batches} batches");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_refuses_what_does_not_fit_and_gives_its_bytes_back() {
    let redis = RedisServer::new();
    let paths: Vec<String> = (0..12)
        .map(|n| format!("/i/thanks.jpg?name=Budget{n}"))
        .collect();
    // Each card is 15 to 20 KB: the window (half the bound) takes about
    // five of them.
    let server = TestServer::launch(&redis, &[("thanks.json", THANKS)], |config| {
        config.cache.shared_bytes = 200_000;
    })
    .await;
    for path in &paths {
        assert_jpeg(&server.get(path).await);
    }
    let sizes: Vec<usize> = open_all(&server, &paths)
        .await
        .iter()
        .map(|answer| answer.body.len())
        .collect();
    let (stored, full) = eventually(
        "every write is answered",
        Duration::from_secs(10),
        || async {
            let stored = server
                .metric("opentime_shared_cache_writes_total{result=\"stored\"}")
                .await;
            let full = server
                .metric("opentime_shared_cache_writes_total{result=\"full\"}")
                .await;
            (stored + full == 12.0).then_some((stored, full))
        },
    )
    .await;
    assert!(stored >= 3.0 && full >= 3.0, "stored {stored}, full {full}");
    assert!(
        sizes.iter().all(|size| (15_000..25_000).contains(size)),
        "{sizes:?}"
    );
    // The window's counter holds the stored values' bytes only: each
    // refused write gave its bytes back, once.
    let window = redis
        .keys()
        .into_iter()
        .find(|key| key.starts_with("ot:render-bytes:"))
        .expect("the window's counter");
    let mut connection = redis.connection();
    let counted: u64 = redis::cmd("GET")
        .arg(&window)
        .query(&mut connection)
        .unwrap();
    let held: u64 = shared_renders(&redis)
        .iter()
        .map(|key| -> u64 {
            redis::cmd("STRLEN")
                .arg(key)
                .query(&mut connection)
                .unwrap()
        })
        .sum();
    assert_eq!(counted, held);
    assert!(held <= 100_000, "{held} bytes past the window's budget");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_hangs_never_delays_an_image_and_a_full_queue_drops_writes() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[("tiny.json", TINY)], |_| {}).await;
    // More than the writer's queue (256) and the batches it can take while
    // Redis hangs (64 each, 500 ms each).
    let paths: Vec<String> = (0..400).map(|n| format!("/i/tiny.jpg?name={n}")).collect();
    for chunk in paths.chunks(50) {
        for answer in open_all(&server, chunk).await {
            assert_jpeg(&answer);
        }
    }
    // Frozen: connections stay open and nothing answers, the worst case
    // for the writer, which waits out its budget on every batch.
    redis.pause();
    let mut slowest = Duration::ZERO;
    for path in &paths {
        let started = Instant::now();
        let answer = server.get(path).await;
        slowest = slowest.max(started.elapsed());
        assert_jpeg(&answer);
    }
    assert!(
        slowest < Duration::from_millis(100),
        "a hit took {slowest:?} while the writes waited on Redis"
    );
    // A new render's lookup waits its own 50 ms budget at most.
    let started = Instant::now();
    assert_jpeg(&server.get("/i/tiny.jpg?name=new").await);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    redis.resume();
    let writes = |result: &'static str| {
        let server = &server;
        async move {
            server
                .metric(&format!(
                    "opentime_shared_cache_writes_total{{result=\"{result}\"}}"
                ))
                .await
        }
    };
    eventually(
        "every write is counted",
        Duration::from_secs(20),
        || async {
            let counted = writes("stored").await + writes("error").await + writes("dropped").await;
            (counted == 400.0).then_some(())
        },
    )
    .await;
    assert!(writes("dropped").await > 0.0, "the queue was full");
    server.shutdown().await;
}
