//! Tests of opener classification by address (Apple's ranges with both
//! kinds of range file, the range rules), of the rules file's format, and
//! of the refusals of malformed files. `user_agent_tests.rs` checks the
//! shipped rules against the published User-Agents.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use super::*;

use Opener::*;

#[test]
fn the_shipped_rules_keep_the_documented_defaults() {
    let rules = OpenerRules::builtin();
    assert_eq!(rules.click_burst(), std::time::Duration::from_secs(5));
    let loaded = OpenerRules::load(None, None).expect("the built-in rules");
    assert_eq!(loaded.click_burst(), rules.click_burst());
    let people: Vec<Opener> = Opener::ALL
        .into_iter()
        .filter(|opener| rules.is_person(*opener))
        .collect();
    assert_eq!(people, [Human, GmailProxy, YahooProxy]);
    // Without the key, the same default; with it, what it says.
    let unset = OpenerRules::parse(HEADER).expect("a valid file");
    assert!(unset.is_person(GmailProxy) && !unset.is_person(AppleProxy));
    let strict = OpenerRules::parse(&format!("{HEADER}person_openers = [\"human\"]\n"))
        .expect("a valid file");
    assert!(strict.is_person(Human) && !strict.is_person(GmailProxy));
}

#[test]
fn labels_read_back_and_only_people_count_as_opens() {
    for opener in Opener::ALL {
        assert_eq!(Opener::from_str_label(opener.as_str()), Some(opener));
    }
    assert_eq!(Opener::from_str_label("Human"), None);
    assert_eq!(Opener::from_str_label("robot"), None);
    let human_opens: Vec<Opener> = Opener::ALL
        .into_iter()
        .filter(|opener| opener.is_human_open())
        .collect();
    assert_eq!(human_opens, [Human, GmailProxy, YahooProxy]);
}

const CHROME_ON_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                                 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn request_from(address: &str, user_agent: &'static str) -> OpenerRequest<'static> {
    OpenerRequest {
        user_agent: Some(user_agent),
        is_head: false,
        client_ip: Some(address.parse::<IpAddr>().expect("valid address")),
    }
}

fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(contents.as_bytes())
        .expect("write temp file");
    file
}

fn load_ranges(contents: &str) -> OpenerRules {
    let file = temp_file(contents);
    OpenerRules::load(None, Some(file.path())).expect("valid range file")
}

#[test]
fn addresses_in_apples_published_ranges_are_apples_proxy_whatever_the_user_agent() {
    // Apple's egress-ip-ranges.csv: CIDR, country, region, city, and a
    // trailing comma.
    let apple_csv = "172.224.226.0/27,GB,GB-EN,London,\n\
                     2a02:26f7:b3c0:4000::/64,GB,GB-EN,London,\n";
    let plain_list = "# one CIDR a line\n\n172.224.226.0/27\n2a02:26f7:b3c0:4000::/64\n";
    for (format, contents) in [("Apple's CSV", apple_csv), ("plain list", plain_list)] {
        let rules = load_ranges(contents);
        let cases = [
            ("172.224.226.1", CHROME_ON_WINDOWS, AppleProxy),
            ("2a02:26f7:b3c0:4000::42", CHROME_ON_WINDOWS, AppleProxy),
            ("::ffff:172.224.226.9", CHROME_ON_WINDOWS, AppleProxy),
            // Outside the ranges the User-Agent decides, as before.
            ("172.224.226.32", CHROME_ON_WINDOWS, Human),
            ("2a02:26f7:b3c0:4001::1", CHROME_ON_WINDOWS, Human),
            ("203.0.113.5", "curl/8.5.0", Scanner),
            ("203.0.113.5", "Mozilla/5.0", AppleProxy),
        ];
        for (address, user_agent, expected) in cases {
            assert_eq!(
                rules.classify(&request_from(address, user_agent)),
                expected,
                "{format}: {address} {user_agent:?}"
            );
        }
        // Without an address, only the User-Agent is known.
        let no_address = OpenerRequest {
            user_agent: Some(CHROME_ON_WINDOWS),
            ..OpenerRequest::default()
        };
        assert_eq!(rules.classify(&no_address), Human, "{format}");
    }
}

#[test]
fn ranges_written_in_the_rules_file_count_too() {
    let rules = OpenerRules::parse(
        r#"
        head_is = "scanner"
        missing_user_agent_is = "scanner"
        click_burst_seconds = 2
        apple_relay_ranges = ["17.0.0.0/8", "2620:149::/32"]
        "#,
    )
    .expect("valid rules");
    assert_eq!(
        rules.classify(&request_from("17.58.1.2", CHROME_ON_WINDOWS)),
        AppleProxy
    );
    assert_eq!(
        rules.classify(&request_from("2620:149:a::1", CHROME_ON_WINDOWS)),
        AppleProxy
    );
    assert_eq!(
        rules.classify(&request_from("18.0.0.1", CHROME_ON_WINDOWS)),
        Human
    );
    assert_eq!(rules.click_burst(), std::time::Duration::from_secs(2));
}

#[test]
fn microsofts_published_mail_addresses_are_scanners_whatever_the_user_agent() {
    let cases = [
        // Each block Microsoft publishes for Exchange Online's mail servers,
        // at both ends, and the addresses just outside.
        ("40.92.0.0", Scanner),
        ("40.93.255.255", Scanner),
        ("40.91.255.255", Human),
        // Reported for Safe Links, but not published for mail: left alone.
        ("40.94.16.1", Human),
        ("40.107.0.0", Scanner),
        ("40.107.255.255", Scanner),
        ("40.108.0.0", Human),
        ("52.100.0.0", Scanner),
        ("52.103.255.255", Scanner),
        // SharePoint Online's block, next door.
        ("52.104.0.1", Human),
        ("104.47.0.0", Scanner),
        ("104.47.127.255", Scanner),
        ("104.47.128.0", Human),
        ("2a01:111:f400::1", Scanner),
        ("2a01:111:f403:c000::25", Scanner),
        ("2a01:111:f402::1", Human),
        ("2a01:111:f404::1", Human),
        ("::ffff:40.107.218.12", Scanner),
    ];
    // The shipped rules, and the same with Apple's ranges added from a file:
    // adding Apple's ranges keeps the range rules.
    let with_apple = load_ranges("17.0.0.0/8\n");
    for rules in [OpenerRules::builtin(), &with_apple] {
        for (address, expected) in cases {
            assert_eq!(
                rules.classify(&request_from(address, CHROME_ON_WINDOWS)),
                expected,
                "{address}"
            );
        }
    }
    // The address decides before the User-Agent, even a proxy's.
    let rules = OpenerRules::builtin();
    for user_agent in [
        "Mozilla/5.0",
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    ] {
        assert_eq!(
            rules.classify(&request_from("104.47.30.126", user_agent)),
            Scanner
        );
    }
    assert_eq!(
        with_apple.classify(&request_from("17.1.2.3", CHROME_ON_WINDOWS)),
        AppleProxy
    );
}

#[test]
fn range_rules_apply_in_file_order_after_apples_ranges_and_before_user_agents() {
    let rules = OpenerRules::parse(&format!(
        "{HEADER}apple_relay_ranges = [\"17.0.0.0/8\"]\n\
         [[range_rule]]\nopener = \"human\"\nranges = [\"198.51.100.0/24\"]\n\
         [[range_rule]]\nopener = \"scanner\"\n\
         ranges = [\"198.51.0.0/16\", \"17.1.0.0/16\", \"2001:db8::/32\"]\n\
         [[rule]]\nopener = \"scanner\"\nuser_agent_prefix = [\"curl/\"]\n"
    ))
    .expect("valid rules");
    let cases = [
        // An operator's own monitor, filed as a person ahead of its curl mark.
        ("198.51.100.7", "curl/8.5.0", Human),
        ("198.51.7.7", CHROME_ON_WINDOWS, Scanner),
        // Apple's ranges come first, even where a range rule overlaps them.
        ("17.1.2.3", CHROME_ON_WINDOWS, AppleProxy),
        ("2001:db8::1", CHROME_ON_WINDOWS, Scanner),
        ("203.0.113.9", "curl/8.5.0", Scanner),
        ("203.0.113.9", CHROME_ON_WINDOWS, Human),
    ];
    for (address, user_agent, expected) in cases {
        assert_eq!(
            rules.classify(&request_from(address, user_agent)),
            expected,
            "{address} {user_agent:?}"
        );
    }
    // A HEAD request is head_is wherever it comes from.
    let head = OpenerRequest {
        is_head: true,
        ..request_from("198.51.100.7", CHROME_ON_WINDOWS)
    };
    assert_eq!(rules.classify(&head), Scanner);
}

#[test]
fn fifty_thousand_ranges_are_looked_up_correctly() {
    // Every other /24 of 10.0.0.0/8 upward, as Apple's file lists many small
    // blocks, and as many IPv6 /64s; in reverse order, to prove the loader
    // sorts.
    let mut contents = String::new();
    for block in (0..25_000u32).rev() {
        let v4 = 0x0a00_0000 + block * 2 * 256;
        let [a, b, c, _] = v4.to_be_bytes();
        contents.push_str(&format!("{a}.{b}.{c}.0/24,US,US-CA,Los Angeles,\n"));
        contents.push_str(&format!(
            "2a02:26f7:{block:x}:{:x}::/64,US,US-CA,Los Angeles,\n",
            block % 7
        ));
    }
    let rules = load_ranges(&contents);
    let apple = |address: String| rules.classify(&request_from(&address, CHROME_ON_WINDOWS));
    for block in [0u32, 1, 2, 4_999, 12_345, 24_999] {
        let v4 = 0x0a00_0000 + block * 2 * 256;
        let [a, b, c, _] = v4.to_be_bytes();
        assert_eq!(apple(format!("{a}.{b}.{c}.0")), AppleProxy, "{block}");
        assert_eq!(apple(format!("{a}.{b}.{c}.255")), AppleProxy, "{block}");
        // The /24 after each listed one is not listed.
        assert_eq!(apple(format!("{a}.{b}.{}.1", c + 1)), Human, "{block} + 1");
        assert_eq!(
            apple(format!("2a02:26f7:{block:x}:{:x}::9", block % 7)),
            AppleProxy,
            "{block} v6"
        );
        assert_eq!(
            apple(format!("2a02:26f7:{block:x}:{:x}::9", block % 7 + 1)),
            Human,
            "{block} v6, next /64"
        );
    }
    assert_eq!(apple("9.255.255.255".to_owned()), Human);
    assert_eq!(apple("10.195.80.1".to_owned()), Human);
}

#[test]
fn a_rules_file_that_moves_a_mark_changes_the_answer() {
    // The built-in rules call curl a scanner and Gmail's proxy a proxy.
    assert_eq!(classify(Some("curl/8.5.0"), false), Scanner);
    let gmail = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 \
                 (via ggpht.com GoogleImageProxy)";
    assert_eq!(classify(Some(gmail), false), GmailProxy);

    // An operator whose own monitoring uses curl, and who files Gmail's
    // proxy behind a scanner mark that now comes first.
    let file = temp_file(
        r#"
        head_is = "human"
        missing_user_agent_is = "human"
        click_burst_seconds = 0

        [[rule]]
        opener = "human"
        user_agent_prefix = ["curl/"]

        [[rule]]
        opener = "scanner"
        user_agent_contains = ["Firefox/11.0"]

        [[rule]]
        opener = "gmail_proxy"
        user_agent_contains = ["googleimageproxy"]
        "#,
    );
    let rules = OpenerRules::load(Some(file.path()), None).expect("valid rules");
    let ask = |user_agent: Option<&str>, is_head: bool| {
        rules.classify(&OpenerRequest {
            user_agent,
            is_head,
            client_ip: None,
        })
    };
    assert_eq!(ask(Some("curl/8.5.0"), false), Human);
    assert_eq!(ask(Some(gmail), false), Scanner);
    assert_eq!(ask(Some("Mozilla/5.0"), false), Human);
    assert_eq!(ask(None, false), Human);
    assert_eq!(ask(Some("Mozilla/5.0"), true), Human);
    assert_eq!(rules.click_burst(), std::time::Duration::ZERO);
    // This thread remembers both rule sets' answers for the same
    // User-Agents (`expr/memo.rs`), each under its own rule set.
    for _ in 0..2 {
        assert_eq!(classify(Some("curl/8.5.0"), false), Scanner);
        assert_eq!(ask(Some("curl/8.5.0"), false), Human);
        assert_eq!(classify(Some(gmail), false), GmailProxy);
        assert_eq!(ask(Some(gmail), false), Scanner);
    }
}

#[test]
fn the_three_matchers_compare_as_documented() {
    let rules = OpenerRules::parse(
        r#"
        head_is = "scanner"
        missing_user_agent_is = "scanner"
        click_burst_seconds = 5

        [[rule]]
        opener = "apple_proxy"
        user_agent_exact = ["Mozilla/5.0"]

        [[rule]]
        opener = "scanner"
        user_agent_prefix = ["Monitor/"]
        user_agent_contains = ["LinkCheck"]
        "#,
    )
    .expect("valid rules");
    let ask = |user_agent: &str| {
        rules.classify(&OpenerRequest {
            user_agent: Some(user_agent),
            ..OpenerRequest::default()
        })
    };
    // Exact strings compare after trimming, with case.
    assert_eq!(ask("  Mozilla/5.0\t"), AppleProxy);
    assert_eq!(ask("mozilla/5.0"), Human);
    assert_eq!(ask("Mozilla/5.0 (X11)"), Human);
    // Prefixes and substrings ignore case.
    assert_eq!(ask("monitor/2.0"), Scanner);
    assert_eq!(ask("A Monitor/2.0"), Human);
    assert_eq!(ask("Acme LINKCHECK 3"), Scanner);
}

/// The message of parsing `text`, which must be refused.
fn refusal(text: &str) -> String {
    OpenerRules::parse(text)
        .expect_err("the file must be refused")
        .to_string()
}

const HEADER: &str = "head_is = \"scanner\"\n\
                      missing_user_agent_is = \"scanner\"\n\
                      click_burst_seconds = 5\n";

#[test]
fn malformed_rules_files_are_refused_saying_where() {
    let cases: &[(&str, String, &[&str])] = &[
        (
            "unknown opener label",
            format!(
                "{HEADER}[[rule]]\nopener = \"scanner\"\nuser_agent_contains = [\"bot\"]\n\
                 [[rule]]\nopener = \"robot\"\nuser_agent_contains = [\"x\"]\n"
            ),
            &["line 8", "rule[1].opener", "\"robot\"", "not an opener"],
        ),
        (
            "unknown person opener",
            format!("{HEADER}person_openers = [\"human\", \"reader\"]\n"),
            &["person_openers", "\"reader\""],
        ),
        (
            "unknown opener at the top",
            HEADER.replace("head_is = \"scanner\"", "head_is = \"spam\""),
            &["line 1", "head_is", "\"spam\""],
        ),
        (
            "rule with no matcher",
            format!(
                "{HEADER}[[rule]]\nopener = \"scanner\"\nuser_agent_contains = [\"bot\"]\n\
                 [[rule]]\nopener = \"human\"\n"
            ),
            &["rule[1]", "no matcher"],
        ),
        (
            "rule with only empty lists",
            format!("{HEADER}[[rule]]\nopener = \"human\"\nuser_agent_exact = []\n"),
            &["rule[0]", "no matcher"],
        ),
        (
            "empty mark",
            format!(
                "{HEADER}[[rule]]\nopener = \"scanner\"\nuser_agent_contains = [\"bot\", \" \"]\n"
            ),
            &[
                "line 6",
                "rule[0].user_agent_contains[1]",
                "every User-Agent",
            ],
        ),
        (
            "bad CIDR",
            format!("{HEADER}apple_relay_ranges = [\"17.0.0.0/8\", \"17.0.0.0/40\"]\n"),
            &[
                "line 4",
                "apple_relay_ranges[1]",
                "\"17.0.0.0/40\"",
                "not an IP range",
            ],
        ),
        (
            "bad CIDR in a range rule",
            format!(
                "{HEADER}[[range_rule]]\nopener = \"scanner\"\nranges = [\"10.0.0.0/8\"]\n\
                 [[range_rule]]\nopener = \"scanner\"\nranges = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n"
            ),
            &[
                "line 9",
                "range_rule[1].ranges[1]",
                "\"10.0.0.0/99\"",
                "not an IP range",
            ],
        ),
        (
            "range rule without ranges",
            format!("{HEADER}[[range_rule]]\nopener = \"scanner\"\nranges = []\n"),
            &["range_rule[0]", "lists no ranges"],
        ),
        (
            "range rule without its ranges key",
            format!("{HEADER}[[range_rule]]\nopener = \"scanner\"\n"),
            &["range_rule[0]", "missing field `ranges`"],
        ),
        (
            "unknown opener in a range rule",
            format!("{HEADER}[[range_rule]]\nopener = \"robot\"\nranges = [\"10.0.0.0/8\"]\n"),
            &["line 5", "range_rule[0].opener", "\"robot\""],
        ),
        (
            "unknown key in a range rule",
            format!("{HEADER}[[range_rule]]\nopener = \"scanner\"\nrange = [\"10.0.0.0/8\"]\n"),
            &["line 6, range_rule[0].range:", "unknown field"],
        ),
        (
            "unknown key in a rule",
            format!(
                "{HEADER}[[rule]]\nopener = \"scanner\"\nuser_agent_contains = [\"bot\"]\n\
                 [[rule]]\nopener = \"scanner\"\nuser_agent_contain = [\"x\"]\n"
            ),
            &["line 9, rule[1].user_agent_contain:", "unknown field"],
        ),
        (
            "unknown key at the top",
            format!("{HEADER}click_burst = 5\n"),
            &["line 4, click_burst:", "unknown field"],
        ),
        (
            "missing key",
            "head_is = \"scanner\"\nclick_burst_seconds = 5\n".to_owned(),
            &["missing_user_agent_is"],
        ),
        (
            "wrong type",
            HEADER.replace("= 5", "= \"5\""),
            &["line 3", "click_burst_seconds"],
        ),
        ("not TOML", format!("{HEADER}[[rule]\n"), &["line 4"]),
    ];
    for (name, text, expected_parts) in cases {
        let message = refusal(text);
        for part in *expected_parts {
            assert!(message.contains(part), "{name}: {message:?} lacks {part:?}");
        }
    }
}

#[test]
fn malformed_range_files_are_refused_saying_which_file_and_line() {
    let file = temp_file("17.0.0.0/8,US,US-CA,Cupertino,\n\n17.0.0.0/33,US,US-CA,Cupertino,\n");
    let message = OpenerRules::load(None, Some(file.path()))
        .expect_err("bad line")
        .to_string();
    let path = file.path().display().to_string();
    for part in [path.as_str(), "line 3", "\"17.0.0.0/33\""] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }

    // An empty download is refused rather than taken as "no ranges".
    let empty = temp_file("# nothing yet\n\n");
    let message = OpenerRules::load(None, Some(empty.path()))
        .expect_err("empty file")
        .to_string();
    assert!(message.contains("no IP ranges"), "{message}");

    let missing = Path::new("/nonexistent/egress-ip-ranges.csv");
    let message = OpenerRules::load(None, Some(missing))
        .expect_err("missing file")
        .to_string();
    assert!(
        message.contains("cannot read /nonexistent/egress-ip-ranges.csv"),
        "{message}"
    );
}

#[test]
fn a_broken_rules_file_names_itself() {
    let file = temp_file(&format!(
        "{HEADER}[[rule]]\nopener = \"robot\"\nuser_agent_exact = [\"x\"]\n"
    ));
    let message = OpenerRules::load(Some(file.path()), None)
        .expect_err("bad rules")
        .to_string();
    let path = file.path().display().to_string();
    assert!(message.starts_with(&path), "{message}");
    assert!(message.contains("rule[0].opener"), "{message}");
}
