//! What a request shows, where records decide it: an evergreen timer's
//! start, the recipient's coupon code, and a render locked at the first
//! human open. Shared by the image and click paths, so that the click
//! always follows what the image showed.
//!
//! Each of these waits for the store only on a first open (a start, a code
//! or a lock to write); later opens read them in the state lookup's round
//! trip.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use minijinja::Value;
use serde::{Deserialize, Serialize};

use super::recipient::Prepared;
use crate::app::App;
use crate::decide::{choose_variant, resolve_link, resolve_texts};
use crate::expr::{Context, ExprError};
use crate::poll::PollView;
use crate::store::StateRequest;
use crate::template::{Template, TimerDeadline, Variant};

/// How long a store keeps an evergreen timer's start after it began: long
/// past any timer, so that a late re-open still sees "ended", and bounded,
/// so that starts do not pile up forever.
const EVERGREEN_KEEP: Duration = Duration::from_secs(400 * 24 * 3600);

/// What an open of `template` reads besides the profile: its timer's
/// start, its lock, its code, the recipient's vote and preferences, as the
/// template uses them. Shared by `/i/` and `/a/`, which decide alike.
pub fn open_request(template: &Template) -> StateRequest<'_> {
    StateRequest {
        template: &template.name,
        timer: template.is_evergreen(),
        lock: template.lock_at_first_open,
        coupon_pool: template.coupon.as_ref().map(|coupon| coupon.pool.as_str()),
        poll: template.poll.as_ref().map(|poll| poll.id.as_str()),
        prefs: template.reads_prefs,
        ..StateRequest::default()
    }
}

/// The start of the recipient's evergreen timer. Only a person's open
/// starts it; Apple's privacy prefetch and security scanners read a start
/// but never make one, and see the timer's full length. Without a
/// recipient, or with the store down, the timer starts now and nothing is
/// recorded.
pub async fn evergreen_start(
    app: &App,
    template: &Template,
    prepared: &Prepared,
) -> Option<Timestamp> {
    let timer = template.timer.as_ref()?;
    if !matches!(timer.deadline, TimerDeadline::Evergreen { .. }) {
        return None;
    }
    if let Some(started) = prepared.records.timer_start {
        return Some(started);
    }
    let recipient = prepared.person_with_records()?;
    let now = prepared.context.now.zoned().timestamp();
    match app
        .store
        .timer_start(recipient, &template.name, now, true, EVERGREEN_KEEP)
        .await
    {
        Ok(started) => started,
        Err(error) => {
            app.metrics
                .store_errors
                .with_label_values(&[error.code()])
                .inc();
            tracing::debug!(recipient = %recipient, %error, "the evergreen start was not stored; counting from now");
            None
        }
    }
}

/// The recipient's coupon for a template with a pool, as rules and texts
/// read it (`coupon.code`, `coupon.exhausted`).
#[derive(Debug, Clone, Default)]
pub struct CouponState {
    pub code: Option<String>,
    /// The pool was empty when this recipient's first human open came.
    pub exhausted: bool,
    /// False when the store failed to say: a draw may still be under way,
    /// so nothing may be locked on this open.
    pub unsettled: bool,
}

impl CouponState {
    pub fn to_value(&self, pool: &str) -> Value {
        let mut fields = vec![
            ("pool", Value::from(pool)),
            ("exhausted", Value::from(self.exhausted)),
        ];
        if let Some(code) = &self.code {
            fields.push(("code", Value::from(code.as_str())));
        }
        Value::from_pairs(fields)
    }
}

/// The recipient's code, drawing one at their first human open (or
/// click). Machine requests and requests without a recipient read a code
/// but never draw one, so Apple's prefetch or a scanner cannot empty a
/// pool.
async fn coupon(app: &App, template: &Template, prepared: &Prepared) -> Option<CouponState> {
    let coupon = template.coupon.as_ref()?;
    // A held lock shows what it showed, with or without a code: drawing one
    // now would take a code nobody sees.
    if prepared.records.code.is_some() || held_lock(template, prepared).is_some() {
        return Some(CouponState {
            code: prepared.records.code.clone(),
            ..CouponState::default()
        });
    }
    let Some(recipient) = prepared.person_with_records() else {
        return Some(CouponState::default());
    };
    let count = |result: &str| {
        app.metrics
            .coupons
            .with_label_values(&[&coupon.pool, result])
            .inc();
    };
    match app.store.draw_code(recipient, &coupon.pool).await {
        Ok(Some(code)) => {
            count("drawn");
            Some(CouponState {
                code: Some(code),
                ..CouponState::default()
            })
        }
        Ok(None) => {
            count("exhausted");
            tracing::warn!(template = %template.name, pool = %coupon.pool, "the coupon pool is empty");
            Some(CouponState {
                exhausted: true,
                ..CouponState::default()
            })
        }
        Err(error) => {
            count("error");
            tracing::debug!(recipient = %recipient, %error, "no coupon code drawn");
            Some(CouponState {
                unsettled: true,
                ..CouponState::default()
            })
        }
    }
}

/// The request context with what the records add: the recipient's coupon
/// (drawn now at a first human open) and the poll's results, for the
/// templates that have them. Answers the coupon too, which the decision
/// needs.
pub async fn with_records(
    app: &App,
    template: &Template,
    prepared: &Prepared,
    context: Context,
) -> (Context, Option<CouponState>) {
    let coupon = coupon(app, template, prepared).await;
    let context = with_coupon(template, context, coupon.as_ref());
    let poll = poll_view(app, template, prepared).await;
    (with_poll(template, context, poll), coupon)
}

/// The request context with `coupon` added for a template with a pool.
fn with_coupon(template: &Template, context: Context, coupon: Option<&CouponState>) -> Context {
    match (&template.coupon, coupon) {
        (Some(settings), Some(state)) => context.with("coupon", state.to_value(&settings.pool)),
        _ => context,
    }
}

/// The poll's results as this request sees them: the tally (read at most
/// once per the poll's cache time on this replica) and the recipient's
/// own vote, which the state lookup read. A tally the store cannot give
/// is left unknown, and is not cached.
async fn poll_view(app: &App, template: &Template, prepared: &Prepared) -> Option<PollView> {
    let poll = template.poll.as_ref()?;
    let tally = match app.tallies.get(&poll.id, poll.results_cache) {
        Some(tally) => Some(tally),
        None => match app.store.poll_tally(&poll.id).await {
            Ok(tally) => {
                let tally = Arc::new(tally);
                app.tallies.put(&poll.id, Arc::clone(&tally));
                Some(tally)
            }
            Err(error) => {
                app.metrics
                    .store_errors
                    .with_label_values(&[error.code()])
                    .inc();
                tracing::debug!(poll = %poll.id, %error, "the poll's tally was not read; results show no counts");
                None
            }
        },
    };
    Some(PollView::new(
        poll,
        tally.as_deref(),
        prepared.records.vote.as_deref(),
    ))
}

/// The request context with `poll` added for a template with a poll.
fn with_poll(template: &Template, context: Context, view: Option<PollView>) -> Context {
    match (&template.poll, view) {
        (Some(poll), Some(view)) => context.with_poll(poll, view),
        _ => context,
    }
}

/// What a template shows a request: the variant, its resolved texts and,
/// when a lock holds, the link it recorded.
#[derive(Debug)]
pub struct Shown<'t> {
    pub variant: &'t Variant,
    pub texts: Vec<String>,
    /// The link a lock kept; `None` resolves the variant's link now.
    pub locked_link: Option<Option<String>>,
}

/// A lock as the store keeps it: the variant, its resolved texts, and its
/// resolved link (JSON, in `{prefix}r:{ID}:lock:{template}`).
#[derive(Debug, Serialize, Deserialize)]
struct LockRecord {
    variant: String,
    texts: Vec<String>,
    link: Option<String>,
}

/// Decides what to show: the lock, when one holds; else the rules (or the
/// coupon's exhausted variant); and at a person's first open of a locking
/// template, keeps that as the lock. A lock whose variant no longer exists
/// in the template (an edit removed it) or whose texts no longer fit is
/// ignored, and the rules decide.
pub async fn decide<'t>(
    app: &App,
    template: &'t Template,
    prepared: &Prepared,
    context: &Context,
    coupon: Option<&CouponState>,
) -> Result<Shown<'t>, ExprError> {
    if let Some(shown) = held_lock(template, prepared) {
        return Ok(shown);
    }
    let exhausted = template
        .coupon
        .as_ref()
        .and_then(|settings| settings.exhausted_variant)
        .filter(|_| coupon.is_some_and(|state| state.exhausted));
    // Failed conditions are counted here, before a text can fail.
    let (variant, condition_errors) = match exhausted {
        Some(index) => (&template.variants[index], 0),
        None => {
            let choice = choose_variant(template, context, prepared.personalization);
            (choice.variant, choice.condition_errors)
        }
    };
    if condition_errors > 0 {
        app.metrics
            .condition_errors
            .with_label_values(&[&template.name])
            .inc_by(u64::from(condition_errors));
    }
    let texts = resolve_texts(template, variant, context)?;
    let mut shown = Shown {
        variant,
        texts,
        locked_link: None,
    };
    let coupon_unsettled = coupon.is_some_and(|state| state.unsettled);
    let Some(recipient) = prepared
        .person_with_records()
        .filter(|_| template.lock_at_first_open && !coupon_unsettled)
    else {
        return Ok(shown);
    };
    // A link that does not resolve is kept as none; the click then says so.
    let link = resolve_link(template, variant, context).unwrap_or_default();
    let record = LockRecord {
        variant: variant.id.clone(),
        texts: shown.texts.clone(),
        link: link.clone(),
    };
    let encoded = serde_json::to_string(&record).expect("a lock record is plain strings");
    let count = |result: &str| {
        app.metrics
            .locks
            .with_label_values(&[&template.name, result])
            .inc();
    };
    // A lock that no longer fits the template (an edit removed its variant)
    // is replaced; otherwise the first lock stored wins.
    let stored = match prepared.records.lock.as_deref() {
        Some(stale) => {
            app.store
                .replace_lock(recipient, &template.name, stale, &encoded)
                .await
        }
        None => app.store.lock(recipient, &template.name, &encoded).await,
    };
    match stored {
        // A concurrent first open stored its lock a moment before ours: show
        // that one, so both devices agree.
        Ok(holding) if holding != encoded => {
            count("locked");
            if let Some(theirs) = from_lock(template, &holding) {
                return Ok(theirs);
            }
        }
        Ok(_) => count("locked"),
        Err(error) => {
            count("error");
            tracing::debug!(recipient = %recipient, %error, "the lock was not stored; showing the rules' choice");
        }
    }
    shown.locked_link = Some(link);
    Ok(shown)
}

/// The lock the state lookup found, if the template locks and it still
/// fits.
pub fn held_lock<'t>(template: &'t Template, prepared: &Prepared) -> Option<Shown<'t>> {
    if !template.lock_at_first_open {
        return None;
    }
    from_lock(template, prepared.records.lock.as_deref()?)
}

/// A stored lock, if it still fits the template.
fn from_lock<'t>(template: &'t Template, record: &str) -> Option<Shown<'t>> {
    let record: LockRecord = serde_json::from_str(record).ok()?;
    let variant = template.variant(&record.variant)?;
    let slots: usize = variant.layers.iter().map(|layer| layer.text_slots()).sum();
    (record.texts.len() == slots).then_some(Shown {
        variant,
        texts: record.texts,
        locked_link: Some(record.link),
    })
}
