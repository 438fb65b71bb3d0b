//! Experiments end to end, against a real Redis: arms are given by the
//! hash and kept, only people's opens are exposures and their clicks
//! successes, a winner emerges from the clicks and every new exposure gets
//! it while earlier ones keep their arm (unless `switch_all`), a decision
//! by hand overrules, a paused arm stops being given, and `opentime check`
//! refuses experiments that cannot work.

use crate::support;

use std::time::Duration;

use hyper::{Method, StatusCode};
use opentime::experiments::assign::assign;
use opentime::recipient::RecipientId;
use support::server::TestServer;
use support::{RedisServer, eventually};

const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const APPLE_PREFETCH: &str = "Mozilla/5.0";
const ADMIN: &str = "experiments-admin-token";

/// Two arms of copy; the winner rule decides after 40 people per arm.
fn template(name: &str, id: &str, switch_all: bool) -> String {
    format!(
        r##"{{
  "name": "{name}", "width": 120, "height": 40, "access": "token", "scales": [1],
  "experiment": {{ "id": "{id}", "arms": {{ "a": 50, "b": 50 }}, "switch_all": {switch_all},
                   "winner": {{ "min_exposures": 40, "probability": 0.95 }} }},
  "variants": [
    {{ "id": "copy-a", "arm": "a", "link": "https://shop.example.com/a",
      "layers": [ {{ "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#aa0000" }} ] }},
    {{ "id": "copy-b", "arm": "b", "link": "https://shop.example.com/b",
      "layers": [ {{ "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#0000aa" }} ] }},
    {{ "id": "default", "link": "https://shop.example.com/",
      "layers": [ {{ "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#333333" }} ] }}
  ]
}}"##
    )
}

async fn launch(redis: &RedisServer) -> TestServer {
    let templates = [
        ("copy.json", template("copy", "copy-dec", false)),
        ("switch.json", template("switch", "switch-dec", true)),
    ];
    let templates: Vec<(&str, &str)> = templates
        .iter()
        .map(|(file, json)| (*file, json.as_str()))
        .collect();
    TestServer::launch(redis, &templates, |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await
}

fn person(n: usize) -> String {
    format!("person-{n}")
}

/// The arm the hash gives `id` in the template's experiment.
fn hashed_arm(server: &TestServer, template: &str, id: &str) -> String {
    let template = server.app.templates.get(template).expect("loaded");
    let experiment = template.experiment.as_ref().expect("an experiment");
    assign(experiment, &RecipientId::new(id).expect("valid"))
        .expect("an arm")
        .name
        .clone()
}

async fn open(server: &TestServer, template: &str, id: &str, user_agent: &str) {
    let path = format!("/i/{template}.png?t={}", server.token(id));
    let answer = server
        .request(Method::GET, &path, &[("user-agent", user_agent)])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// Where the recipient's click goes: the link of the arm they were shown.
async fn click(server: &TestServer, template: &str, id: &str) -> String {
    let path = format!("/c/{template}?t={}", server.token(id));
    let answer = server
        .request(Method::GET, &path, &[("user-agent", BROWSER)])
        .await;
    assert_eq!(answer.status, StatusCode::FOUND, "{id}");
    answer.headers["location"].to_str().unwrap().to_string()
}

/// The experiment's people per arm: exposed, clicked, converted.
async fn counts(server: &TestServer, experiment: &str) -> Vec<[u64; 3]> {
    server
        .app
        .store
        .experiment_counts(experiment, &["a", "b"])
        .await
        .expect("Redis answers")
}

async fn check_rules(server: &TestServer) {
    let app = &server.app;
    opentime::experiments::check_once(
        &app.store,
        &app.templates,
        &app.events,
        &app.metrics,
        &app.decisions,
    )
    .await
    .expect("the check runs");
}

#[tokio::test]
async fn a_winner_emerges_from_clicks_and_new_opens_get_it_while_earlier_ones_keep_their_arm() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let people: Vec<String> = (0..120).map(person).collect();
    for id in &people {
        redis.hset(&format!("ot:r:{{{id}}}"), "first_name", "Sam");
    }
    // Apple's prefetch sees an arm's image but is nobody: no exposure.
    open(&server, "copy", &people[0], APPLE_PREFETCH).await;
    for id in &people {
        open(&server, "copy", id, BROWSER).await;
    }
    let exposed = eventually(
        "every person is an exposure",
        Duration::from_secs(10),
        || async {
            let counts = counts(&server, "copy-dec").await;
            (counts[0][0] + counts[1][0] == 120).then_some(counts)
        },
    )
    .await;
    let in_b = people
        .iter()
        .filter(|id| hashed_arm(&server, "copy", id) == "b")
        .count() as u64;
    assert_eq!(exposed[1][0], in_b, "HyperLogLog counts of 120 are exact");
    assert!(in_b > 40 && in_b < 80, "the split is near half: {in_b}");

    // Everyone in b clicks; one in ten of a does. Each click goes to the
    // link of the arm the open showed.
    let mut clicked = [0u64; 2];
    for (n, id) in people.iter().enumerate() {
        let arm = hashed_arm(&server, "copy", id);
        if arm == "b" || n % 10 == 0 {
            let location = click(&server, "copy", id).await;
            assert_eq!(location, format!("https://shop.example.com/{arm}"), "{id}");
            clicked[usize::from(arm == "b")] += 1;
        }
    }
    eventually(
        "the clicks are successes",
        Duration::from_secs(10),
        || async {
            let counts = counts(&server, "copy-dec").await;
            (counts[0][1] == clicked[0] && counts[1][1] == clicked[1]).then_some(())
        },
    )
    .await;

    check_rules(&server).await;
    let status = server
        .admin(Method::GET, "/api/v1/experiments/copy-dec", ADMIN, "", "")
        .await
        .json();
    assert_eq!(status["winner"]["arm"], "b", "{status}");
    assert_eq!(status["winner"]["by"], "rule");
    assert!(status["arms"][1]["probability_best"].as_f64().unwrap() >= 0.95);
    assert_eq!(status["arms"][1]["exposures"], in_b);
    assert_eq!(
        server
            .metric("opentime_experiment_winner{arm=\"b\",experiment=\"copy-dec\"}")
            .await,
        1.0
    );
    let announced = eventually(
        "the decision is an event",
        Duration::from_secs(10),
        || async {
            redis
                .events()
                .into_iter()
                .find(|event| event.get("type").map(String::as_str) == Some("experiment"))
        },
    )
    .await;
    assert_eq!(announced["experiment"], "copy-dec");
    assert_eq!(announced["arm"], "b");
    assert_eq!(announced["by"], "rule");
    // A second check, as another replica's, announces nothing new.
    check_rules(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let announcements = redis
        .events()
        .into_iter()
        .filter(|event| event.get("type").map(String::as_str) == Some("experiment"))
        .count();
    assert_eq!(announcements, 1);

    // Someone new whom the hash puts in a gets the winner...
    let newcomer = (1000..)
        .map(person)
        .find(|id| hashed_arm(&server, "copy", id) == "a")
        .expect("someone");
    redis.hset(&format!("ot:r:{{{newcomer}}}"), "first_name", "Kim");
    open(&server, "copy", &newcomer, BROWSER).await;
    eventually(
        "the newcomer's open is written",
        Duration::from_secs(10),
        || async {
            let counts = counts(&server, "copy-dec").await;
            (counts[1][0] == in_b + 1).then_some(())
        },
    )
    .await;
    assert_eq!(
        click(&server, "copy", &newcomer).await,
        "https://shop.example.com/b"
    );
    // ...while someone already shown a keeps a.
    let earlier = people
        .iter()
        .find(|id| hashed_arm(&server, "copy", id) == "a")
        .expect("someone in a");
    open(&server, "copy", earlier, BROWSER).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        click(&server, "copy", earlier).await,
        "https://shop.example.com/a"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_decision_by_hand_switches_everyone_with_switch_all_and_is_checked() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let in_a = (0..)
        .map(person)
        .find(|id| hashed_arm(&server, "switch", id) == "a")
        .expect("someone");
    redis.hset(&format!("ot:r:{{{in_a}}}"), "first_name", "Ada");
    open(&server, "switch", &in_a, BROWSER).await;
    eventually("the exposure is kept", Duration::from_secs(10), || async {
        (counts(&server, "switch-dec").await[0][0] == 1).then_some(())
    })
    .await;
    assert_eq!(
        click(&server, "switch", &in_a).await,
        "https://shop.example.com/a"
    );

    let winner = |body: &'static str| {
        server.admin(
            Method::POST,
            "/api/v1/experiments/switch-dec/winner",
            ADMIN,
            "application/json",
            body,
        )
    };
    let refused = winner(r#"{"arm": "c"}"#).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("its arms are a, b"),
        "{}",
        refused.json()
    );
    assert_eq!(winner("not json").await.status, StatusCode::BAD_REQUEST);
    let unknown = server
        .admin(
            Method::POST,
            "/api/v1/experiments/no-such/winner",
            ADMIN,
            "application/json",
            r#"{"arm": "a"}"#,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let decided = winner(r#"{"arm": "b"}"#).await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.json());
    assert_eq!(decided.json()["winner"]["by"], "manual");

    // switch_all: the recipient who saw a now sees b at once.
    open(&server, "switch", &in_a, BROWSER).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        click(&server, "switch", &in_a).await,
        "https://shop.example.com/b"
    );
    // A hand's decision overrules: deciding a again is recorded too.
    assert_eq!(winner(r#"{"arm": "a"}"#).await.json()["winner"]["arm"], "a");
    server.shutdown().await;
}

#[tokio::test]
async fn a_paused_arm_is_given_to_nobody_any_more() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let in_b = (0..)
        .map(person)
        .find(|id| hashed_arm(&server, "copy", id) == "b")
        .expect("someone");
    redis.hset(&format!("ot:r:{{{in_b}}}"), "first_name", "Bo");
    open(&server, "copy", &in_b, BROWSER).await;
    eventually("the exposure is kept", Duration::from_secs(10), || async {
        (counts(&server, "copy-dec").await[1][0] == 1).then_some(())
    })
    .await;
    assert_eq!(
        click(&server, "copy", &in_b).await,
        "https://shop.example.com/b"
    );

    let paused = template("copy", "copy-dec", false).replace(
        r#""switch_all": false,"#,
        r#""switch_all": false, "paused": ["b"],"#,
    );
    let put = server
        .admin(
            Method::PUT,
            "/api/v1/templates/copy",
            ADMIN,
            "application/json",
            paused,
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.json());
    eventually(
        "the paused version serves",
        Duration::from_secs(10),
        || async {
            let template = server.app.templates.get("copy")?;
            template.experiment.as_ref()?.arm("b")?.paused.then_some(())
        },
    )
    .await;
    open(&server, "copy", &in_b, BROWSER).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        click(&server, "copy", &in_b).await,
        "https://shop.example.com/a"
    );
    for n in 0..40 {
        let id = person(5000 + n);
        redis.hset(&format!("ot:r:{{{id}}}"), "first_name", "New");
        assert_eq!(
            click(&server, "copy", &id).await,
            "https://shop.example.com/a"
        );
    }
    server.shutdown().await;
}

#[test]
fn experiments_that_cannot_work_are_refused_with_the_field_at_fault() {
    let cases = [
        (
            template("bad", "x", false).replace(r#""a": 50, "b": 50"#, r#""a": 50, "b": 40"#),
            "experiment.arms",
            "add up to 90, not 100",
        ),
        (
            template("bad", "x", false).replace(r#""arm": "b""#, r#""arm": "c""#),
            "variants[1].arm",
            "\"c\" is not one of the experiment's arms (a, b)",
        ),
        (
            template("bad", "x", false)
                .replace(r#""a": 50, "b": 50"#, r#""a": 50, "b": 25, "c": 25"#),
            "experiment.arms.c",
            "no variant shows the arm \"c\"",
        ),
        (
            template("bad", "x", false).replace(r#""probability": 0.95"#, r#""probability": 1.5"#),
            "experiment.winner.probability",
            "above 0.5 and below 1",
        ),
        (
            template("bad", "x", false).replace(
                r#""switch_all": false,"#,
                r#""switch_all": false, "paused": ["a", "b"],"#,
            ),
            "experiment.paused",
            "every arm is paused",
        ),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fonts =
        opentime::render::FontBook::load(&root.join("fonts")).expect("the bundled fonts load");
    let renderer = opentime::render::Renderer::new(fonts);
    for (json, field, message) in cases {
        let mut assets = opentime::template::AssetCache::default();
        let error = opentime::template::load_bytes(
            std::path::Path::new("bad.json"),
            json.as_bytes(),
            &root.join("assets/templates"),
            opentime::open::offline::loader(&renderer, &opentime::template::NoSources),
            &mut assets,
        )
        .expect_err("refused");
        assert_eq!(error.field.as_deref(), Some(field), "{error}");
        assert!(error.message.contains(message), "{error}");
    }
}
