//! One call per URL at a time. The first open that wants a URL starts the
//! call in a task of its own; every open that wants it meanwhile waits on
//! the same result, each only as long as its own deadline allows. The
//! call itself is bounded by the source's timeout, not by any one open,
//! so an answer that comes after an impatient open gave up is still
//! cached for the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use super::breaker::Breaker;
use super::{Answer, Failure, Inner, Key, now_ms};
use crate::metrics::TimerGuard;
use crate::remote::{RemoteImageError, SourceTarget};
use crate::template::Source;

/// What a call ends with.
type Outcome = Result<Arc<Answer>, Failure>;

/// The calls in flight by key, and each host's circuit breaker.
#[derive(Default)]
pub(super) struct Flights {
    running: Mutex<HashMap<Key, watch::Receiver<Option<Outcome>>>>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

/// One call an open wants made.
pub(super) struct Call<'a> {
    pub(super) key: Key,
    pub(super) label: &'a str,
    pub(super) target: SourceTarget,
    pub(super) headers: Vec<(String, String)>,
    pub(super) source: &'a Source,
}

/// The answer of `call`'s URL, from a call in flight or a new one, if it
/// comes before `wait_until`.
pub(super) async fn call(inner: &Arc<Inner>, call: Call<'_>, wait_until: Instant) -> Outcome {
    let mut receiver = {
        let mut running = inner
            .flights
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match running.get(&call.key) {
            Some(receiver) => receiver.clone(),
            None => {
                let origin = call.target.origin();
                if !inner.flights.allows(&origin) {
                    return Err(Failure::CircuitOpen);
                }
                let (sender, receiver) = watch::channel(None);
                running.insert(call.key, receiver.clone());
                tokio::spawn(run(
                    inner.clone(),
                    call.key,
                    call.label.to_string(),
                    origin,
                    call.target,
                    call.headers,
                    (call.source.timeout, call.source.ttl + call.source.stale),
                    sender,
                ));
                receiver
            }
        }
    };
    let waited = tokio::time::timeout_at(
        wait_until.into(),
        receiver.wait_for(|outcome| outcome.is_some()),
    )
    .await;
    match waited {
        Ok(Ok(outcome)) => outcome.clone().unwrap_or(Err(Failure::Fetch)),
        // The task ended without a word: it panicked.
        Ok(Err(_)) => Err(Failure::Fetch),
        Err(_) => Err(Failure::Budget),
    }
}

impl Flights {
    fn allows(&self, origin: &str) -> bool {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers
            .entry(origin.to_string())
            .or_default()
            .allows(Instant::now())
    }

    /// Notes a call's end on its host's breaker; returns whether the host
    /// is now being skipped.
    fn record(&self, origin: &str, ok: bool) -> bool {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        let breaker = breakers.entry(origin.to_string()).or_default();
        if ok {
            breaker.succeeded();
        } else {
            breaker.failed(Instant::now());
        }
        breaker.is_open()
    }
}

/// Makes the call, keeps a good answer in this replica and in Redis, and
/// tells every waiting open.
#[allow(clippy::too_many_arguments)]
async fn run(
    inner: Arc<Inner>,
    key: Key,
    label: String,
    origin: String,
    target: SourceTarget,
    headers: Vec<(String, String)>,
    (timeout, keep): (std::time::Duration, std::time::Duration),
    sender: watch::Sender<Option<Outcome>>,
) {
    let metrics = &inner.metrics;
    metrics.source_calls.with_label_values(&[&label]).inc();
    let fetched = {
        let _timer = TimerGuard::new(metrics.source_seconds.with_label_values(&[&label]));
        tokio::time::timeout(
            timeout,
            inner
                .policy
                .hosts()
                .get(&target, &headers, inner.policy.max_bytes()),
        )
        .await
    };
    // A 4xx is the API's answer about this recipient (no such customer),
    // not a sign that the host is down; a 5xx, a 429, no answer in time
    // or no connection is.
    let host_failed = match &fetched {
        Err(_) => true,
        Ok(Err(RemoteImageError::Status(status))) => *status >= 500 || *status == 429,
        Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
    };
    let outcome = match fetched {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(error)) => Err(failure_of(&error)),
        Ok(Ok(body)) => Answer::parse(body, now_ms(), keep).map(Arc::new),
    };
    let host_failed = host_failed || matches!(outcome, Err(Failure::BadJson));
    let open = inner.flights.record(&origin, !host_failed);
    metrics
        .source_circuit_open
        .with_label_values(&[&origin])
        .set(i64::from(open));
    match &outcome {
        Ok(answer) => {
            inner.memory.insert(key, answer.clone());
            let store = inner.store.clone();
            let bytes = answer.encode();
            let keep_s = keep.as_secs().max(1);
            tokio::spawn(async move {
                if let Err(error) = store
                    .put_source_answer(&hex::encode(key), &bytes, keep_s)
                    .await
                {
                    tracing::debug!(%error, "a source's answer could not be shared");
                }
            });
        }
        Err(failure) => {
            metrics
                .source_errors
                .with_label_values(&[&label, failure.code()])
                .inc();
            // The name and host only: the path and query name the
            // recipient, and headers may hold a secret.
            tracing::warn!(source = %label, %origin, kind = failure.code(), "a source's call failed");
        }
    }
    inner
        .flights
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
    sender.send_replace(Some(outcome));
}

fn failure_of(error: &RemoteImageError) -> Failure {
    match error {
        RemoteImageError::Timeout => Failure::Timeout,
        RemoteImageError::Status(_) => Failure::Status,
        RemoteImageError::TooLarge => Failure::TooLarge,
        RemoteImageError::PrivateAddress(_) => Failure::PrivateAddress,
        RemoteImageError::BadUrl | RemoteImageError::NotAllowed => Failure::NotAllowed,
        _ => Failure::Fetch,
    }
}
