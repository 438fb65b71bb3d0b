//! The opener rules: read from a TOML file (`assets/openers.toml` unless the
//! operator gives another), checked once when loaded, then applied to every
//! request.
//!
//! Loading does all the work that can fail or cost (lower-casing marks,
//! parsing and sorting IP ranges), so classifying a request is a method
//! check, a few binary searches and a walk over short string lists, and
//! cannot fail. `docs/openers.md` is the operator's description of the
//! file; this code and that document change together.

use std::cell::RefCell;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{OpenerRulesError, line_of, place};
use super::ip_ranges::{IpRange, IpRanges, parse_cidr, parse_range_list};
use super::{Opener, OpenerRequest};
use crate::expr::memo::{Memo, remembered};

/// The rules opentime ships, checked by this module's tests, so that a
/// broken file fails `cargo test` rather than a server start.
const BUILTIN_RULES: &str = include_str!("../../../assets/openers.toml");

static BUILTIN: LazyLock<OpenerRules> = LazyLock::new(|| {
    OpenerRules::parse(BUILTIN_RULES).expect("assets/openers.toml is valid: a unit test parses it")
});

/// Each parsed rule set's number, which its remembered answers carry.
static RULE_SETS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The opener each User-Agent's marks gave, per rule set: `None` for
    /// a User-Agent that no rule matches.
    static BY_USER_AGENT: RefCell<Memo<Option<Opener>>> = RefCell::new(Memo::new());
}

/// A loaded, checked rule set.
#[derive(Debug, Clone)]
pub struct OpenerRules {
    head_is: Opener,
    missing_user_agent_is: Opener,
    click_burst: Duration,
    /// The classes whose requests a person is behind (`person_openers`).
    people: Vec<Opener>,
    /// From the file's `apple_relay_ranges` and any range file.
    apple_relay: IpRanges,
    /// The `[[range_rule]]` tables, in file order; the first whose ranges
    /// hold the client's address decides.
    range_rules: Vec<RangeRule>,
    /// In file order; the first that matches decides.
    rules: Vec<Rule>,
    /// This rule set's number, under which this thread remembers what the
    /// rules made of a User-Agent (`expr/memo.rs`). Copies share it: their
    /// rules are the same (only their address ranges may grow, and those
    /// are checked before the User-Agent).
    scope: u64,
}

impl OpenerRules {
    /// The rules shipped in `assets/openers.toml`, compiled in with
    /// `include_str!` and parsed on first use.
    pub fn builtin() -> &'static OpenerRules {
        &BUILTIN
    }

    /// Parses a rules file's text. Errors name the line and the key, such as
    /// `rule[3].opener` (rules counted from 0).
    pub fn parse(text: &str) -> Result<OpenerRules, OpenerRulesError> {
        let file = deserialize(text)?;
        let check = Checker { text };
        Ok(OpenerRules {
            head_is: check.opener(&file.head_is, "head_is")?,
            missing_user_agent_is: check
                .opener(&file.missing_user_agent_is, "missing_user_agent_is")?,
            click_burst: Duration::from_secs(file.click_burst_seconds),
            people: match &file.person_openers {
                Some(labels) => labels
                    .iter()
                    .map(|label| check.opener(label, "person_openers"))
                    .collect::<Result<_, _>>()?,
                None => Opener::ALL
                    .into_iter()
                    .filter(|opener| opener.is_human_open())
                    .collect(),
            },
            apple_relay: check.ranges(&file.apple_relay_ranges, "apple_relay_ranges")?,
            range_rules: (file.range_rule.iter().enumerate())
                .map(|(index, table)| check.range_rule(index, table))
                .collect::<Result<_, _>>()?,
            rules: (file.rule.iter().enumerate())
                .map(|(index, table)| check.rule(index, table))
                .collect::<Result<_, _>>()?,
            scope: RULE_SETS.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Loads the rules file if given (else the built-in rules), then adds
    /// the Apple relay ranges of `apple_ranges_file` if given: Apple's
    /// `egress-ip-ranges.csv` or a plain list of one CIDR a line.
    pub fn load(
        rules_file: Option<&Path>,
        apple_ranges_file: Option<&Path>,
    ) -> Result<OpenerRules, OpenerRulesError> {
        let mut rules = match rules_file {
            Some(path) => OpenerRules::parse(&read(path)?).map_err(|error| error.in_file(path))?,
            None => OpenerRules::builtin().clone(),
        };
        if let Some(path) = apple_ranges_file {
            let ranges = read_range_file(&read(path)?).map_err(|error| error.in_file(path))?;
            rules.apple_relay.extend(ranges);
        }
        Ok(rules)
    }

    /// Who is behind `request`. In order: a HEAD request is `head_is`; an
    /// address inside an Apple relay range is Apple's proxy, and an address
    /// inside a range rule's ranges gets that rule's opener, whatever the
    /// User-Agent; a missing or blank User-Agent is
    /// `missing_user_agent_is`; then the first rule that matches the
    /// User-Agent decides; a User-Agent no rule matches is a person's.
    pub fn classify(&self, request: &OpenerRequest) -> Opener {
        if request.is_head {
            return self.head_is;
        }
        if let Some(opener) = request
            .client_ip
            .and_then(|address| self.by_address(address))
        {
            return opener;
        }
        let Some(user_agent) = request
            .user_agent
            .map(str::trim)
            .filter(|agent| !agent.is_empty())
        else {
            return self.missing_user_agent_is;
        };
        let matched = remembered(&BY_USER_AGENT, self.scope, user_agent, || {
            let lower = user_agent.to_ascii_lowercase();
            self.rules
                .iter()
                .find(|rule| rule.matches(user_agent, &lower))
                .map(|rule| rule.opener)
        });
        matched.unwrap_or(Opener::Human)
    }

    /// A click within this long of the same recipient's previous click on a
    /// different link is a scanner's.
    pub fn click_burst(&self) -> Duration {
        self.click_burst
    }

    /// Whether a person is behind a request of this class, by the file's
    /// `person_openers` (by default [`Opener::is_human_open`]): only such
    /// requests lock content, draw codes, start timers and count as a
    /// person's engagement.
    pub fn is_person(&self, opener: Opener) -> bool {
        self.people.contains(&opener)
    }

    /// Who is behind a request from `address` whatever its User-Agent: Apple's
    /// proxy inside Apple's relay ranges, else the opener of the first range
    /// rule holding it; `None` when no range holds it.
    fn by_address(&self, address: std::net::IpAddr) -> Option<Opener> {
        if self.apple_relay.contains(address) {
            return Some(Opener::AppleProxy);
        }
        self.range_rules
            .iter()
            .find(|rule| rule.ranges.contains(address))
            .map(|rule| rule.opener)
    }
}

/// One `[[range_rule]]`: requests from these addresses are this opener's.
#[derive(Debug, Clone)]
struct RangeRule {
    opener: Opener,
    ranges: IpRanges,
}

/// One `[[rule]]`, its marks ready to compare: exact strings as written
/// (trimmed), substrings and prefixes lower-cased.
#[derive(Debug, Clone)]
struct Rule {
    opener: Opener,
    exact: Vec<String>,
    contains: Vec<String>,
    prefix: Vec<String>,
}

impl Rule {
    /// Whether any one of the rule's marks matches. `user_agent` is
    /// trimmed; `lower` is the same, lower-cased.
    fn matches(&self, user_agent: &str, lower: &str) -> bool {
        self.exact.iter().any(|exact| exact == user_agent)
            || self
                .prefix
                .iter()
                .any(|prefix| lower.starts_with(prefix.as_str()))
            || self
                .contains
                .iter()
                .any(|mark| lower.contains(mark.as_str()))
    }
}

/// Checks the strings of a deserialized file, locating any mistake by the
/// line of `text` it is on.
struct Checker<'a> {
    text: &'a str,
}

impl Checker<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> Option<usize> {
        Some(line_of(self.text, span.start))
    }

    fn opener(&self, label: &Spanned<String>, field: &str) -> Result<Opener, OpenerRulesError> {
        Opener::from_str_label(label.get_ref()).ok_or_else(|| OpenerRulesError::UnknownOpener {
            place: place(self.line(label.span()), field),
            label: label.get_ref().clone(),
        })
    }

    /// The CIDR blocks of the list at key `field`, each checked.
    fn ranges(&self, cidrs: &[Spanned<String>], field: &str) -> Result<IpRanges, OpenerRulesError> {
        let mut ranges = Vec::with_capacity(cidrs.len());
        for (index, cidr) in cidrs.iter().enumerate() {
            let range =
                parse_cidr(cidr.get_ref()).map_err(|reason| OpenerRulesError::BadRange {
                    place: place(self.line(cidr.span()), &format!("{field}[{index}]")),
                    text: cidr.get_ref().clone(),
                    reason,
                })?;
            ranges.push(range);
        }
        let mut set = IpRanges::default();
        set.extend(ranges);
        Ok(set)
    }

    fn range_rule(
        &self,
        index: usize,
        table: &Spanned<RangeRuleTable>,
    ) -> Result<RangeRule, OpenerRulesError> {
        let rule_line = self.line(table.span());
        let table = table.get_ref();
        let field = format!("range_rule[{index}]");
        // An empty list would be a rule that never applies: a range file
        // that failed to paste, not a wish.
        if table.ranges.is_empty() {
            return Err(OpenerRulesError::NoRangesInRule {
                place: place(rule_line, &field),
            });
        }
        Ok(RangeRule {
            opener: self.opener(&table.opener, &format!("{field}.opener"))?,
            ranges: self.ranges(&table.ranges, &format!("{field}.ranges"))?,
        })
    }

    fn rule(&self, index: usize, table: &Spanned<RuleTable>) -> Result<Rule, OpenerRulesError> {
        let rule_line = self.line(table.span());
        let table = table.get_ref();
        let field = |key: &str| format!("rule[{index}].{key}");
        let rule = Rule {
            opener: self.opener(&table.opener, &field("opener"))?,
            exact: self.marks(&table.user_agent_exact, &field("user_agent_exact"), false)?,
            contains: self.marks(
                &table.user_agent_contains,
                &field("user_agent_contains"),
                true,
            )?,
            prefix: self.marks(&table.user_agent_prefix, &field("user_agent_prefix"), true)?,
        };
        if rule.exact.is_empty() && rule.contains.is_empty() && rule.prefix.is_empty() {
            return Err(OpenerRulesError::NoMatcher {
                place: place(rule_line, &format!("rule[{index}]")),
            });
        }
        Ok(rule)
    }

    /// The trimmed strings of one matcher list, lower-cased when they are
    /// compared ignoring case.
    fn marks(
        &self,
        list: &[Spanned<String>],
        field: &str,
        lower: bool,
    ) -> Result<Vec<String>, OpenerRulesError> {
        let mut marks = Vec::with_capacity(list.len());
        for (position, mark) in list.iter().enumerate() {
            let trimmed = mark.get_ref().trim();
            if trimmed.is_empty() {
                return Err(OpenerRulesError::EmptyMatcher {
                    place: place(self.line(mark.span()), &format!("{field}[{position}]")),
                });
            }
            marks.push(if lower {
                trimmed.to_ascii_lowercase()
            } else {
                trimmed.to_owned()
            });
        }
        Ok(marks)
    }
}

/// The file as written. Strings are kept with their place in the file so
/// that checking them can say which line is wrong, and unknown keys are
/// refused because a misspelt key would otherwise be a rule silently
/// missing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    head_is: Spanned<String>,
    missing_user_agent_is: Spanned<String>,
    click_burst_seconds: u64,
    #[serde(default)]
    person_openers: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    apple_relay_ranges: Vec<Spanned<String>>,
    #[serde(default)]
    range_rule: Vec<Spanned<RangeRuleTable>>,
    #[serde(default)]
    rule: Vec<Spanned<RuleTable>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeRuleTable {
    opener: Spanned<String>,
    ranges: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    opener: Spanned<String>,
    #[serde(default)]
    user_agent_exact: Vec<Spanned<String>>,
    #[serde(default)]
    user_agent_contains: Vec<Spanned<String>>,
    #[serde(default)]
    user_agent_prefix: Vec<Spanned<String>>,
}

/// Reads the TOML, naming the key path (`rule[3].user_agent_contans`) as
/// well as the line of any problem, since a rules file repeats the same keys
/// in every rule.
fn deserialize(text: &str) -> Result<RulesFile, OpenerRulesError> {
    let format_error = |error: &toml::de::Error, field: &str| OpenerRulesError::Format {
        place: place(error.span().map(|span| line_of(text, span.start)), field),
        message: error.message().trim_end().to_owned(),
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|error| format_error(&error, ""))?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = key_path(error.path());
        format_error(error.inner(), &field)
    })
}

/// `rule[3].opener` from the path serde followed. `toml::Spanned`, which
/// keeps each string's place, shows up in the path as a private key of its
/// own; it means nothing to the reader, so it is left out.
fn key_path(path: &serde_path_to_error::Path) -> String {
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } if key.starts_with("$__") => {}
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    text
}

fn read(path: &Path) -> Result<String, OpenerRulesError> {
    std::fs::read_to_string(path).map_err(|error| OpenerRulesError::Read {
        path: path.to_path_buf(),
        error,
    })
}

fn read_range_file(text: &str) -> Result<Vec<IpRange>, OpenerRulesError> {
    let ranges = parse_range_list(text).map_err(|bad| OpenerRulesError::BadRange {
        place: place(Some(bad.line), ""),
        text: bad.text,
        reason: bad.reason,
    })?;
    if ranges.is_empty() {
        return Err(OpenerRulesError::NoRanges);
    }
    Ok(ranges)
}
