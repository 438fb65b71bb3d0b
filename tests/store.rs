//! The store against a real `redis-server` (started per test by
//! `support::RedisServer`) and the embedded demo store: what it reads, where
//! it writes, and how it behaves while Redis is down, hung or coming back.

use crate::support;

use std::path::Path;
use std::time::Duration;

use opentime::recipient::{Profile, RecipientId};
use opentime::store::{Store, StoreConfig, StoreError, Topology};
use support::{RedisServer, eventually};

/// Generous for a healthy local Redis even on a loaded CI machine, yet far
/// below the outer timeouts that catch a hang.
const BUDGET: Duration = Duration::from_millis(200);

/// How long a call may take before the test calls it a hang: many budgets.
const HANG: Duration = Duration::from_secs(2);

/// How long recovery may take after Redis comes back.
const RECOVERY: Duration = Duration::from_secs(5);

fn id(raw: &str) -> RecipientId {
    RecipientId::new(raw).expect("test ids are valid")
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn redis_config(server: &RedisServer, prefix: &str) -> StoreConfig {
    StoreConfig {
        redis_url: Some(server.url().into()),
        key_prefix: prefix.to_owned(),
        budget: BUDGET,
        demo_dir: "does-not-matter-with-redis".into(),
        tls_ca_file: None,
        topology: Topology::Standalone,
        report_retention_days: 400,
    }
}

fn demo_config(demo_dir: &Path) -> StoreConfig {
    StoreConfig {
        redis_url: None,
        key_prefix: "ot:".to_owned(),
        budget: BUDGET,
        demo_dir: demo_dir.to_owned(),
        tls_ca_file: None,
        topology: Topology::Standalone,
        report_retention_days: 400,
    }
}

async fn open(config: &StoreConfig) -> Store {
    tokio::time::timeout(HANG, Store::open(config))
        .await
        .expect("Store::open must not hang")
        .expect("Store::open succeeds")
}

/// A profile read that must return, successfully or not, well within `HANG`.
async fn profile_now(
    store: &Store,
    recipient: &RecipientId,
) -> Result<Option<Profile>, StoreError> {
    tokio::time::timeout(HANG, store.profile(recipient))
        .await
        .expect("profile() must return, not hang")
}

#[tokio::test]
async fn profile_reads_what_customers_hset() {
    let server = RedisServer::new();
    server.hset("ot:r:{alice}", "first_name", "Alice");
    server.hset("ot:r:{alice}", "points", "120");
    let store = open(&redis_config(&server, "ot:")).await;

    let profile = store.profile(&id("alice")).await.expect("Redis is up");
    assert_eq!(
        profile,
        Some(Profile::from_iter([
            ("first_name", "Alice"),
            ("points", "120")
        ]))
    );
    assert!(!store.is_demo());
    store.ping().await.expect("Redis is up");
}

#[tokio::test]
async fn a_recipient_without_a_hash_has_no_profile() {
    let server = RedisServer::new();
    server.hset("ot:r:{alice}", "first_name", "Alice");
    let store = open(&redis_config(&server, "ot:")).await;

    assert_eq!(store.profile(&id("bob")).await.expect("Redis is up"), None);
}

#[tokio::test]
async fn keys_are_spelled_as_the_spec_says() {
    let server = RedisServer::new();
    let store = open(&redis_config(&server, "ot:")).await;
    store
        .set_fields(&id("alice"), &fields(&[("plan", "pro")]))
        .await
        .expect("Redis is up");
    assert_eq!(server.keys(), ["ot:r:{alice}"]);

    let custom = open(&redis_config(&server, "acme:prod:")).await;
    custom
        .set_fields(&id("alice"), &fields(&[("plan", "basic")]))
        .await
        .expect("Redis is up");
    assert_eq!(server.keys(), ["acme:prod:r:{alice}", "ot:r:{alice}"]);
    // Each prefix sees its own data only.
    let seen = custom.profile(&id("alice")).await.expect("Redis is up");
    assert_eq!(
        seen.and_then(|p| p.get("plan").map(str::to_owned))
            .as_deref(),
        Some("basic")
    );
}

#[tokio::test]
async fn set_fields_merges_and_delete_profile_removes_in_redis() {
    let server = RedisServer::new();
    let store = open(&redis_config(&server, "ot:")).await;
    let alice = id("alice");

    store
        .set_fields(&alice, &fields(&[("a", "1"), ("b", "2")]))
        .await
        .expect("HSET");
    store
        .set_fields(&alice, &fields(&[("b", "3"), ("c", "4")]))
        .await
        .expect("HSET");
    store
        .set_fields(&alice, &[])
        .await
        .expect("no fields is a no-op");
    let raw = server.hgetall("ot:r:{alice}");
    assert_eq!(
        raw,
        [("a", "1"), ("b", "3"), ("c", "4")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
    );

    assert!(store.delete_profile(&alice).await.expect("DEL"));
    assert_eq!(store.profile(&alice).await.expect("HGETALL"), None);
    assert!(
        !store.delete_profile(&alice).await.expect("DEL"),
        "nothing left to delete"
    );
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn a_key_of_the_wrong_type_is_an_error_not_a_profile() {
    let server = RedisServer::new();
    redis::cmd("SET")
        .arg("ot:r:{alice}")
        .arg("not a hash")
        .exec(&mut server.connection())
        .expect("SET");
    let store = open(&redis_config(&server, "ot:")).await;

    let error = store.profile(&id("alice")).await.expect_err("WRONGTYPE");
    assert!(matches!(error, StoreError::Command(_)), "{error:?}");
}

#[tokio::test]
async fn a_stopped_redis_fails_fast_and_the_same_store_recovers() {
    let mut server = RedisServer::new();
    server.hset("ot:r:{alice}", "first_name", "Alice");
    let store = open(&redis_config(&server, "ot:")).await;
    assert!(
        store
            .profile(&id("alice"))
            .await
            .expect("Redis is up")
            .is_some()
    );

    server.stop();
    for _ in 0..3 {
        // Whatever the reconnection is doing, each call returns an error.
        assert!(profile_now(&store, &id("alice")).await.is_err());
    }
    assert!(
        tokio::time::timeout(HANG, store.ping())
            .await
            .expect("ping returns")
            .is_err()
    );

    server.start();
    server.hset("ot:r:{alice}", "first_name", "Alice again");
    let profile = eventually(
        "the store reads Redis again after a restart",
        RECOVERY,
        || async { profile_now(&store, &id("alice")).await.ok().flatten() },
    )
    .await;
    assert_eq!(profile.get("first_name"), Some("Alice again"));
}

#[tokio::test]
async fn a_restart_while_idle_costs_no_request() {
    let mut server = RedisServer::new();
    let store = open(&redis_config(&server, "ot:")).await;
    store.ping().await.expect("Redis is up");

    // The store's connection dies while nobody uses it, as when Redis
    // restarts or a proxy drops an idle connection at night.
    server.restart();
    server.hset("ot:r:{alice}", "first_name", "Alice");

    let profile = profile_now(&store, &id("alice")).await;
    let profile = profile.expect("the first call after the restart succeeds");
    assert_eq!(
        profile
            .and_then(|p| p.get("first_name").map(str::to_owned))
            .as_deref(),
        Some("Alice")
    );
}

#[tokio::test]
async fn a_hung_redis_costs_a_budget_not_a_hang() {
    let server = RedisServer::new();
    server.hset("ot:r:{alice}", "first_name", "Alice");
    let store = open(&redis_config(&server, "ot:")).await;
    assert!(
        store
            .profile(&id("alice"))
            .await
            .expect("Redis is up")
            .is_some()
    );

    server.pause();
    let error = profile_now(&store, &id("alice"))
        .await
        .expect_err("nothing answers");
    assert!(
        matches!(error, StoreError::Timeout(budget) if budget == BUDGET),
        "{error:?}"
    );
    let error = profile_now(&store, &id("alice"))
        .await
        .expect_err("still nothing");
    assert!(matches!(error, StoreError::Timeout(_)), "{error:?}");

    server.resume();
    eventually("the store answers once Redis thaws", RECOVERY, || async {
        profile_now(&store, &id("alice")).await.ok().flatten()
    })
    .await;
}

#[tokio::test]
async fn the_store_opens_while_redis_is_down_and_connects_when_it_starts() {
    let mut server = RedisServer::not_started();
    let store = open(&redis_config(&server, "ot:")).await;
    assert!(profile_now(&store, &id("alice")).await.is_err());

    server.start();
    server.hset("ot:r:{alice}", "first_name", "Alice");
    let profile = eventually("the store connects once Redis is up", RECOVERY, || async {
        profile_now(&store, &id("alice")).await.ok().flatten()
    })
    .await;
    assert_eq!(profile.get("first_name"), Some("Alice"));
}

#[tokio::test]
async fn configuration_that_cannot_work_is_refused_at_open() {
    let server = RedisServer::new();
    for url in ["http://localhost:6379", "localhost:6379"] {
        let config = StoreConfig {
            redis_url: Some(url.into()),
            ..redis_config(&server, "ot:")
        };
        let error = Store::open(&config).await.expect_err("unsupported URL");
        assert!(matches!(error, StoreError::Config(_)), "{url}: {error:?}");
    }
    let error = Store::open(&redis_config(&server, "{ot}:"))
        .await
        .expect_err("brace in prefix");
    assert!(matches!(error, StoreError::Config(_)), "{error:?}");
}

#[tokio::test]
async fn the_demo_store_is_seeded_from_the_demo_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(
        dir.path().join("recipients.json"),
        r#"{ "alice": { "first_name": "Alice", "points": 120, "vip": true }, "bob": { "first_name": "Bob" } }"#,
    )
    .expect("write the demo file");
    let store = open(&demo_config(dir.path())).await;

    assert!(store.is_demo());
    store.ping().await.expect("the demo store is always ready");
    let alice = store
        .profile(&id("alice"))
        .await
        .expect("memory never fails");
    assert_eq!(
        alice,
        Some(Profile::from_iter([
            ("first_name", "Alice"),
            ("points", "120"),
            ("vip", "true")
        ]))
    );
    assert_eq!(
        store
            .profile(&id("carol"))
            .await
            .expect("memory never fails"),
        None
    );
}

#[tokio::test]
async fn set_fields_merges_and_delete_profile_removes_in_the_demo_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(
        dir.path().join("recipients.json"),
        r#"{ "alice": { "a": "1", "b": "2" } }"#,
    )
    .expect("write the demo file");
    let store = open(&demo_config(dir.path())).await;
    let alice = id("alice");

    store
        .set_fields(&alice, &fields(&[("b", "3"), ("c", "4")]))
        .await
        .expect("memory");
    let profile = store.profile(&alice).await.expect("memory");
    assert_eq!(
        profile,
        Some(Profile::from_iter([("a", "1"), ("b", "3"), ("c", "4")]))
    );
    // Clones (one per connection in the server) share the data.
    assert!(store.clone().delete_profile(&alice).await.expect("memory"));
    assert_eq!(store.profile(&alice).await.expect("memory"), None);
    assert!(!store.delete_profile(&alice).await.expect("memory"));
}

#[tokio::test]
async fn a_bad_demo_file_is_a_config_error_naming_file_and_problem() {
    let dir = tempfile::tempdir().expect("temporary directory");

    let missing = Store::open(&demo_config(dir.path()))
        .await
        .expect_err("no demo file");
    assert!(matches!(missing, StoreError::Config(_)), "{missing:?}");
    assert!(missing.to_string().contains("recipients.json"), "{missing}");

    std::fs::write(
        dir.path().join("recipients.json"),
        "{ \"alice\": { \"first_name\": null } }",
    )
    .expect("write the demo file");
    let invalid = Store::open(&demo_config(dir.path()))
        .await
        .expect_err("null field");
    let message = invalid.to_string();
    assert!(matches!(invalid, StoreError::Config(_)), "{invalid:?}");
    assert!(message.contains("recipients.json"), "{message}");
    assert!(message.contains("string, number or boolean"), "{message}");
}

/// Writes a private certificate authority (`ca.pem`) and a certificate it
/// signed for `localhost` and 127.0.0.1 (`server.pem`, `server.key`) into
/// `dir`, as an operator running Redis behind its own CA would have them.
fn write_test_certificates(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA parameters");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "opentime test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("the CA signs itself");

    let server_key = rcgen::KeyPair::generate().expect("a server key");
    let mut server_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server parameters");
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = server_params
        .signed_by(&server_key, &issuer)
        .expect("the CA signs the server's certificate");

    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca.pem");
    std::fs::write(dir.join("server.pem"), server.pem()).expect("write server.pem");
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).expect("write server.key");
}

#[tokio::test]
async fn rediss_connects_through_tls_with_a_private_certificate_authority() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    write_test_certificates(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            &path("server.pem"),
            "--tls-key-file",
            &path("server.key"),
        ])
        .args([
            "--tls-ca-cert-file",
            &path("ca.pem"),
            "--tls-auth-clients",
            "no",
        ])
        .args(["--save", "", "--appendonly", "no", "--dir", &path("")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server not found: install it with apt-get install redis-server");

    let config = StoreConfig {
        redis_url: Some(format!("rediss://localhost:{port}").into()),
        key_prefix: "ot:".to_owned(),
        budget: Duration::from_secs(1),
        demo_dir: "unused".into(),
        tls_ca_file: Some(dir.path().join("ca.pem")),
        topology: Topology::Standalone,
        report_retention_days: 400,
    };
    let store = Store::open(&config).await.expect("a rediss:// store opens");
    let alice = RecipientId::new("alice").unwrap();
    let mut stored = false;
    for _ in 0..50 {
        if store
            .set_fields(&alice, &[("first_name".into(), "Alice".into())])
            .await
            .is_ok()
        {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "the TLS connection came up");
    let profile = store.profile(&alice).await.unwrap().expect("a profile");
    assert_eq!(profile.get("first_name"), Some("Alice"));

    // Without the private CA the server's certificate is not trusted.
    let untrusting = Store::open(&StoreConfig {
        tls_ca_file: None,
        topology: Topology::Standalone,
        ..config
    })
    .await
    .unwrap();
    assert!(untrusting.ping().await.is_err(), "an unknown CA is refused");
    let _ = redis.kill();
    let _ = redis.wait();
}

#[tokio::test]
async fn the_shared_render_cache_keeps_renders_within_its_window_budget() {
    let server = RedisServer::new();
    let Store::Redis(redis) = open(&redis_config(&server, "ot:")).await else {
        panic!("a Redis URL opens the Redis store");
    };
    use opentime::store::redis_renders::{RenderToStore, SharedBudget, SharedRender, SharedWrite};
    let now = 1_800_000_000;
    let image = vec![7u8; 400];
    let render = |key_hex, compact| RenderToStore {
        key_hex,
        bytes: &image,
        compact,
    };
    // A budget of 1000 bytes a window: two renders of 401 bytes stored
    // (the image and its encoding's byte) fit, a third does not, and the
    // refused one left no bytes counted.
    let budget = SharedBudget {
        ttl_secs: 3600,
        window_bytes: 1000,
    };
    let batch = [render("aa", false), render("bb", true), render("cc", false)];
    let written = redis
        .store_shared_renders(&batch, budget, now)
        .await
        .unwrap();
    assert_eq!(
        written,
        [SharedWrite::Stored, SharedWrite::Stored, SharedWrite::Full]
    );
    for (key, compact) in [("aa", false), ("bb", true)] {
        assert_eq!(
            redis.shared_render(key).await.unwrap(),
            Some(SharedRender {
                bytes: image.clone().into(),
                compact,
            }),
            "{key}"
        );
    }
    assert_eq!(redis.shared_render("cc").await.unwrap(), None);
    let window = format!("ot:render-bytes:{}", now / 3600);
    let mut connection = server.connection();
    let counted: u64 = redis::cmd("GET")
        .arg(&window)
        .query(&mut connection)
        .unwrap();
    assert_eq!(counted, 802);
    let ttl: i64 = redis::cmd("TTL")
        .arg("ot:render:v2:aa")
        .query(&mut connection)
        .unwrap();
    assert!((3500..=3600).contains(&ttl), "{ttl}");
    // The next window has a budget of its own.
    let written = redis
        .store_shared_renders(&[render("cc", false)], budget, now + 3600)
        .await
        .unwrap();
    assert_eq!(written, [SharedWrite::Stored]);

    // A bare image at the key versions before the encoding's byte used is
    // not read: a replica of such a version would not read ours either.
    let _: () = redis::cmd("SET")
        .arg("ot:render:dd")
        .arg(&image)
        .query(&mut connection)
        .unwrap();
    assert_eq!(redis.shared_render("dd").await.unwrap(), None);
    // A value that is neither encoding is an error, which renders.
    let _: () = redis::cmd("SET")
        .arg("ot:render:v2:ee")
        .arg(&image)
        .query(&mut connection)
        .unwrap();
    assert!(redis.shared_render("ee").await.is_err());
}
