//! The HTML an author pastes into an email platform for one template: a
//! link around an image, with the platform's merge tag where each
//! recipient's token goes (`docs/embedding.md`). `opentime embed` and
//! `GET /api/v1/templates/{name}/embed` both call [`embed_html`]; where the
//! base URL comes from is theirs to decide.
//!
//! Pure: it reads a loaded [`Template`] and writes a string.

use crate::open::{MAX_EMAIL_ID_LEN, is_email_id};
use crate::template::{AccessMode, Template};

/// The profile attribute that holds the token unless the author names
/// another: the column `opentime sign --csv` adds.
pub const DEFAULT_ATTRIBUTE: &str = "ot_token";

/// The longest attribute name taken.
const MAX_ATTRIBUTE_LEN: usize = 64;

/// An email platform, by the merge syntax it fills a profile attribute in
/// with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Esp {
    Braze,
    Sfmc,
    Klaviyo,
    Mailchimp,
    Customerio,
    Iterable,
    Hubspot,
    Sendgrid,
    /// No platform: a literal `TOKEN` to replace by hand.
    Plain,
}

impl Esp {
    /// Every platform, in the order the documentation lists them.
    pub const ALL: [Esp; 9] = [
        Esp::Braze,
        Esp::Sfmc,
        Esp::Klaviyo,
        Esp::Mailchimp,
        Esp::Customerio,
        Esp::Iterable,
        Esp::Hubspot,
        Esp::Sendgrid,
        Esp::Plain,
    ];

    /// The name `--esp` and `?esp=` take.
    pub fn name(self) -> &'static str {
        match self {
            Esp::Braze => "braze",
            Esp::Sfmc => "sfmc",
            Esp::Klaviyo => "klaviyo",
            Esp::Mailchimp => "mailchimp",
            Esp::Customerio => "customerio",
            Esp::Iterable => "iterable",
            Esp::Hubspot => "hubspot",
            Esp::Sendgrid => "sendgrid",
            Esp::Plain => "plain",
        }
    }

    /// The platform named `name` (as [`Esp::name`] spells it, in any case).
    pub fn parse(name: &str) -> Result<Esp, EmbedError> {
        Esp::ALL
            .into_iter()
            .find(|esp| esp.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| EmbedError::UnknownEsp(name.to_string()))
    }

    /// The platform's merge syntax for the profile attribute `attribute`,
    /// which the platform replaces with each recipient's value at send.
    pub fn merge_tag(self, attribute: &str) -> String {
        match self {
            Esp::Braze => format!("{{{{custom_attribute.${{{attribute}}}}}}}"),
            Esp::Sfmc => format!("%%{attribute}%%"),
            Esp::Klaviyo => format!("{{{{ person|lookup:'{attribute}' }}}}"),
            // Mailchimp's merge tags are upper case.
            Esp::Mailchimp => format!("*|{}|*", attribute.to_ascii_uppercase()),
            Esp::Customerio => format!("{{{{customer.{attribute}}}}}"),
            Esp::Iterable | Esp::Sendgrid => format!("{{{{{attribute}}}}}"),
            Esp::Hubspot => format!("{{{{contact.{attribute}}}}}"),
            Esp::Plain => "TOKEN".to_string(),
        }
    }
}

/// What the snippet is for, besides the template.
#[derive(Debug, Clone)]
pub struct EmbedRequest<'a> {
    /// Where recipients reach opentime, with no trailing slash (as
    /// [`normalize_base`] gives it).
    pub base: &'a str,
    pub esp: Esp,
    /// The profile attribute holding the token ([`DEFAULT_ATTRIBUTE`]).
    pub attribute: &'a str,
    /// The email or send id `e`, added to both URLs when given.
    pub email: Option<&'a str>,
}

/// Why no snippet could be made, in words an author can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    #[error("unknown email platform {0:?}: use one of {list}", list = esp_names())]
    UnknownEsp(String),
    #[error(
        "the attribute {0:?} is not a profile attribute name: 1 to {MAX_ATTRIBUTE_LEN} ASCII letters, digits and '_', starting with a letter"
    )]
    BadAttribute(String),
    #[error(
        "e {0:?} is not an email id: 1 to {MAX_EMAIL_ID_LEN} ASCII letters, digits, '.', '_' and '-'"
    )]
    BadEmailId(String),
    #[error(
        "the base URL {0:?} is not an http(s) origin with an optional path, like https://ot.example.com"
    )]
    BadBase(String),
}

/// The known platforms' names, comma-separated, for messages.
pub fn esp_names() -> String {
    Esp::ALL.map(Esp::name).join(", ")
}

/// The snippet for `template`:
/// `<a href="BASE/c/NAME?t=TAG"><img src="BASE/i/NAME.EXT?t=TAG" width=W
/// height=H alt="ALT" style="display:block;border:0"></a>`, with
/// `&amp;e=ID` after both queries when an email id is given. A `public`
/// template takes no token, so its URLs carry none.
pub fn embed_html(template: &Template, request: &EmbedRequest<'_>) -> Result<String, EmbedError> {
    snippet(&EmbeddedTemplate::of(template), request)
}

/// What the snippet shows of a template.
#[derive(Debug, Clone)]
struct EmbeddedTemplate<'t> {
    name: &'t str,
    /// The 1x size.
    width: u32,
    height: u32,
    /// The image URL's extension: the template's format.
    extension: &'static str,
    /// Whether its URLs carry the recipient's token (all but `public`).
    takes_token: bool,
    alt: &'t str,
}

impl<'t> EmbeddedTemplate<'t> {
    fn of(template: &'t Template) -> EmbeddedTemplate<'t> {
        EmbeddedTemplate {
            name: &template.name,
            width: template.width,
            height: template.height,
            extension: template.format.extension(),
            takes_token: template.access != AccessMode::Public,
            alt: &template.alt,
        }
    }
}

/// The merge tag is written as the platform expects to find it (quotes,
/// braces and pipes as they are): only `&`, `"`, `<` and `>` are escaped in
/// attribute values, and no platform's tag holds one of them.
fn snippet(
    template: &EmbeddedTemplate<'_>,
    request: &EmbedRequest<'_>,
) -> Result<String, EmbedError> {
    check_attribute(request.attribute)?;
    if let Some(email) = request.email {
        check_email_id(email)?;
    }
    let mut pairs: Vec<String> = Vec::new();
    if template.takes_token {
        pairs.push(format!("t={}", request.esp.merge_tag(request.attribute)));
    }
    if let Some(email) = request.email {
        pairs.push(format!("e={email}"));
    }
    let query = if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    };
    let (name, base) = (template.name, request.base);
    let link = format!("{base}/c/{name}{query}");
    let image = format!("{base}/i/{name}.{}{query}", template.extension);
    Ok(format!(
        "<a href=\"{link}\"><img src=\"{image}\" width={width} height={height} alt=\"{alt}\" style=\"display:block;border:0\"></a>",
        link = escape_attribute(&link),
        image = escape_attribute(&image),
        width = template.width,
        height = template.height,
        alt = escape_attribute(template.alt),
    ))
}

/// `url` as a base URL: an `http://` or `https://` origin with an optional
/// path, without its trailing slash; `public_url` is checked the same way.
pub fn normalize_base(url: &str) -> Result<String, EmbedError> {
    let trimmed = url.trim().trim_end_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    let host = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or_default();
    let valid = !host.is_empty()
        && !host.starts_with('/')
        && !trimmed.contains(['?', '#', ' ', '"', '<', '>', '\''])
        && !trimmed.chars().any(char::is_control);
    if valid {
        Ok(trimmed.to_string())
    } else {
        Err(EmbedError::BadBase(url.to_string()))
    }
}

/// A profile attribute name every platform's merge syntax can hold.
pub fn check_attribute(attribute: &str) -> Result<(), EmbedError> {
    let valid = attribute.len() <= MAX_ATTRIBUTE_LEN
        && attribute.starts_with(|c: char| c.is_ascii_alphabetic())
        && attribute
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(EmbedError::BadAttribute(attribute.to_string()))
    }
}

/// An email id `e` as the URLs accept it.
pub fn check_email_id(email: &str) -> Result<(), EmbedError> {
    if is_email_id(email) {
        Ok(())
    } else {
        Err(EmbedError::BadEmailId(email.to_string()))
    }
}

/// `text` inside a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENEWAL: EmbeddedTemplate<'static> = EmbeddedTemplate {
        name: "renewal",
        width: 600,
        height: 200,
        extension: "png",
        takes_token: true,
        alt: "Your membership",
    };

    fn html(esp: Esp, attribute: &str, email: Option<&str>) -> String {
        let request = EmbedRequest {
            base: "https://ot.example.com",
            esp,
            attribute,
            email,
        };
        snippet(&RENEWAL, &request).expect("a valid request")
    }

    /// The snippet for the renewal card with `tag` in both URLs.
    fn expected(tag: &str) -> String {
        format!(
            "<a href=\"https://ot.example.com/c/renewal?t={tag}\"><img src=\"https://ot.example.com/i/renewal.png?t={tag}\" width=600 height=200 alt=\"Your membership\" style=\"display:block;border:0\"></a>"
        )
    }

    #[test]
    fn every_platform_gets_its_own_merge_syntax() {
        let cases = [
            (Esp::Braze, "{{custom_attribute.${ot_token}}}"),
            (Esp::Sfmc, "%%ot_token%%"),
            (Esp::Klaviyo, "{{ person|lookup:'ot_token' }}"),
            (Esp::Mailchimp, "*|OT_TOKEN|*"),
            (Esp::Customerio, "{{customer.ot_token}}"),
            (Esp::Iterable, "{{ot_token}}"),
            (Esp::Hubspot, "{{contact.ot_token}}"),
            (Esp::Sendgrid, "{{ot_token}}"),
            (Esp::Plain, "TOKEN"),
        ];
        assert_eq!(cases.len(), Esp::ALL.len());
        for (esp, tag) in cases {
            assert_eq!(html(esp, DEFAULT_ATTRIBUTE, None), expected(tag), "{esp:?}");
            assert_eq!(Esp::parse(esp.name()), Ok(esp));
        }
    }

    #[test]
    fn another_attribute_goes_into_the_same_syntax() {
        assert_eq!(
            html(Esp::Braze, "opentime_t", None),
            expected("{{custom_attribute.${opentime_t}}}")
        );
        assert_eq!(html(Esp::Mailchimp, "OtTok2", None), expected("*|OTTOK2|*"));
        assert_eq!(html(Esp::Plain, "anything", None), expected("TOKEN"));
    }

    #[test]
    fn an_email_id_follows_the_token_in_both_urls_escaped() {
        assert_eq!(
            html(Esp::Sfmc, DEFAULT_ATTRIBUTE, Some("renewal-step.2_b")),
            "<a href=\"https://ot.example.com/c/renewal?t=%%ot_token%%&amp;e=renewal-step.2_b\"><img src=\"https://ot.example.com/i/renewal.png?t=%%ot_token%%&amp;e=renewal-step.2_b\" width=600 height=200 alt=\"Your membership\" style=\"display:block;border:0\"></a>"
        );
    }

    #[test]
    fn a_public_template_carries_no_token_and_its_own_format() {
        let poster = EmbeddedTemplate {
            name: "poster",
            width: 320,
            height: 100,
            extension: "jpg",
            takes_token: false,
            alt: "Fish & \"chips\" <today>",
        };
        let request = EmbedRequest {
            base: "http://localhost:8080",
            esp: Esp::Klaviyo,
            attribute: DEFAULT_ATTRIBUTE,
            email: None,
        };
        assert_eq!(
            snippet(&poster, &request).unwrap(),
            "<a href=\"http://localhost:8080/c/poster\"><img src=\"http://localhost:8080/i/poster.jpg\" width=320 height=100 alt=\"Fish &amp; &quot;chips&quot; &lt;today&gt;\" style=\"display:block;border:0\"></a>"
        );
        let with_email = EmbedRequest {
            email: Some("week-12"),
            ..request
        };
        assert!(
            snippet(&poster, &with_email)
                .unwrap()
                .starts_with("<a href=\"http://localhost:8080/c/poster?e=week-12\"><img src=\"http://localhost:8080/i/poster.jpg?e=week-12\"")
        );
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let unknown = Esp::parse("marketo").unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown email platform \"marketo\": use one of braze, sfmc, klaviyo, mailchimp, customerio, iterable, hubspot, sendgrid, plain"
        );
        assert_eq!(Esp::parse(" Braze "), Ok(Esp::Braze));
        for bad in [
            "",
            "1token",
            "ot token",
            "ot-token",
            "ot'x",
            &"a".repeat(65),
        ] {
            let request = EmbedRequest {
                base: "https://ot.example.com",
                esp: Esp::Braze,
                attribute: bad,
                email: None,
            };
            assert_eq!(
                snippet(&RENEWAL, &request),
                Err(EmbedError::BadAttribute(bad.to_string())),
                "{bad:?}"
            );
        }
        for bad in ["", "a b", "a&b", "step/2", "é", &"e".repeat(65)] {
            let request = EmbedRequest {
                base: "https://ot.example.com",
                esp: Esp::Braze,
                attribute: DEFAULT_ATTRIBUTE,
                email: Some(bad),
            };
            let error = snippet(&RENEWAL, &request).unwrap_err();
            assert_eq!(error, EmbedError::BadEmailId(bad.to_string()), "{bad:?}");
        }
        assert!(
            EmbedError::BadEmailId("a b".into())
                .to_string()
                .contains("1 to 64 ASCII letters, digits, '.', '_' and '-'")
        );
        check_email_id(&"e".repeat(64)).expect("64 is the limit");
    }

    #[test]
    fn base_urls_are_origins_with_an_optional_path() {
        assert_eq!(
            normalize_base("https://ot.example.com/").unwrap(),
            "https://ot.example.com"
        );
        assert_eq!(
            normalize_base(" http://example.com/ot/ ").unwrap(),
            "http://example.com/ot"
        );
        for bad in [
            "ot.example.com",
            "ftp://ot.example.com",
            "https://",
            "https:///path",
            "https://ot.example.com/?x=1",
            "https://ot.example.com/#top",
            "https://ot.example.com/a b",
            "https://ot.example.com/\"x",
        ] {
            assert_eq!(
                normalize_base(bad),
                Err(EmbedError::BadBase(bad.to_string())),
                "{bad:?}"
            );
        }
    }
}
