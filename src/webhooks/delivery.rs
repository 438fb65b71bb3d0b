//! One webhook's delivery task on one replica: a consumer of the
//! webhook's group on the events stream, which reads batches, posts the
//! events the webhook wants, retries what the receiver did not take, and
//! acknowledges.
//!
//! One batch at a time: a receiver that is down holds up its own webhook
//! on this replica and nothing else. The task never touches the request
//! path; it has a Redis connection of its own, since `XREADGROUP ...
//! BLOCK` holds the connection it runs on.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::Instant;

use super::WebhookConfig;
use super::payload::{self, SIGNATURE_HEADER};
use super::retry::{self, AfterFailure};
use crate::metrics::Metrics;
use crate::remote::Poster;
use crate::store::redis_streams::StreamEntry;
use crate::store::{RedisStore, StoreError};

/// Events per POST, at most.
pub const BATCH: usize = 100;

/// How long one `XREADGROUP` waits for new entries. Under the store
/// connection's one-second response timeout, and short enough that a
/// stop is noticed at once.
const BLOCK: Duration = Duration::from_millis(500);

/// Entries pending this long under a consumer that does not keep them
/// belong to a consumer that is gone (a replica that crashed): any
/// consumer takes them over.
pub const CLAIM_IDLE: Duration = Duration::from_secs(60);

/// How often a consumer looks for such entries, and how often one that is
/// retrying a batch resets its entries' idle time. Well under
/// [`CLAIM_IDLE`], with room for a POST's timeout.
const CLAIM_EVERY: Duration = Duration::from_secs(15);
const HOLD_EVERY: Duration = Duration::from_secs(15);

/// Consumers with nothing pending that have not been heard of for this
/// long are removed from the group: each start of a replica adds one.
const FORGET_CONSUMERS_AFTER: Duration = Duration::from_secs(60 * 60);

/// How often the `opentime_webhook_pending_events` gauge is brought up to
/// date from Redis.
const PENDING_EVERY: Duration = Duration::from_secs(2);

/// The wait after a failed Redis call, doubling up to the maximum.
const STORE_WAIT: Duration = Duration::from_millis(500);
const MAX_STORE_WAIT: Duration = Duration::from_secs(10);

/// One webhook's consumer on this replica.
pub(super) struct Delivery {
    pub(super) hook: WebhookConfig,
    /// A connection of its own, with a budget past [`BLOCK`].
    pub(super) store: RedisStore,
    pub(super) poster: Arc<Poster>,
    pub(super) group: String,
    pub(super) consumer: String,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) metrics: Arc<Metrics>,
    /// When the pending gauge is due again.
    pub(super) next_pending: Instant,
}

/// Whether the task goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stopped,
}

impl Delivery {
    /// Runs until the stop signal.
    pub(super) async fn run(mut self) {
        if self.create_group().await == Flow::Stopped {
            return;
        }
        let mut store_wait = STORE_WAIT;
        let mut next_claim = Instant::now();
        while !self.stopping() {
            self.count_pending().await;
            let read = if Instant::now() >= next_claim {
                next_claim = Instant::now() + CLAIM_EVERY;
                self.forget_idle_consumers().await;
                match self.claim().await {
                    // More may be waiting: claim again before reading.
                    Ok(entries) if !entries.is_empty() => {
                        next_claim = Instant::now();
                        Ok(entries)
                    }
                    Ok(_) => self.read().await,
                    Err(error) => Err(error),
                }
            } else {
                self.read().await
            };
            match read {
                Ok(entries) => {
                    store_wait = STORE_WAIT;
                    if !entries.is_empty() && self.deliver(entries).await == Flow::Stopped {
                        return;
                    }
                }
                Err(StoreError::Command(message)) if message.contains("NOGROUP") => {
                    tracing::warn!(webhook = %self.hook.name, "the webhook's consumer group is gone (Redis lost its data, or it was destroyed); creating it again, for the events from now on");
                    if self.create_group().await == Flow::Stopped {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(webhook = %self.hook.name, %error, "cannot read the events stream; trying again");
                    if self.pause(&mut store_wait).await == Flow::Stopped {
                        return;
                    }
                }
            }
        }
    }

    /// Creates the group if it is not there, trying until Redis answers.
    async fn create_group(&mut self) -> Flow {
        let mut store_wait = STORE_WAIT;
        loop {
            match self.store.create_group(&self.group).await {
                Ok(created) => {
                    if created {
                        tracing::info!(webhook = %self.hook.name, "webhook's consumer group created; it gets the events from now on");
                    }
                    return Flow::Continue;
                }
                Err(error) => {
                    tracing::warn!(webhook = %self.hook.name, %error, "cannot create the webhook's consumer group yet");
                    if self.pause(&mut store_wait).await == Flow::Stopped {
                        return Flow::Stopped;
                    }
                }
            }
        }
    }

    async fn read(&self) -> Result<Vec<StreamEntry>, StoreError> {
        self.store
            .read_group(&self.group, &self.consumer, BATCH, BLOCK)
            .await
    }

    async fn claim(&self) -> Result<Vec<StreamEntry>, StoreError> {
        let claimed = self
            .store
            .claim_idle_entries(&self.group, &self.consumer, CLAIM_IDLE, BATCH)
            .await?;
        if !claimed.is_empty() {
            tracing::info!(webhook = %self.hook.name, count = claimed.len(), "took over events another consumer left pending");
        }
        Ok(claimed)
    }

    async fn forget_idle_consumers(&self) {
        match self
            .store
            .forget_idle_consumers(&self.group, FORGET_CONSUMERS_AFTER)
            .await
        {
            Ok(0) => {}
            Ok(count) => {
                tracing::info!(webhook = %self.hook.name, count, "removed idle consumers of stopped replicas")
            }
            Err(error) => {
                tracing::debug!(webhook = %self.hook.name, %error, "cannot list the webhook's consumers")
            }
        }
    }

    /// Delivers what the webhook wants of `entries` and acknowledges them
    /// all, retrying as [`retry`] says; on a stop, hands the batch over.
    async fn deliver(&mut self, entries: Vec<StreamEntry>) -> Flow {
        let (mut batch, others) = payload::select(entries, &self.hook);
        if self.ack(&others).await == Flow::Stopped {
            return Flow::Stopped;
        }
        let mut failures = 0;
        while !batch.is_empty() {
            let body = payload::body(&batch);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let signature = payload::signature(self.hook.secret.as_bytes(), now.as_secs(), &body);
            let headers = [
                ("content-type", "application/json".to_string()),
                (SIGNATURE_HEADER, signature),
            ];
            let outcome = self.poster.post(&self.hook.url, &headers, body).await;
            let ids: Vec<String> = batch.iter().map(|entry| entry.id.clone()).collect();
            let problem = match outcome {
                Ok(status) if (200..300).contains(&status) => {
                    tracing::debug!(webhook = %self.hook.name, count = ids.len(), "events delivered");
                    self.metrics
                        .webhook_delivered
                        .with_label_values(&[self.hook.name.as_str()])
                        .inc_by(ids.len() as u64);
                    return self.ack(&ids).await;
                }
                Ok(status) => format!("the receiver answered {status}"),
                Err(error) => error.to_string(),
            };
            failures += 1;
            let newest = batch
                .last()
                .and_then(|entry| retry::added_ms(&entry.id))
                .unwrap_or(0);
            match retry::after_failure(failures, newest, now.as_millis() as u64) {
                AfterFailure::GiveUp => {
                    self.metrics
                        .webhook_failed
                        .with_label_values(&[self.hook.name.as_str()])
                        .inc_by(ids.len() as u64);
                    tracing::error!(
                        webhook = %self.hook.name,
                        origin = %self.hook.url.origin(),
                        count = ids.len(),
                        first = %ids[0],
                        last = %ids[ids.len() - 1],
                        %problem,
                        "webhook delivery given up: its events were tried for a day"
                    );
                    return self.ack(&ids).await;
                }
                AfterFailure::RetryIn(wait) => {
                    self.metrics
                        .webhook_retries
                        .with_label_values(&[self.hook.name.as_str()])
                        .inc();
                    tracing::warn!(
                        webhook = %self.hook.name,
                        origin = %self.hook.url.origin(),
                        count = ids.len(),
                        failures,
                        retry_in = ?wait,
                        %problem,
                        "webhook delivery failed; retrying"
                    );
                    if self.wait_holding(&mut batch, wait).await == Flow::Stopped {
                        self.hand_over(&batch).await;
                        return Flow::Stopped;
                    }
                }
            }
        }
        Flow::Continue
    }

    /// Waits `wait`, resetting the batch's idle time every [`HOLD_EVERY`]
    /// and once at the end, so no other consumer takes it while this one
    /// is alive; drops from the batch what another consumer took anyway
    /// (after a Redis outage longer than [`CLAIM_IDLE`]).
    async fn wait_holding(&mut self, batch: &mut Vec<StreamEntry>, wait: Duration) -> Flow {
        let until = Instant::now() + wait;
        loop {
            let step = until
                .saturating_duration_since(Instant::now())
                .min(HOLD_EVERY);
            if self.sleep(step).await == Flow::Stopped {
                return Flow::Stopped;
            }
            let ids: Vec<String> = batch.iter().map(|entry| entry.id.clone()).collect();
            match self
                .store
                .hold_entries(&self.group, &self.consumer, &ids, Duration::ZERO)
                .await
            {
                Ok(held) if held.len() < ids.len() => {
                    tracing::info!(webhook = %self.hook.name, taken = ids.len() - held.len(), "another consumer took over part of a batch");
                    batch.retain(|entry| held.contains(&entry.id));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(webhook = %self.hook.name, %error, "cannot keep the batch's entries; trying again")
                }
            }
            self.count_pending().await;
            if Instant::now() >= until || batch.is_empty() {
                return Flow::Continue;
            }
        }
    }

    /// Marks the batch's entries as long idle, so that the next claim of
    /// any consumer (a replica still running, or this one restarted) takes
    /// them at once rather than after [`CLAIM_IDLE`].
    async fn hand_over(&self, batch: &[StreamEntry]) {
        let ids: Vec<String> = batch.iter().map(|entry| entry.id.clone()).collect();
        let idle = CLAIM_IDLE + Duration::from_secs(1);
        match self
            .store
            .hold_entries(&self.group, &self.consumer, &ids, idle)
            .await
        {
            Ok(held) => {
                tracing::info!(webhook = %self.hook.name, count = held.len(), "stopping: a batch being retried is left to the next consumer")
            }
            Err(error) => {
                tracing::warn!(webhook = %self.hook.name, %error, "stopping: a batch being retried will be taken over after a minute")
            }
        }
    }

    /// Brings the pending gauge up to date, at most every
    /// [`PENDING_EVERY`]: the group's entries read and not acknowledged,
    /// and those not read yet (when Redis knows how many).
    async fn count_pending(&mut self) {
        if Instant::now() < self.next_pending {
            return;
        }
        self.next_pending = Instant::now() + PENDING_EVERY;
        match self.store.group_state(&self.group).await {
            Ok(Some(state)) => {
                let waiting = state.pending + state.lag.unwrap_or(0);
                self.metrics
                    .webhook_pending
                    .with_label_values(&[self.hook.name.as_str()])
                    .set(i64::try_from(waiting).unwrap_or(i64::MAX));
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(webhook = %self.hook.name, %error, "cannot read the webhook's group")
            }
        }
    }

    /// Acknowledges `ids`, trying until Redis takes it or the task stops
    /// (then the entries stay pending, and are delivered again later).
    async fn ack(&mut self, ids: &[String]) -> Flow {
        let mut store_wait = STORE_WAIT;
        loop {
            match self.store.ack_entries(&self.group, ids).await {
                Ok(()) => return Flow::Continue,
                Err(error) => {
                    tracing::warn!(webhook = %self.hook.name, %error, "cannot acknowledge events yet");
                    if self.pause(&mut store_wait).await == Flow::Stopped {
                        return Flow::Stopped;
                    }
                }
            }
        }
    }

    /// Sleeps `wait`, doubled for next time up to [`MAX_STORE_WAIT`].
    async fn pause(&mut self, wait: &mut Duration) -> Flow {
        let flow = self.sleep(*wait).await;
        *wait = (*wait * 2).min(MAX_STORE_WAIT);
        flow
    }

    /// Sleeps `wait`, or less if the stop signal comes.
    async fn sleep(&mut self, wait: Duration) -> Flow {
        if self.stopping() {
            return Flow::Stopped;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => Flow::Continue,
            _ = self.stop.changed() => Flow::Stopped,
        }
    }

    /// True once the stop signal came, or the handle that sends it is
    /// gone with the application.
    fn stopping(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }
}
