//! Where the writer puts the events it drains: an [`EventSink`].
//!
//! The writer owns the loop (batching, backoff, metrics) and the sink owns
//! the I/O. In the application the sink is the store, which implements this
//! trait in `store/`, so this module never needs to know how events are kept
//! and the store can depend on [`Event`] without a cycle.

use std::future::Future;

use super::Event;

/// Something that writes batches of events for good.
pub trait EventSink: Send + Sync + 'static {
    /// Writes one batch, answering how many of its writes the sink refused
    /// for good (such a batch counts as written: sending it again could not
    /// change the refusal and would repeat everything else in it). An error
    /// means the batch may not have been written, and the writer sends it
    /// again after a backoff.
    fn write_batch(&self, events: &[Event]) -> impl Future<Output = Result<u64, SinkError>> + Send;
}

/// Why a batch was not written. It carries only what the writer reports: a
/// stable code for the metrics label and a message for the log line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    code: &'static str,
    message: String,
}

impl SinkError {
    /// An error labelled `code` in `opentime_event_write_errors_total`,
    /// logged as `message`.
    pub fn new(code: &'static str, message: impl std::fmt::Display) -> SinkError {
        SinkError {
            code,
            message: message.to_string(),
        }
    }

    /// A short, stable name for what went wrong, fit for a metrics label.
    pub fn code(&self) -> &'static str {
        self.code
    }
}
