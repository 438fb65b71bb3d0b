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

/// Fails with [`StoreError::Unavailable`] when a reply of a pipeline run
/// with `ignore_errors` says the server could not take the command now
/// (`LOADING` after a restart, `BUSY`, `READONLY` during a failover, `OOM`,
/// `MISCONF`, `MASTERDOWN`, ...): the caller must send the batch again
/// rather than count its commands as refused. The replies left are then
/// refusals of the data itself (`WRONGTYPE`, or `ERR` for a field that is
/// not a number), which sending again cannot change.
pub fn server_was_not_ready(replies: &[redis::Value]) -> Result<(), StoreError> {
    let not_ready = replies.iter().find_map(|reply| match reply {
        redis::Value::ServerError(error) if !matches!(error.code(), "WRONGTYPE" | "ERR") => {
            Some(error)
        }
        _ => None,
    });
    match not_ready {
        Some(error) => Err(StoreError::Unavailable(error.to_string())),
        None => Ok(()),
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> StoreError {
        use redis::{ErrorKind, ServerErrorKind};
        match error.kind() {
            // A server that is loading, failing over or partitioned will be
            // back by itself: to the caller it is simply not available yet.
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::TryAgain,
            ) => StoreError::Unavailable(error.to_string()),
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
