//! The preference page and the preview page in a real headless Chromium,
//! driven through ChromeDriver. Both are found on `PATH` (Chromium or Google
//! Chrome under any of their usual names, and `chromedriver`) or named by the
//! `CHROME` and `CHROMEDRIVER` environment variables; `scripts/test` installs
//! them where they are missing. Preferences: load the page, change a topic and
//! the frequency, submit, reload, and check the saved state in Redis.
//! Preview: load it, edit the state, and see the image and the variant
//! change. Reports: a week of counts in Redis, the page's numbers, chart
//! and experiment. Screenshots are kept in `target/test-artifacts/`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use serde_json::{Value, json};
use support::RedisServer;
use support::server::{TestServer, hset};

/// The names a Chromium or Google Chrome binary goes by on `PATH`.
const BROWSER_NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
/// The names of ChromeDriver: Ubuntu's snap names it `chromium.chromedriver`.
const DRIVER_NAMES: &[&str] = &["chromedriver", "chromium.chromedriver"];
const HOW_TO_INSTALL: &str = "scripts/test installs them (Debian and Ubuntu); \
    by hand: apt-get install chromium chromium-driver on Debian, \
    snap install chromium on Ubuntu, \
    brew install --cask google-chrome chromedriver on macOS";

/// The browser and its driver, looked up once for every test of the file.
struct BrowserPrograms {
    browser: PathBuf,
    driver: PathBuf,
}

fn browser_programs() -> &'static BrowserPrograms {
    static PROGRAMS: std::sync::OnceLock<BrowserPrograms> = std::sync::OnceLock::new();
    PROGRAMS.get_or_init(|| BrowserPrograms {
        browser: find_program("CHROME", BROWSER_NAMES, "Chromium or Google Chrome"),
        driver: find_program("CHROMEDRIVER", DRIVER_NAMES, "ChromeDriver"),
    })
}

/// The program named by the environment variable `variable`, or else the
/// first of `names` on `PATH` that runs: each is tried with `--version`, as
/// Ubuntu's `/usr/bin/chromium-browser` may be the stub of a snap that is
/// not installed. Fails, never skips, saying what is missing and how to get
/// it.
fn find_program(variable: &str, names: &[&str], what: &str) -> PathBuf {
    if let Some(named) = std::env::var_os(variable).filter(|value| !value.is_empty()) {
        let named = PathBuf::from(named);
        assert!(
            named.is_file(),
            "{variable}={} is not a file: point {variable} at {what}, or unset it to search PATH",
            named.display()
        );
        return runs(&named).unwrap_or_else(|problem| panic!("{problem}. {HOW_TO_INSTALL}"));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found: Vec<PathBuf> = std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .filter(|candidate| candidate.is_file())
        .collect();
    let mut problems = Vec::new();
    for candidate in found {
        match runs(&candidate) {
            Ok(program) => return program,
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        panic!(
            "{what} is missing: none of {} is on PATH, and {variable} is unset \
             (set it to the program's path). {HOW_TO_INSTALL}",
            names.join(", ")
        );
    }
    panic!(
        "{what} is missing: {}. {HOW_TO_INSTALL}",
        problems.join("; ")
    );
}

/// The program back if `program --version` succeeds, else why not.
fn runs(program: &Path) -> Result<PathBuf, String> {
    match Command::new(program).arg("--version").output() {
        Ok(output) if output.status.success() => Ok(program.to_path_buf()),
        Ok(output) => Err(format!(
            "{} --version failed ({})",
            program.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => Err(format!("{} cannot start ({error})", program.display())),
    }
}

/// A ChromeDriver on a free port, with one headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        Browser::start_scaled(1).await
    }

    /// A browser whose screen has `scale` device pixels per CSS pixel, as
    /// a high-density display does.
    async fn start_scaled(scale: u32) -> Browser {
        let programs = browser_programs();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&programs.driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{} starts: {error}", programs.driver.display()));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = browser.try_call(Method::GET, "/status", None).await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The flags keep Chromium off the network it cannot reach here.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Two sessions run at once: neither window may count as hidden,
            // or its page's timers (the preview's debounce) are throttled.
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--window-size=420,1100",
            &format!("--force-device-scale-factor={scale}"),
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let session = browser
            .call(
                Method::POST,
                "/session",
                Some(json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": programs.browser, "args": args }
                } } })),
            )
            .await;
        browser.session = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        browser
    }

    async fn try_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let body = body.map_or_else(Bytes::new, |body| Bytes::from(body.to_string()));
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|error| error.to_string())?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|error| error.to_string())
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let answer = self
            .try_call(method, path, body)
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        assert!(answer["value"].get("error").is_none(), "{path}: {answer}");
        answer
    }

    async fn session_call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).await["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.session_call(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .session_call(
                Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.session_call(
            Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn selected(&self, css: &str) -> bool {
        let element = self.element(css).await;
        self.session_call(Method::GET, &format!("/element/{element}/selected"), None)
            .await
            .as_bool()
            .expect("a boolean")
    }

    /// The text of `css`, waiting up to 10 s for it to appear: a click
    /// that submits a form does not wait for the next page.
    async fn text(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let query = json!({ "using": "css selector", "value": css });
        let deadline = Instant::now() + Duration::from_secs(10);
        while self
            .try_call(Method::POST, &path, Some(query.clone()))
            .await
            .is_ok_and(|found| found["value"].get("error").is_some())
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let element = self.element(css).await;
        self.session_call(Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits up to 10 s for the text of `css` to pass `check`; answers it.
    async fn wait_text(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text(css).await;
            if check(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} is still {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn attribute(&self, css: &str, name: &str) -> String {
        let element = self.element(css).await;
        self.session_call(
            Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits up to 30 s (a loaded CI machine renders slowly) for an
    /// attribute to differ from `before`; answers the new value.
    async fn wait_attribute_change(&self, css: &str, name: &str, before: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.attribute(css, name).await;
            if now != before {
                return now;
            }
            if Instant::now() > deadline {
                let problem = self.text("#problem").await;
                let state = self
                    .session_call(
                        Method::POST,
                        "/execute/sync",
                        Some(json!({ "script": "return [document.getElementById('state').value, document.body.dataset.rendered || '', document.getElementById('variant').textContent, document.visibilityState];", "args": [] })),
                    )
                    .await;
                panic!(
                    "{css} {name} did not change in 30 s; the page says {problem:?}; state {state:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Replaces the value of an input or textarea, as typing would.
    async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.session_call(
            Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
        self.session_call(
            Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and answers what it returns.
    async fn script(&self, script: &str, args: Value) -> Value {
        self.session_call(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Waits up to 30 s for `script` to return something that passes
    /// `check`; answers it.
    async fn wait_script(&self, script: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.script(script, json!([])).await;
            if check(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{script} is still {value} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets the window's size, for a page laid out for a desktop.
    async fn resize(&self, width: u32, height: u32) {
        self.session_call(
            Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    async fn screenshot(&self, file: &str) -> PathBuf {
        let encoded = self.session_call(Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64"))
            .expect("a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        std::fs::write(&path, png).unwrap();
        path
    }

    async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self.try_call(Method::DELETE, &path, None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_changes_a_topic_and_the_frequency_in_chromium() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |_| {}).await;
    hset(&redis, "ann", &[("first_name", "Ann")]);
    let url = format!("{}/p?t={}", server.base, server.token("ann"));
    let browser = Browser::start().await;
    browser.open(&url).await;
    assert!(
        browser.selected("#topic-offers").await,
        "offers is on at first"
    );
    assert!(browser.selected("#frequency-weekly").await);
    // By their labels, as a person taps them.
    browser.click("label[for=topic-offers]").await;
    browser.click("label[for=frequency-fortnightly]").await;
    browser.click("button[type=submit]").await;
    assert_eq!(browser.text("p.notice").await, "Your choices are saved.");
    let shot = browser.screenshot("preferences-saved.png").await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "a real screenshot"
    );

    let stored = redis.hgetall("ot:r:{ann}:prefs");
    assert_eq!(stored["topic:offers"], "0");
    assert_eq!(stored["topic:news"], "1");
    assert_eq!(stored["frequency"], "fortnightly");
    assert_eq!(stored["source"], "preference_center");

    browser.open(&url).await;
    assert!(
        !browser.selected("#topic-offers").await,
        "the saved choice shows on reload"
    );
    assert!(browser.selected("#topic-news").await);
    assert!(browser.selected("#frequency-fortnightly").await);
    assert!(!browser.selected("#frequency-weekly").await);
    browser.quit().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_edits_a_state_on_the_preview_page_and_sees_the_image_change() {
    const ADMIN: &str = "preview-test-admin-token";
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    // Without the token the page asks for it.
    let refused = server.get("/preview").await;
    assert_eq!(refused.status, hyper::StatusCode::UNAUTHORIZED);
    assert!(
        refused.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    let base = server
        .base
        .replace("http://", &format!("http://author:{ADMIN}@"));
    let browser = Browser::start().await;
    browser
        .open(&format!("{base}/preview?template=loyalty"))
        .await;
    // The template's first demo recipient is filled in and rendered.
    browser.wait_text("#variant", |text| text == "member").await;
    let first = browser.attribute("#image", "src").await;
    assert!(
        first.starts_with("data:image/png;base64,"),
        "{}",
        &first[..first.len().min(40)]
    );
    assert!(browser.text("#render-ms").await.ends_with(" ms"));
    assert!(
        browser
            .text("#link")
            .await
            .starts_with("https://example.com/rewards")
    );

    browser
        .type_into(
            "#state",
            r#"{"first_name": "Ada", "last_name": "Lovelace", "points": "4200", "tier": "ada-test"}"#,
        )
        .await;
    // The new state renders a new image, with the link of its tier. The
    // link is the new state's alone (a render of the emptied box may come
    // between), so the image is read once it shows.
    browser
        .wait_text("#link", |text| text.contains("tier=ada-test"))
        .await;
    let edited = browser.attribute("#image", "src").await;
    assert_ne!(edited, first, "the new state renders a new image");
    assert_eq!(browser.text("#variant").await, "member");

    // A state without points falls to the default variant.
    browser.type_into("#state", "{}").await;
    browser
        .wait_text("#variant", |text| text == "default")
        .await;
    browser
        .wait_attribute_change("#image", "src", &edited)
        .await;
    // Invalid JSON says so, and keeps the last image.
    browser.type_into("#state", "{\"points\": ").await;
    browser
        .wait_text("#problem", |text| text.contains("does not parse"))
        .await;
    let shot = browser.screenshot("preview.png").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    browser.quit().await;
    server.shutdown().await;
}

/// The studio's editor set to `text`, as typing would leave it.
const SET_SOURCE: &str = "const source = document.getElementById('source'); \
    source.value = arguments[0]; \
    source.dispatchEvent(new Event('input')); return true;";

/// The board's first image of the loyalty card's member variant.
const FIRST_MEMBER_IMAGE: &str =
    "return document.querySelector('#board tr[data-variant=member] img').src;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_edits_a_template_in_the_studio_sees_every_variant_and_saves_it() {
    const ADMIN: &str = "studio-test-admin-token";
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    let base = server
        .base
        .replace("http://", &format!("http://author:{ADMIN}@"));
    let browser = Browser::start().await;
    browser.resize(1500, 1100).await;
    browser
        .open(&format!("{base}/preview?template=loyalty"))
        .await;

    // Every variant, for every sample, at 1x and 2x: the template's own
    // demo recipients and a recipient without state.
    let board = browser
        .wait_script(
            "return document.querySelectorAll('#board tbody tr').length;",
            |rows| rows == 2,
        )
        .await;
    assert_eq!(board, 2);
    let rows: Value = browser
        .script(
            "return [...document.querySelectorAll('#board tbody tr')].map((row) => ({ \
               variant: row.dataset.variant, \
               cells: row.querySelectorAll('figure').length, \
               images: row.querySelectorAll('img').length, \
               failed: [...row.querySelectorAll('.failed')].map((f) => f.textContent), \
               chosen: row.querySelectorAll('.badge').length }));",
            json!([]),
        )
        .await;
    let samples = browser
        .script(
            "return document.querySelectorAll('#board thead th').length - 1;",
            json!([]),
        )
        .await
        .as_u64()
        .unwrap();
    assert!(
        samples >= 2,
        "the template's demo recipients are chosen: {samples}"
    );
    for row in rows.as_array().unwrap() {
        assert_eq!(row["cells"], samples * 2, "{row}");
    }
    // The recipient without state reaches the default variant; the demo
    // recipients, who have points, the member variant. Forced onto a
    // recipient without points, the member card's texts do not resolve,
    // and the board says so where its images would be.
    assert_eq!(rows[0]["variant"], "member");
    assert_eq!(rows[0]["images"], (samples - 1) * 2);
    assert_eq!(rows[0]["chosen"], (samples - 1) * 2);
    let failed = rows[0]["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{rows}");
    assert!(
        failed[0].as_str().unwrap().contains("fallback image"),
        "{rows}"
    );
    assert_eq!(rows[1]["images"], samples * 2);
    assert_eq!(rows[1]["chosen"], 2);
    // The fields it reads, with the samples' values.
    let fields = browser.text("#fields").await;
    assert!(fields.contains("profile.points"), "{fields}");
    // Each image has its layers' outlines.
    let outlines = browser
        .script(
            "return document.querySelectorAll('#board tr[data-variant=member] .shot')[0].querySelectorAll('.outline').length;",
            json!([]),
        )
        .await;
    assert_eq!(outlines, 6);
    assert!(browser.text("#problems").await.contains("check passes"));
    // The snippet to paste, in the chosen platform's merge syntax.
    let snippet = browser
        .wait_text("#embed", |text| text.starts_with("<a href="))
        .await;
    assert!(
        snippet.contains("/i/loyalty.png?t={{custom_attribute.${ot_token}}}"),
        "{snippet}"
    );
    let shot = browser.screenshot("studio.png").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // A mistake is shown at its line, and cannot be saved.
    let original = browser
        .script("return document.getElementById('source').value;", json!([]))
        .await
        .as_str()
        .unwrap()
        .to_string();
    let broken_line = original
        .lines()
        .position(|line| line.contains("#ffffff14"))
        .expect("the card's fill")
        + 1;
    let broken = original.replace("\"#ffffff14\"", "\"#zzzzzz\"");
    browser.script(SET_SOURCE, json!([broken])).await;
    let problem = browser
        .wait_text("#problems li.error", |text| text.contains("fill"))
        .await;
    assert!(
        problem.starts_with(&format!("line {broken_line}:")),
        "{problem} (the fill is on line {broken_line})"
    );
    let marked = browser
        .script(
            "return [...document.querySelectorAll('#gutter .error')].map((s) => Number(s.textContent));",
            json!([]),
        )
        .await;
    assert_eq!(marked, json!([broken_line]));
    assert_eq!(browser.attribute("#save", "disabled").await, "true");

    // Fixed and changed, it renders a new board and saves.
    let edited = original.replace("\"radius\": 18", "\"radius\": 4");
    assert_ne!(edited, original, "the template has the corner to change");
    let before = browser.script(FIRST_MEMBER_IMAGE, json!([])).await;
    browser.script(SET_SOURCE, json!([edited])).await;
    browser
        .wait_script(FIRST_MEMBER_IMAGE, |src| *src != before)
        .await;
    browser.click("#save").await;
    browser
        .wait_text("#save-status", |text| text.starts_with("Saved"))
        .await;
    let stored = server
        .admin(
            Method::GET,
            "/api/v1/templates/loyalty",
            ADMIN,
            "",
            Vec::new(),
        )
        .await;
    assert_eq!(stored.status, hyper::StatusCode::OK);
    assert_eq!(
        stored.json()["source"]["variants"][0]["layers"][1]["radius"],
        4
    );
    assert_eq!(stored.json()["origin"], "store");

    // A change made elsewhere (another author, through the API) is loaded
    // into the clean editor and rendered.
    let elsewhere = edited.replace("\"radius\": 4", "\"radius\": 6");
    let put = server
        .admin(
            Method::PUT,
            "/api/v1/templates/loyalty",
            ADMIN,
            "application/json",
            elsewhere,
        )
        .await;
    assert_eq!(put.status, hyper::StatusCode::OK, "{}", put.json());
    browser
        .wait_script(
            "return document.getElementById('source').value.includes('\"radius\": 6');",
            |found| found == true,
        )
        .await;
    browser.quit().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_follows_a_template_file_changed_on_disk() {
    const ADMIN: &str = "studio-disk-admin-token";
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    let base = server
        .base
        .replace("http://", &format!("http://author:{ADMIN}@"));
    let browser = Browser::start().await;
    browser.resize(1500, 1100).await;
    browser
        .open(&format!("{base}/preview?template=loyalty"))
        .await;
    browser
        .wait_script(
            "return document.querySelectorAll('#board tbody tr').length;",
            |rows| rows == 2,
        )
        .await;
    let before = browser.script(FIRST_MEMBER_IMAGE, json!([])).await;
    // The file changes, and the server reloads it as its watcher does.
    let file = server.templates_dir.join("loyalty.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replace("}} points\"", "}} points on disk\"");
    assert_ne!(changed, text);
    std::fs::write(&file, &changed).unwrap();
    let registry = server.app.templates.clone();
    let report = tokio::task::spawn_blocking(move || registry.reload())
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    browser
        .wait_script(
            "return document.getElementById('source').value.includes('points on disk');",
            |found| found == true,
        )
        .await;
    browser
        .wait_script(FIRST_MEMBER_IMAGE, |src| *src != before)
        .await;
    browser.quit().await;
    server.shutdown().await;
}

/// A two-arm experiment, a variant per arm, for the reports page.
const LAUNCH: &str = r##"{
  "name": "launch", "width": 120, "height": 40, "access": "token", "scales": [1],
  "experiment": { "id": "launch-copy", "arms": { "a": 50, "b": 50 } },
  "variants": [
    { "id": "copy-a", "arm": "a", "link": "https://example.com/a",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#1f5fa8" } ] },
    { "id": "copy-b", "arm": "b", "link": "https://example.com/b",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#c2410c" } ] },
    { "id": "default", "link": "https://example.com/",
      "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 120, "height": 40, "fill": "#888888" } ] } ] }"##;

/// A week of an email's events, written by the store's own batch writer
/// with each its day: people opening on some days (mail clients and
/// Gmail's proxy), Apple's prefetch and scanners on the first days, clicks
/// of people and machines, and a few conversions.
fn a_week_of_events(server: &TestServer, days: &[&str]) -> Vec<opentime::events::Event> {
    use opentime::events::{Amount, Event, EventKind};
    use opentime::expr::{Device, Opener};
    let template = server.app.templates.get("launch").expect("loaded");
    let experiment = template.experiment.clone().expect("an experiment");
    let mut events = Vec::new();
    let mut next = 7u64;
    let mut random = move |below: u64| {
        next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (next >> 33) % below
    };
    for (day, date) in days.iter().enumerate() {
        for person in 0..400u64 {
            let id = opentime::recipient::RecipientId::new(format!("w{person:04}")).unwrap();
            let arm = opentime::experiments::assign::assign(&experiment, &id)
                .expect("an arm")
                .name
                .clone();
            let variant = format!("copy-{arm}");
            let at = format!("{date}T{:02}:{:02}:00Z", 6 + random(14), random(60));
            let event = |kind, opener, person: bool| {
                let mut event = Event::new(
                    kind,
                    "launch",
                    &variant,
                    Some(id.clone()),
                    at.parse().unwrap(),
                    opener,
                    person,
                    Device::from_user_agent(None),
                );
                event.email = "welcome-1".into();
                event.experiment = "launch-copy".into();
                event.arm = arm.clone();
                event
            };
            // Fewer people open as the days pass; arm b's copy draws more
            // clicks.
            let opens = random(100) < 60u64.saturating_sub(7 * day as u64);
            if person % 5 == 0 && day < 2 {
                events.push(event(EventKind::Open, Opener::AppleProxy, false));
            }
            if person % 23 == 0 && day < 3 {
                events.push(event(EventKind::Open, Opener::Scanner, false));
                events.push(event(EventKind::Click, Opener::Scanner, false));
            }
            if !opens {
                continue;
            }
            let opener = if person % 4 == 0 {
                Opener::GmailProxy
            } else {
                Opener::Human
            };
            events.push(event(EventKind::Open, opener, true));
            let clicks = random(100) < if arm == "b" { 22 } else { 12 };
            if clicks {
                events.push(event(EventKind::Click, Opener::Human, true));
                if random(4) == 0 {
                    let mut conversion = event(EventKind::Conversion, Opener::Human, true);
                    conversion.amount = Amount::new(20.0 + random(80) as f64 + 0.9, "EUR");
                    events.push(conversion);
                }
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_shows_a_templates_numbers_chart_and_experiment() {
    const ADMIN: &str = "reports-page-admin-token";
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[("launch.json", LAUNCH)], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    let days = [
        "2026-11-16",
        "2026-11-17",
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
    ];
    let events = a_week_of_events(&server, &days);
    for batch in events.chunks(500) {
        server.app.store.write_events(batch).await.expect("written");
    }
    let decision = opentime::store::Decision {
        arm: "b".into(),
        at: "2026-11-21T12:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second(),
        by: "manual".into(),
    };
    server
        .app
        .store
        .decide_experiment("launch-copy", &decision, true)
        .await
        .expect("decided");
    let query = "template=launch&from=2026-11-16&to=2026-11-22";
    let report = server
        .admin(
            Method::GET,
            &format!("/api/v1/reports/launch?from={}&to={}", days[0], days[6]),
            ADMIN,
            "",
            "",
        )
        .await
        .json();
    let count = |value: &Value| {
        let digits = value.as_u64().expect("a count").to_string();
        // As the page groups them: 1,234.
        let mut out = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                out.push(',');
            }
            out.push(digit);
        }
        out
    };

    let base = server
        .base
        .replace("http://", &format!("http://analyst:{ADMIN}@"));
    for scale in [1, 2] {
        let browser = Browser::start_scaled(scale).await;
        browser.resize(1360, 2600).await;
        browser.open(&format!("{base}/reports?{query}")).await;
        assert_eq!(
            browser.text("#total-openers").await,
            count(&report["totals"]["unique_human_openers"])
        );
        assert_eq!(
            browser.text("#total-clickers").await,
            count(&report["totals"]["unique_human_clickers"])
        );
        let rate = report["totals"]["click_rate"].as_f64().expect("a rate");
        assert_eq!(
            browser.text("#total-rate").await,
            format!("{:.1}%", rate * 100.0)
        );
        assert_eq!(
            browser.text("#total-conversions").await,
            count(&report["totals"]["conversions"])
        );
        // The chart: a point per day on each line, axes and their titles.
        let chart = browser
            .script(
                "const svg = document.getElementById('chart'); return [
                    svg.querySelectorAll('circle.opened').length,
                    svg.querySelectorAll('circle.clicked').length,
                    svg.querySelectorAll('polyline').length,
                    svg.querySelector('title').textContent,
                    [...svg.querySelectorAll('text.axis-title')].map(t => t.textContent),
                    svg.querySelector('circle.opened title').textContent,
                    svg.getBoundingClientRect().width > 600];",
                json!([]),
            )
            .await;
        assert_eq!(chart[0], 7);
        assert_eq!(chart[1], 7);
        assert_eq!(chart[2], 2);
        assert_eq!(
            chart[3],
            "People who opened and who clicked launch each day, 2026-11-16 to 2026-11-22 (UTC)"
        );
        assert_eq!(chart[4], json!(["Day (UTC)", "People"]));
        assert_eq!(
            chart[5],
            format!(
                "2026-11-16: {} people who opened",
                count(&report["totals"]["days"][0]["unique_human_openers"])
            )
        );
        assert_eq!(chart[6], true, "the chart spans the page");
        // Each variant's people, and the machines apart.
        for line in report["variants"].as_array().expect("lines") {
            let variant = line["variant"].as_str().unwrap();
            let row = format!("tr[data-variant={variant}]");
            assert_eq!(
                browser.text(&format!("#variants {row} .openers")).await,
                count(&line["unique_human_openers"])
            );
            assert_eq!(
                browser.text(&format!("#variants {row} .conversions")).await,
                count(&line["conversions"])
            );
            assert_eq!(
                browser.text(&format!("#by-source {row} .apple")).await,
                count(&line["opens"]["apple_mpp"])
            );
            assert_eq!(
                browser.text(&format!("#by-source {row} .scanner")).await,
                count(&line["opens"]["scanner"])
            );
            assert_eq!(
                browser.text(&format!("#by-source {row} .gmail")).await,
                count(&line["opens"]["gmail_proxy"])
            );
        }
        // The experiment's arms, and the winner.
        let best = report["experiment"]["arms"][1]["probability_best"]
            .as_f64()
            .unwrap();
        assert!(
            browser
                .text("#arms tr[data-arm=b] .best")
                .await
                .ends_with(&format!("{:.1}%", best * 100.0))
        );
        assert_eq!(browser.text("#arms tr[data-arm=b] .badge").await, "Winner");
        assert!(
            browser
                .text("#winner")
                .await
                .starts_with("Winner: b, decided by hand")
        );
        let shot = browser.screenshot(&format!("reports-{scale}x.png")).await;
        let png = std::fs::read(&shot).unwrap();
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert!(
            width >= 1300 * scale && width <= 1360 * scale,
            "a {scale}x screenshot is {width} pixels wide"
        );
        browser.quit().await;
    }
    server.shutdown().await;
}
