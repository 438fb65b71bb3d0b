//! The shipped rules (`assets/openers.toml`) against published User-Agents:
//! the table of `user_agents.toml`, each string with its source, and a few
//! made-up strings that pin the marks no published string exercises.

use std::net::IpAddr;

use super::*;

use Opener::*;

/// One published User-Agent and who sends it: a `[[case]]` of
/// `user_agents.toml`, whose header says where the strings come from.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    opener: String,
    user_agent: String,
    #[serde(default)]
    address: Option<IpAddr>,
    source: String,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseTable {
    case: Vec<Case>,
}

fn published_cases() -> Vec<Case> {
    let table: CaseTable = toml::from_str(include_str!("user_agents.toml"))
        .expect("user_agents.toml is a table of [[case]]s");
    table.case
}

impl Case {
    fn expected(&self) -> Opener {
        Opener::from_str_label(&self.opener)
            .unwrap_or_else(|| panic!("{:?} is not an opener label", self.opener))
    }

    fn request(&self) -> OpenerRequest<'_> {
        OpenerRequest {
            user_agent: Some(&self.user_agent),
            is_head: false,
            client_ip: self.address,
        }
    }

    fn describe(&self) -> String {
        let note = self.note.as_deref().unwrap_or("");
        format!(
            "{:?} from {:?} ({}; {note})",
            self.user_agent, self.address, self.source
        )
    }
}

#[test]
fn published_user_agents_are_classified_by_the_shipped_rules() {
    let rules = OpenerRules::builtin();
    let cases = published_cases();
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = rules.classify(&case.request());
            (got != case.expected()).then(|| {
                format!(
                    "{}: {} expected, {} given",
                    case.describe(),
                    case.opener,
                    got.as_str()
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Without an address the function existing callers use agrees.
    for case in cases.iter().filter(|case| case.address.is_none()) {
        assert_eq!(
            classify(Some(&case.user_agent), false),
            case.expected(),
            "{}",
            case.describe()
        );
    }
}

#[test]
fn the_published_table_cites_a_source_for_every_case_and_covers_every_opener() {
    let cases = published_cases();
    assert!(cases.len() >= 140, "{} cases", cases.len());
    for case in &cases {
        assert!(
            case.source.trim().len() > 10,
            "no source: {}",
            case.describe()
        );
    }
    for opener in Opener::ALL {
        assert!(
            cases.iter().any(|case| case.expected() == opener),
            "no case for {}",
            opener.as_str()
        );
    }
    // Every string appears once, so a case cannot silently shadow another.
    let mut seen = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(
            seen.insert((&case.user_agent, case.address)),
            "twice: {}",
            case.describe()
        );
    }
}

/// Strings made up to pin a mark that no published string above exercises:
/// they stand for the forms a rule is written to catch, not for anything a
/// client has been seen to send.
const CONSTRUCTED: &[(&str, &str, Opener)] = &[
    (
        "Gmail's proxy behind a newer browser string keeps its mark",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/124.0.0.0 Safari/537.36 (via ggpht.com GoogleImageProxy)",
        GmailProxy,
    ),
    (
        "a Google crawler is never Gmail's proxy, whatever else it says",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) GoogleImageProxy",
        Scanner,
    ),
    (
        "Google Read Aloud",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/138.0.0.0 Mobile Safari/537.36 (compatible; Google-Read-Aloud)",
        Scanner,
    ),
    (
        "Google's inspection tool",
        "Mozilla/5.0 (compatible; Google-InspectionTool/1.0)",
        Scanner,
    ),
    ("Mimecast", "Mimecast URL Protect", Scanner),
    ("Proofpoint", "Proofpoint URL Defense", Scanner),
    (
        "Cisco",
        "Mozilla/5.0 (compatible; Cisco Secure Email URL Scanner)",
        Scanner,
    ),
    ("IronPort", "IronPort-URL-Filter/1.0", Scanner),
    (
        "Trend Micro",
        "Mozilla/5.0 (Windows NT 10.0) Trend Micro Email Security",
        Scanner,
    ),
    ("Sophos", "Sophos Email Time-of-Click/1.0", Scanner),
    (
        "Office's existence probe",
        "Microsoft Office Existence Discovery",
        Scanner,
    ),
    (
        "Office's protocol probe",
        "Microsoft Office Protocol Discovery",
        Scanner,
    ),
    (
        "HubSpot's link check",
        "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
        Scanner,
    ),
    (
        "PowerShell",
        "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1",
        Scanner,
    ),
    ("Node's fetch", "node", Scanner),
];

#[test]
fn constructed_strings_pin_the_marks_no_published_string_covers() {
    for (name, user_agent, expected) in CONSTRUCTED {
        assert_eq!(
            classify(Some(user_agent), false),
            *expected,
            "{name}: {user_agent:?}"
        );
    }
}

#[test]
fn head_requests_and_missing_user_agents_are_scanners() {
    for user_agent in [None, Some(""), Some("   ")] {
        assert_eq!(classify(user_agent, false), Scanner, "{user_agent:?}");
    }
    // Even a person's client, or Apple's prefetch, is a scanner when it only
    // asks whether the image exists.
    for case in published_cases() {
        assert_eq!(
            classify(Some(&case.user_agent), true),
            Scanner,
            "{}, HEAD",
            case.describe()
        );
    }
}
