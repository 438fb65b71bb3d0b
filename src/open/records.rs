//! The pipeline's records step: what the recipient's records add to a
//! request, an evergreen timer's start, their coupon code and the poll's
//! results. (The lock, the last record, is kept by [`super::shown`].)
//!
//! Each of these waits for the store only on a first open (a start or a
//! code to write); later opens read them in the state lookup's round trip.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use minijinja::Value;

use super::Pipeline;
use super::prepare::Prepared;
use super::shown::held_lock;
use crate::expr::Context;
use crate::poll::PollView;
use crate::store::StateRequest;
use crate::template::{Template, TimerDeadline};

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
        coupon_per_email: template
            .coupon
            .as_ref()
            .is_some_and(|coupon| coupon.per_email),
        experiment: template.experiment.as_ref().map(|e| e.id.as_str()),
        ..StateRequest::default()
    }
}

/// The start of the recipient's evergreen timer. Only a person's open
/// starts it; Apple's privacy prefetch and security scanners read a start
/// but never make one, and see the timer's full length. Without a
/// recipient, or with the store down, the timer starts now and nothing is
/// recorded.
pub async fn evergreen_start(
    pipeline: &Pipeline,
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
    match pipeline
        .store
        .timer_start(recipient, &template.name, now, true, EVERGREEN_KEEP)
        .await
    {
        Ok(started) => started,
        Err(error) => {
            pipeline.count_store_error(&error);
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
    /// The code was drawn by this very request (the reports count it).
    pub drawn: bool,
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
async fn coupon(
    pipeline: &Pipeline,
    template: &Template,
    prepared: &Prepared,
) -> Option<CouponState> {
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
        pipeline
            .metrics
            .coupons
            .with_label_values(&[&coupon.pool, result])
            .inc();
    };
    let slot = crate::recipient::code_slot(
        &coupon.pool,
        prepared.email.as_deref().filter(|_| coupon.per_email),
    );
    match pipeline
        .store
        .draw_code(recipient, &coupon.pool, &slot)
        .await
    {
        Ok(Some(code)) => {
            count("drawn");
            Some(CouponState {
                code: Some(code),
                drawn: true,
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

/// What the records add to a request, beside its context: the decision
/// needs the coupon, and a `poll_results` layer draws the poll's results.
#[derive(Debug, Default)]
pub struct Records {
    pub coupon: Option<CouponState>,
    pub poll: Option<PollView>,
}

/// The request context with what the records add, `coupon` (drawn now at
/// a first human open) and `poll`, for the templates that have them.
pub async fn with_records(
    pipeline: &Pipeline,
    template: &Template,
    prepared: &Prepared,
    context: Context,
) -> (Context, Records) {
    let coupon = coupon(pipeline, template, prepared).await;
    let context = with_coupon(template, context, coupon.as_ref());
    let poll = poll_view(pipeline, template, prepared).await;
    let context = with_poll(template, context, poll.as_ref());
    (context, Records { coupon, poll })
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
async fn poll_view(
    pipeline: &Pipeline,
    template: &Template,
    prepared: &Prepared,
) -> Option<PollView> {
    let poll = template.poll.as_ref()?;
    let tally = match pipeline.tallies.get(&poll.id, poll.results_cache) {
        Some(tally) => Some(tally),
        None => match pipeline.store.poll_tally(&poll.id).await {
            Ok(tally) => {
                let tally = Arc::new(tally);
                pipeline.tallies.put(&poll.id, Arc::clone(&tally));
                Some(tally)
            }
            Err(error) => {
                pipeline.count_store_error(&error);
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
pub fn with_poll(template: &Template, context: Context, view: Option<&PollView>) -> Context {
    match (&template.poll, view) {
        (Some(poll), Some(view)) => context.with("poll", view.to_value(poll)),
        _ => context,
    }
}
