//! Live polls end to end, against a real Redis: votes, re-votes and
//! machine clicks give the right tally, also with many voters at once; the
//! results image follows the tally; bad URLs get a clear answer.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use jiff::SignedDuration;
use support::server::{Answer, TestServer, assert_image};
use support::{RedisServer, eventually};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const SCANNER: &str = "Microsoft Office Existence Discovery";
const TALLY: &str = "ot:poll:{care-rating}:tally";
const VOTES: &str = "ot:poll:{care-rating}:votes";

/// A poll whose results a replica rereads every second.
const QUICK_POLL: &str = r##"{
  "name": "quick", "width": 300, "height": 100, "access": "token", "scales": [1],
  "poll": { "id": "quick", "options": [ { "id": "yes" }, { "id": "no" } ],
            "thanks": "https://example.com/thanks/{{ vote.option }}", "results_cache_seconds": 1 },
  "variants": [
    { "id": "default", "layers": [
      { "type": "rect", "x": 0, "y": 0, "width": 300, "height": 100, "fill": "#ffffff" },
      { "type": "poll_results", "x": 10, "y": 10, "width": 280, "height": 80, "size": 14,
        "bar_color": "#2b6cb0", "highlight_color": "#2e9d5b" } ] }
  ]
}"##;

async fn start(redis: &RedisServer) -> Arc<TestServer> {
    Arc::new(TestServer::launch(redis, &[("quick.json", QUICK_POLL)], |_| {}).await)
}

async fn vote(server: &TestServer, id: &str, option: &str, user_agent: &str) -> Answer {
    let token = server.token(id);
    server
        .request(
            Method::GET,
            &format!("/v/care-rating/{option}?t={token}"),
            &[("user-agent", user_agent)],
        )
        .await
}

fn tally(redis: &RedisServer, key: &str) -> BTreeMap<String, i64> {
    redis
        .hgetall(key)
        .into_iter()
        .map(|(option, count)| (option, count.parse().expect("a count")))
        .filter(|(_, count)| *count != 0)
        .collect()
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs
        .iter()
        .map(|(option, count)| (option.to_string(), *count))
        .collect()
}

fn choice(redis: &RedisServer, id: &str) -> Option<String> {
    let held: Option<String> = redis::cmd("HGET")
        .arg(VOTES)
        .arg(id)
        .query(&mut redis.connection())
        .expect("HGET");
    held.map(|record| record.split(' ').next().unwrap_or_default().to_string())
}

fn a_minute_later(server: &TestServer) {
    server.app.clock.advance(SignedDuration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_voters_at_once_and_their_revotes_give_the_right_tally() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let options = ["1", "2", "3", "4", "5"];
    let voters: Vec<String> = (0..60).map(|n| format!("voter-{n}")).collect();
    let cast_all = |round: usize| {
        let tasks: Vec<_> = voters
            .iter()
            .enumerate()
            .map(|(n, id)| {
                let server = Arc::clone(&server);
                let id = id.clone();
                let option = options[(n + round) % options.len()];
                tokio::spawn(async move {
                    let answer = vote(&server, &id, option, IPHONE).await;
                    assert_eq!(answer.status, StatusCode::FOUND, "{id}: a redirect");
                })
            })
            .collect();
        async move {
            for task in tasks {
                task.await.expect("a vote task");
            }
        }
    };
    cast_all(0).await;
    assert_eq!(
        tally(&redis, TALLY),
        counts(&[("1", 12), ("2", 12), ("3", 12), ("4", 12), ("5", 12)])
    );
    // Everyone changes their mind at once, two options along for the first
    // half and one along for the rest: the last vote wins and counts move.
    a_minute_later(&server);
    cast_all(1).await;
    assert_eq!(
        tally(&redis, TALLY).values().sum::<i64>(),
        60,
        "one vote per recipient"
    );
    for (n, id) in voters.iter().enumerate() {
        assert_eq!(
            choice(&redis, id).as_deref(),
            Some(options[(n + 1) % 5]),
            "{id}"
        );
    }
    // The same vote again changes nothing.
    a_minute_later(&server);
    vote(&server, "voter-0", "2", IPHONE).await;
    assert_eq!(tally(&redis, TALLY).values().sum::<i64>(), 60);
    assert_eq!(
        server
            .metric("opentime_votes_total{option=\"2\",poll=\"care-rating\",result=\"unchanged\"}")
            .await,
        1.0
    );
    shut(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_votes_never_count_and_a_burst_takes_back_its_first_click() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    // A known scanner and a HEAD request never count.
    vote(&server, "scanned", "5", SCANNER).await;
    let token = server.token("scanned");
    let head = server
        .request(
            Method::HEAD,
            &format!("/v/care-rating/4?t={token}"),
            &[("user-agent", IPHONE)],
        )
        .await;
    assert_eq!(head.status, StatusCode::FOUND);
    assert_eq!(tally(&redis, TALLY), counts(&[]));

    // A person voted 4 a day ago.
    vote(&server, "loyal", "4", IPHONE).await;
    server.app.clock.advance(SignedDuration::from_hours(24));
    // Today a gateway with a browser's User-Agent clicks every option of
    // the email within a second: the first click looks human and counts for
    // a moment, the second shows the burst and takes it back.
    for option in ["5", "4", "3", "2", "1"] {
        let answer = vote(&server, "loyal", option, IPHONE).await;
        assert_eq!(
            answer.status,
            StatusCode::FOUND,
            "a scanner still gets its redirect"
        );
        server.app.clock.advance(SignedDuration::from_millis(150));
    }
    // The same for a recipient who had never voted.
    for option in ["1", "2", "3"] {
        vote(&server, "fresh", option, IPHONE).await;
        server.app.clock.advance(SignedDuration::from_millis(150));
    }
    assert_eq!(
        tally(&redis, TALLY),
        counts(&[("4", 1)]),
        "only the person's vote of yesterday"
    );
    assert_eq!(
        choice(&redis, "loyal").as_deref(),
        Some("4"),
        "their choice is restored"
    );
    assert_eq!(choice(&redis, "fresh"), None);

    // Later the person behind "fresh" reads the email and votes: it counts.
    a_minute_later(&server);
    vote(&server, "fresh", "2", IPHONE).await;
    assert_eq!(tally(&redis, TALLY), counts(&[("2", 1), ("4", 1)]));
    assert_eq!(
        server
            .metric("opentime_votes_total{option=\"5\",poll=\"care-rating\",result=\"retracted\"}")
            .await
            + server
                .metric(
                    "opentime_votes_total{option=\"4\",poll=\"care-rating\",result=\"retracted\"}"
                )
                .await,
        1.0,
        "loyal's burst took back one vote"
    );

    // Every vote is an event; the machine ones say so.
    let events = eventually("the vote events", Duration::from_secs(10), || async {
        let events: Vec<BTreeMap<String, String>> = redis
            .events()
            .into_iter()
            .filter(|event| event["type"] == "vote")
            .collect();
        (events.len() >= 12).then_some(events)
    })
    .await;
    let first = &events[0];
    assert_eq!(first["poll"], "care-rating");
    assert_eq!(first["option"], "5");
    assert_eq!(first["template"], "care-survey");
    assert_eq!(first["opener"], "scanner");
    assert_eq!(first["person"], "0");
    let retractions = events
        .iter()
        .filter(|event| event.get("retracted").is_some())
        .count();
    assert_eq!(
        retractions, 2,
        "loyal's and fresh's bursts each took one back"
    );
    let counted: Vec<&str> = events
        .iter()
        .filter(|event| event["person"] == "1")
        .map(|event| event["recipient"].as_str())
        .collect();
    assert_eq!(counted, ["loyal", "loyal", "fresh", "fresh"]);
    shut(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_results_image_changes_with_the_tally_and_highlights_the_choice() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let open = |id: &str| {
        let token = server.token(id);
        let server = Arc::clone(&server);
        async move {
            let answer = server
                .request(
                    Method::GET,
                    &format!("/i/quick.png?t={token}"),
                    &[("user-agent", IPHONE)],
                )
                .await;
            assert_image(&answer);
            answer
        }
    };
    let vote_quick = |id: &str, option: &str| {
        let token = server.token(id);
        let server = Arc::clone(&server);
        let option = option.to_string();
        async move {
            let answer = server
                .request(
                    Method::GET,
                    &format!("/v/quick/{option}?t={token}"),
                    &[("user-agent", IPHONE)],
                )
                .await;
            assert_eq!(
                answer.headers["location"].to_str().unwrap(),
                format!("https://example.com/thanks/{option}")
            );
        }
    };
    let before = open("viewer").await;
    vote_quick("ann", "yes").await;
    let after_a_vote = open("viewer").await;
    assert_ne!(
        before.body, after_a_vote.body,
        "a vote on this replica shows at once"
    );
    assert_ne!(before.headers["etag"], after_a_vote.headers["etag"]);
    // Before the first vote the options are plain choices: no bar drawn in
    // the bar color. The first vote draws its bar.
    let bar_pixels = |png: &[u8]| {
        image::load_from_memory(png)
            .expect("a PNG")
            .into_rgb8()
            .pixels()
            .filter(|pixel| pixel.0 == [0x2b, 0x6c, 0xb0])
            .count()
    };
    assert_eq!(bar_pixels(&before.body), 0, "no bars before any vote");
    assert!(bar_pixels(&after_a_vote.body) > 100, "the first vote's bar");
    // The viewer's own vote is highlighted: another image than the one
    // everyone else sees for the same tally.
    a_minute_later(&server);
    vote_quick("viewer", "no").await;
    let as_voter = open("viewer").await;
    let as_other = open("someone-else").await;
    assert_ne!(as_voter.body, as_other.body);

    // A vote counted by another replica shows once the tally is reread.
    redis::cmd("HINCRBY")
        .arg("ot:poll:{quick}:tally")
        .arg("yes")
        .arg(5)
        .query::<i64>(&mut redis.connection())
        .expect("HINCRBY");
    let cached = open("someone-else").await;
    assert_eq!(
        cached.body, as_other.body,
        "within the cache time the tally is reused"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reread = open("someone-else").await;
    assert_ne!(reread.body, as_other.body, "after it, the new tally shows");
    shut(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_vote_urls_get_a_clear_answer_and_count_nothing() {
    let redis = RedisServer::new();
    let server = start(&redis).await;
    let token = server.token("ann");
    for (path, status) in [
        (
            format!("/v/no-such-poll/1?t={token}"),
            StatusCode::NOT_FOUND,
        ),
        (format!("/v/care-rating/9?t={token}"), StatusCode::NOT_FOUND),
        (
            format!("/v/care-rating/1?t={token}x"),
            StatusCode::FORBIDDEN,
        ),
        (
            "/v/care-rating/1?t=YW5u.AAAAAAAAAAAAAAAAAAAAAA".to_string(),
            StatusCode::FORBIDDEN,
        ),
        ("/v/care-rating".to_string(), StatusCode::NOT_FOUND),
    ] {
        let answer = server
            .request(Method::GET, &path, &[("user-agent", IPHONE)])
            .await;
        assert_eq!(answer.status, status, "{path}");
    }
    let post = server.request(Method::POST, "/v/care-rating/1", &[]).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    // Without a token the voter still gets the thank-you page; nothing is
    // counted, since nobody can tell who voted.
    let anonymous = server
        .request(Method::GET, "/v/care-rating/3", &[("user-agent", IPHONE)])
        .await;
    assert_eq!(
        anonymous.headers["location"].to_str().unwrap(),
        "https://example.com/support/thanks?rating=3"
    );
    assert_eq!(tally(&redis, TALLY), counts(&[]));
    shut(server).await;
}

async fn shut(server: Arc<TestServer>) {
    Arc::into_inner(server)
        .expect("no task holds the server")
        .shutdown()
        .await;
}
