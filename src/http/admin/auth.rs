//! Who may call the admin API: the configured bearer tokens, each with
//! every scope or a few (`pools+engagement:SECRET`), compared in constant
//! time. The preview page also takes the token as a browser sends it.

use base64::Engine as _;
use hyper::StatusCode;
use hyper::header::{self, HeaderMap};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::routes::SCOPES;
use crate::app::App;

/// A configured admin token: `SECRET` may do everything;
/// `pools+engagement:SECRET` only what those scopes allow.
struct AdminToken<'a> {
    secret: &'a str,
    scopes: Option<Vec<&'a str>>,
}

impl AdminToken<'_> {
    fn parse(entry: &str) -> AdminToken<'_> {
        if let Some((scopes, secret)) = entry.split_once(':') {
            let scopes: Vec<&str> = scopes.split('+').collect();
            if !secret.is_empty() && scopes.iter().all(|scope| SCOPES.contains(scope)) {
                return AdminToken {
                    secret,
                    scopes: Some(scopes),
                };
            }
        }
        AdminToken {
            secret: entry,
            scopes: None,
        }
    }

    fn allows(&self, scope: Option<&str>) -> bool {
        match (&self.scopes, scope) {
            (None, _) | (_, None) => true,
            (Some(scopes), Some(scope)) => scopes.contains(&scope),
        }
    }
}

/// How a caller may present the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// `Authorization: Bearer <token>` only: the API. A browser never sends
    /// that by itself, so a page elsewhere cannot make one call the API.
    Bearer,
    /// Also `Basic` with the token as password (any user name), which is
    /// how a browser sends it: the preview page only.
    BearerOrBasic,
}

/// The token the request offers, in the ways `accepted` allows.
fn offered_token(headers: &HeaderMap, accepted: Credentials) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_string());
    }
    if accepted != Credentials::BearerOrBasic {
        return None;
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(password.to_string())
}

/// 404 when the API is off, 401 without a valid token, 403 for a valid
/// token that lacks the path's scope. Every configured token is compared,
/// in constant time over SHA-256 digests (so neither the length nor the
/// content of a token leaks through timing), whichever matches.
pub(crate) fn authorize(
    app: &App,
    headers: &HeaderMap,
    scope: Option<&str>,
    accepted: Credentials,
) -> Result<(), ApiError> {
    if app.config.access.admin_tokens.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "admin_api_off",
            "the admin API is off: set OPENTIME_ADMIN_TOKENS",
        ));
    }
    let offered = offered_token(headers, accepted).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
        )
    })?;
    let offered = Sha256::digest(offered.as_bytes());
    let mut matched: Option<AdminToken<'_>> = None;
    for entry in &app.config.access.admin_tokens {
        let token = AdminToken::parse(entry);
        let expected = Sha256::digest(token.secret.as_bytes());
        let difference = offered
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 && matched.is_none() {
            matched = Some(token);
        }
    }
    match matched {
        Some(token) if token.allows(scope) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token lacks the {} scope", scope.unwrap_or_default()),
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin token is not valid",
        )),
    }
}

/// The access check of an admin page (`/preview`, `/reports`): a token
/// with every one of `scopes`, by Bearer or Basic (a 401 asks the browser
/// for it, under `realm`), and a request from the page's own site, since
/// the browser sends Basic credentials with any request to this origin. The refusal to answer, if any.
pub(crate) fn page_access(
    app: &App,
    headers: &HeaderMap,
    scopes: &[&str],
    realm: &'static str,
    page: &str,
) -> Option<hyper::Response<crate::http::response::Body>> {
    for scope in scopes {
        if let Err(error) = authorize(app, headers, Some(scope), Credentials::BearerOrBasic) {
            let unauthorized = error.status == StatusCode::UNAUTHORIZED;
            let mut response = super::error::error_response(error);
            if unauthorized {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(realm),
                );
            }
            return Some(response);
        }
    }
    if crate::http::head::from_another_site(headers, app.config.server.public_url.as_deref()) {
        return Some(super::error::error_response(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            format!("the {page} answers its own page only"),
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_scopes_only_when_every_prefix_is_one() {
        let scoped = AdminToken::parse("pools+engagement:s3cret");
        assert_eq!(scoped.secret, "s3cret");
        assert!(scoped.allows(Some("pools")) && scoped.allows(Some("engagement")));
        assert!(!scoped.allows(Some("preferences")));
        // A colon in a token that names no scope is part of the token.
        let plain = AdminToken::parse("abc:def");
        assert_eq!(plain.secret, "abc:def");
        assert!(plain.allows(Some("preferences")));
        assert_eq!(AdminToken::parse("pools:").secret, "pools:");
    }
}
