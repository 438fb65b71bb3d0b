//! The background task that drains the [`EventLog`] into an [`EventSink`],
//! the store in the application.
//!
//! One batch at a time, each one pipeline on a connection of the writer's
//! own: the batch is only removed from the queue once the sink confirmed
//! it, so a store that is down keeps the events queued (within the queue's
//! bound) until it is back.

use std::time::Duration;

use super::{EventLog, EventSink};
use crate::metrics::Metrics;

/// Events per pipeline: large enough that a send's open spike is written in
/// few round trips, small enough that one batch never holds the shared
/// connection for long.
pub const BATCH: usize = 512;

/// How long a batch that is not full yet may gather more events before it
/// is sent. Without it the writer sends whatever one round trip let
/// through, a dozen events at a send's peak, and pays a wake-up and a round
/// trip for each dozen; with it, batches are tens of times larger, and an
/// event reaches the stream about 10 ms later.
const GATHER: Duration = Duration::from_millis(10);

/// How long the writer gives the store for one batch. Longer than a
/// request's budget: nobody waits for it, and a batch that times out is
/// sent again. The sink applies it, since only the sink knows how to bound
/// its I/O: the application hands [`spawn`] a store with this budget.
pub const BATCH_BUDGET: Duration = Duration::from_secs(2);

/// Backoff between failed batches: short at first, so a blip costs little,
/// and bounded, so events flow within a couple of seconds of the store's
/// return.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Starts the writer on the current runtime. It runs as long as the
/// runtime does. `sink` should fail a batch it could not write within
/// [`BATCH_BUDGET`], so that a stuck store costs a retry, not the queue.
pub fn spawn(log: EventLog, sink: impl EventSink, metrics: std::sync::Arc<Metrics>) {
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            if log.is_empty() {
                // The tick covers a wake-up that raced with the check above.
                tokio::select! {
                    () = log.arrived() => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                continue;
            }
            if log.len() < BATCH {
                tokio::time::sleep(GATHER).await;
            }
            let batch = log.take(BATCH);
            match sink.write_batch(&batch).await {
                Ok(refused) => {
                    log.written();
                    metrics.events_written.inc_by(batch.len() as u64);
                    metrics.event_batches.inc();
                    if refused > 0 {
                        metrics
                            .event_write_errors
                            .with_label_values(&["refused"])
                            .inc_by(refused);
                        tracing::warn!(
                            refused,
                            "Redis refused some event writes (a profile's opens or clicks field that is not a number?)"
                        );
                    }
                    backoff = MIN_BACKOFF;
                }
                Err(error) => {
                    metrics
                        .event_write_errors
                        .with_label_values(&[error.code()])
                        .inc();
                    let count = batch.len();
                    log.put_back(batch);
                    tracing::debug!(%error, count, "events not written yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    });
}

/// Waits until the queue is empty or `within` has passed; true when it
/// emptied. For shutdown, so that the events of the last requests are
/// written before the process exits.
pub async fn flush(log: &EventLog, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while !log.is_empty() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}
