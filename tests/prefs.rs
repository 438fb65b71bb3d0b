//! The preference center and one-click unsubscribe end to end, against a
//! real Redis: the page loads, saves and reloads with the saved choices in
//! the recipient's language; forged and cross-site submissions change
//! nothing; RFC 8058 one-click works in both encodings and GET changes
//! nothing; rules read `prefs`; the admin API shows the history.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use support::server::{Answer, TestServer, hset};
use support::{RedisServer, eventually};

const ADMIN: &str = "prefs-test-admin-token";
/// A token limited to the pools scope.
const POOLS_ONLY: &str = "prefs-test-pools-token";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const FORM: &str = "application/x-www-form-urlencoded";

/// A card whose link depends on whether the recipient still gets offers.
const OFFERS_TEMPLATE: &str = r##"{
  "name": "offers-card", "width": 100, "height": 40, "access": "token", "scales": [1],
  "variants": [
    { "id": "offer", "when": "prefs.topics.offers", "link": "https://shop.example.com/sale",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 100, "height": 40, "fill": "#aa0000" } ] },
    { "id": "default", "link": "https://shop.example.com/news?frequency={{ prefs.frequency }}",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 100, "height": 40, "fill": "#333333" } ] }
  ]
}"##;

async fn start(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[("offers-card.json", OFFERS_TEMPLATE)], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string(), format!("pools:{POOLS_ONLY}")].into();
    })
    .await
}

fn html(answer: &Answer) -> String {
    assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8");
    String::from_utf8(answer.body.to_vec()).expect("UTF-8 HTML")
}

/// The value of the form key on a served page.
fn form_key(page: &str) -> String {
    let start = page.find("name=\"k\" value=\"").expect("a form key") + 16;
    page[start..].split('"').next().unwrap().to_string()
}

fn checked(page: &str, id: &str) -> bool {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in the page"));
    let tag_end = page[start..].find('>').unwrap();
    page[start..start + tag_end].contains(" checked")
}

async fn post(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let mut headers = vec![("content-type", content_type), ("user-agent", IPHONE)];
    headers.extend_from_slice(extra);
    server
        .send(Method::POST, path, &headers, Bytes::from(body.to_string()))
        .await
}

fn prefs(redis: &RedisServer, id: &str) -> BTreeMap<String, String> {
    redis.hgetall(&format!("ot:r:{{{id}}}:prefs"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_loads_saves_and_reloads_with_the_saved_choices() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    hset(&redis, "ann", &[("first_name", "Ann")]);
    let token = server.token("ann");
    let page = server.get(&format!("/p?t={token}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("form-action 'self'")
    );
    let text = html(&page);
    assert!(text.contains("<html lang=\"en\">"));
    assert!(text.contains("Receipts, delivery notices and account messages are not marketing"));
    // minijinja's HTML escaping spells `/` as `&#x2f;`.
    assert!(text.contains("href=\"https:&#x2f;&#x2f;example.com&#x2f;privacy\""));
    for topic in ["offers", "news", "tips", "alerts"] {
        assert!(
            checked(&text, &format!("topic-{topic}")),
            "{topic} is on by default"
        );
    }
    assert!(checked(&text, "frequency-weekly"));
    assert!(!checked(&text, "all"));

    // Offers off, tips daily... as a browser would send the form.
    let body = format!(
        "k={}&topic=news&topic=tips&topic=alerts&frequency=daily",
        form_key(&text)
    );
    let saved = post(
        &server,
        &format!("/p?t={token}"),
        FORM,
        &body,
        &[("origin", &server.base)],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK);
    let saved = html(&saved);
    assert!(saved.contains("Your choices are saved."));
    assert!(!checked(&saved, "topic-offers"));
    let stored = prefs(&redis, "ann");
    assert_eq!(stored["topic:offers"], "0");
    assert_eq!(stored["topic:news"], "1");
    assert_eq!(stored["frequency"], "daily");
    assert_eq!(stored["all"], "0");
    assert_eq!(stored["source"], "preference_center");
    assert_eq!(stored["updated_at"], "2026-11-22T10:00:00.000Z");

    let reloaded = html(&server.get(&format!("/p?t={token}")).await);
    assert!(!checked(&reloaded, "topic-offers"));
    assert!(checked(&reloaded, "topic-news"));
    assert!(checked(&reloaded, "frequency-daily"));
    assert!(!checked(&reloaded, "frequency-weekly"));

    // Rules read the choice: offers are hidden from someone who left them.
    let click = server.get(&format!("/c/offers-card?t={token}")).await;
    assert_eq!(
        click.headers["location"],
        "https://shop.example.com/news?frequency=daily"
    );

    // The events and the admin API's history say what happened.
    let events = eventually("the preference events", Duration::from_secs(10), || async {
        let events = redis.events();
        (events.len() >= 2).then_some(events)
    })
    .await;
    assert_eq!(events[0]["type"], "preferences");
    assert_eq!(events[0]["recipient"], "ann");
    assert_eq!(events[0]["source"], "preference_center");
    assert!(
        events[0]["set"].contains("\"topic:offers\":\"0\""),
        "{}",
        events[0]["set"]
    );
    assert_eq!(events[1]["type"], "unsubscribe");
    assert_eq!(events[1]["list"], "offers");
    let api = server
        .request(
            Method::GET,
            "/api/v1/recipients/ann/preferences",
            &[("authorization", &format!("Bearer {ADMIN}"))],
        )
        .await;
    assert_eq!(api.status, StatusCode::OK);
    let api: serde_json::Value = serde_json::from_slice(&api.body).unwrap();
    assert_eq!(api["preferences"]["topics"]["offers"], false);
    assert_eq!(api["preferences"]["frequency"], "daily");
    assert_eq!(api["history"][0]["source"], "preference_center");
    assert_eq!(api["history"][0]["set"]["topic:offers"], "0");
    let unauthorized = server.get("/api/v1/recipients/ann/preferences").await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    // A token limited to another scope is known, and refused with a 403.
    let pools_only = format!("Bearer {POOLS_ONLY}");
    let scoped = server
        .request(
            Method::GET,
            "/api/v1/recipients/ann/preferences",
            &[("authorization", &pools_only)],
        )
        .await;
    assert_eq!(scoped.status, StatusCode::FORBIDDEN);
    let scoped: serde_json::Value = serde_json::from_slice(&scoped.body).unwrap();
    assert_eq!(scoped["error"]["code"], "forbidden");
    let pool = server
        .request(
            Method::GET,
            "/api/v1/pools/bf",
            &[("authorization", &pools_only)],
        )
        .await;
    assert_eq!(pool.status, StatusCode::OK, "its own scope works");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_the_recipients_language() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    hset(&redis, "lea", &[("first_name", "Léa"), ("locale", "fr-FR")]);
    let page = html(&server.get(&format!("/p?t={}", server.token("lea"))).await);
    assert!(page.contains("<html lang=\"fr\">"));
    assert!(page.contains("Vos préférences d’e-mail"));
    assert!(page.contains("Toutes les deux semaines"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_cross_site_submissions_change_nothing() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("ann");
    let key = form_key(&html(&server.get(&format!("/p?t={token}")).await));
    let bob_key = form_key(&html(
        &server.get(&format!("/p?t={}", server.token("bob"))).await,
    ));
    let path = format!("/p?t={token}");
    let cases: [(String, Vec<(&str, &str)>); 5] = [
        ("all=1&frequency=weekly".to_string(), vec![]),
        (format!("k={bob_key}&all=1&frequency=weekly"), vec![]),
        (format!("k={key}x&all=1&frequency=weekly"), vec![]),
        (
            format!("k={key}&all=1&frequency=weekly"),
            vec![("origin", "https://evil.example")],
        ),
        (
            format!("k={key}&all=1&frequency=weekly"),
            vec![("sec-fetch-site", "cross-site")],
        ),
    ];
    for (body, headers) in &cases {
        let answer = post(&server, &path, FORM, body, headers).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{body} {headers:?}");
    }
    assert!(prefs(&redis, "ann").is_empty(), "nothing was saved");
    // Bad values get a precise answer, and nothing is saved either.
    let unknown = post(&server, &path, FORM, &format!("k={key}&topic=casino"), &[]).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&unknown.body).contains("casino"));
    let json = post(&server, &path, "application/json", "{}", &[]).await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(prefs(&redis, "ann").is_empty());
    // A tampered token is refused on every route, with nobody's data.
    for (method, path) in [
        (Method::GET, format!("/p?t={token}x")),
        (Method::POST, format!("/p?t={token}x")),
        (Method::GET, format!("/u?t={token}x")),
        (Method::POST, format!("/u?t={token}x")),
        (Method::GET, "/p".to_string()),
    ] {
        let answer = server
            .send(
                method.clone(),
                &path,
                &[("content-type", FORM)],
                Bytes::from("List-Unsubscribe=One-Click"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribes_in_both_encodings_and_get_changes_nothing() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("ann");
    // What scanners and careless clicks send: a page with a button.
    let page = server.get(&format!("/u?t={token}&list=offers")).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = html(&page);
    assert!(page.contains("name=\"List-Unsubscribe\" value=\"One-Click\""));
    assert!(page.contains("<strong>Offers</strong>"));
    assert!(prefs(&redis, "ann").is_empty(), "GET changes nothing");
    for path in [format!("/u?t={token}&list=offers"), format!("/p?t={token}")] {
        let head = server.request(Method::HEAD, &path, &[]).await;
        assert_eq!(
            head.status,
            StatusCode::OK,
            "HEAD {path} is answered like GET"
        );
    }
    assert!(prefs(&redis, "ann").is_empty(), "HEAD changes nothing");

    // A mailbox provider's one-click, form-urlencoded, for one list.
    let answer = post(
        &server,
        &format!("/u?t={token}&list=offers"),
        FORM,
        "List-Unsubscribe=One-Click",
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.is_empty());
    assert!(answer.headers.get("location").is_none());
    assert_eq!(prefs(&redis, "ann")["topic:offers"], "0");
    assert_eq!(prefs(&redis, "ann")["source"], "one_click");
    assert_eq!(prefs(&redis, "ann").get("all"), None);

    // Providers repeat the request: the repeat answers the same and
    // changes nothing, not even the history.
    let repeat = post(
        &server,
        &format!("/u?t={token}&list=offers"),
        FORM,
        "List-Unsubscribe=One-Click",
        &[],
    )
    .await;
    assert_eq!(repeat.status, StatusCode::OK);
    assert!(repeat.body.is_empty());
    let history = server
        .request(
            Method::GET,
            "/api/v1/recipients/ann/preferences",
            &[("authorization", &format!("Bearer {ADMIN}"))],
        )
        .await
        .json();
    assert_eq!(history["history"].as_array().unwrap().len(), 1, "{history}");

    // Multipart, without a list: all marketing.
    let body = "--b0undary\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b0undary--\r\n";
    let answer = post(
        &server,
        &format!("/u?t={token}"),
        "multipart/form-data; boundary=b0undary",
        body,
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.is_empty());
    assert_eq!(prefs(&redis, "ann")["all"], "1");

    // The page's own button asks for a page back.
    let bob = server.token("bob");
    let answer = post(
        &server,
        &format!("/u?t={bob}&list=news"),
        FORM,
        "List-Unsubscribe=One-Click&page=1",
        &[],
    )
    .await;
    assert!(html(&answer).contains("You are unsubscribed."));
    assert_eq!(prefs(&redis, "bob")["topic:news"], "0");

    // Anything else is refused with a reason.
    for (path, body, status) in [
        (format!("/u?t={bob}"), "", StatusCode::BAD_REQUEST),
        (
            format!("/u?t={bob}"),
            "List-Unsubscribe=Two-Clicks",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/u?t={bob}&list=casino"),
            "List-Unsubscribe=One-Click",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let answer = post(&server, &path, FORM, body, &[]).await;
        assert_eq!(answer.status, status, "{path} {body}");
    }
    let events = eventually(
        "the unsubscribe events",
        Duration::from_secs(10),
        || async {
            let events: Vec<_> = redis
                .events()
                .into_iter()
                .filter(|event| event["type"] == "unsubscribe")
                .collect();
            (events.len() >= 3).then_some(events)
        },
    )
    .await;
    let lists: Vec<&str> = events.iter().map(|event| event["list"].as_str()).collect();
    assert_eq!(lists, ["offers", "", "news"]);
    assert!(events.iter().all(|event| event["source"] == "one_click"));
    server.shutdown().await;
}
