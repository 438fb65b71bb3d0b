//! Who fetched the image: a person, a mail provider's image proxy, or a
//! security scanner.
//!
//! The difference matters because only a person's open may lock content or
//! count as engagement; proxies and scanners fetch images whether or not
//! anyone reads the email. This is a first cut from the request alone (the
//! User-Agent and the method); refining it with network ranges and timing is
//! left to a later change.

/// Who fetched the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opener {
    Human,
    AppleProxy,
    GmailProxy,
    YahooProxy,
    Scanner,
}

impl Opener {
    /// The label used in metrics and expressions.
    pub fn as_str(self) -> &'static str {
        match self {
            Opener::Human => "human",
            Opener::AppleProxy => "apple_proxy",
            Opener::GmailProxy => "gmail_proxy",
            Opener::YahooProxy => "yahoo_proxy",
            Opener::Scanner => "scanner",
        }
    }
}

/// Apple Mail Privacy Protection prefetches every image with exactly this
/// User-Agent, and no real client sends it bare.
pub const APPLE_PROXY_USER_AGENT: &str = "Mozilla/5.0";

/// Marks of the image proxies of Gmail ("... (via ggpht.com
/// GoogleImageProxy)") and Yahoo Mail. They fetch on behalf of a person who
/// opened the email, but hide who and from where.
const GMAIL_PROXY_MARK: &str = "googleimageproxy";
const YAHOO_PROXY_MARK: &str = "yahoomailproxy";

/// Lower-case fragments of User-Agents that fetch without a person reading:
/// link and attachment scanners of mail gateways, link-preview bots, generic
/// crawlers and HTTP libraries. Matched anywhere in the lower-cased
/// User-Agent, after the proxies above.
pub const SCANNER_MARKS: &[&str] = &[
    // Mail security gateways and Office's own link checks.
    "microsoft office existence discovery",
    "microsoft office protocol discovery",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "forcepoint",
    "ironport",
    // Link-preview expanders of chat apps and social networks.
    "slackbot",
    "twitterbot",
    "facebookexternalhit",
    "linkedinbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "skypeuripreview",
    "preview",
    // Crawlers of every kind call themselves so.
    "bot",
    "crawler",
    "spider",
    // Headless browsers and HTTP libraries: scripts, not people.
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
];

/// Classifies one image request. HEAD requests and requests without a
/// User-Agent are scanners: mail clients GET images and always say who they
/// are.
pub fn classify(user_agent: Option<&str>, is_head: bool) -> Opener {
    if is_head {
        return Opener::Scanner;
    }
    let Some(user_agent) = user_agent.map(str::trim).filter(|agent| !agent.is_empty()) else {
        return Opener::Scanner;
    };
    if user_agent == APPLE_PROXY_USER_AGENT {
        return Opener::AppleProxy;
    }
    let lower = user_agent.to_ascii_lowercase();
    if lower.contains(GMAIL_PROXY_MARK) {
        Opener::GmailProxy
    } else if lower.contains(YAHOO_PROXY_MARK) {
        Opener::YahooProxy
    } else if SCANNER_MARKS.iter().any(|mark| lower.contains(mark)) {
        Opener::Scanner
    } else {
        Opener::Human
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openers_are_told_apart_by_user_agent_and_method() {
        use Opener::*;
        let cases: &[(Option<&str>, bool, Opener)] = &[
            // People, in their mail clients.
            (
                Some(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
                     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
                ),
                false,
                Human,
            ),
            (
                Some("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"),
                false,
                Human,
            ),
            (
                Some("Mozilla/4.0 (compatible; ms-office; MSOffice 16)"),
                false,
                Human,
            ),
            (
                Some(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                     (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
                ),
                false,
                Human,
            ),
            (
                Some(
                    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0",
                ),
                false,
                Human,
            ),
            // Proxies.
            (Some("Mozilla/5.0"), false, AppleProxy),
            (Some(" Mozilla/5.0 "), false, AppleProxy),
            (
                Some(
                    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 \
                     (via ggpht.com GoogleImageProxy)",
                ),
                false,
                GmailProxy,
            ),
            (
                Some("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"),
                false,
                YahooProxy,
            ),
            // Scanners.
            (Some("Mozilla/5.0"), true, Scanner),
            (None, false, Scanner),
            (Some(""), false, Scanner),
            (Some("   "), false, Scanner),
            (Some("Microsoft Office Existence Discovery"), false, Scanner),
            (
                Some("Mozilla/5.0 (compatible; Barracuda Sentinel)"),
                false,
                Scanner,
            ),
            (Some("Mimecast URL Protect"), false, Scanner),
            (Some("Proofpoint URL Defense"), false, Scanner),
            (Some("python-requests/2.31.0"), false, Scanner),
            (Some("curl/8.5.0"), false, Scanner),
            (Some("Go-http-client/1.1"), false, Scanner),
            (Some("Wget/1.21.4"), false, Scanner),
            (
                Some("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
                false,
                Scanner,
            ),
            (Some("Twitterbot/1.0"), false, Scanner),
            (
                Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
                false,
                Scanner,
            ),
            (Some("SomeCrawler/3.0"), false, Scanner),
            (
                Some("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"),
                false,
                Scanner,
            ),
            (
                Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0"),
                false,
                Scanner,
            ),
        ];
        for (user_agent, is_head, expected) in cases {
            assert_eq!(
                classify(*user_agent, *is_head),
                *expected,
                "{user_agent:?}, HEAD: {is_head}"
            );
        }
    }

    #[test]
    fn scanner_marks_are_lower_case_because_matching_lower_cases_the_user_agent() {
        for mark in SCANNER_MARKS {
            assert_eq!(*mark, mark.to_ascii_lowercase());
        }
    }
}
