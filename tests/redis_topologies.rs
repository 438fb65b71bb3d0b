//! opentime on a real three-master Redis Cluster and on a Sentinel-managed
//! primary. On the Cluster: opens, clicks, votes, events, an NDJSON import
//! and a warm job, whose keys land on several masters. On Sentinel: the
//! primary is killed during traffic; meanwhile every open is still a 200
//! image (the default variant), and once the sentinel has promoted the
//! replica, opens are personalized again.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use opentime::store::Topology;
use redis::Commands;
use support::server::{TestServer, assert_image};
use support::topology::{RedisCluster, RedisSentinel};
use support::{RedisServer, eventually};

const ADMIN: &str = "topology-test-admin-token";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";

async fn post(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: String,
) -> serde_json::Value {
    let answer = server
        .admin(Method::POST, path, ADMIN, content_type, body)
        .await;
    assert!(
        answer.status.is_success(),
        "{path}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_works_on_a_three_master_cluster() {
    let cluster = RedisCluster::new();
    let mut redis = cluster.connection();
    let ids: Vec<String> = (0..12).map(|n| format!("member-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let _: () = redis
            .hset_multiple(
                format!("ot:r:{{{id}}}"),
                &[
                    ("first_name", format!("M{n}")),
                    ("points", "100".into()),
                    ("tier", "gold".into()),
                ],
            )
            .unwrap();
    }
    // The recipients' keys are spread over the three masters.
    let mut masters = std::collections::BTreeSet::new();
    for id in &ids {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("ot:r:{{{id}}}"))
            .query(&mut redis)
            .unwrap();
        // redis-cli --cluster create splits the slots in three like this.
        masters.insert(match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        });
    }
    assert_eq!(masters.len(), 3, "the test recipients live on every master");

    let placeholder = RedisServer::not_started();
    let urls = cluster.urls();
    let server = TestServer::launch(&placeholder, &[], |config| {
        config.store.redis_url = Some(urls.into());
        config.store.topology = Topology::Cluster;
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
        config.warm.rate = 1000;
        // A Cluster connection learns its slot map on first use.
        config.store.budget = Duration::from_secs(2);
    })
    .await;

    // Opens: personalized, from the shared render cache on a second look.
    let anonymous = server.get("/i/loyalty.png").await;
    for id in &ids {
        let answer = server
            .request(
                Method::GET,
                &format!("/i/loyalty.png?t={}", server.token(id)),
                &[("user-agent", IPHONE)],
            )
            .await;
        assert_image(&answer);
        assert_ne!(answer.body, anonymous.body, "{id} sees their card");
    }
    // Clicks follow the variant shown.
    let click = server
        .get(&format!("/c/loyalty?t={}", server.token(&ids[0])))
        .await;
    assert_eq!(click.status, StatusCode::FOUND);
    assert_eq!(
        click.headers["location"],
        "https://example.com/rewards?tier=gold"
    );
    // Votes count in the poll's tally (not the clicker's: a vote right
    // after a click is a scanner's burst).
    for (id, option) in [(&ids[3], "5"), (&ids[4], "5"), (&ids[5], "3")] {
        let answer = server
            .request(
                Method::GET,
                &format!("/v/care-rating/{option}?t={}", server.token(id)),
                &[("user-agent", IPHONE)],
            )
            .await;
        assert!(
            answer.status.is_success() || answer.status == StatusCode::FOUND,
            "{}",
            answer.status
        );
    }
    let tally: BTreeMap<String, i64> = redis.hgetall("ot:poll:{care-rating}:tally").unwrap();
    assert_eq!(tally.get("5"), Some(&2), "{tally:?}");
    assert_eq!(tally.get("3"), Some(&1), "{tally:?}");
    // Events reach the stream and the records their recipients' slots.
    eventually("the events are written", Duration::from_secs(10), || {
        let length: u64 = redis::cmd("XLEN")
            .arg("ot:events")
            .query(&mut redis)
            .unwrap_or(0);
        let opens: Option<String> = redis.hget("ot:r:{member-7}", "opens").unwrap_or(None);
        std::future::ready((length >= 15 && opens.is_some()).then_some(()))
    })
    .await;

    // An import of profiles on many slots.
    let lines: String = (0..300)
        .map(|n| format!("{{\"recipient\":\"imported-{n}\",\"fields\":{{\"points\":{n}}}}}\n"))
        .collect();
    let report = post(&server, "/api/v1/recipients", "application/x-ndjson", lines).await;
    assert_eq!(report["written"], 300, "{report}");
    let points: String = redis.hget("ot:r:{imported-299}", "points").unwrap();
    assert_eq!(points, "299");
    // Engagement of many recipients at once.
    let engagement = post(
        &server,
        "/api/v1/engagement",
        "application/json",
        serde_json::json!({ "recipients": ids }).to_string(),
    )
    .await;
    assert_eq!(engagement["recipients"].as_array().unwrap().len(), 12);

    // A warm job: the renders go to the shared cache, on the masters.
    let list: String = (0..20)
        .map(|n| format!("{{\"recipient\":\"imported-{n}\"}}\n"))
        .collect();
    let started = post(
        &server,
        "/api/v1/warm?template=loyalty&scale=2",
        "application/x-ndjson",
        list,
    )
    .await;
    let path = format!("/api/v1/warm/{}", started["job"].as_str().unwrap());
    let authorization = format!("Bearer {ADMIN}");
    let done = eventually("the warm job ends", Duration::from_secs(30), || async {
        let answer = server
            .request(Method::GET, &path, &[("authorization", &authorization)])
            .await;
        let progress: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
        (progress["state"] == "done").then_some(progress)
    })
    .await;
    assert_eq!(done["rendered"], 20, "{done}");
    assert_eq!(done["errors"], 0, "{done}");
    let writes = server
        .metric("opentime_shared_cache_writes_total{result=\"stored\"}")
        .await;
    let metrics = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    let shared: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("opentime_shared"))
        .collect();
    assert!(writes >= 20.0, "{shared:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_shows_default_images_meanwhile_then_personalization() {
    let mut topology = RedisSentinel::new();
    let first_primary = topology.primary.port;
    let _: () = redis::Client::open(topology.primary.url())
        .unwrap()
        .get_connection()
        .unwrap()
        .hset_multiple("ot:r:{ann}", &[("first_name", "Ann"), ("points", "1200")])
        .unwrap();
    // The replica has the profile before the primary goes.
    let mut replica = redis::Client::open(topology.replica.url())
        .unwrap()
        .get_connection()
        .unwrap();
    eventually(
        "the replica has the profile",
        Duration::from_secs(10),
        || {
            let name: Option<String> = replica.hget("ot:r:{ann}", "first_name").unwrap_or(None);
            std::future::ready(name.map(|_| ()))
        },
    )
    .await;

    let placeholder = RedisServer::not_started();
    let sentinel_url = topology.sentinel.url();
    let server = TestServer::launch(&placeholder, &[], |config| {
        config.store.redis_url = Some(sentinel_url.into());
        config.store.topology = Topology::Sentinel {
            master: RedisSentinel::MASTER.to_string(),
        };
    })
    .await;
    let path = format!("/i/loyalty.png?t={}", server.token("ann"));
    let personal = server
        .request(Method::GET, &path, &[("user-agent", IPHONE)])
        .await;
    assert_image(&personal);
    let default = server.get("/i/loyalty.png").await;
    assert_ne!(personal.body, default.body, "Ann's card is personal");

    topology.primary.kill();
    let killed = Instant::now();
    let mut during = 0;
    let recovered = loop {
        let answer = server
            .request(Method::GET, &path, &[("user-agent", IPHONE)])
            .await;
        assert_image(&answer);
        if answer.body == personal.body {
            if topology.primary_port() != first_primary {
                break killed.elapsed();
            }
        } else {
            assert_eq!(
                answer.body, default.body,
                "meanwhile, only the default variant"
            );
            during += 1;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no personalization 30 s after the failover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(during > 0, "the outage was seen");
    assert_eq!(
        topology.primary_port(),
        topology.replica.port,
        "the replica was promoted"
    );
    // Writes go to the new primary: an open records itself there.
    let mut promoted = redis::Client::open(topology.replica.url())
        .unwrap()
        .get_connection()
        .unwrap();
    eventually(
        "the open is recorded on the new primary",
        Duration::from_secs(10),
        || {
            let opens: Option<String> = promoted.hget("ot:r:{ann}", "opens").unwrap_or(None);
            std::future::ready(opens.map(|_| ()))
        },
    )
    .await;
    eprintln!(
        "personalized again {recovered:?} after the primary was killed ({during} default images meanwhile)"
    );
    server.shutdown().await;
}
