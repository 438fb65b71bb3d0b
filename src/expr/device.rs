//! `device`: what kind of device, operating system and mail client fetched
//! the image, guessed from the User-Agent.
//!
//! Mail clients say little about themselves, and image proxies (Gmail, Yahoo,
//! Apple's privacy prefetch) hide the device entirely, so every field has an
//! `"unknown"` value and rules should treat it as the common case, not an
//! error. Webmail read in a browser shows the browser, not the mail service,
//! so its client is `"unknown"` too.

use std::cell::RefCell;

use minijinja::Value;

use super::memo::{Memo, remembered};
use super::opener::{Opener, classify};

thread_local! {
    /// The device each User-Agent gave, in this thread.
    static DEVICES: RefCell<Memo<Device>> = RefCell::new(Memo::new());
}

/// The device behind a request, as far as its User-Agent tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Device {
    /// `"mobile"`, `"tablet"`, `"desktop"` or `"unknown"`.
    pub kind: &'static str,
    /// `"ios"`, `"android"`, `"windows"`, `"macos"`, `"linux"` or `"unknown"`.
    pub os: &'static str,
    /// `"apple_mail"`, `"outlook"`, `"gmail"`, `"yahoo"`, `"thunderbird"`,
    /// `"samsung_email"` or `"unknown"`.
    pub client: &'static str,
}

/// The label of a field that the User-Agent does not tell.
pub const UNKNOWN: &str = "unknown";

/// Tokens of mail clients, checked in order, in the lower-cased User-Agent.
/// Samsung Email and Outlook for Android run on Android WebViews, and the
/// Gmail proxy claims to be Firefox, so the specific tokens come before any
/// guess from the platform.
const CLIENT_MARKS: &[(&str, &str)] = &[
    ("thunderbird", "thunderbird"),
    ("samsungemail", "samsung_email"),
    ("samsung email", "samsung_email"),
    ("com.samsung.android.email", "samsung_email"),
    ("outlook", "outlook"),
    ("ms-office", "outlook"),
    ("msoffice", "outlook"),
    ("microsoft office", "outlook"),
    ("com.google.android.gm", "gmail"),
    ("gmail", "gmail"),
    ("yahoomail", "yahoo"),
    ("ymail", "yahoo"),
];

/// Tokens of web browsers. Apple Mail uses the system WebKit without them,
/// which is how it is told apart from Safari and in-app browsers.
const BROWSER_MARKS: &[&str] = &[
    "safari", "chrome", "crios", "firefox", "fxios", "edg", "opr/", "gsa/",
];

impl Device {
    /// What `user_agent` tells; all `"unknown"` without one.
    pub fn from_user_agent(user_agent: Option<&str>) -> Device {
        let Some(user_agent) = user_agent.map(str::trim).filter(|agent| !agent.is_empty()) else {
            return Device::unknown();
        };
        remembered(&DEVICES, 0, user_agent, || Device::guess(user_agent))
    }

    /// What a trimmed, non-empty `user_agent` tells, worked out.
    fn guess(user_agent: &str) -> Device {
        // The image proxies tell which mail service the reader uses and
        // nothing about their device: Apple's prefetch sends a bare
        // "Mozilla/5.0", and Gmail's proxy claims to be Firefox on Windows XP
        // whether the reader is on a phone or not.
        let proxy_client = match classify(Some(user_agent), false) {
            Opener::AppleProxy => Some("apple_mail"),
            Opener::GmailProxy => Some("gmail"),
            Opener::YahooProxy => Some("yahoo"),
            Opener::Human | Opener::Scanner => None,
        };
        if let Some(client) = proxy_client {
            return Device {
                client,
                ..Device::unknown()
            };
        }
        let lower = user_agent.to_ascii_lowercase();
        let os = operating_system(&lower);
        let client = mail_client(&lower, os);
        let kind = device_kind(&lower, os, client);
        Device { kind, os, client }
    }

    pub fn unknown() -> Device {
        Device {
            kind: UNKNOWN,
            os: UNKNOWN,
            client: UNKNOWN,
        }
    }

    /// The value expressions see as `device`.
    pub fn to_value(self) -> Value {
        super::fields::Names::value(vec![
            ("kind", Value::from(self.kind)),
            ("os", Value::from(self.os)),
            ("client", Value::from(self.client)),
        ])
    }
}

impl Default for Device {
    fn default() -> Device {
        Device::unknown()
    }
}

/// Tokens of iOS. A bare "ios" would also match words like "radios", so the
/// app-style spellings ("Outlook-iOS/...") carry their punctuation.
const IOS_MARKS: &[&str] = &["iphone", "ipad", "ipod", "-ios/", " ios "];

fn operating_system(lower: &str) -> &'static str {
    // iOS says "like Mac OS X" and Android says "Linux", so the mobile
    // systems are checked before the desktop ones they borrow words from.
    if IOS_MARKS.iter().any(|mark| lower.contains(mark)) {
        "ios"
    } else if lower.contains("android") {
        "android"
    } else if lower.contains("windows") || lower.contains("ms-office") || lower.contains("msoffice")
    {
        // Outlook's "ms-office" marker only exists in Office for Windows.
        "windows"
    } else if lower.contains("macintosh") || lower.contains("mac os x") {
        "macos"
    } else if lower.contains("linux") || lower.contains("x11") || lower.contains("cros ") {
        "linux"
    } else {
        UNKNOWN
    }
}

fn mail_client(lower: &str, os: &str) -> &'static str {
    if let Some((_, client)) = CLIENT_MARKS.iter().find(|(mark, _)| lower.contains(mark)) {
        return client;
    }
    let apple_webkit = lower.contains("applewebkit");
    let browser = BROWSER_MARKS.iter().any(|mark| lower.contains(mark));
    if matches!(os, "ios" | "macos") && apple_webkit && !browser {
        "apple_mail"
    } else {
        UNKNOWN
    }
}

fn device_kind(lower: &str, os: &str, client: &str) -> &'static str {
    let says_mobile = lower.contains("mobile");
    if lower.contains("ipad") || lower.contains("tablet") || (os == "android" && !says_mobile) {
        "tablet"
    } else if lower.contains("iphone")
        || lower.contains("ipod")
        || lower.contains("windows phone")
        || says_mobile
        || os == "android"
    {
        "mobile"
    } else if matches!(os, "windows" | "macos" | "linux") || client == "thunderbird" {
        "desktop"
    } else {
        UNKNOWN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_read_from_real_user_agents() {
        // (kind, os, client)
        type Expected = (&'static str, &'static str, &'static str);
        let cases: &[(&str, Option<&str>, Expected)] = &[
            (
                "iPhone Mail",
                Some(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
                     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
                ),
                ("mobile", "ios", "apple_mail"),
            ),
            (
                "iPad Mail",
                Some(
                    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) \
                     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
                ),
                ("tablet", "ios", "apple_mail"),
            ),
            (
                "Safari on iPhone (webmail)",
                Some(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
                     (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
                ),
                ("mobile", "ios", "unknown"),
            ),
            (
                "macOS Apple Mail",
                Some(
                    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                     (KHTML, like Gecko)",
                ),
                ("desktop", "macos", "apple_mail"),
            ),
            (
                "Android Gmail app",
                Some(
                    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240305.019; wv) \
                     AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.119 \
                     Mobile Safari/537.36 com.google.android.gm",
                ),
                ("mobile", "android", "gmail"),
            ),
            (
                "Android tablet browser",
                Some(
                    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 \
                     (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                ),
                ("tablet", "android", "unknown"),
            ),
            (
                "Samsung Email",
                Some(
                    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 \
                     (KHTML, like Gecko) Chrome/115.0.0.0 Mobile Safari/537.36 SamsungEmail/6.1.90.16",
                ),
                ("mobile", "android", "samsung_email"),
            ),
            (
                "Outlook desktop",
                Some("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"),
                ("desktop", "windows", "outlook"),
            ),
            (
                "Outlook desktop, ms-office",
                Some("Mozilla/4.0 (compatible; ms-office; MSOffice 16)"),
                ("desktop", "windows", "outlook"),
            ),
            (
                "Outlook for iOS",
                Some("Outlook-iOS/723.4027091.prod.iphone (4.2409.0)"),
                ("mobile", "ios", "outlook"),
            ),
            (
                "Windows Chrome (webmail)",
                Some(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                     (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
                ),
                ("desktop", "windows", "unknown"),
            ),
            (
                "Thunderbird on Linux",
                Some(
                    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0",
                ),
                ("desktop", "linux", "thunderbird"),
            ),
            (
                "Gmail image proxy",
                Some(
                    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 \
                     (via ggpht.com GoogleImageProxy)",
                ),
                // The proxy pretends to be old Firefox on Windows XP.
                ("unknown", "unknown", "gmail"),
            ),
            (
                "Yahoo image proxy",
                Some("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"),
                ("unknown", "unknown", "yahoo"),
            ),
            (
                "Apple privacy prefetch",
                Some("Mozilla/5.0"),
                ("unknown", "unknown", "apple_mail"),
            ),
            ("no User-Agent", None, ("unknown", "unknown", "unknown")),
            (
                "curl",
                Some("curl/8.5.0"),
                ("unknown", "unknown", "unknown"),
            ),
        ];
        for (name, user_agent, (kind, os, client)) in cases {
            let device = Device::from_user_agent(*user_agent);
            assert_eq!(
                (device.kind, device.os, device.client),
                (*kind, *os, *client),
                "{name}: {user_agent:?}"
            );
        }
    }

    #[test]
    fn expressions_see_the_three_fields() {
        let value = Device::from_user_agent(Some("Mozilla/5.0")).to_value();
        assert_eq!(
            value.get_attr("client").expect("client"),
            Value::from("apple_mail")
        );
        assert_eq!(
            value.get_attr("kind").expect("kind"),
            Value::from("unknown")
        );
        assert_eq!(value.get_attr("os").expect("os"), Value::from("unknown"));
    }
}
