//! A template's sources: the customer's JSON APIs called at open. Each is
//! checked against what the server allows (its host in `source_hosts`,
//! written out in the URL; each secret it reads in `[secrets]`) and its
//! texts compiled, so that a source that could never be called is refused
//! by `opentime check`, a reload and the admin API alike.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Builder, TemplateError, is_identifier};
use crate::template::Source;
use crate::template::file::SourceFile;

/// The most sources one template may call at an open.
pub const MAX_SOURCES: usize = 4;

/// The longest a source may make an open wait, in milliseconds.
pub const MAX_SOURCE_TIMEOUT_MS: u64 = 2_000;

impl Builder<'_> {
    pub(super) fn sources(
        &mut self,
        template: &str,
        files: BTreeMap<String, SourceFile>,
    ) -> Result<Vec<Source>, TemplateError> {
        if files.len() > MAX_SOURCES {
            return Err(self.error(
                None,
                "sources",
                format!("at most {MAX_SOURCES} sources: every open waits for the slowest"),
            ));
        }
        let mut sources = Vec::with_capacity(files.len());
        for (name, file) in files {
            let field = format!("sources.{name}");
            if !is_identifier(&name, false) {
                return Err(self.error(
                    None,
                    &field,
                    "a source's name is lowercase letters, digits and '_': expressions read source.NAME".to_string(),
                ));
            }
            if file.timeout_ms == 0 || file.timeout_ms > MAX_SOURCE_TIMEOUT_MS {
                return Err(self.error(
                    None,
                    &format!("{field}.timeout_ms"),
                    format!("must be 1 to {MAX_SOURCE_TIMEOUT_MS}"),
                ));
            }
            if file.ttl_s == 0 {
                return Err(self.error(
                    None,
                    &format!("{field}.ttl_s"),
                    "must be at least 1: an answer is reused for that long".to_string(),
                ));
            }
            self.sources
                .check_url(&file.url)
                .map_err(|message| self.error(None, &format!("{field}.url"), message))?;
            self.check_secrets(&format!("{field}.url"), &file.url)?;
            let url = self
                .texts
                .add_source_text(&file.url)
                .map_err(|e| self.error(None, &format!("{field}.url"), e.to_string()))?;
            let mut reads_profile = file.url.contains("profile");
            let mut headers = Vec::with_capacity(file.headers.len());
            for (header, value) in &file.headers {
                let header_field = format!("{field}.headers.{header}");
                if hyper_header_name_is_invalid(header) {
                    return Err(self.error(
                        None,
                        &header_field,
                        "is not a valid HTTP header name".to_string(),
                    ));
                }
                self.check_secrets(&header_field, value)?;
                reads_profile |= value.contains("profile");
                let text = self
                    .texts
                    .add_source_text(value)
                    .map_err(|e| self.error(None, &header_field, e.to_string()))?;
                headers.push((header.clone(), text));
            }
            let texts =
                std::iter::once(file.url.as_str()).chain(file.headers.values().map(String::as_str));
            let request_keyed = texts.into_iter().all(reads_only_the_request);
            sources.push(Source {
                request_keyed,
                label: format!("{template}/{name}"),
                name,
                url,
                headers,
                timeout: Duration::from_millis(file.timeout_ms),
                ttl: Duration::from_secs(file.ttl_s),
                stale: Duration::from_secs(file.stale_s),
                reads_profile,
            });
        }
        Ok(sources)
    }

    /// Every `secret('NAME')` a text calls must name a configured secret.
    fn check_secrets(&self, field: &str, text: &str) -> Result<(), TemplateError> {
        for name in crate::expr::secrets_named(text) {
            if !self.sources.has_secret(&name) {
                return Err(self.error(
                    None,
                    field,
                    format!("secret({name:?}) is not in the server's [secrets]"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a source's text reads nothing of the context but `recipient`
/// and `query`: no other root is named anywhere in it (a word check, so
/// that a doubt always says no).
fn reads_only_the_request(text: &str) -> bool {
    const OTHER_ROOTS: [&str; 15] = [
        "now", "profile", "geo", "device", "opener", "subject", "feed", "prefs", "timer", "coupon",
        "poll", "source", "item", "loop", "days_",
    ];
    !OTHER_ROOTS.iter().any(|root| text.contains(root))
        && !text.contains("hours_")
        && !text.contains("{%")
}

/// Whether `name` is no token an HTTP header name may be (RFC 9110).
fn hyper_header_name_is_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}
