//! Reports against a real Redis: opens and clicks of a planned sequence
//! over three UTC days go through the real server (its manual clock moved
//! from day to day) and the report answers exactly what the plan counts,
//! per day, email, variant and arm; thousands of recipients opening
//! through two replicas of one Redis are one report, their uniques within
//! 2%; the CSV, read by Python's csv module, says what the JSON says; and
//! bad requests get precise refusals.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hyper::{Method, StatusCode};
use opentime::events::{Amount, Event, EventKind};
use opentime::expr::{Device, Opener};
use opentime::recipient::RecipientId;
use serde_json::{Value, json};
use support::server::{Answer, TestServer};
use support::{RedisServer, eventually};

const ADMIN: &str = "reports-test-admin-token";
/// A token for the reports only, and one for everything but them.
const REPORTS_ONLY: &str = "reports:reports-only-test-token";
const POOLS_ONLY: &str = "pools:pools-only-test-token-1";

/// A two-arm experiment, a variant per arm.
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

/// User-Agents and the class the shipped opener rules give them.
const IPHONE: (&str, &str) = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "human",
);
const APPLE: (&str, &str) = ("Mozilla/5.0", "apple_mpp");
const GMAIL: (&str, &str) = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "gmail_proxy",
);
const SCANNER: (&str, &str) = ("python-requests/2.31.0", "scanner");

/// The opener classes a person is behind, by default.
const PEOPLE: [&str; 3] = ["human", "gmail_proxy", "yahoo_proxy"];

const DAYS: [&str; 3] = ["2026-11-20", "2026-11-21", "2026-11-22"];

#[derive(Clone, Copy, PartialEq)]
enum Act {
    Open,
    Click,
}

/// One request of the plan: on which day, by whom, what, from where, in
/// which email.
struct Step {
    day: usize,
    who: &'static str,
    act: Act,
    agent: (&'static str, &'static str),
    email: &'static str,
}

const fn step(
    day: usize,
    who: &'static str,
    act: Act,
    agent: (&'static str, &'static str),
    email: &'static str,
) -> Step {
    Step {
        day,
        who,
        act,
        agent,
        email,
    }
}

/// Three days of an email and, on the last, a second one.
const PLAN: &[Step] = &[
    step(0, "h1", Act::Open, IPHONE, "step-1"),
    step(0, "h1", Act::Open, IPHONE, "step-1"),
    step(0, "h2", Act::Open, IPHONE, "step-1"),
    step(0, "h3", Act::Open, IPHONE, "step-1"),
    step(0, "m1", Act::Open, APPLE, "step-1"),
    step(0, "m2", Act::Open, APPLE, "step-1"),
    step(0, "g1", Act::Open, GMAIL, "step-1"),
    step(0, "s1", Act::Open, SCANNER, "step-1"),
    step(0, "h1", Act::Click, IPHONE, "step-1"),
    step(0, "s1", Act::Click, SCANNER, "step-1"),
    step(0, "m1", Act::Click, SCANNER, "step-1"),
    step(1, "h1", Act::Open, IPHONE, "step-1"),
    step(1, "h2", Act::Open, IPHONE, "step-1"),
    step(1, "g1", Act::Open, GMAIL, "step-1"),
    step(1, "g2", Act::Open, GMAIL, "step-1"),
    step(1, "m1", Act::Open, APPLE, "step-1"),
    step(1, "h2", Act::Click, IPHONE, "step-1"),
    step(1, "g1", Act::Click, IPHONE, "step-1"),
    step(1, "h2", Act::Click, IPHONE, "step-1"),
    step(2, "h4", Act::Open, IPHONE, "step-2"),
    step(2, "h4", Act::Open, IPHONE, "step-2"),
    step(2, "m3", Act::Open, APPLE, "step-2"),
    step(2, "h4", Act::Click, IPHONE, "step-2"),
    step(2, "h1", Act::Open, IPHONE, "step-1"),
];

/// What the plan says one line counts on one day.
#[derive(Default, Clone)]
struct Expected {
    opens: BTreeMap<&'static str, i64>,
    openers: BTreeSet<&'static str>,
    human_clicks: i64,
    machine_clicks: i64,
    clickers: BTreeSet<&'static str>,
    conversions: i64,
    revenue: Option<&'static str>,
}

impl Expected {
    fn add(&mut self, other: &Expected) {
        for (class, count) in &other.opens {
            *self.opens.entry(class).or_default() += count;
        }
        self.openers.extend(&other.openers);
        self.human_clicks += other.human_clicks;
        self.machine_clicks += other.machine_clicks;
        self.clickers.extend(&other.clickers);
        self.conversions += other.conversions;
        self.revenue = self.revenue.or(other.revenue);
    }

    /// Asserts `figures` (a line's, a day's or the totals') say this.
    fn check(&self, figures: &Value, what: &str) {
        for class in [
            "human",
            "apple_mpp",
            "gmail_proxy",
            "yahoo_proxy",
            "scanner",
        ] {
            assert_eq!(
                figures["opens"][class],
                self.opens.get(class).copied().unwrap_or(0),
                "{what}: {class} opens in {figures}"
            );
        }
        assert_eq!(
            figures["unique_human_openers"],
            self.openers.len(),
            "{what}: openers in {figures}"
        );
        assert_eq!(
            figures["clicks"],
            json!({ "human": self.human_clicks, "machine": self.machine_clicks }),
            "{what}"
        );
        assert_eq!(
            figures["unique_human_clickers"],
            self.clickers.len(),
            "{what}"
        );
        let rate = (!self.openers.is_empty()).then(|| {
            let rate = self.clickers.len() as f64 / self.openers.len() as f64;
            (rate * 10_000.0).round() / 10_000.0
        });
        assert_eq!(figures["click_rate"], json!(rate), "{what}");
        assert_eq!(figures["conversions"], self.conversions, "{what}");
        assert_eq!(
            figures["revenue"],
            match self.revenue {
                Some(amount) => json!({ "EUR": amount }),
                None => json!({}),
            },
            "{what}"
        );
        assert_eq!(figures["votes"], 0, "{what}");
        assert_eq!(figures["codes_drawn"], 0, "{what}");
    }
}

async fn launch(redis: &RedisServer) -> TestServer {
    TestServer::launch(redis, &[("launch.json", LAUNCH)], |config| {
        config.access.admin_tokens = vec![
            ADMIN.to_string(),
            REPORTS_ONLY.to_string(),
            POOLS_ONLY.to_string(),
        ]
        .into();
    })
    .await
}

/// The recipient's arm, as the server's hash gives it.
fn arm_of(server: &TestServer, who: &str) -> &'static str {
    let template = server.app.templates.get("launch").expect("loaded");
    let experiment = template.experiment.as_ref().expect("an experiment");
    let arm =
        opentime::experiments::assign::assign(experiment, &RecipientId::new(who).expect("valid"))
            .expect("an arm");
    match arm.name.as_str() {
        "a" => "a",
        "b" => "b",
        other => panic!("no arm {other}"),
    }
}

/// Writes profiles for `ids` in one pipeline: a token template shows the
/// default to a recipient without state.
fn profiles(redis: &RedisServer, ids: impl IntoIterator<Item = String>) {
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("HSET")
            .arg(format!("ot:r:{{{id}}}"))
            .arg("first_name")
            .arg("Sam")
            .ignore();
    }
    pipe.query::<()>(&mut redis.connection())
        .expect("profiles written");
}

/// Moves the server's clock to `at`.
fn set_clock(server: &TestServer, at: &str) {
    let at: jiff::Timestamp = at.parse().expect("an instant");
    let now = server.app.clock.now();
    server.app.clock.advance(jiff::SignedDuration::from_millis(
        at.as_millisecond() - now.as_millisecond(),
    ));
}

async fn report(server: &TestServer, query: &str) -> Answer {
    server
        .admin(
            Method::GET,
            &format!("/api/v1/reports/launch{query}"),
            ADMIN,
            "",
            "",
        )
        .await
}

/// The report once the event writer has counted `opens` opens.
async fn report_with(server: &TestServer, query: &str, opens: i64) -> Value {
    eventually("the events counted", Duration::from_secs(10), || async {
        let answer = report(server, query).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let json = answer.json();
        let counted: i64 = [
            "human",
            "apple_mpp",
            "gmail_proxy",
            "yahoo_proxy",
            "scanner",
        ]
        .iter()
        .map(|class| json["totals"]["opens"][class].as_i64().unwrap_or(0))
        .sum();
        (counted >= opens).then_some(json)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_sequence_over_three_days_is_counted_exactly_per_day_email_and_variant() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let people: BTreeSet<&str> = PLAN.iter().map(|step| step.who).collect();
    profiles(&redis, people.iter().map(|who| who.to_string()));
    let arms: BTreeSet<&str> = people.iter().map(|who| arm_of(&server, who)).collect();
    assert_eq!(arms.len(), 2, "the plan's people fall in both arms");

    // The plan, through the server, ten minutes apart from 09:00 each day.
    for (index, step) in PLAN.iter().enumerate() {
        set_clock(&server, &format!("{}T09:00:00Z", DAYS[step.day]));
        server
            .app
            .clock
            .advance(jiff::SignedDuration::from_mins(10 * index as i64));
        let kind = match step.act {
            Act::Open => "i/launch.png",
            Act::Click => "c/launch",
        };
        let path = format!("/{kind}?t={}&e={}", server.token(step.who), step.email);
        let answer = server
            .request(Method::GET, &path, &[("user-agent", step.agent.0)])
            .await;
        let expected = match step.act {
            Act::Open => StatusCode::OK,
            Act::Click => StatusCode::FOUND,
        };
        assert_eq!(answer.status, expected, "step {index}");
    }
    // A conversion of h2's on the second day, written as the conversions
    // call writes it.
    let mut conversion = Event::new(
        EventKind::Conversion,
        "launch",
        &format!("copy-{}", arm_of(&server, "h2")),
        Some(RecipientId::new("h2").expect("valid")),
        "2026-11-21T15:00:00Z".parse().expect("an instant"),
        Opener::Human,
        true,
        Device::from_user_agent(None),
    );
    conversion.email = "step-1".into();
    conversion.experiment = "launch-copy".into();
    conversion.arm = arm_of(&server, "h2").into();
    conversion.amount = Amount::new(49.9, "EUR");
    server
        .app
        .store
        .write_events(&[conversion])
        .await
        .expect("written");
    set_clock(&server, "2026-11-22T18:00:00Z");

    // What the plan counts, by (email, arm) and day.
    let mut expected: BTreeMap<(&str, &str), Vec<Expected>> = BTreeMap::new();
    for step in PLAN {
        let line = expected
            .entry((step.email, arm_of(&server, step.who)))
            .or_insert_with(|| vec![Expected::default(); 3]);
        let day = &mut line[step.day];
        let (_, class) = step.agent;
        let person = PEOPLE.contains(&class);
        match step.act {
            Act::Open => {
                *day.opens.entry(class).or_default() += 1;
                if person {
                    day.openers.insert(step.who);
                }
            }
            Act::Click if person => {
                day.human_clicks += 1;
                day.clickers.insert(step.who);
            }
            Act::Click => day.machine_clicks += 1,
        }
    }
    let h2 = &mut expected
        .get_mut(&("step-1", arm_of(&server, "h2")))
        .expect("h2's line")[1];
    h2.conversions = 1;
    h2.revenue = Some("49.9");
    let opens = PLAN.iter().filter(|step| step.act == Act::Open).count() as i64;

    let json = report_with(&server, "?from=2026-11-20&to=2026-11-22", opens).await;
    assert_eq!(json["template"], "launch");
    assert_eq!(
        (&json["from"], &json["to"]),
        (&json!(DAYS[0]), &json!(DAYS[2]))
    );
    assert_eq!(json["e"], Value::Null);
    assert_eq!(json["currencies"], json!(["EUR"]));
    let lines = json["variants"].as_array().expect("lines");
    let keys: Vec<(String, String, String)> = lines
        .iter()
        .map(|line| {
            (
                line["e"].as_str().unwrap_or_default().to_string(),
                line["variant"].as_str().unwrap_or_default().to_string(),
                line["arm"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected_keys: Vec<(String, String, String)> = expected
        .keys()
        .map(|(email, arm)| (email.to_string(), format!("copy-{arm}"), arm.to_string()))
        .collect();
    assert_eq!(
        keys, expected_keys,
        "one line per email, variant and arm, in order"
    );
    let mut totals = vec![Expected::default(); 3];
    for (line, ((email, arm), days)) in lines.iter().zip(&expected) {
        let mut sum = Expected::default();
        for (index, day) in days.iter().enumerate() {
            assert_eq!(line["days"][index]["date"], DAYS[index]);
            day.check(
                &line["days"][index],
                &format!("{email} {arm} {}", DAYS[index]),
            );
            sum.add(day);
            totals[index].add(day);
        }
        sum.check(line, &format!("{email} {arm} over the range"));
    }
    let mut all = Expected::default();
    for (index, day) in totals.iter().enumerate() {
        day.check(
            &json["totals"]["days"][index],
            &format!("totals {}", DAYS[index]),
        );
        all.add(day);
    }
    all.check(&json["totals"], "totals over the range");

    // One email only: its lines, and totals that are theirs.
    let second = report_with(&server, "?from=2026-11-20&to=2026-11-22&e=step-2", 0).await;
    assert_eq!(second["e"], "step-2");
    let step_2: Vec<&Vec<Expected>> = expected
        .iter()
        .filter(|((email, _), _)| *email == "step-2")
        .map(|(_, days)| days)
        .collect();
    let lines = second["variants"].as_array().expect("lines");
    assert_eq!(lines.len(), step_2.len());
    assert!(lines.iter().all(|line| line["e"] == "step-2"));
    let mut step_2_total = Expected::default();
    for days in step_2 {
        step_2_total.add(&days[2]);
    }
    step_2_total.check(&second["totals"], "step-2's totals");

    // The default range is the thirty days ending today.
    let default = report_with(&server, "", opens).await;
    assert_eq!(
        (&default["from"], &default["to"]),
        (&json!("2026-10-24"), &json!("2026-11-22"))
    );
    assert_eq!(default["totals"]["days"].as_array().map(Vec::len), Some(30));
    assert_eq!(default["totals"]["unique_human_openers"], all.openers.len());

    // The experiment: people exposed and clicking per arm, since it began.
    let experiment = &json["experiment"];
    assert_eq!(experiment["id"], "launch-copy");
    assert_eq!(experiment["metric"], "click");
    assert_eq!(experiment["winner"], Value::Null);
    let mut probabilities = 0.0;
    for (index, arm) in ["a", "b"].iter().enumerate() {
        let exposed: BTreeSet<&str> = expected
            .iter()
            .filter(|((_, line_arm), _)| line_arm == arm)
            .flat_map(|(_, days)| days.iter().flat_map(|day| day.openers.iter().copied()))
            .collect();
        let clicked: BTreeSet<&str> = expected
            .iter()
            .filter(|((_, line_arm), _)| line_arm == arm)
            .flat_map(|(_, days)| days.iter().flat_map(|day| day.clickers.iter().copied()))
            .collect();
        let reported = &experiment["arms"][index];
        assert_eq!(reported["arm"], *arm);
        assert_eq!(reported["exposures"], exposed.len(), "arm {arm}");
        assert_eq!(reported["successes"], clicked.len(), "arm {arm}");
        probabilities += reported["probability_best"].as_f64().expect("a number");
    }
    assert!((probabilities - 1.0).abs() < 1e-3, "{probabilities}");
    // A decision shows as the winner.
    let decision = opentime::store::Decision {
        arm: "b".into(),
        at: 1_795_000_000,
        by: "manual".into(),
    };
    assert!(
        server
            .app
            .store
            .decide_experiment("launch-copy", &decision, true)
            .await
            .expect("decided")
    );
    let decided = report_with(&server, "?from=2026-11-20", opens).await;
    assert_eq!(
        decided["experiment"]["winner"],
        json!({ "arm": "b", "at": "2026-11-18T11:06:40Z", "by": "manual" })
    );

    // The CSV says the same, as Python's csv module reads it.
    let csv = report(&server, "?from=2026-11-20&to=2026-11-22&format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers["content-disposition"],
        "attachment; filename=\"report-launch-2026-11-20-2026-11-22.csv\""
    );
    let rows = python_compares(&csv.body, &json);
    assert_eq!(rows, expected.len() * 4 + 4, "every row compared");
    server.shutdown().await;
}

/// Runs Python's csv module over `csv` and compares every row with the
/// JSON report; answers how many rows it compared.
fn python_compares(csv: &[u8], json: &Value) -> usize {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("report.csv"), csv).expect("written");
    std::fs::write(dir.path().join("report.json"), json.to_string()).expect("written");
    let script = r#"
import csv, json, sys
report = json.load(open(sys.argv[2]))
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f, strict=True))
def same(row, figures, where):
    for cls in ["human", "apple_mpp", "gmail_proxy", "yahoo_proxy", "scanner"]:
        assert int(row["opens_" + cls]) == figures["opens"][cls], (where, cls)
    assert int(row["unique_human_openers"]) == figures["unique_human_openers"], where
    assert int(row["clicks_human"]) == figures["clicks"]["human"], where
    assert int(row["clicks_machine"]) == figures["clicks"]["machine"], where
    assert int(row["unique_human_clickers"]) == figures["unique_human_clickers"], where
    rate = figures["click_rate"]
    assert (row["click_rate"] == "") if rate is None else (float(row["click_rate"]) == rate), where
    for name in ["votes", "codes_drawn", "conversions"]:
        assert int(row[name]) == figures[name], (where, name)
    for cur in report["currencies"]:
        assert row["revenue_" + cur] == figures["revenue"].get(cur, "0"), (where, cur)
expected = []
for line in report["variants"]:
    key = (line["e"] or "", line["variant"], line["arm"] or "")
    expected += [(day["date"],) + key + (day,) for day in line["days"]]
    expected.append(("total",) + key + (line,))
expected += [(day["date"], "*", "*", "*", day) for day in report["totals"]["days"]]
expected.append(("total", "*", "*", "*", report["totals"]))
assert len(rows) == len(expected), (len(rows), len(expected))
for row, (date, e, variant, arm, figures) in zip(rows, expected):
    assert (row["date"], row["e"], row["variant"], row["arm"]) == (date, e, variant, arm), row
    same(row, figures, (date, e, variant, arm))
print(len(rows))
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("report.csv"))
        .arg(dir.path().join("report.json"))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python3 says: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_people_through_two_replicas_are_one_report_with_uniques_within_two_percent() {
    const RECIPIENTS: usize = 3_000;
    let redis = RedisServer::new();
    let first = launch(&redis).await;
    let second = launch(&redis).await;
    let ids: Vec<String> = (0..RECIPIENTS).map(|n| format!("p{n:05}")).collect();
    profiles(&redis, ids.iter().cloned());
    // Everyone opens once on one replica or the other; every fourth
    // opens again on the other one, and every fifth clicks.
    let mut requests: Vec<(usize, String)> = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let token = first.token(id);
        requests.push((n % 2, format!("/i/launch.png?t={token}&e=wave-1")));
        if n % 4 == 0 {
            requests.push(((n + 1) % 2, format!("/i/launch.png?t={token}&e=wave-1")));
        }
        if n % 5 == 0 {
            requests.push((n % 2, format!("/c/launch?t={token}&e=wave-1")));
        }
    }
    let servers = [&first, &second];
    for chunk in requests.chunks(32) {
        let answers = futures_util::future::join_all(chunk.iter().map(|(replica, path)| {
            servers[*replica].request(Method::GET, path, &[("user-agent", IPHONE.0)])
        }))
        .await;
        for answer in answers {
            assert!(
                answer.status == StatusCode::OK || answer.status == StatusCode::FOUND,
                "{:?}",
                answer.status
            );
        }
    }
    let opens = (RECIPIENTS + RECIPIENTS.div_ceil(4)) as i64;
    let from_first = report_with(&first, "", opens).await;
    let from_second = report_with(&second, "", opens).await;
    assert_eq!(
        from_first, from_second,
        "either replica answers the same report"
    );
    let totals = &from_first["totals"];
    assert_eq!(totals["opens"]["human"], opens, "every open counted once");
    assert_eq!(totals["clicks"]["human"], RECIPIENTS.div_ceil(5));
    let within = |estimate: &Value, exact: usize, what: &str| {
        let estimate = estimate.as_u64().expect("a count") as f64;
        let error = (estimate - exact as f64).abs() / exact as f64;
        assert!(
            error <= 0.02,
            "{what}: {estimate} for {exact} ({:.2}%)",
            error * 100.0
        );
    };
    within(&totals["unique_human_openers"], RECIPIENTS, "openers");
    within(
        &totals["unique_human_clickers"],
        RECIPIENTS.div_ceil(5),
        "clickers",
    );
    // Per arm, against the people the hash put in it.
    for line in from_first["variants"].as_array().expect("lines") {
        let arm = line["arm"].as_str().expect("an arm");
        let in_arm: Vec<usize> = (0..RECIPIENTS)
            .filter(|n| arm_of(&first, &ids[*n]) == arm)
            .collect();
        let clickers = in_arm.iter().filter(|n| *n % 5 == 0).count();
        assert_eq!(line["variant"], format!("copy-{arm}"));
        assert_eq!(
            line["opens"]["human"],
            in_arm.len() + in_arm.iter().filter(|n| *n % 4 == 0).count()
        );
        within(&line["unique_human_openers"], in_arm.len(), arm);
        within(&line["unique_human_clickers"], clickers, arm);
    }
    first.shutdown().await;
    second.shutdown().await;
}

/// The writer sums a batch's report counters and gathers its sets'
/// members into one command each: a batch of mixed events (two days, two
/// variants, people and machines, opens, clicks and conversions, the same
/// people again) counts exactly what the same events count written one
/// at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_counts_what_its_events_count_written_one_by_one() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let store = &server.app.store;
    let events = |template: &str| {
        let mut events = Vec::new();
        for index in 0..60_u32 {
            let kind = match index % 5 {
                0..=2 => EventKind::Open,
                3 => EventKind::Click,
                _ => EventKind::Conversion,
            };
            let opener = if index % 4 == 0 {
                Opener::Scanner
            } else {
                Opener::Human
            };
            let at = if index % 3 == 0 {
                "2026-11-20T10:00:00Z"
            } else {
                "2026-11-21T23:59:59Z"
            };
            let mut event = Event::new(
                kind,
                template,
                if index % 2 == 0 { "copy-a" } else { "copy-b" },
                Some(RecipientId::new(format!("r{}", index % 7)).expect("valid")),
                at.parse().expect("an instant"),
                opener,
                opener == Opener::Human,
                Device::from_user_agent(None),
            );
            event.experiment = format!("{template}-copy");
            event.arm = (if index % 2 == 0 { "a" } else { "b" }).into();
            if kind == EventKind::Conversion {
                event.amount = Amount::new(f64::from(index) + 0.5, "EUR");
            }
            events.push(event);
        }
        events
    };
    store
        .write_events(&events("batched"))
        .await
        .expect("written");
    for event in events("single") {
        store.write_events(&[event]).await.expect("written");
    }
    let days = ["20261120".to_string(), "20261121".to_string()];
    let batched = store.report_counters("batched", &days).await.expect("read");
    let single = store.report_counters("single", &days).await.expect("read");
    assert_eq!(batched, single);
    let opens: i64 = batched
        .iter()
        .flatten()
        .filter(|(field, _)| field.contains("|open."))
        .map(|(_, count)| count)
        .sum();
    assert_eq!(opens, 36, "every open is counted once: {batched:?}");
    // Every unique set the counters name, per day and group.
    let unions: Vec<Vec<(String, String)>> = days
        .iter()
        .zip(&batched)
        .flat_map(|(day, fields)| {
            fields.iter().flat_map(move |(field, _)| {
                let group = field.rsplit_once('|').expect("group|metric").0;
                ["open", "click", "conversion"]
                    .map(|set| vec![(day.clone(), format!("{group}|{set}"))])
            })
        })
        .collect();
    let batched_uniques = store
        .report_uniques("batched", &unions)
        .await
        .expect("read");
    let single_uniques = store.report_uniques("single", &unions).await.expect("read");
    assert_eq!(batched_uniques, single_uniques);
    assert!(batched_uniques.iter().any(|count| *count > 1));
    let arms = ["a", "b"];
    let batched_arms = store
        .experiment_counts("batched-copy", &arms)
        .await
        .expect("read");
    let single_arms = store
        .experiment_counts("single-copy", &arms)
        .await
        .expect("read");
    assert_eq!(batched_arms, single_arms);
    assert!(batched_arms.iter().all(|counts| counts[0] > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_refusals() {
    let redis = RedisServer::new();
    let server = launch(&redis).await;
    let cases: &[(&str, StatusCode, &str, &str)] = &[
        (
            "/api/v1/reports/launch?from=2026-11-21&to=2026-11-20",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "from (2026-11-21) is after to (2026-11-20)",
        ),
        (
            "/api/v1/reports/launch?from=21.11.2026",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "from is a date like 2026-12-01 (YYYY-MM-DD, UTC), not \"21.11.2026\"",
        ),
        (
            "/api/v1/reports/launch?to=2026-02-30",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "to is a date like 2026-12-01 (YYYY-MM-DD, UTC), not \"2026-02-30\"",
        ),
        (
            "/api/v1/reports/launch?to=2026-11-23",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "to (2026-11-23) is after today (2026-11-22, UTC): no day ahead has counts",
        ),
        (
            "/api/v1/reports/launch?from=2024-01-01",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "from (2024-01-01) is before 2025-10-18, the oldest day kept: counts are kept \
             for report_retention_days (400) days",
        ),
        (
            "/api/v1/reports/launch?e=no%20spaces",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "e is 1 to 64 letters, digits, '.', '_' and '-'",
        ),
        (
            "/api/v1/reports/launch?format=xlsx",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "format is json or csv, not \"xlsx\"",
        ),
        (
            "/api/v1/reports/nothing-here",
            StatusCode::NOT_FOUND,
            "no_template",
            "no template \"nothing-here\" is loaded",
        ),
        (
            "/api/v1/reports/Bad.Name",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a name is 1 to 64 lowercase letters, digits, '-' and '_'",
        ),
    ];
    for (path, status, code, message) in cases {
        let answer = server.admin(Method::GET, path, ADMIN, "", "").await;
        assert_eq!(answer.status, *status, "{path}");
        assert_eq!(
            answer.json()["error"],
            json!({ "code": code, "message": message }),
            "{path}"
        );
    }
    let path = "/api/v1/reports/launch";
    let missing = server.get(path).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.json()["error"]["message"],
        "send Authorization: Bearer <admin token>"
    );
    let wrong = server
        .admin(Method::GET, path, "not-the-admin-token", "", "")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json()["error"]["message"],
        "the admin token is not valid"
    );
    let pools = server
        .admin(Method::GET, path, "pools-only-test-token-1", "", "")
        .await;
    assert_eq!(pools.status, StatusCode::FORBIDDEN);
    assert_eq!(
        pools.json()["error"]["message"],
        "this token lacks the reports scope"
    );
    let post = server.admin(Method::POST, path, ADMIN, "", "").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    // The reports' token reads reports and nothing else.
    let reports = server
        .admin(Method::GET, path, "reports-only-test-token", "", "")
        .await;
    assert_eq!(reports.status, StatusCode::OK);
    assert_eq!(reports.json()["variants"], json!([]));
    let pool = server
        .admin(
            Method::GET,
            "/api/v1/pools/apology",
            "reports-only-test-token",
            "",
            "",
        )
        .await;
    assert_eq!(pool.status, StatusCode::FORBIDDEN);

    // The page: asks a browser for the token, refuses other scopes and
    // other sites, and says what is wrong with a range on the page.
    let page = server.get("/reports").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=\"opentime reports\"")
    );
    let basic = |token: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("me:{token}"))
        )
    };
    let pools_page = server
        .request(
            Method::GET,
            "/reports",
            &[("authorization", &basic("pools-only-test-token-1"))],
        )
        .await;
    assert_eq!(pools_page.status, StatusCode::FORBIDDEN);
    let reports_basic = basic("reports-only-test-token");
    let elsewhere = server
        .request(
            Method::GET,
            "/reports",
            &[
                ("authorization", reports_basic.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    let reversed = server
        .request(
            Method::GET,
            "/reports?template=launch&from=2026-11-21&to=2026-11-20",
            &[("authorization", reports_basic.as_str())],
        )
        .await;
    assert_eq!(reversed.status, StatusCode::BAD_REQUEST);
    let html = String::from_utf8_lossy(&reversed.body);
    assert!(
        html.contains("from (2026-11-21) is after to (2026-11-20)"),
        "{html}"
    );
    let csv = server
        .request(
            Method::GET,
            "/reports/csv?template=nothing-here",
            &[("authorization", reports_basic.as_str())],
        )
        .await;
    assert_eq!(csv.status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}
