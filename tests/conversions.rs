//! Conversions end to end, against a real Redis: a click on a template
//! with `click_id` hands the destination a signed click id, keeping its
//! own query and fragment; the customer's backend posts conversions by
//! click id or by recipient, and each is credited, counted once (on every
//! replica), put in the reports, and delivered to a webhook; bad lines get
//! precise refusals, line by line.

use crate::support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use jiff::SignedDuration;
use opentime::access::ClickId;
use opentime::recipient::RecipientId;
use opentime::webhooks::parse_webhooks;
use serde_json::{Value, json};
use support::server::{TestServer, hset};
use support::{RedisServer, eventually};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const SCANNER: &str = "Microsoft Office Existence Discovery";
const ADMIN: &str = "conversions:conversions-token-0123";
const CONVERSIONS_TOKEN: &str = "conversions-token-0123";
const ENGAGEMENT: &str = "engagement:engagement-token-0123";
const ENGAGEMENT_TOKEN: &str = "engagement-token-0123";
const NDJSON: &str = "application/x-ndjson";
const DAY: &str = "20261122";
const WEBHOOK_SECRET: &str = "webhook-test-secret-0123456789";

/// A card whose links carry their own query and fragment, and, in the
/// default variant, a stale `ot_click` the click id replaces.
const OFFER: &str = r##"{
  "name": "offer", "width": 200, "height": 60, "access": "token", "scales": [1],
  "click_id": "ot_click",
  "variants": [
    { "id": "vip", "when": "profile.tier == 'vip'",
      "link": "https://shop.example.com/renew?plan=gold&utm_source=email#checkout",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#aa8800" } ] },
    { "id": "default",
      "link": "https://shop.example.com/renew?ot_click=stale&plan=basic",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#333333" } ] }
  ]
}"##;

/// An experiment whose every recipient is in arm `a`, counting
/// conversions.
const TRIAL: &str = r##"{
  "name": "trial", "width": 200, "height": 60, "access": "token", "scales": [1],
  "click_id": "ot_click",
  "experiment": { "id": "trial-copy", "arms": { "a": 100, "b": 0 }, "metric": "conversion" },
  "variants": [
    { "id": "copy-a", "arm": "a", "link": "https://shop.example.com/trial?copy=a",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#0000aa" } ] },
    { "id": "copy-b", "arm": "b", "link": "https://shop.example.com/trial?copy=b",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#00aa00" } ] },
    { "id": "default", "link": "https://shop.example.com/trial",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#333333" } ] }
  ]
}"##;

/// The same card with no click id.
const PLAIN: &str = r##"{
  "name": "plain", "width": 200, "height": 60, "access": "token", "scales": [1],
  "variants": [
    { "id": "default", "link": "https://shop.example.com/plain?a=1#top",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 200, "height": 60, "fill": "#333333" } ] }
  ]
}"##;

async fn launch(
    redis: &RedisServer,
    adjust: impl FnOnce(&mut opentime::config::Config),
) -> TestServer {
    TestServer::launch(
        redis,
        &[
            ("offer.json", OFFER),
            ("trial.json", TRIAL),
            ("plain.json", PLAIN),
        ],
        |config| {
            config.access.admin_tokens = vec![ADMIN.to_string(), ENGAGEMENT.to_string()].into();
            adjust(config);
        },
    )
    .await
}

/// Follows `template`'s link as `id` with `user_agent`; answers the
/// Location.
async fn click(server: &TestServer, template: &str, id: &str, user_agent: &str) -> String {
    let answer = server
        .request(
            Method::GET,
            &format!("/c/{template}?t={}", server.token(id)),
            &[("user-agent", user_agent)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FOUND, "{:?}", answer.body);
    answer.headers["location"].to_str().unwrap().to_string()
}

async fn open(server: &TestServer, template: &str, id: &str) {
    let answer = server
        .request(
            Method::GET,
            &format!("/i/{template}.png?t={}", server.token(id)),
            &[("user-agent", IPHONE)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// The `ot_click` value of a Location.
fn click_id_of(location: &str) -> String {
    let query = location.split_once('?').unwrap().1;
    let query = query.split('#').next().unwrap();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("ot_click="))
        .unwrap_or_else(|| panic!("no ot_click in {location}"))
        .to_string()
}

/// Posts `body` to the conversions API with the conversions token.
async fn post(server: &TestServer, content_type: &str, body: impl Into<Bytes>) -> Value {
    let answer = server
        .admin(
            Method::POST,
            "/api/v1/conversions",
            CONVERSIONS_TOKEN,
            content_type,
            body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.json()
}

/// Waits until every queued event is written.
async fn settled(server: &TestServer) {
    eventually("the events are written", Duration::from_secs(5), || async {
        server.app.events.is_empty().then_some(())
    })
    .await;
}

/// The day's report counters of `template`.
async fn counters(server: &TestServer, template: &str) -> BTreeMap<String, i64> {
    let days = server
        .app
        .store
        .report_counters(template, &[DAY.to_string()])
        .await
        .unwrap();
    days.into_iter().flatten().collect()
}

fn now_s() -> i64 {
    "2026-11-22T10:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_id_reaches_the_shop_and_its_conversion_counts_once_on_every_replica() {
    let redis = RedisServer::new();
    hset(&redis, "cust-1", &[("tier", "vip")]);
    let server = launch(&redis, |_| {}).await;

    // The destination keeps its query and fragment; the id goes before `#`.
    let location = click(&server, "offer", "cust-1", IPHONE).await;
    let id = click_id_of(&location);
    assert_eq!(
        location,
        format!("https://shop.example.com/renew?plan=gold&utm_source=email&ot_click={id}#checkout")
    );
    assert!(id.starts_with("c1") && !id.contains("cust"), "{id}");
    assert_eq!(
        server.app.keys.open_click(&id).unwrap(),
        ClickId {
            at: now_s(),
            template: "offer".into(),
            email: String::new(),
            variant: "vip".into(),
            arm: None,
            recipient: RecipientId::new("cust-1").unwrap(),
        }
    );
    // The click's event carries the same time.
    settled(&server).await;
    let clicks: Vec<_> = redis
        .events()
        .into_iter()
        .filter(|event| event["type"] == "click")
        .collect();
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0]["at"], "2026-11-22T10:00:00.000Z");

    // A stale parameter of the same name is replaced, not repeated.
    let location = click(&server, "offer", "cust-9", IPHONE).await;
    let stale = click_id_of(&location);
    assert_eq!(
        location,
        format!("https://shop.example.com/renew?ot_click={stale}&plan=basic")
    );
    // No click id without a template's `click_id`, or without a recipient.
    assert_eq!(
        click(&server, "plain", "cust-1", IPHONE).await,
        "https://shop.example.com/plain?a=1#top"
    );
    let anonymous = server
        .request(Method::GET, "/c/offer", &[("user-agent", IPHONE)])
        .await;
    assert_eq!(
        anonymous.headers["location"],
        "https://shop.example.com/renew?ot_click=stale&plan=basic"
    );
    // A scanner following the link reaches the same page, id and all.
    server.app.clock.advance(SignedDuration::from_mins(1));
    let scanned = click(&server, "offer", "cust-1", SCANNER).await;
    assert!(
        scanned
            .starts_with("https://shop.example.com/renew?plan=gold&utm_source=email&ot_click=c1")
    );
    assert!(scanned.ends_with("#checkout"), "{scanned}");

    // The backend reports the order with the id.
    let line = json!({"id": "order-991", "click": id, "value": 49.90, "currency": "EUR"});
    let report = post(&server, "application/json", line.to_string()).await;
    assert_eq!(
        report,
        json!({
            "lines": 1, "counted": 1, "duplicate": 0, "unattributed": 0, "refused": 0,
            "results": [{"line": 1, "id": "order-991", "result": "counted",
                         "credited_by": "click", "template": "offer", "variant": "vip"}],
            "results_truncated": false
        })
    );
    settled(&server).await;
    let counted = counters(&server, "offer").await;
    assert_eq!(counted.get("|vip||conversion"), Some(&1));
    assert_eq!(counted.get("|vip||revenue.EUR"), Some(&49_900_000));
    let conversions: Vec<_> = redis
        .events()
        .into_iter()
        .filter(|event| event["type"] == "conversion")
        .collect();
    assert_eq!(conversions.len(), 1);
    let event = &conversions[0];
    for (field, value) in [
        ("template", "offer"),
        ("variant", "vip"),
        ("recipient", "cust-1"),
        ("value", "49.9"),
        ("currency", "EUR"),
        ("conversion", "order-991"),
        ("credited_by", "click"),
        ("person", "1"),
    ] {
        assert_eq!(event[field], value, "{field}");
    }

    // The same id again is a duplicate, counted once.
    let again = post(&server, "application/json", line.to_string()).await;
    assert_eq!(again["duplicate"], 1);
    assert_eq!(
        again["results"],
        json!([{"line": 1, "id": "order-991", "result": "duplicate"}])
    );
    // So it is on another replica of the same Redis.
    let replica = launch(&redis, |_| {}).await;
    let elsewhere = post(&replica, "", line.to_string()).await;
    assert_eq!(elsewhere["duplicate"], 1, "{elsewhere}");
    settled(&server).await;
    settled(&replica).await;
    assert_eq!(
        counters(&server, "offer").await.get("|vip||conversion"),
        Some(&1)
    );
    assert_eq!(
        redis
            .events()
            .iter()
            .filter(|event| event["type"] == "conversion")
            .count(),
        1
    );
    assert_eq!(
        server
            .metric("opentime_conversions_total{result=\"duplicate\"}")
            .await,
        1.0
    );
    replica.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversion_by_recipient_is_credited_to_their_last_person_s_click_else_open() {
    let redis = RedisServer::new();
    // A recipient with no profile sees the default variant, no arm's.
    hset(&redis, "cust-3", &[("tier", "basic")]);
    let server = launch(&redis, |_| {}).await;

    // cust-2 clicks the offer, then a scanner follows the trial's link a
    // minute later: the person's click is the one credited.
    click(&server, "offer", "cust-2", IPHONE).await;
    server.app.clock.advance(SignedDuration::from_mins(1));
    click(&server, "trial", "cust-2", SCANNER).await;
    // cust-3 only opened the trial, in arm a; cust-4 did nothing.
    open(&server, "trial", "cust-3").await;
    settled(&server).await;

    let body = [
        json!({"id": "o-2", "recipient": "cust-2", "value": 10, "currency": "usd"}),
        json!({"id": "o-3", "recipient": "cust-3"}),
        json!({"id": "o-4", "recipient": "cust-4"}),
    ];
    let report = post(
        &server,
        "application/json",
        Value::from(body.to_vec()).to_string(),
    )
    .await;
    assert_eq!(
        report,
        json!({
            "lines": 3, "counted": 2, "duplicate": 0, "unattributed": 1, "refused": 0,
            "results": [
                {"line": 1, "id": "o-2", "result": "counted", "credited_by": "click_recent",
                 "template": "offer", "variant": "default"},
                {"line": 2, "id": "o-3", "result": "counted", "credited_by": "open",
                 "template": "trial", "variant": "copy-a", "experiment": "trial-copy", "arm": "a"},
                {"line": 3, "id": "o-4", "result": "unattributed"}
            ],
            "results_truncated": false
        })
    );
    settled(&server).await;
    assert_eq!(
        counters(&server, "offer")
            .await
            .get("|default||revenue.USD"),
        Some(&10_000_000)
    );
    assert_eq!(
        counters(&server, "trial").await.get("|copy-a|a|conversion"),
        Some(&1)
    );
    let arms = server
        .app
        .store
        .experiment_counts("trial-copy", &["a", "b"])
        .await
        .unwrap();
    assert_eq!(arms, vec![[1, 0, 1], [0, 0, 0]]);
    // An unattributed conversion is not recorded.
    assert!(
        !redis
            .events()
            .iter()
            .any(|event| event.get("conversion").map(String::as_str) == Some("o-4"))
    );

    // Eight days on, past the 7-day window, nothing is credited.
    server.app.clock.advance(SignedDuration::from_hours(8 * 24));
    let late = post(
        &server,
        NDJSON,
        json!({"id": "o-5", "recipient": "cust-2"}).to_string(),
    )
    .await;
    assert_eq!(late["results"][0]["result"], "unattributed");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_lines_get_their_own_results_and_the_scope_is_checked() {
    let redis = RedisServer::new();
    hset(&redis, "cust-7", &[("tier", "basic")]);
    let server = launch(&redis, |_| {}).await;
    let location = click(&server, "trial", "cust-7", IPHONE).await;
    let id = click_id_of(&location);
    let mut tampered = id.clone();
    let last = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., last);

    let body = [
        json!({"id": "n-1", "click": id, "value": 5, "currency": "EUR"}).to_string(),
        "{not json".to_string(),
        String::new(),
        json!({"id": "n-3", "click": tampered}).to_string(),
        json!({"id": "n-4", "click": id, "value": 5}).to_string(),
        json!({"id": "n-1", "click": id}).to_string(),
        json!({"id": "n-6", "recipient": "cust-7", "click": id}).to_string(),
        format!("{{\"id\": \"n-7\", \"click\": \"{}\"}}", "x".repeat(20_000)),
        json!({"id": "n-8", "click": id, "currency": "EUR"}).to_string(),
    ]
    .join("\n");
    let report = post(&server, NDJSON, body).await;
    let click_error = "\"click\": the click id is malformed, was altered, or was not made by any \
                       configured signing key; send the click id exactly as the link brought it";
    assert_eq!(report["lines"], 8, "{report}");
    assert_eq!(
        (
            report["counted"].clone(),
            report["duplicate"].clone(),
            report["refused"].clone()
        ),
        (json!(1), json!(1), json!(6))
    );
    let results = report["results"].as_array().unwrap();
    let summary: Vec<(u64, &str, &str)> = results
        .iter()
        .map(|result| {
            (
                result["line"].as_u64().unwrap(),
                result["result"].as_str().unwrap(),
                result["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "counted", ""),
            (2, "refused", "invalid_line"),
            (4, "refused", "invalid_click"),
            (5, "refused", "invalid_value"),
            (6, "duplicate", ""),
            (7, "refused", "invalid_line"),
            (8, "refused", "line_too_long"),
            (9, "refused", "invalid_value"),
        ]
    );
    assert_eq!(results[0]["experiment"], "trial-copy");
    assert_eq!(results[0]["arm"], "a");
    assert_eq!(results[2]["id"], "n-3");
    assert_eq!(results[2]["message"], click_error);
    assert!(results[1].get("id").is_none());
    assert_eq!(
        results[3]["message"],
        "a value needs its \"currency\": a three-letter ISO 4217 code such as \"EUR\""
    );
    assert_eq!(
        results[5]["message"],
        "name either \"click\" or \"recipient\", not both"
    );

    // NDJSON is recognized without its content type too.
    let detected = post(
        &server,
        "",
        "{\"id\": \"d-1\", \"recipient\": \"nobody\"}\n{\"id\": \"\", \"recipient\": \"nobody\"}\n",
    )
    .await;
    assert_eq!(
        (
            detected["lines"].clone(),
            detected["unattributed"].clone(),
            detected["refused"].clone()
        ),
        (json!(2), json!(1), json!(1))
    );
    assert_eq!(detected["results"][1]["code"], "invalid_id");

    // The engagement scope does not reach conversions.
    let forbidden = server
        .admin(
            Method::POST,
            "/api/v1/conversions",
            ENGAGEMENT_TOKEN,
            NDJSON,
            json!({"id": "n-9", "click": id}).to_string(),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.json(),
        json!({"error": {"code": "forbidden", "message": "this token lacks the conversions scope"}})
    );
    let wrong_method = server
        .admin(
            Method::GET,
            "/api/v1/conversions",
            CONVERSIONS_TOKEN,
            "",
            "",
        )
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    // A broken JSON array is refused whole.
    let broken = server
        .admin(
            Method::POST,
            "/api/v1/conversions",
            CONVERSIONS_TOKEN,
            "application/json",
            "[{\"id\": \"x\"",
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(
        broken.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the body is not a JSON array of conversions: "),
        "{:?}",
        broken.body
    );
    server.shutdown().await;
}

/// A webhook receiver on 127.0.0.1 that answers 200 and keeps the bodies.
async fn receiver() -> (String, Arc<Mutex<Vec<Bytes>>>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let kept = kept.clone();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let kept = kept.clone();
                    async move {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        kept.lock().unwrap().push(body);
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, bodies, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receives_the_conversion() {
    let redis = RedisServer::new();
    let (url, bodies, task) = receiver().await;
    let hooks = parse_webhooks(json!([
        { "url": url, "events": ["conversion"], "secret": WEBHOOK_SECRET, "name": "sales" }
    ]))
    .unwrap();
    let server = launch(&redis, move |config| config.webhooks = hooks).await;
    // A consumer group starts with the events added after it.
    eventually(
        "the webhook's group exists",
        Duration::from_secs(5),
        || async {
            let groups: Vec<BTreeMap<String, redis::Value>> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg("ot:events")
                .query(&mut redis.connection())
                .unwrap_or_default();
            (!groups.is_empty()).then_some(())
        },
    )
    .await;
    let id = click_id_of(&click(&server, "offer", "cust-8", IPHONE).await);
    let line = json!({"id": "hooked-1", "click": id, "value": 12.5, "currency": "GBP"});
    assert_eq!(post(&server, NDJSON, line.to_string()).await["counted"], 1);
    let delivered: Vec<BTreeMap<String, String>> = eventually(
        "the conversion is delivered",
        Duration::from_secs(10),
        || {
            let bodies = bodies.lock().unwrap().clone();
            async move {
                let events: Vec<BTreeMap<String, String>> = bodies
                    .iter()
                    .flat_map(|body| serde_json::from_slice::<Vec<_>>(body).unwrap())
                    .collect();
                (!events.is_empty()).then_some(events)
            }
        },
    )
    .await;
    assert_eq!(
        delivered.len(),
        1,
        "only conversions were chosen: {delivered:?}"
    );
    let event = &delivered[0];
    for (field, value) in [
        ("type", "conversion"),
        ("template", "offer"),
        ("variant", "default"),
        ("recipient", "cust-8"),
        ("value", "12.5"),
        ("currency", "GBP"),
        ("conversion", "hooked-1"),
        ("credited_by", "click"),
    ] {
        assert_eq!(event[field], value, "{field}: {event:?}");
    }
    server.shutdown().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_ends_the_call_with_503_and_the_report_so_far() {
    let mut redis = RedisServer::new();
    let server = launch(&redis, |_| {}).await;
    redis.stop();
    let body = [
        json!({"id": "", "recipient": "cust-1"}).to_string(),
        json!({"id": "s-2", "recipient": "cust-1"}).to_string(),
    ]
    .join("\n");
    let answer = server
        .admin(
            Method::POST,
            "/api/v1/conversions",
            CONVERSIONS_TOKEN,
            NDJSON,
            body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "store_unavailable");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("at line 2;"), "{message}");
    assert!(
        message.contains("Sending the whole body again is safe"),
        "{message}"
    );
    let results = error["details"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["code"], "invalid_id");
    assert_eq!(results[1]["id"], "s-2");
    assert_eq!(results[1]["code"], "store_unavailable");
    server.shutdown().await;
}
