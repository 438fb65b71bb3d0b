//! Cache warming: `POST /api/v1/warm` renders, ahead of a send's open
//! spike, what each recipient of a list would see now, and
//! `GET /api/v1/warm/{job}` reports how far it got.
//!
//! A job takes the recipients one at a time, at most `warm_rate` a second,
//! and renders at most one image at once, waiting for a free render slot
//! behind the requests: live traffic always has the other slots. What it
//! renders goes to this replica's cache and to the shared cache in Redis,
//! so every replica finds it. Nothing is written for the recipient (no
//! lock, code, timer start or open): the rules run as for an open by
//! `opener` (a person by default) with the given User-Agent.
//!
//! Progress is kept here and, with Redis, copied there every second, so
//! that any replica can answer for a job.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::admin::{ApiError, body_error, recipient_named};
use super::content;
use super::image::{Resolved, resolve};
use super::lines::{Line, LineReader};
use super::query::ImageTarget;
use super::recipient::prepare_known;
use crate::app::App;
use crate::cache::Source;
use crate::expr::Opener;
use crate::recipient::RecipientId;
use crate::render::OutputFormat;
use crate::template::Template;

/// Recipients one job may hold.
pub const MAX_RECIPIENTS: usize = 1_000_000;

/// The largest JSON order read; longer lists come as NDJSON.
const MAX_JSON_ORDER: usize = 16 * 1024 * 1024;

/// Jobs running at once on one replica.
pub const MAX_RUNNING: usize = 4;

/// How long a finished job's progress stays readable.
const KEEP_FINISHED: Duration = Duration::from_secs(3600);

/// The longest line of an NDJSON list.
const MAX_LINE: usize = 4096;

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
struct Order {
    template: Arc<Template>,
    target: ImageTarget,
    user_agent: Option<String>,
    opener: Opener,
    query: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderJson {
    template: String,
    #[serde(default)]
    scale: Option<u32>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    opener: Option<String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    recipients: Vec<String>,
}

/// `POST /api/v1/warm`: a JSON order with its `recipients`, or an NDJSON
/// body of `{"recipient": ...}` lines with the order in the query string.
pub(super) async fn start(
    app: &App,
    query: &super::query::QueryPairs,
    content_type: Option<&str>,
    body: Incoming,
) -> Result<Value, ApiError> {
    let ndjson = content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/x-ndjson")
            || essence.eq_ignore_ascii_case("application/jsonl")
    });
    // Refused before the list is read, so that parallel calls do not each
    // hold one.
    app.warm_jobs.check_room()?;
    let (order, recipients) = if ndjson {
        for (name, _) in &query.0 {
            if !["template", "scale", "format", "user_agent", "opener"].contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "{name:?} is not a warming parameter: template, scale, format, user_agent, opener"
                )));
            }
        }
        let order = OrderJson {
            template: query.get("template").unwrap_or_default().to_string(),
            scale: match query.get("scale") {
                Some(scale) => Some(
                    scale
                        .parse()
                        .map_err(|_| ApiError::bad_request("scale is 1 or 2"))?,
                ),
                None => None,
            },
            format: query.get("format").map(str::to_string),
            user_agent: query.get("user_agent").map(str::to_string),
            opener: query.get("opener").map(str::to_string),
            query: BTreeMap::new(),
            recipients: Vec::new(),
        };
        let order = check_order(app, order)?;
        (order, read_list(body).await?)
    } else {
        let bytes = super::form::read_limited(body, MAX_JSON_ORDER)
            .await
            .map_err(body_error)?;
        let mut json: OrderJson = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::bad_request(format!(
                "send {{\"template\": name, \"recipients\": [ids], ...}} or NDJSON: {error}"
            ))
        })?;
        if json.recipients.len() > MAX_RECIPIENTS {
            return Err(too_many());
        }
        let recipients = std::mem::take(&mut json.recipients)
            .iter()
            .enumerate()
            .map(|(index, id)| {
                recipient_named(id).map_err(|error| {
                    ApiError::bad_request(format!("recipients[{index}]: {}", error.message))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        (check_order(app, json)?, recipients)
    };
    if recipients.is_empty() {
        return Err(ApiError::bad_request("no recipients to warm"));
    }
    let progress = app
        .warm_jobs
        .admit(&order.template.name, recipients.len())?;
    let answer = progress.to_value();
    tokio::spawn(run(app.clone(), order, recipients, progress));
    Ok(answer)
}

/// `GET /api/v1/warm/{job}`.
pub(super) async fn progress(app: &App, job: &str) -> Result<Value, ApiError> {
    if let Some(progress) = app.warm_jobs.get(job) {
        return Ok(progress.to_value());
    }
    let valid = job.len() == 32 && job.bytes().all(|b| b.is_ascii_hexdigit());
    if valid
        && let Some(stored) = app.store.warm_progress(job).await?
        && let Ok(value) = serde_json::from_str::<Value>(&stored)
    {
        return Ok(value);
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no_job",
        "no such warming job (finished jobs are kept an hour)",
    ))
}

/// `DELETE /api/v1/warm/{job}`: stops a job of this replica.
pub(super) fn cancel(app: &App, job: &str) -> Result<Value, ApiError> {
    let progress = app.warm_jobs.get(job).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_job",
            "no such warming job on this replica",
        )
    })?;
    if progress.is_running() {
        progress.cancelled.store(true, Ordering::Relaxed);
    }
    Ok(progress.to_value())
}

fn check_order(app: &App, order: OrderJson) -> Result<Order, ApiError> {
    let template = app.templates.get(&order.template).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_template",
            format!("no template {:?} is loaded", order.template),
        )
    })?;
    let target = target_of(&template, order.scale, order.format.as_deref())?;
    let opener = opener_named(order.opener.as_deref())?;
    let mut query = BTreeMap::new();
    for (name, value) in order.query {
        match template.params.get(&name) {
            Some(spec) if value.len() <= spec.max_len => {
                query.insert(name, value);
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!("query.{name} is too long")));
            }
            None => {
                return Err(ApiError::bad_request(format!(
                    "query.{name} is not a parameter the template declares"
                )));
            }
        }
    }
    Ok(Order {
        target,
        template,
        user_agent: order.user_agent,
        opener,
        query,
    })
}

/// The image a warm job or a preview renders: the template's format and
/// 1x unless asked otherwise, and only what the template offers.
pub(super) fn target_of(
    template: &Template,
    scale: Option<u32>,
    format: Option<&str>,
) -> Result<ImageTarget, ApiError> {
    let format = match format.filter(|name| !name.is_empty()) {
        None => template.format,
        Some(name) => OutputFormat::from_extension(name)
            .ok_or_else(|| ApiError::bad_request("format is png, jpg or gif"))?,
    };
    if format == OutputFormat::Gif && template.timer.is_none() {
        return Err(ApiError::bad_request("only a countdown template is a gif"));
    }
    let scale = scale.unwrap_or(1);
    if !template.allows_scale(scale) {
        return Err(ApiError::bad_request(
            "the template does not offer that scale",
        ));
    }
    Ok(ImageTarget {
        name: template.name.clone(),
        scale,
        format,
    })
}

/// The opener the rules see: a person unless named.
pub(super) fn opener_named(label: Option<&str>) -> Result<Opener, ApiError> {
    match label.filter(|label| !label.is_empty()) {
        None => Ok(Opener::Human),
        Some(label) => Opener::from_str_label(label).ok_or_else(|| {
            ApiError::bad_request(
                "opener is human, apple_proxy, gmail_proxy, yahoo_proxy or scanner",
            )
        }),
    }
}

/// The ids of an NDJSON body; the first bad line fails the call, naming it.
async fn read_list(body: Incoming) -> Result<Vec<RecipientId>, ApiError> {
    #[derive(Deserialize)]
    struct Item {
        recipient: String,
    }
    let mut reader = LineReader::new(body, MAX_LINE);
    let mut recipients = Vec::new();
    while let Some(line) = reader
        .next_line()
        .await
        .map_err(|error| ApiError::bad_request(error.to_string()))?
    {
        let (number, bytes): (u64, Bytes) = match line {
            Line::Text { number, bytes } => (number, bytes),
            Line::TooLong { number } => {
                return Err(ApiError::bad_request(format!("line {number} is too long")));
            }
        };
        let item: Item = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::bad_request(format!(
                "line {number}: a line is {{\"recipient\": id, ...}}: {error}"
            ))
        })?;
        let id = recipient_named(&item.recipient)
            .map_err(|error| ApiError::bad_request(format!("line {number}: {}", error.message)))?;
        if recipients.len() == MAX_RECIPIENTS {
            return Err(too_many());
        }
        recipients.push(id);
    }
    Ok(recipients)
}

fn too_many_jobs() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_jobs",
        format!("{MAX_RUNNING} warming jobs run on this replica already"),
    )
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many",
        format!("a job holds at most {MAX_RECIPIENTS} recipients; start several"),
    )
}

impl WarmJobs {
    /// Refuses a job while [`MAX_RUNNING`] run already.
    fn check_room(&self) -> Result<(), ApiError> {
        if self.lock().values().filter(|job| job.is_running()).count() >= MAX_RUNNING {
            return Err(too_many_jobs());
        }
        Ok(())
    }

    /// Registers a new job, unless [`MAX_RUNNING`] run already.
    fn admit(&self, template: &str, total: usize) -> Result<Arc<Progress>, ApiError> {
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
            return Err(too_many_jobs());
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
async fn run(app: App, order: Order, recipients: Vec<RecipientId>, progress: Arc<Progress>) {
    let pace = Duration::from_secs_f64(1.0 / f64::from(app.config.warm_rate.max(1)));
    let mut ticks = tokio::time::interval(pace);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = Instant::now();
    let wants = content::open_request(&order.template);
    let count = |result: &str| {
        app.metrics
            .warm_recipients
            .with_label_values(&[result])
            .inc();
    };
    for recipient in recipients {
        if progress.cancelled.load(Ordering::Relaxed) {
            break;
        }
        ticks.tick().await;
        let prepared = prepare_known(
            &app,
            recipient,
            &wants,
            order.query.clone(),
            order.user_agent.as_deref(),
            order.opener,
        )
        .await;
        let outcome = match resolve(&app, &order.template, &order.target, &prepared).await {
            Ok(Resolved { key, artwork, .. }) => app.cache.warm(key, artwork).await.ok(),
            Err(()) => None,
        };
        match outcome {
            Some(Source::Render) => {
                progress.rendered.fetch_add(1, Ordering::Relaxed);
                count("rendered");
            }
            Some(Source::Cache | Source::Shared) => {
                progress.cached.fetch_add(1, Ordering::Relaxed);
                count("cached");
            }
            None => {
                progress.errors.fetch_add(1, Ordering::Relaxed);
                count("error");
            }
        }
        progress.done.fetch_add(1, Ordering::Relaxed);
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            report(&app, &progress).await;
        }
    }
    *progress
        .finished
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) =
        Some((Instant::now(), jiff::Timestamp::now().to_string()));
    report(&app, &progress).await;
    tracing::info!(job = %progress.id, progress = %progress.to_value(), "cache warming job ended");
}

/// Copies the progress to the store, for the other replicas.
async fn report(app: &App, progress: &Progress) {
    let text = progress.to_value().to_string();
    if let Err(error) = app
        .store
        .with_budget(Duration::from_secs(1))
        .put_warm_progress(&progress.id, &text, KEEP_FINISHED)
        .await
    {
        tracing::debug!(%error, "cannot copy a warming job's progress to the store");
    }
}
