//! Sources: the customer's own JSON APIs that a template calls at open
//! (`"sources"` in the template, `source.NAME` in its expressions;
//! `docs/sources.md`).
//!
//! An open must never wait long for someone else's API, so every answer
//! goes through layers that each save a call:
//!
//! 1. this replica's cache, by resolved URL (and headers), fresh for the
//!    source's `ttl_s`; the URL is parsed strictly and its host checked
//!    again before any call;
//! 2. the answer another replica stored in Redis, with the time it was
//!    fetched, read once when this replica's copy is missing or old;
//! 3. one call per URL at a time, however many opens want it
//!    (`flight.rs`), which goes on in the background when an open stops
//!    waiting, so the next open finds its answer;
//! 4. and when the call fails or is too slow, the last good answer for up
//!    to `stale_s`, else none: `source.NAME` is undefined and the rules
//!    pick another variant.
//!
//! A host that keeps failing is skipped for a while (`breaker.rs`). What
//! logs and metrics say of a call is the source's name, its host and the
//! kind of failure: never its URL's path or query (which name the
//! recipient) nor a header (which may hold a secret).

mod breaker;
mod config;
mod flight;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use minijinja::Value;
use sha2::{Digest, Sha256};

pub use config::{SecretMap, SourcePolicy, SourcesConfig};

use crate::expr::{Context, SECRETS_NAME};
use crate::metrics::Metrics;
use crate::recipient::RecipientId;
use crate::store::Store;
use crate::template::{Source, Template};
use flight::Flights;

/// Bytes of answers one replica keeps, all sources together.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Calls templates' sources for opens. Cheap to clone.
#[derive(Clone)]
pub struct Sources {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sources(..)")
    }
}

struct Inner {
    policy: Arc<SourcePolicy>,
    /// The secrets as a source's texts read them.
    secrets: Value,
    memory: moka::sync::Cache<Key, Arc<Answer>>,
    flights: Flights,
    store: Store,
    metrics: Arc<Metrics>,
    budget: Duration,
}

/// A resolved URL and its headers, hashed: the cache key.
type Key = [u8; 32];

/// One good answer of a source.
#[derive(Debug)]
pub(crate) struct Answer {
    /// When it was fetched, in milliseconds since the epoch.
    fetched_at: u64,
    value: Value,
    /// The JSON as it came, for Redis.
    body: Vec<u8>,
    /// How long it may serve at all: its ttl and stale time.
    keep: Duration,
}

/// Why an open got no fresh answer from a source, as metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The URL or a header did not render.
    Template,
    /// The resolved URL is not a valid URL of a listed host.
    NotAllowed,
    /// The host is skipped after a run of failures.
    CircuitOpen,
    /// The call took longer than its timeout.
    Timeout,
    /// The open's budget ran out before the answer came.
    Budget,
    Status,
    TooLarge,
    BadJson,
    /// A host listed by a wildcard resolved to an internal address.
    PrivateAddress,
    /// Resolving, connecting, TLS or HTTP failed.
    Fetch,
}

impl Failure {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Failure::Template => "template",
            Failure::NotAllowed => "not_allowed",
            Failure::CircuitOpen => "circuit_open",
            Failure::Timeout => "timeout",
            Failure::Budget => "budget",
            Failure::Status => "status",
            Failure::TooLarge => "too_large",
            Failure::BadJson => "bad_json",
            Failure::PrivateAddress => "private_address",
            Failure::Fetch => "fetch",
        }
    }
}

impl Answer {
    fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.fetched_at))
    }

    /// The form kept in Redis: the fetch time, then the JSON.
    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 + self.body.len());
        bytes.extend_from_slice(&self.fetched_at.to_be_bytes());
        bytes.extend_from_slice(&self.body);
        bytes
    }

    fn decode(bytes: &[u8], keep: Duration) -> Option<Answer> {
        let (time, body) = bytes.split_at_checked(8)?;
        let fetched_at = u64::from_be_bytes(time.try_into().ok()?);
        Answer::parse(body.to_vec(), fetched_at, keep).ok()
    }

    fn parse(body: Vec<u8>, fetched_at: u64, keep: Duration) -> Result<Answer, Failure> {
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| Failure::BadJson)?;
        Ok(Answer {
            fetched_at,
            value: Value::from(minijinja::value::Serde(&json)),
            body,
            keep,
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

impl Sources {
    pub fn new(policy: Arc<SourcePolicy>, store: Store, metrics: Arc<Metrics>) -> Sources {
        let memory = moka::sync::Cache::builder()
            .max_capacity(CACHE_BYTES)
            .weigher(|_key: &Key, answer: &Arc<Answer>| {
                u32::try_from(answer.body.len().saturating_mul(3) + 256).unwrap_or(u32::MAX)
            })
            .expire_after(KeepFor)
            .build();
        Sources {
            inner: Arc::new(Inner {
                secrets: policy.secrets_value(),
                budget: policy.budget(),
                policy,
                memory,
                flights: Flights::default(),
                store,
                metrics,
            }),
        }
    }

    /// The longest an open waits for all its sources together.
    pub fn budget(&self) -> Duration {
        self.inner.budget
    }

    /// The answers of `sources` (some of `template`'s) for one open, by
    /// name, each within its timeout and all before `deadline`: those that
    /// could not be had are left out, so expressions see them undefined.
    pub async fn answers<'t>(
        &self,
        template: &'t Template,
        sources: impl IntoIterator<Item = &'t Source>,
        context: &Context,
        recipient: Option<&RecipientId>,
        deadline: Instant,
    ) -> Vec<(String, Value)> {
        self.answers_for(
            template,
            sources,
            || context.clone(),
            None,
            recipient,
            deadline,
        )
        .await
    }

    /// [`Sources::answers`] for an open that knows its declared `query`:
    /// a source keyed by the request alone whose answer is cached costs no
    /// render and no context, which `make_context` builds only for the
    /// others.
    pub async fn answers_for<'t>(
        &self,
        template: &'t Template,
        sources: impl IntoIterator<Item = &'t Source>,
        make_context: impl FnOnce() -> Context,
        query: Option<&BTreeMap<String, String>>,
        recipient: Option<&RecipientId>,
        deadline: Instant,
    ) -> Vec<(String, Value)> {
        let mut answered = Vec::new();
        let mut rest = Vec::new();
        for source in sources {
            let key = query
                .filter(|_| source.request_keyed)
                .map(|query| request_key(source, recipient, query));
            match key.and_then(|key| self.fresh(source, &key)) {
                Some(value) => answered.push((source.name.clone(), value)),
                None => rest.push((source, key)),
            }
        }
        if rest.is_empty() {
            return answered;
        }
        let context = self.context_of(&make_context(), recipient);
        let calls = rest.into_iter().map(|(source, key)| {
            let context = &context;
            async move {
                let answer = self.answer(template, source, context, deadline).await;
                if let (Some(key), Some(answer)) = (key, &answer) {
                    self.inner.memory.insert(key, answer.clone());
                }
                answer.map(|answer| (source.name.clone(), answer.value.clone()))
            }
        });
        answered.extend(
            futures_util::future::join_all(calls)
                .await
                .into_iter()
                .flatten(),
        );
        answered
    }

    /// A fresh answer kept under `key` in this replica, counted as a hit.
    fn fresh(&self, source: &Source, key: &Key) -> Option<Value> {
        let answer = self.inner.memory.get(key)?;
        if answer.age(now_ms()) >= source.ttl {
            return None;
        }
        self.inner
            .metrics
            .source_hits
            .with_label_values(&[source.label.as_str()])
            .inc();
        Some(answer.value.clone())
    }

    /// The context a source's texts render against: the request's, with
    /// `recipient.id` and the secrets.
    fn context_of(&self, context: &Context, recipient: Option<&RecipientId>) -> Context {
        let recipient = match recipient {
            Some(id) => Value::from_pairs([("id", Value::from(id.as_str()))]),
            None => Value::from(BTreeMap::<String, Value>::new()),
        };
        context.with_all([
            ("recipient", recipient),
            (SECRETS_NAME, self.inner.secrets.clone()),
        ])
    }

    async fn answer(
        &self,
        template: &Template,
        source: &Source,
        context: &Context,
        deadline: Instant,
    ) -> Option<Arc<Answer>> {
        let inner = &self.inner;
        let label = source.label.as_str();
        let (url, headers) = match render(template, source, context) {
            Ok(rendered) => rendered,
            Err(failure) => {
                inner.count_failure(label, failure);
                return None;
            }
        };
        // Keyed by the URL as rendered: a cache hit needs no parse. A URL
        // is parsed strictly and checked again only before it is called.
        let key = key_of(&url, &headers);
        let now = now_ms();
        let mut kept = inner.memory.get(&key);
        if kept
            .as_ref()
            .is_none_or(|answer| answer.age(now) >= source.ttl)
        {
            // Another replica may have fetched it since.
            if let Some(shared) = inner.shared(&key, source).await
                && kept
                    .as_ref()
                    .is_none_or(|mine| shared.fetched_at > mine.fetched_at)
            {
                let shared = Arc::new(shared);
                inner.memory.insert(key, shared.clone());
                kept = Some(shared);
            }
        }
        if let Some(answer) = &kept
            && answer.age(now) < source.ttl
        {
            inner.metrics.source_hits.with_label_values(&[label]).inc();
            return Some(answer.clone());
        }
        let target = match inner.policy.hosts().target(&url) {
            Ok(target) => target,
            Err(_) => {
                inner.count_failure(label, Failure::NotAllowed);
                return None;
            }
        };
        let wait_until = deadline.min(Instant::now() + source.timeout);
        let call = flight::Call {
            key,
            label,
            target,
            headers,
            source,
        };
        match flight::call(&self.inner, call, wait_until).await {
            Ok(answer) => Some(answer),
            Err(failure) => {
                if failure == Failure::CircuitOpen || failure == Failure::Budget {
                    inner.count_failure(label, failure);
                }
                let stale = kept.filter(|answer| answer.age(now_ms()) < source.ttl + source.stale);
                if stale.is_some() {
                    inner
                        .metrics
                        .source_stale
                        .with_label_values(&[&label])
                        .inc();
                }
                stale
            }
        }
    }
}

/// Renders a source's URL and headers.
fn render(
    template: &Template,
    source: &Source,
    context: &Context,
) -> Result<(String, Vec<(String, String)>), Failure> {
    let texts = &template.texts;
    let mut url = texts
        .render(source.url, context)
        .map_err(|_| Failure::Template)?;
    url.truncate(url.trim_end().len());
    if url.starts_with(char::is_whitespace) {
        url = url.trim_start().to_string();
    }
    let mut headers = Vec::with_capacity(source.headers.len());
    for (name, text) in &source.headers {
        let value = texts
            .render(*text, context)
            .map_err(|_| Failure::Template)?;
        headers.push((name.clone(), value));
    }
    Ok((url, headers))
}

/// The key of a source's answer by what the request alone says: the
/// source, the recipient and the declared query.
fn request_key(
    source: &Source,
    recipient: Option<&RecipientId>,
    query: &BTreeMap<String, String>,
) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(b"request\0");
    hasher.update(source.label.as_bytes());
    hasher.update([0]);
    hasher.update(recipient.map_or("", RecipientId::as_str).as_bytes());
    for (name, value) in query {
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
    }
    hasher.finalize().into()
}

fn key_of(url: &str, headers: &[(String, String)]) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(url.as_bytes());
    for (name, value) in headers {
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
    }
    hasher.finalize().into()
}

impl Inner {
    fn count_failure(&self, label: &str, failure: Failure) {
        self.metrics
            .source_errors
            .with_label_values(&[label, failure.code()])
            .inc();
    }

    /// The answer another replica stored, if any and readable.
    async fn shared(&self, key: &Key, source: &Source) -> Option<Answer> {
        let keep = source.ttl + source.stale;
        match self.store.source_answer(&hex::encode(key)).await {
            Ok(Some(bytes)) => Answer::decode(&bytes, keep),
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(%error, "a source's shared answer could not be read");
                None
            }
        }
    }
}

/// Keeps an answer in this replica for its ttl and stale time.
struct KeepFor;

impl moka::Expiry<Key, Arc<Answer>> for KeepFor {
    fn expire_after_create(
        &self,
        _key: &Key,
        answer: &Arc<Answer>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(answer.keep)
    }
}
