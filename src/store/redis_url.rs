//! The Redis URL as configured: it may carry a password
//! (`redis://user:password@host`), so it is kept in a type whose `Debug`
//! hides that part, and the whole text is only handed out to connect.

use std::fmt;

/// A `redis://`, `rediss://` or `redis+unix://` URL, or a comma-separated
/// list of them for Sentinel and Cluster. `Debug` prints it with any
/// password replaced, so a logged configuration never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL in full, password included: for connecting, never for logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with whatever precedes the last `@` after the scheme (the
    /// user and password) replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        let url = self.0.as_str();
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}://***{}", &url[..scheme_end], &url[at..])
            }
            _ => url.to_string(),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> RedisUrl {
        RedisUrl(url)
    }
}

impl From<&str> for RedisUrl {
    fn from(url: &str) -> RedisUrl {
        RedisUrl(url.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_hidden_and_the_rest_kept() {
        let url = RedisUrl::from("rediss://user:hunter2@redis:6379/0");
        assert_eq!(url.redacted(), "rediss://***@redis:6379/0");
        assert_eq!(format!("{url:?}"), "\"rediss://***@redis:6379/0\"");
        assert_eq!(url.as_str(), "rediss://user:hunter2@redis:6379/0");
        let plain = RedisUrl::from("redis+unix:///run/redis.sock");
        assert_eq!(plain.redacted(), "redis+unix:///run/redis.sock");
    }
}
