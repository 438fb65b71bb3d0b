//! The studio's calls, as a script or the page makes them, against a real
//! Redis: a draft's errors and warnings at their lines, every variant
//! forced for every sample, a countdown's first frame, and a save that
//! never stores an invalid template. The page itself is driven in
//! Chromium by `tests/browser.rs`.

use crate::support;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::RedisServer;
use support::server::{Answer, TestServer};

const ADMIN: &str = "studio-calls-admin-token";

async fn launch(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    body: impl Into<bytes::Bytes>,
) -> Answer {
    server
        .admin(method, path, ADMIN, "application/json", body)
        .await
}

async fn board(server: &TestServer, request: Value) -> Value {
    let answer = call(server, Method::POST, "/preview/board", request.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    answer.json()
}

fn loyalty(server: &TestServer) -> String {
    std::fs::read_to_string(server.templates_dir.join("loyalty.json")).unwrap()
}

/// The line (from 1) of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|line| line.contains(needle)).unwrap() as u64 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_forces_every_variant_for_every_sample() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let answer = board(
        &server,
        json!({
            "template": "loyalty",
            "source": loyalty(&server),
            "samples": ["none", "loyalty-wang", "state"],
            "state": { "first_name": "Ada", "points": 12 },
            "scales": [1, 2],
        }),
    )
    .await;
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["errors"], json!([]));
    assert_eq!(answer["samples"], json!(["none", "loyalty-wang", "state"]));
    let cells = answer["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2 * 3 * 2);
    let cell = |variant: &str, sample: &str, scale: u64| {
        cells
            .iter()
            .find(|cell| {
                cell["variant"] == variant && cell["sample"] == sample && cell["scale"] == scale
            })
            .unwrap_or_else(|| panic!("no cell {variant} {sample} {scale}"))
    };
    // The rules give the member card to whoever has points, the default
    // to the rest; each variant is drawn for every sample all the same.
    assert_eq!(cell("member", "loyalty-wang", 1)["chosen"], true);
    assert_eq!(cell("default", "loyalty-wang", 1)["chosen"], false);
    assert_eq!(cell("default", "none", 2)["chosen"], true);
    assert_eq!(cell("member", "state", 2)["chosen"], true);
    let png = |cell: &Value| {
        use base64::Engine;
        let url = cell["image"].as_str().unwrap();
        let data = url.strip_prefix("data:image/png;base64,").unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap()
    };
    assert_eq!(
        support::server::png_size(&png(cell("default", "loyalty-wang", 1))),
        (600, 200)
    );
    assert_eq!(
        support::server::png_size(&png(cell("member", "state", 2))),
        (1200, 400)
    );
    // Forced onto a recipient without points, the member card's texts do
    // not resolve: the cell says so.
    assert!(
        cell("member", "none", 1)["error"]
            .as_str()
            .unwrap()
            .contains("fallback image")
    );
    // The fields read, with each sample's value.
    let points = answer["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|field| field["name"] == "profile.points")
        .unwrap();
    assert_eq!(points["values"]["state"], "12");
    assert_eq!(points["values"]["none"], Value::Null);
    // The layers' frames, each at its line.
    let layers = &answer["variants"][0]["layers"];
    assert_eq!(layers.as_array().unwrap().len(), 6);
    assert_eq!(layers[1]["type"], "rect");
    assert_eq!(layers[1]["x"], 20.0);
    assert_eq!(
        layers[1]["line"],
        line_of(&loyalty(&server), "\"type\": \"rect\"")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drafts_mistakes_are_named_at_their_lines() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let text = loyalty(&server);

    // An invalid value: at the line of its field.
    let broken = text.replace("\"#ffffff14\"", "\"#zzzzzz\"");
    let answer = board(&server, json!({ "template": "loyalty", "source": broken })).await;
    assert_eq!(answer["valid"], false);
    let error = &answer["errors"][0];
    assert_eq!(error["line"], line_of(&text, "#ffffff14"), "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("fill"),
        "{error}"
    );
    assert!(answer.get("cells").is_none());

    // JSON that does not parse: where the parser stopped.
    let cut = text.replacen("\"width\": 600,", "\"width\": 600", 1);
    let answer = board(&server, json!({ "template": "loyalty", "source": cut })).await;
    assert_eq!(answer["valid"], false);
    assert_eq!(
        answer["errors"][0]["line"],
        line_of(&text, "\"width\": 600")
    );

    // An unknown filter in an expression.
    let filter = text.replace("| upper", "| uper");
    let answer = board(&server, json!({ "template": "loyalty", "source": filter })).await;
    let error = &answer["errors"][0];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"upper\""),
        "{error}"
    );
    assert_eq!(error["line"], line_of(&text, "| upper"), "{error}");

    // A warning, which does not stop the board: a field no sample has.
    let typo = text.replace("profile.first_name", "profile.frist_name");
    let answer = board(
        &server,
        json!({ "template": "loyalty", "source": typo, "samples": ["none"] }),
    )
    .await;
    assert_eq!(answer["valid"], true);
    let warning = answer["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|warning| warning["message"].as_str().unwrap().contains("frist_name"))
        .unwrap_or_else(|| panic!("{}", answer["warnings"]));
    assert_eq!(warning["line"], line_of(&text, "profile.first_name"));
    assert!(
        !warning["message"].as_str().unwrap().starts_with("store/"),
        "{warning}"
    );
    assert!(
        answer["cells"]
            .as_array()
            .is_some_and(|cells| !cells.is_empty())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_countdown_shows_its_first_frame_as_outlook_would() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let answer = board(
        &server,
        json!({ "template": "renewal-timer", "samples": ["renewal-timer-anna"], "scales": [1] }),
    )
    .await;
    assert_eq!(answer["format"], "gif");
    let cells = answer["cells"].as_array().unwrap();
    assert!(!cells.is_empty());
    for cell in cells {
        let image = cell["image"].as_str().unwrap();
        assert!(image.starts_with("data:image/gif;base64,"), "{cell}");
        let first = cell["first_frame"]
            .as_str()
            .unwrap_or_else(|| panic!("{cell}"));
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(first.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        let (width, height) = support::server::png_size(&png);
        assert_eq!(
            (width as u64, height as u64),
            (
                answer["width"].as_u64().unwrap(),
                answer["height"].as_u64().unwrap()
            )
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_goes_through_the_api_and_never_stores_an_invalid_template() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let text = loyalty(&server);
    let broken = text.replace("\"#ffffff14\"", "\"#zzzzzz\"");
    let refused = call(&server, Method::PUT, "/preview/templates/loyalty", broken).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let details = &refused.json()["error"]["details"];
    assert_eq!(
        details["line"],
        line_of(&text, "#ffffff14"),
        "{}",
        refused.json()
    );
    let source = call(&server, Method::GET, "/preview/source?template=loyalty", "").await;
    assert_eq!(source.json()["origin"], "file", "nothing was stored");

    let edited = text.replace("\"radius\": 18", "\"radius\": 4");
    let saved = call(
        &server,
        Method::PUT,
        "/preview/templates/loyalty",
        edited.clone(),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json());
    let source = call(&server, Method::GET, "/preview/source?template=loyalty", "").await;
    assert_eq!(source.json()["origin"], "store");
    assert_eq!(source.json()["text"], edited.as_str());
    assert_eq!(source.json()["version"], saved.json()["version"]);

    // Asked for as a form, as another page could send it: refused.
    let form = server
        .admin(
            Method::PUT,
            "/preview/templates/loyalty",
            ADMIN,
            "text/plain",
            edited,
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_names_what_it_cannot_show() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let answer = call(
        &server,
        Method::POST,
        "/preview/board",
        json!({ "template": "loyalty", "samples": ["nobody-here"] }).to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody-here")
    );
    let answer = call(
        &server,
        Method::POST,
        "/preview/board",
        json!({ "template": "no-such-template" }).to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = call(
        &server,
        Method::POST,
        "/preview/render",
        json!({ "template": "loyalty", "variant": "no-such-variant" }).to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.json()["error"]["code"], "no_variant");
    let answer = call(
        &server,
        Method::POST,
        "/preview/render",
        json!({ "template": "loyalty", "variant": "member", "state": { "points": 5 } }).to_string(),
    )
    .await;
    assert_eq!(answer.json()["variant"], "member");
    assert_eq!(answer.json()["chosen"], "member");
    let answer = call(
        &server,
        Method::POST,
        "/preview/render",
        json!({ "template": "loyalty", "variant": "default", "state": { "points": 5 } })
            .to_string(),
    )
    .await;
    assert_eq!(answer.json()["variant"], "default");
    assert_eq!(answer.json()["chosen"], "member");
    server.shutdown().await;
}
