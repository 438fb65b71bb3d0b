//! Admin tokens as the configuration gives them: `SECRET`, with every
//! scope, or `scope+scope:SECRET`, with only those. Checked once at start,
//! so a weak token or a misspelt scope stops the server instead of opening
//! the API wider than meant.

/// The scopes an admin token can be limited to (`docs/api.md`).
pub const ADMIN_SCOPES: [&str; 11] = [
    "conversions",
    "engagement",
    "experiments",
    "feeds",
    "preferences",
    "pools",
    "recipients",
    "reports",
    "templates",
    "tokens",
    "warm",
];

/// The shortest admin token secret accepted: a guessable token opens every
/// recipient's profile.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Checks one configured admin token, `SECRET` or `scope+scope:SECRET`: a
/// secret of at least [`MIN_ADMIN_TOKEN_LEN`] characters, and, when it
/// names scopes, only scopes that exist. A typo in a scope must not grant
/// every scope, as a token without scopes does. The message never shows the
/// secret.
pub fn check_admin_token(entry: &str) -> Result<(), String> {
    let (scopes, secret) = match entry.split_once(':') {
        Some((scopes, secret))
            if !scopes.is_empty()
                && scopes
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'+' || b == b'_') =>
        {
            (Some(scopes), secret)
        }
        _ => (None, entry),
    };
    if let Some(scopes) = scopes {
        for scope in scopes.split('+') {
            if !ADMIN_SCOPES.contains(&scope) {
                return Err(format!(
                    "admin token scope {scope:?} does not exist; the scopes are {}",
                    ADMIN_SCOPES.join(", ")
                ));
            }
        }
    }
    if secret.chars().count() < MIN_ADMIN_TOKEN_LEN {
        return Err(format!(
            "an admin token is at least {MIN_ADMIN_TOKEN_LEN} characters; use a long random secret"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_and_unknown_scopes_are_refused() {
        assert!(check_admin_token("a-long-enough-admin-token").is_ok());
        assert!(check_admin_token("pools+engagement:a-long-enough-secret").is_ok());
        let short = check_admin_token("s3cret").unwrap_err();
        assert!(short.contains("16 characters"), "{short}");
        assert!(
            !short.contains("s3cret"),
            "the message never shows the secret"
        );
        let typo = check_admin_token("pool+engagement:a-long-enough-secret").unwrap_err();
        assert!(typo.contains("\"pool\""), "{typo}");
        assert!(check_admin_token("pools:short").is_err());
        // A colon in a token that names no scope is part of the secret.
        assert!(check_admin_token("Ab3:9f-a-long-enough-token").is_ok());
    }
}
