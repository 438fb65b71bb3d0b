//! Webhooks end to end, against a real Redis and real HTTP receivers on
//! 127.0.0.1: a one-click unsubscribe reaches the receiver within
//! seconds, signed; a receiver that fails and then answers gets the same
//! events again; a receiver that stays down leaves the events pending and
//! does not slow opens; a restart in the middle of a retry resumes the
//! delivery; two replicas never deliver one event twice.

use crate::support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentime::webhooks::{WebhookConfig, parse_webhooks};
use sha2::Sha256;
use support::server::TestServer;
use support::{RedisServer, eventually};

const SECRET: &str = "webhook-test-secret-0123456789";
const FORM: &str = "application/x-www-form-urlencoded";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";

/// One request a receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Seen {
    /// The method and the path with its query.
    target: String,
    signature: String,
    content_type: String,
    body: Bytes,
    answered: u16,
}

impl Seen {
    /// The delivered events.
    fn events(&self) -> Vec<BTreeMap<String, String>> {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn stream_ids(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .map(|event| event["stream_id"].clone())
            .collect()
    }

    /// Recomputes the signature with the shared secret, as a receiver
    /// does, and checks its time is now.
    fn assert_signed(&self) {
        let (time, mac) = self
            .signature
            .split_once(',')
            .unwrap_or_else(|| panic!("signature {:?}", self.signature));
        let time = time.strip_prefix("t=").expect("t= first");
        let mac = mac.strip_prefix("v1=").expect("v1= second");
        let mut expected = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        expected.update(format!("{time}.").as_bytes());
        expected.update(&self.body);
        assert_eq!(mac, hex::encode(expected.finalize().into_bytes()));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let time: u64 = time.parse().expect("whole seconds");
        assert!(now.abs_diff(time) < 60, "signed at {time}, now {now}");
        assert_eq!(self.content_type, "application/json");
        assert_eq!(self.target, "POST /hooks/opentime?key=k");
    }
}

/// A webhook receiver on 127.0.0.1: answers each request with the next
/// status of `script`, then with `otherwise`, and keeps what it got.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    otherwise: Arc<Mutex<u16>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(script: &[u16], otherwise: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hooks/opentime?key=k",
            listener.local_addr().unwrap()
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(
            script.iter().copied().collect::<VecDeque<u16>>(),
        ));
        let otherwise = Arc::new(Mutex::new(otherwise));
        let task = {
            let (seen, script, otherwise) = (seen.clone(), script.clone(), otherwise.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (seen, script, otherwise) =
                        (seen.clone(), script.clone(), otherwise.clone());
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let (seen, script, otherwise) =
                                (seen.clone(), script.clone(), otherwise.clone());
                            async move {
                                let target = format!("{} {}", request.method(), request.uri());
                                let header = |name: &str| {
                                    request
                                        .headers()
                                        .get(name)
                                        .and_then(|value| value.to_str().ok())
                                        .unwrap_or_default()
                                        .to_string()
                                };
                                let (signature, content_type) =
                                    (header("opentime-signature"), header("content-type"));
                                let body = request.into_body().collect().await.unwrap().to_bytes();
                                let answered = script
                                    .lock()
                                    .unwrap()
                                    .pop_front()
                                    .unwrap_or(*otherwise.lock().unwrap());
                                seen.lock().unwrap().push(Seen {
                                    target,
                                    signature,
                                    content_type,
                                    body,
                                    answered,
                                });
                                Ok::<_, Infallible>(
                                    Response::builder()
                                        .status(answered)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service),
                    );
                }
            })
        };
        Receiver {
            url,
            seen,
            script,
            otherwise,
            task,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests it answered with a 2xx.
    fn delivered(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| (200..300).contains(&seen.answered))
            .collect()
    }

    /// Waits up to `within` for a first delivery, failing as `what`; answers
    /// every delivery so far.
    async fn await_delivery(&self, what: &str, within: Duration) -> Vec<Seen> {
        eventually(what, within, || {
            let delivered = self.delivered();
            async move { (!delivered.is_empty()).then_some(delivered) }
        })
        .await
    }

    fn answer_from_now(&self, status: u16) {
        self.script.lock().unwrap().clear();
        *self.otherwise.lock().unwrap() = status;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A webhook named `name` of `events` to `url`.
fn hook(url: &str, name: &str, events: &[&str]) -> WebhookConfig {
    parse_webhooks(serde_json::json!([
        { "url": url, "events": events, "secret": SECRET, "name": name }
    ]))
    .expect("a valid webhook")
    .remove(0)
}

/// A server with `hooks`, once their consumer groups exist: a group
/// starts with the events added after it.
async fn launch(redis: &RedisServer, hooks: Vec<WebhookConfig>) -> TestServer {
    let names: Vec<String> = hooks.iter().map(|hook| hook.name.clone()).collect();
    let server = TestServer::launch(redis, &[], move |config| config.webhooks = hooks).await;
    for name in names {
        eventually(
            "the webhook's group exists",
            Duration::from_secs(5),
            || async { group(redis, &name).map(|_| ()) },
        )
        .await;
    }
    server
}

/// The consumer group of the webhook `name`, as `XINFO GROUPS` shows it.
fn group(redis: &RedisServer, name: &str) -> Option<BTreeMap<String, redis::Value>> {
    let groups: Vec<BTreeMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("ot:events")
        .query(&mut redis.connection())
        .unwrap_or_default();
    let wanted = redis::Value::BulkString(format!("webhook:{name}").into_bytes());
    groups
        .into_iter()
        .find(|group| group.get("name") == Some(&wanted))
}

async fn unsubscribe(server: &TestServer, id: &str, list: &str) {
    let answer = server
        .send(
            Method::POST,
            &format!("/u?t={}&list={list}", server.token(id)),
            &[("content-type", FORM)],
            Bytes::from("List-Unsubscribe=One-Click"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

async fn open(server: &TestServer, id: &str) -> Duration {
    let started = Instant::now();
    let answer = server
        .request(
            Method::GET,
            &format!("/i/renewal.png?t={}", server.token(id)),
            &[("user-agent", IPHONE)],
        )
        .await;
    let took = started.elapsed();
    assert_eq!(answer.status, StatusCode::OK);
    took
}

/// The group's entries not yet acknowledged: read and pending, plus not
/// yet read, from Redis itself.
fn waiting(redis: &RedisServer, name: &str) -> u64 {
    let group = group(redis, name).unwrap_or_else(|| panic!("no group for {name}"));
    let number = |field: &str| match group.get(field) {
        Some(redis::Value::Int(number)) => *number as u64,
        _ => 0,
    };
    number("pending") + number("lag")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_click_unsubscribe_reaches_the_receiver_within_seconds_signed() {
    let redis = RedisServer::new();
    let receiver = Receiver::start(&[], 204).await;
    let server = launch(
        &redis,
        vec![hook(&receiver.url, "crm", &["unsubscribe", "preferences"])],
    )
    .await;
    // An open first: the webhook did not ask for opens.
    open(&server, "ann").await;
    let sent = Instant::now();
    unsubscribe(&server, "ann", "offers").await;
    let delivered = receiver
        .await_delivery("the unsubscribe is delivered", Duration::from_secs(5))
        .await;
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(delivered.len(), 1);
    delivered[0].assert_signed();
    let events = delivered[0].events();
    assert_eq!(events.len(), 1, "only the unsubscribe: {events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "unsubscribe");
    assert_eq!(event["recipient"], "ann");
    assert_eq!(event["list"], "offers");
    assert_eq!(event["source"], "one_click");
    assert_eq!(event["id"].len(), 16);
    let stream: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("ot:events")
        .arg("-")
        .arg("+")
        .query(&mut redis.connection())
        .unwrap();
    let (stream_id, _) = stream.last().expect("the unsubscribe's entry");
    assert_eq!(&event["stream_id"], stream_id);
    eventually(
        "the group has nothing left",
        Duration::from_secs(5),
        || async { (waiting(&redis, "crm") == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        server
            .metric("opentime_webhook_events_delivered_total{webhook=\"crm\"}")
            .await,
        1.0
    );
    server.shutdown().await;
}

/// Runs the Python verifier of `docs/webhooks.md`, as printed there, on a
/// delivery's header and body with `secret`; answers what it printed.
fn documented_verifier(secret: &str, header: &str, body: &[u8]) -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/webhooks.md"),
    )
    .unwrap();
    let start = doc
        .find("```python\n")
        .expect("docs/webhooks.md has a Python block")
        + 10;
    let snippet = &doc[start..start + doc[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, body).unwrap();
    let script = format!(
        "{snippet}\nimport sys\nprint(verify(sys.argv[1].encode(), sys.argv[2], open(sys.argv[3], 'rb').read()))\n"
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(secret)
        .arg(header)
        .arg(&body_file)
        .output()
        .unwrap_or_else(|error| panic!("{python} does not run ({error}): run scripts/test, which installs it, or set PYTHON"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_python_verifier_takes_a_delivery_and_refuses_forgeries() {
    let redis = RedisServer::new();
    let receiver = Receiver::start(&[], 200).await;
    let server = launch(&redis, vec![hook(&receiver.url, "crm", &["unsubscribe"])]).await;
    unsubscribe(&server, "ann", "").await;
    let delivered = receiver
        .await_delivery("the unsubscribe is delivered", Duration::from_secs(5))
        .await;
    let Seen {
        signature, body, ..
    } = &delivered[0];
    assert_eq!(documented_verifier(SECRET, signature, body), "True");
    let mut forged = body.to_vec();
    forged.extend_from_slice(b" ");
    assert_eq!(documented_verifier(SECRET, signature, &forged), "False");
    assert_eq!(
        documented_verifier("another-secret-0123456789", signature, body),
        "False"
    );
    let stale = signature.replacen("t=1", "t=0", 1);
    assert_eq!(documented_verifier(SECRET, &stale, body), "False");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_and_then_answers_gets_the_same_events_again() {
    let redis = RedisServer::new();
    let receiver = Receiver::start(&[500, 503], 200).await;
    let server = launch(&redis, vec![hook(&receiver.url, "crm", &["unsubscribe"])]).await;
    unsubscribe(&server, "ann", "offers").await;
    unsubscribe(&server, "bob", "").await;
    // Bob's event may be written after the first batch was read, and then
    // comes in a batch of its own after Ann's is delivered.
    let recipients_of = |delivered: &[Seen]| -> BTreeSet<String> {
        delivered
            .iter()
            .flat_map(Seen::events)
            .map(|event| event["recipient"].clone())
            .collect()
    };
    let delivered = eventually(
        "both unsubscribes delivered after two failures",
        Duration::from_secs(15),
        || {
            let delivered = receiver.delivered();
            async move { (recipients_of(&delivered).len() >= 2).then_some(delivered) }
        },
    )
    .await;
    let seen = receiver.seen();
    assert!(seen.len() >= 3, "{seen:?}");
    assert_eq!(seen[0].answered, 500);
    assert_eq!(seen[1].answered, 503);
    let ids = |seen: &Seen| seen.stream_ids().into_iter().collect::<BTreeSet<_>>();
    let all_delivered: BTreeSet<String> = delivered.iter().flat_map(ids).collect();
    for (attempt, failed) in seen.iter().take(2).enumerate() {
        failed.assert_signed();
        assert!(
            ids(failed).is_subset(&all_delivered),
            "attempt {attempt}'s events are delivered again"
        );
    }
    // The first batch came back whole, byte for byte.
    assert_eq!(seen[2].body, seen[0].body);
    delivered[0].assert_signed();
    assert_eq!(
        recipients_of(&delivered),
        BTreeSet::from(["ann".into(), "bob".into()])
    );
    let failed_attempts = seen.iter().filter(|seen| seen.answered >= 300).count();
    assert_eq!(
        server
            .metric("opentime_webhook_retries_total{webhook=\"crm\"}")
            .await,
        failed_attempts as f64
    );
    assert_eq!(
        server
            .metric("opentime_webhook_events_delivered_total{webhook=\"crm\"}")
            .await,
        all_delivered.len() as f64
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_leaves_events_pending_and_opens_are_not_slowed() {
    let redis = RedisServer::new();
    // Nothing listens on this port: every delivery is refused.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let opens = 120;
    let plain = launch(&redis, Vec::new()).await;
    open(&plain, "warm-up").await;
    let mut without: Vec<Duration> = Vec::with_capacity(opens);
    for index in 0..opens {
        without.push(open(&plain, &format!("a{index}")).await);
    }
    plain.shutdown().await;

    let hooked = launch(&redis, vec![hook(&down, "down", &["open", "click"])]).await;
    open(&hooked, "warm-up").await;
    let mut with: Vec<Duration> = Vec::with_capacity(opens);
    for index in 0..opens {
        with.push(open(&hooked, &format!("b{index}")).await);
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (without, with) = (median(&mut without), median(&mut with));
    assert!(
        with <= without * 2 + Duration::from_millis(5),
        "the median open took {with:?} with a failing webhook, {without:?} without"
    );
    // Every open of the hooked server waits in the group: at most a
    // batch is being retried, the rest is not read yet.
    eventually(
        "the opens wait in the group",
        Duration::from_secs(5),
        || async { (waiting(&redis, "down") > opens as u64).then_some(()) },
    )
    .await;
    // And the metrics say so.
    let pending = "opentime_webhook_pending_events{webhook=\"down\"}";
    eventually(
        "the pending gauge counts them",
        Duration::from_secs(10),
        || async { (hooked.metric(pending).await > opens as f64).then_some(()) },
    )
    .await;
    assert!(
        hooked
            .metric("opentime_webhook_retries_total{webhook=\"down\"}")
            .await
            >= 1.0
    );
    assert_eq!(
        hooked
            .metric("opentime_webhook_events_delivered_total{webhook=\"down\"}")
            .await,
        0.0
    );
    hooked.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_retry_resumes_the_delivery() {
    let redis = RedisServer::new();
    let receiver = Receiver::start(&[], 503).await;
    let hooks = vec![hook(&receiver.url, "crm", &["unsubscribe"])];
    let first = launch(&redis, hooks.clone()).await;
    unsubscribe(&first, "ann", "").await;
    eventually("a failed attempt", Duration::from_secs(5), || async {
        (!receiver.seen().is_empty()).then_some(())
    })
    .await;
    let failed = receiver.seen()[0].stream_ids();
    first.shutdown().await;
    // The receiver is back; a new server on the same Redis takes over the
    // batch the stopped one was retrying.
    receiver.answer_from_now(200);
    let attempts = receiver.seen().len();
    let second = launch(&redis, hooks).await;
    let delivered = receiver
        .await_delivery("the batch is delivered", Duration::from_secs(10))
        .await;
    assert_eq!(delivered[0].stream_ids(), failed);
    delivered[0].assert_signed();
    assert_eq!(
        receiver.seen().len(),
        attempts + 1,
        "the stopped server made no attempt after it stopped"
    );
    eventually(
        "the group has nothing left",
        Duration::from_secs(5),
        || async { (waiting(&redis, "crm") == 0).then_some(()) },
    )
    .await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_lost_with_redis_data_is_created_again() {
    let mut redis = RedisServer::new();
    let receiver = Receiver::start(&[], 200).await;
    let server = launch(&redis, vec![hook(&receiver.url, "crm", &["unsubscribe"])]).await;
    // A Redis that restarts without its data loses the group too.
    redis.restart();
    eventually("the group is back", Duration::from_secs(15), || async {
        group(&redis, "crm").map(|_| ())
    })
    .await;
    unsubscribe(&server, "ann", "").await;
    let delivered = receiver
        .await_delivery("the unsubscribe is delivered", Duration::from_secs(10))
        .await;
    assert_eq!(delivered[0].events()[0]["recipient"], "ann");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_deliver_one_event_twice() {
    let redis = RedisServer::new();
    let receiver = Receiver::start(&[], 200).await;
    let hooks = vec![hook(&receiver.url, "crm", &["open"])];
    let one = launch(&redis, hooks.clone()).await;
    let two = launch(&redis, hooks).await;
    let opens = 300;
    for index in 0..opens {
        let server = if index % 2 == 0 { &one } else { &two };
        open(server, &format!("r{index}")).await;
    }
    let delivered = eventually("every open is delivered", Duration::from_secs(20), || {
        let delivered = receiver.delivered();
        async move {
            let count: usize = delivered.iter().map(|seen| seen.events().len()).sum();
            (count >= opens).then_some(delivered)
        }
    })
    .await;
    let ids: Vec<String> = delivered.iter().flat_map(Seen::stream_ids).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an event was delivered twice");
    assert_eq!(ids.len(), opens);
    assert!(delivered.iter().all(|seen| seen.events().len() <= 100));
    let consumers: Vec<BTreeMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg("ot:events")
        .arg("webhook:crm")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(consumers.len(), 2, "one consumer per replica");
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test]
async fn webhooks_without_redis_are_refused_at_start() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = opentime::config::Config::default();
    config.templates.dir = root.join("assets/templates");
    config.render.fonts_dir = root.join("fonts");
    config.store.demo_dir = root.join("assets/demo");
    config.webhooks = vec![hook("http://127.0.0.1:9/hook", "crm", &["open"])];
    let error = opentime::app::App::build(config, opentime::clock::Clock::System)
        .await
        .expect_err("no demo store with webhooks");
    assert!(error.to_string().contains("webhooks need Redis"), "{error}");
}

/// What the export answered: its lines, decoded, and its headers.
struct Page {
    lines: Vec<BTreeMap<String, String>>,
    next_cursor: String,
    link: Option<String>,
    trimmed: Option<String>,
}

const ADMIN: &str = "webhook-test-admin-token";

async fn export(server: &TestServer, path: &str) -> Page {
    let answer = server
        .admin(Method::GET, path, ADMIN, "", Bytes::new())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/x-ndjson");
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_string())
    };
    Page {
        lines: text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect(),
        next_cursor: header("opentime-next-cursor").expect("a cursor"),
        link: header("link"),
        trimmed: header("opentime-trimmed-before"),
    }
}

/// Follows the `Link` from `path` to the end; answers every line and the
/// last cursor.
async fn export_all(server: &TestServer, path: &str) -> (Vec<BTreeMap<String, String>>, String) {
    let mut lines = Vec::new();
    let mut path = path.to_string();
    loop {
        let page = export(server, &path).await;
        lines.extend(page.lines);
        match page.link {
            Some(link) => {
                let target = link
                    .strip_prefix('<')
                    .and_then(|rest| rest.split_once('>'))
                    .expect("<...>; rel=\"next\"")
                    .0;
                assert!(link.ends_with("rel=\"next\""), "{link}");
                path = target.to_string();
            }
            None => return (lines, page.next_cursor),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_pages_through_ten_thousand_changes_in_order() {
    use opentime::events::{Event, EventKind};
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.access.admin_tokens = vec![ADMIN.to_string()].into();
    })
    .await;
    // 10,000 changes between 20,000 opens, written as the events writer
    // writes them, 500 a pipeline.
    let changes = 10_000;
    let device = opentime::expr::Device::from_user_agent(Some(IPHONE));
    let mut written = Vec::with_capacity(changes);
    let mut batch = Vec::new();
    for index in 0..changes {
        let recipient = opentime::recipient::RecipientId::new(format!("r{index}")).unwrap();
        let event = |kind| {
            Event::new(
                kind,
                "",
                "",
                Some(recipient.clone()),
                "2026-11-22T10:00:00Z".parse().unwrap(),
                opentime::expr::Opener::Human,
                true,
                device,
            )
        };
        let mut open = event(EventKind::Open);
        open.template = "renewal".into();
        let mut change = if index % 3 == 0 {
            let mut saved = event(EventKind::Preferences);
            saved.extra.push(("source", "preference_center".into()));
            saved.extra.push(("set", r#"{"frequency":"daily"}"#.into()));
            saved
        } else {
            let mut left = event(EventKind::Unsubscribe);
            left.extra.push(("source", "one_click".into()));
            left.extra.push(("list", String::new()));
            left
        };
        change.template.clear();
        written.push(change.id.clone());
        batch.extend([open.clone(), change, open]);
        if batch.len() >= 500 {
            server.app.store.write_events(&batch).await.unwrap();
            batch.clear();
        }
    }
    server.app.store.write_events(&batch).await.unwrap();

    let (lines, cursor) = export_all(&server, "/api/v1/preferences/export").await;
    let ids: Vec<String> = lines.iter().map(|line| line["id"].clone()).collect();
    assert_eq!(ids.len(), changes);
    assert_eq!(ids, written, "every change once, in order");
    assert!(lines.iter().all(|line| line["type"] != "open"));
    assert_eq!(lines[0]["type"], "preferences");
    assert_eq!(lines[0]["set"], r#"{"frequency":"daily"}"#);
    assert_eq!(lines[1]["type"], "unsubscribe");
    assert_eq!(lines[1]["recipient"], "r1");
    // The cursor is past everything read, the opens after the last
    // change too.
    let newest: Vec<(String, Vec<String>)> = redis::cmd("XREVRANGE")
        .arg("ot:events")
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(cursor, newest[0].0);

    // Pages of another size end in the middle of the stream's reads.
    let (odd, _) = export_all(&server, "/api/v1/preferences/export?limit=777").await;
    assert_eq!(odd, lines);
    let first = export(&server, "/api/v1/preferences/export?limit=777").await;
    assert_eq!(first.lines.len(), 777);
    assert_eq!(first.next_cursor, first.lines[776]["stream_id"]);

    // Caught up: nothing new, the same cursor, no link.
    let caught_up = export(
        &server,
        &format!("/api/v1/preferences/export?since={cursor}"),
    )
    .await;
    assert!(caught_up.lines.is_empty() && caught_up.link.is_none());
    assert_eq!(caught_up.next_cursor, cursor);
    assert_eq!(caught_up.trimmed, None);

    // Tomorrow's sync gets today's one-click unsubscribes, and nothing else.
    open(&server, "ann").await;
    unsubscribe(&server, "ann", "offers").await;
    unsubscribe(&server, "bob", "").await;
    let path = format!("/api/v1/preferences/export?since={cursor}");
    let new = eventually(
        "the unsubscribes are exported",
        Duration::from_secs(5),
        || async {
            let page = export(&server, &path).await;
            (page.lines.len() == 2).then_some(page)
        },
    )
    .await;
    assert_eq!(new.lines[0]["recipient"], "ann");
    assert_eq!(new.lines[0]["list"], "offers");
    assert_eq!(new.lines[1]["recipient"], "bob");
    assert_eq!(new.next_cursor, new.lines[1]["stream_id"]);

    // A cursor older than what the stream lost says so.
    let _: u64 = redis::cmd("XTRIM")
        .arg("ot:events")
        .arg("MAXLEN")
        .arg(10)
        .query(&mut redis.connection())
        .unwrap();
    let since = &first.next_cursor;
    let late = export(
        &server,
        &format!("/api/v1/preferences/export?since={since}"),
    )
    .await;
    let oldest: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("ot:events")
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(
        late.trimmed.as_ref(),
        Some(&oldest[0].0),
        "the trim is reported"
    );
    assert!(late.lines.len() >= 2, "what is left is still exported");
    let recent = export(
        &server,
        &format!("/api/v1/preferences/export?since={cursor}"),
    )
    .await;
    assert_eq!(
        recent.trimmed, None,
        "nothing after this cursor was trimmed"
    );
    assert_eq!(recent.lines.len(), 2);

    for bad in ["since=yesterday", "since=1-2-3", "limit=0", "limit=10001"] {
        let answer = server
            .admin(
                Method::GET,
                &format!("/api/v1/preferences/export?{bad}"),
                ADMIN,
                "",
                Bytes::new(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.json()["error"]["code"], "bad_request", "{bad}");
    }
    server.shutdown().await;
}
