//! Cache warming: rendering, ahead of a send's open spike, what each
//! recipient of a list would see now, one job at a time per list.
//!
//! A job takes the recipients one at a time, at most `rate` a second, and
//! renders at most one image at once, waiting for a free render slot
//! behind the requests: live traffic always has the other slots. What it
//! renders goes to this replica's cache and to the shared cache in Redis,
//! so every replica finds it. Nothing is written for the recipient (no
//! lock, code, timer start or open): the rules run as for an open by
//! `opener` (a person by default) with the given User-Agent
//! ([`Pipeline::warm_one`]).
//!
//! Progress is kept here and, with Redis, copied there every second, so
//! that any replica can answer for a job. The admin API
//! (`POST /api/v1/warm`) reads orders and lists and starts jobs here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cache::Source;
use crate::expr::Opener;
use crate::open::preview::Warmed;
use crate::open::{Pipeline, Target};
use crate::recipient::RecipientId;
use crate::store::StoreError;
use crate::template::Template;

/// Recipients one job may hold.
pub const MAX_RECIPIENTS: usize = 1_000_000;

/// Jobs running at once on one replica.
pub const MAX_RUNNING: usize = 4;

/// How long a finished job's progress stays readable.
const KEEP_FINISHED: Duration = Duration::from_secs(3600);

/// Why a job did not start, or cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum WarmError {
    #[error("{MAX_RUNNING} warming jobs run on this replica already")]
    TooManyJobs,
    #[error("a job holds at most {MAX_RECIPIENTS} recipients; start several")]
    TooManyRecipients,
    #[error("no recipients to warm")]
    NoRecipients,
    #[error("no such warming job (finished jobs are kept an hour)")]
    NoJob,
    #[error("no such warming job on this replica")]
    NotHere,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The jobs of this replica.
#[derive(Debug, Default, Clone)]
pub struct WarmJobs {
    jobs: Arc<Mutex<HashMap<String, Arc<Progress>>>>,
}

/// What one job has done so far.
#[derive(Debug)]
pub struct Progress {
    id: String,
    template: String,
    total: u64,
    done: AtomicU64,
    rendered: AtomicU64,
    cached: AtomicU64,
    errors: AtomicU64,
    started: Instant,
    started_at: String,
    finished: Mutex<Option<(Instant, String)>>,
    cancelled: AtomicBool,
}

impl Progress {
    pub fn to_value(&self) -> Value {
        let done = self.done.load(Ordering::Relaxed);
        let finished = self
            .finished
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let elapsed = finished
            .as_ref()
            .map_or_else(|| self.started.elapsed(), |(at, _)| *at - self.started)
            .as_secs_f64();
        let rate = if elapsed > 0.0 {
            done as f64 / elapsed
        } else {
            0.0
        };
        let left = self.total.saturating_sub(done);
        let state = match (&finished, self.cancelled.load(Ordering::Relaxed)) {
            (None, _) => "running",
            (Some(_), true) => "cancelled",
            (Some(_), false) => "done",
        };
        json!({
            "job": self.id,
            "template": self.template,
            "state": state,
            "total": self.total,
            "done": done,
            "rendered": self.rendered.load(Ordering::Relaxed),
            "cached": self.cached.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "rate": (rate * 10.0).round() / 10.0,
            "eta_seconds": if finished.is_some() { Some(0) } else if rate > 0.0 { Some((left as f64 / rate).ceil() as u64) } else { None },
            "started_at": self.started_at,
            "finished_at": finished.map(|(_, at)| at),
        })
    }

    fn is_running(&self) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_none()
    }
}

/// What a job renders.
pub struct Order {
    pub template: Arc<Template>,
    pub target: Target,
    pub user_agent: Option<String>,
    pub opener: Opener,
    pub query: BTreeMap<String, String>,
}

impl WarmJobs {
    /// Starts a job warming `recipients` for `order`, at most `rate` a
    /// second, and answers its first progress.
    pub fn start(
        &self,
        pipeline: &Pipeline,
        rate: u32,
        order: Order,
        recipients: Vec<RecipientId>,
    ) -> Result<Value, WarmError> {
        if recipients.is_empty() {
            return Err(WarmError::NoRecipients);
        }
        if recipients.len() > MAX_RECIPIENTS {
            return Err(WarmError::TooManyRecipients);
        }
        let progress = self.admit(&order.template.name, recipients.len())?;
        let answer = progress.to_value();
        tokio::spawn(run(pipeline.clone(), rate, order, recipients, progress));
        Ok(answer)
    }

    /// A job's progress: this replica's, else what another replica copied
    /// to the store.
    pub async fn progress(
        &self,
        store: &crate::store::Store,
        job: &str,
    ) -> Result<Value, WarmError> {
        if let Some(progress) = self.get(job) {
            return Ok(progress.to_value());
        }
        let valid = job.len() == 32 && job.bytes().all(|b| b.is_ascii_hexdigit());
        if valid
            && let Some(stored) = store.warm_progress(job).await?
            && let Ok(value) = serde_json::from_str::<Value>(&stored)
        {
            return Ok(value);
        }
        Err(WarmError::NoJob)
    }

    /// Stops a job of this replica, and answers its progress.
    pub fn cancel(&self, job: &str) -> Result<Value, WarmError> {
        let progress = self.get(job).ok_or(WarmError::NotHere)?;
        if progress.is_running() {
            progress.cancelled.store(true, Ordering::Relaxed);
        }
        Ok(progress.to_value())
    }

    /// Refuses a job while [`MAX_RUNNING`] run already.
    pub fn check_room(&self) -> Result<(), WarmError> {
        if self.lock().values().filter(|job| job.is_running()).count() >= MAX_RUNNING {
            return Err(WarmError::TooManyJobs);
        }
        Ok(())
    }

    /// Registers a new job, unless [`MAX_RUNNING`] run already.
    fn admit(&self, template: &str, total: usize) -> Result<Arc<Progress>, WarmError> {
        let mut jobs = self.lock();
        jobs.retain(|_, job| {
            job.is_running()
                || job
                    .finished
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .as_ref()
                    .is_some_and(|(at, _)| at.elapsed() < KEEP_FINISHED)
        });
        if jobs.values().filter(|job| job.is_running()).count() >= MAX_RUNNING {
            return Err(WarmError::TooManyJobs);
        }
        let progress = Arc::new(Progress {
            id: new_job_id(jobs.len()),
            template: template.to_string(),
            total: total as u64,
            done: AtomicU64::new(0),
            rendered: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            started: Instant::now(),
            started_at: jiff::Timestamp::now().to_string(),
            finished: Mutex::new(None),
            cancelled: AtomicBool::new(false),
        });
        jobs.insert(progress.id.clone(), progress.clone());
        Ok(progress)
    }

    fn get(&self, job: &str) -> Option<Arc<Progress>> {
        self.lock().get(job).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Progress>>> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// 128 bits no other job id shares: a hash of the time, the process and
/// a counter.
fn new_job_id(salt: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes(),
    );
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hasher.update(salt.to_le_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Runs a job to its end, or until it is cancelled.
async fn run(
    pipeline: Pipeline,
    rate: u32,
    order: Order,
    recipients: Vec<RecipientId>,
    progress: Arc<Progress>,
) {
    let pace = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticks = tokio::time::interval(pace);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = Instant::now();
    let count = |result: &str| {
        pipeline
            .metrics
            .warm_recipients
            .with_label_values(&[result])
            .inc();
    };
    for recipient in recipients {
        if progress.cancelled.load(Ordering::Relaxed) {
            break;
        }
        ticks.tick().await;
        let outcome = pipeline
            .warm_one(
                &order.template,
                order.target,
                recipient,
                order.query.clone(),
                order.user_agent.as_deref(),
                order.opener,
            )
            .await;
        match outcome {
            Warmed::Done(Source::Render) => {
                progress.rendered.fetch_add(1, Ordering::Relaxed);
                count("rendered");
            }
            Warmed::Done(Source::Cache | Source::Shared) => {
                progress.cached.fetch_add(1, Ordering::Relaxed);
                count("cached");
            }
            Warmed::Failed => {
                progress.errors.fetch_add(1, Ordering::Relaxed);
                count("error");
            }
        }
        progress.done.fetch_add(1, Ordering::Relaxed);
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            report(&pipeline, &progress).await;
        }
    }
    *progress
        .finished
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) =
        Some((Instant::now(), jiff::Timestamp::now().to_string()));
    report(&pipeline, &progress).await;
    tracing::info!(job = %progress.id, progress = %progress.to_value(), "cache warming job ended");
}

/// Copies the progress to the store, for the other replicas.
async fn report(pipeline: &Pipeline, progress: &Progress) {
    let text = progress.to_value().to_string();
    if let Err(error) = pipeline
        .store
        .with_budget(Duration::from_secs(1))
        .put_warm_progress(&progress.id, &text, KEEP_FINISHED)
        .await
    {
        tracing::debug!(%error, "cannot copy a warming job's progress to the store");
    }
}
