//! Webhooks: what happened goes back to the sender's systems.
//!
//! Each configured webhook is a consumer group, `webhook:{name}`, on the
//! events stream (`{prefix}events`). Every replica runs one consumer per
//! webhook, so the group shares the work among replicas and each entry
//! goes to one of them. A consumer reads up to [`delivery::BATCH`]
//! entries, acknowledges those of types the webhook did not choose, and
//! POSTs the rest as one signed JSON array; a 2xx acknowledges them, and
//! anything else is retried with backoff ([`retry`]) for at least a day.
//! Entries stay pending in Redis until acknowledged, so a restart or a
//! crash loses none: another consumer takes them over.
//!
//! Nothing here is on the request path. The handlers record events as
//! they always do; the stream is read by these tasks alone, each on a
//! Redis connection of its own, and a receiver that is down holds up only
//! its own webhook.
//!
//! # Layout
//! - `config.rs`: [`WebhookConfig`], a webhook as the configuration
//!   declares it, checked.
//! - `payload.rs`: which entries a webhook wants, the body and its
//!   signature; pure.
//! - `retry.rs`: when to try again and when to give up; pure.
//! - `delivery.rs`: one webhook's consumer task.

mod config;
mod delivery;
pub mod payload;
pub mod retry;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{EVENT_TYPES, MIN_SECRET_LEN, WebhookConfig, WebhookSecret, parse_webhooks};
pub use delivery::{BATCH, CLAIM_IDLE};

use crate::metrics::Metrics;
use crate::remote::Poster;
use crate::store::{RedisStore, StoreError};

/// How long a receiver has to answer a delivery, from connecting to the
/// response's head.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a delivery task's Redis calls may take: past `XREADGROUP`'s
/// block, and long enough for a slow Redis, since nobody waits for them.
const STORE_BUDGET: Duration = Duration::from_secs(2);

/// The consumer group of the webhook named `name`.
pub fn group_name(name: &str) -> String {
    format!("webhook:{name}")
}

/// This replica's delivery tasks. Clones share them; when the last clone
/// is dropped the tasks stop.
#[derive(Clone, Default)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            stop: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
        }
    }
}

impl Webhooks {
    /// Starts one delivery task per webhook on the current runtime, each
    /// with a Redis connection of its own.
    pub fn start(
        hooks: &[WebhookConfig],
        store: &RedisStore,
        metrics: Arc<Metrics>,
    ) -> Result<Webhooks, StoreError> {
        let webhooks = Webhooks::default();
        let poster = Arc::new(Poster::new(POST_TIMEOUT));
        let consumer = consumer_name();
        let mut tasks = Vec::with_capacity(hooks.len());
        for hook in hooks {
            // Every webhook's series exist from the start, at zero.
            let name = [hook.name.as_str()];
            metrics.webhook_delivered.with_label_values(&name);
            metrics.webhook_retries.with_label_values(&name);
            metrics.webhook_failed.with_label_values(&name);
            metrics.webhook_pending.with_label_values(&name);
            let delivery = delivery::Delivery {
                group: group_name(&hook.name),
                hook: hook.clone(),
                store: store.own_connection()?.with_budget(STORE_BUDGET),
                poster: poster.clone(),
                consumer: consumer.clone(),
                stop: webhooks.inner.stop.subscribe(),
                metrics: metrics.clone(),
                next_pending: tokio::time::Instant::now(),
            };
            tasks.push(tokio::spawn(delivery.run()));
        }
        if !hooks.is_empty() {
            tracing::info!(webhooks = hooks.len(), %consumer, "webhook deliveries started");
        }
        *webhooks.lock() = tasks;
        Ok(webhooks)
    }

    /// Stops every task and waits up to `within` for them to end. A task
    /// retrying a batch hands it over to the next consumer first.
    pub async fn stop(&self, within: Duration) {
        self.inner.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.lock());
        let deadline = tokio::time::Instant::now() + within;
        for task in tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("a webhook's delivery did not stop in time");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        // Held only to put or take the handles.
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("tasks", &self.lock().len())
            .finish()
    }
}

/// This replica's consumer name: the host, the process and a random part,
/// so that two servers in one process (tests) or two starts of one
/// container never share a consumer, whose pending entries would then be
/// mixed up.
fn consumer_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "opentime".to_string());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        hasher.finish() as u32
    )
}
