//! What can go wrong when talking to the store.
//!
//! Callers on the request path treat every variant the same way (serve the
//! default variant and count it), so the variants exist for operators: the
//! metrics label and the log line say whether Redis was slow, gone, refusing
//! commands, or misconfigured. No message ever holds a recipient id, a field
//! value, or the Redis URL (which may carry a password).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer within the caller's budget.
    #[error("store did not answer within {0:?}")]
    Timeout(Duration),
    /// No connection: Redis is down, unreachable, or reconnecting.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error (a key of the wrong type, say), or with
    /// a reply this module does not understand.
    #[error("store refused the command: {0}")]
    Command(String),
    /// The configuration cannot work: a bad URL, prefix or demo file.
    #[error("store configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// A short, stable name for the variant, fit for a metrics label.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Timeout(_) => "timeout",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Command(_) => "command",
            StoreError::Config(_) => "config",
        }
    }
}

/// Error codes with which a Redis that is up says it cannot take the
/// command now, and will by itself: loading its data after a restart, a
/// script running, a failover or a lost primary, memory full, disk
/// writes failing, too few replicas. Every other error reply is a refusal
/// of the command or its data, which sending it again cannot change.
const NOT_READY_CODES: &[&str] = &[
    "LOADING",
    "BUSY",
    "READONLY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "OOM",
    "MISCONF",
    "NOREPLICAS",
];

fn not_ready(code: Option<&str>) -> bool {
    code.is_some_and(|code| NOT_READY_CODES.contains(&code))
}

/// Fails with [`StoreError::Unavailable`] when a reply of a pipeline run
/// with `ignore_errors` says the server could not take the command now
/// ([`NOT_READY_CODES`]): the caller must send the batch again rather than
/// count its commands as refused. The replies left are refusals
/// (`WRONGTYPE`, `ERR` for a field that is not a number, `NOPERM`, ...).
pub(super) fn server_was_not_ready(replies: &[redis::Value]) -> Result<(), StoreError> {
    let waiting = replies.iter().find_map(|reply| match reply {
        redis::Value::ServerError(error) if not_ready(Some(error.code())) => Some(error),
        _ => None,
    });
    match waiting {
        Some(error) => Err(StoreError::Unavailable(error.to_string())),
        None => Ok(()),
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> StoreError {
        use redis::ErrorKind;
        match error.kind() {
            // A server that is loading, failing over, full or partitioned
            // will be back by itself: to the caller it is simply not
            // available yet.
            ErrorKind::Server(_) | ErrorKind::Extension if not_ready(error.code()) => {
                StoreError::Unavailable(error.to_string())
            }
            // Refusals (WRONGTYPE, NOPERM, ...) and replies of the wrong shape
            // say something about the data or the server's setup.
            ErrorKind::Server(_)
            | ErrorKind::Extension
            | ErrorKind::Parse
            | ErrorKind::UnexpectedReturnType => StoreError::Command(error.to_string()),
            // I/O, authentication, client-side state: we could not talk to it.
            _ => StoreError::Unavailable(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(resp: &str) -> redis::Value {
        redis::parse_redis_value(resp.as_bytes()).expect("a RESP reply")
    }

    #[test]
    fn a_redis_that_cannot_take_writes_yet_fails_the_batch() {
        for code in [
            "LOADING",
            "BUSY",
            "READONLY",
            "OOM",
            "MISCONF",
            "NOREPLICAS",
        ] {
            let replies = [reply(":1\r\n"), reply(&format!("-{code} not now\r\n"))];
            assert!(
                matches!(
                    server_was_not_ready(&replies),
                    Err(StoreError::Unavailable(_))
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn refusals_of_the_data_or_the_setup_do_not() {
        for code in ["WRONGTYPE", "ERR", "NOPERM", "NOSCRIPT", "CROSSSLOT"] {
            let replies = [reply(&format!("-{code} no\r\n")), reply("+OK\r\n")];
            assert!(server_was_not_ready(&replies).is_ok(), "{code}");
        }
    }
}
