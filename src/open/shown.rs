//! The pipeline's decide step: what a template shows a request. A lock
//! kept at the recipient's first human open, when one holds; else the
//! rules (or the coupon's exhausted variant), resolved into typed
//! [`Content`]; and at a person's first open of a locking template, that
//! choice kept as the lock, so later opens and the click agree with it.

use super::Pipeline;
use super::content::{Content, resolve_content};
use super::decide::{choose_variant, resolve_link};
use super::lock::Lock;
use super::prepare::Prepared;
use super::records::Records;
use crate::expr::{Context, ExprError};
use crate::template::{Template, Variant};

/// What a template shows a request.
#[derive(Debug)]
pub struct Shown<'t> {
    pub variant: &'t Variant,
    pub content: Content,
    /// Where the click goes: the link a lock kept, or the variant's link
    /// resolved at click time.
    pub link: ShownLink,
}

/// Where a click on what was shown goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShownLink {
    /// No lock: the variant's link, resolved when the click comes.
    ResolveAtClick,
    /// The link a lock kept, resolved at the first open; `None` when the
    /// variant had none or it did not resolve.
    Kept(Option<String>),
}

impl<'t> From<Lock<'t>> for Shown<'t> {
    fn from(lock: Lock<'t>) -> Shown<'t> {
        Shown {
            variant: lock.variant,
            content: lock.content,
            link: ShownLink::Kept(lock.link),
        }
    }
}

/// Decides what to show: the lock, when one holds; else the rules (or the
/// coupon's exhausted variant); and at a person's first open of a locking
/// template, keeps that as the lock. A lock whose variant no longer exists
/// in the template (an edit removed it) or whose content no longer fits is
/// ignored, and the rules decide.
pub async fn decide<'t>(
    pipeline: &Pipeline,
    template: &'t Template,
    prepared: &Prepared,
    context: &Context,
    records: &Records,
) -> Result<Shown<'t>, ExprError> {
    if let Some(shown) = held_lock(template, prepared) {
        return Ok(shown);
    }
    let coupon = records.coupon.as_ref();
    // Failed conditions are counted here, before a text can fail.
    let (variant, condition_errors) = rules_choice(template, prepared, context, records);
    if condition_errors > 0 {
        pipeline
            .metrics
            .condition_errors
            .with_label_values(&[&template.name])
            .inc_by(u64::from(condition_errors));
    }
    let content = resolve_content(template, variant, context, records.poll.as_ref())?;
    let coupon_unsettled = coupon.is_some_and(|state| state.unsettled);
    let Some(recipient) = prepared
        .person_with_records()
        .filter(|_| template.lock_at_first_open && !coupon_unsettled)
    else {
        return Ok(Shown {
            variant,
            content,
            link: ShownLink::ResolveAtClick,
        });
    };
    // A link that does not resolve is kept as none; the click then says so.
    let lock = Lock {
        variant,
        content,
        link: resolve_link(template, variant, context).unwrap_or_default(),
    };
    let encoded = lock.encode();
    let count = |result: &str| {
        pipeline
            .metrics
            .locks
            .with_label_values(&[&template.name, result])
            .inc();
    };
    // A lock that no longer fits the template (an edit removed its variant)
    // is replaced; otherwise the first lock stored wins.
    let stored = match prepared.records.lock.as_deref() {
        Some(stale) => {
            pipeline
                .store
                .replace_lock(recipient, &prepared.record(&template.name), stale, &encoded)
                .await
        }
        None => {
            pipeline
                .store
                .lock(recipient, &prepared.record(&template.name), &encoded)
                .await
        }
    };
    match stored {
        // A concurrent first open stored its lock a moment before ours: show
        // that one, so both devices agree.
        Ok(holding) if holding != encoded => {
            count("locked");
            if let Some(theirs) = Lock::decode(template, &holding) {
                return Ok(theirs.into());
            }
        }
        Ok(_) => count("locked"),
        Err(error) => {
            count("error");
            tracing::debug!(recipient = %recipient, %error, "the lock was not stored; showing the rules' choice");
        }
    }
    Ok(lock.into())
}

/// The variant the rules choose (the coupon's exhausted variant when its
/// codes ran out), and how many conditions failed on the way.
fn rules_choice<'t>(
    template: &'t Template,
    prepared: &Prepared,
    context: &Context,
    records: &Records,
) -> (&'t Variant, u32) {
    let exhausted = template
        .coupon
        .as_ref()
        .and_then(|settings| settings.exhausted_variant)
        .filter(|_| records.coupon.as_ref().is_some_and(|state| state.exhausted));
    match exhausted {
        Some(index) => (&template.variants[index], 0),
        None => {
            let choice = choose_variant(
                template,
                context,
                prepared.personalization,
                prepared.arm.as_deref(),
            );
            (choice.variant, choice.condition_errors)
        }
    }
}

/// What the studio shows: `variant`, whatever the rules choose, and the
/// variant a lock or the rules would have shown. Writes nothing: a
/// forced variant never becomes a lock.
pub fn force<'t>(
    template: &'t Template,
    variant: &'t Variant,
    prepared: &Prepared,
    context: &Context,
    records: &Records,
) -> Result<(Shown<'t>, &'t Variant), ExprError> {
    let chosen = match held_lock(template, prepared) {
        Some(lock) => lock.variant,
        None => rules_choice(template, prepared, context, records).0,
    };
    let content = resolve_content(template, variant, context, records.poll.as_ref())?;
    let shown = Shown {
        variant,
        content,
        link: ShownLink::ResolveAtClick,
    };
    Ok((shown, chosen))
}

/// [`decide`], or, when a text of the chosen variant does not resolve, the
/// default variant, as an open would show the fallback image; `None` when
/// even the default's texts do not resolve. For the answers in words (AMP,
/// send time), which have no fallback image to give.
pub async fn decide_or_default<'t>(
    pipeline: &Pipeline,
    template: &'t Template,
    prepared: &Prepared,
    context: &Context,
    records: &Records,
) -> Option<Shown<'t>> {
    match decide(pipeline, template, prepared, context, records).await {
        Ok(shown) => Some(shown),
        Err(failure) => {
            tracing::warn!(template = %template.name, error = %failure, "a text did not resolve; answering the default variant");
            let default = template.default_variant();
            let content =
                resolve_content(template, default, context, records.poll.as_ref()).ok()?;
            Some(Shown {
                variant: default,
                content,
                link: ShownLink::ResolveAtClick,
            })
        }
    }
}

/// The lock the state lookup found, if the template locks and it still
/// fits.
pub fn held_lock<'t>(template: &'t Template, prepared: &Prepared) -> Option<Shown<'t>> {
    if !template.lock_at_first_open {
        return None;
    }
    Lock::decode(template, prepared.records.lock.as_deref()?).map(Shown::from)
}
