//! Who fetched an email's image or followed its link: a person, a mail
//! provider's image proxy, or a machine that fetches whether or not anyone
//! reads.
//!
//! The difference matters because only a person's open may lock content,
//! start a timer, draw a coupon or count as engagement; Apple's privacy
//! prefetch and security scanners fetch every image and link of an email
//! the moment it arrives. How to tell them apart is data, not code: the
//! rules live in `assets/openers.toml` (compiled in), by User-Agent and by
//! address, an operator may give their own file and Apple's published relay
//! ranges instead, and `docs/openers.md` describes the format. This file
//! holds the answer ([`Opener`]) and the question ([`OpenerRequest`]);
//! `rules.rs` reads and applies a rules file, `ip_ranges.rs` looks addresses
//! up in CIDR ranges, and `error.rs` says what is wrong with a file.
//! `user_agent_tests.rs` checks the shipped rules against
//! `user_agents.toml`, a table of published User-Agents with the source of
//! each.

mod error;
mod ip_ranges;
mod rules;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod user_agent_tests;

pub use error::OpenerRulesError;
pub use rules::OpenerRules;

/// Who fetched the image or followed the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opener {
    Human,
    AppleProxy,
    GmailProxy,
    YahooProxy,
    Scanner,
}

impl Opener {
    /// Every opener, in the order of [`Opener::as_str`]'s documentation.
    pub(crate) const ALL: [Opener; 5] = [
        Opener::Human,
        Opener::AppleProxy,
        Opener::GmailProxy,
        Opener::YahooProxy,
        Opener::Scanner,
    ];

    /// The label used in metrics, expressions and rules files.
    pub fn as_str(self) -> &'static str {
        match self {
            Opener::Human => "human",
            Opener::AppleProxy => "apple_proxy",
            Opener::GmailProxy => "gmail_proxy",
            Opener::YahooProxy => "yahoo_proxy",
            Opener::Scanner => "scanner",
        }
    }

    /// The opener whose [`Opener::as_str`] is `label`, exactly.
    pub fn from_str_label(label: &str) -> Option<Opener> {
        Opener::ALL
            .into_iter()
            .find(|opener| opener.as_str() == label)
    }

    /// True when a person is behind the request: `Human`, and Gmail's and
    /// Yahoo's proxies, which fetch when a person opens the email. Apple's
    /// prefetch fetches on delivery whether or not anyone reads, and
    /// scanners never are people.
    pub fn is_human_open(self) -> bool {
        match self {
            Opener::Human | Opener::GmailProxy | Opener::YahooProxy => true,
            Opener::AppleProxy | Opener::Scanner => false,
        }
    }
}

/// What the server knows of a request when it decides who made it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenerRequest<'a> {
    pub user_agent: Option<&'a str>,
    /// HEAD requests are link checkers': mail clients GET images.
    pub is_head: bool,
    /// The peer's address, or the client's from a trusted proxy header;
    /// `None` when unknown, in which case no range rule applies.
    pub client_ip: Option<std::net::IpAddr>,
}

/// Classifies a request with the built-in rules and no address, for callers
/// that know only the User-Agent and the method.
pub fn classify(user_agent: Option<&str>, is_head: bool) -> Opener {
    OpenerRules::builtin().classify(&OpenerRequest {
        user_agent,
        is_head,
        client_ip: None,
    })
}
