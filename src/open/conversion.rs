//! A conversion the customer's backend reports (`POST /api/v1/conversions`):
//! a sale or sign-up, credited to the click or open that led to it, counted
//! once however often it is sent, and recorded as a `conversion` event,
//! which the reports count and the events stream and webhooks carry.
//!
//! The credit comes from one of two places:
//!
//! - a click id (`click`): the click it seals, whenever it was
//!   (`credited_by` `click`): the customer's site kept the id the click's
//!   redirect gave it, which names that very click;
//! - a recipient (`recipient`): their last person's click of any template
//!   within the attribution window (`click_recent`), else their last
//!   person's open within it (`open`), else nothing: the conversion is
//!   `unattributed`, answered as such and neither counted nor recorded,
//!   since no email of ours led to it as far as anyone can tell. The
//!   window is counted back from when the conversion arrives.
//!
//! A conversion id counts once: its SHA-256 is claimed in the store
//! (`SET NX`, shared by every replica) before the event is queued, for as
//! long as the reports are kept, and given back when the event could not
//! be queued, so that sending it again counts. An unattributed conversion
//! claims nothing: sent again, it is judged again.

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::Pipeline;
use crate::access::ClickId;
use crate::events::{Amount, Event, EventKind};
use crate::expr::{Device, Opener};
use crate::recipient::RecipientId;
use crate::store::{LastTouch, Store, StoreError};

/// One reported conversion, checked.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The customer's id of it (an order number): what makes a repeat a
    /// repeat.
    pub id: String,
    pub by: CreditBy,
    pub amount: Option<Amount>,
}

/// What a conversion names to be credited.
#[derive(Debug, Clone)]
pub enum CreditBy {
    /// The click of a click id, opened.
    Click(ClickId),
    /// A recipient, whose last click or open is credited.
    Recipient(RecipientId),
}

/// How conversions are credited and kept.
#[derive(Debug, Clone, Copy)]
pub struct ConversionPolicy {
    /// How far back a recipient's last click or open may be, in seconds
    /// (`attribution_days`).
    pub attribution_s: i64,
    /// How long a counted id is remembered, in seconds: as long as the
    /// reports it counts in (`report_retention_days`).
    pub keep_s: u64,
}

/// What the conversion was credited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub template: String,
    /// The email of a sequence; empty for none.
    pub email: String,
    pub variant: String,
    pub arm: Option<(String, String)>,
    pub recipient: RecipientId,
    /// `click` (a click id), `click_recent` or `open` (by recipient).
    pub credited_by: &'static str,
}

/// What became of a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converted {
    /// Counted now and recorded.
    Counted(Credit),
    /// Its id was counted before, here or on another replica.
    Duplicate,
    /// Nothing to credit it to.
    Unattributed,
}

/// Why a conversion could not be judged; sending it again may work.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The events buffer is full: the store has not taken events for a
    /// long time.
    #[error("the event buffer is full, so the conversion could not be recorded")]
    BufferFull,
}

impl Pipeline {
    /// Credits, claims and records one conversion, through `store` (the
    /// admin API's, with its longer budget).
    pub async fn convert(
        &self,
        store: &Store,
        conversion: Conversion,
        policy: ConversionPolicy,
    ) -> Result<Converted, ConversionError> {
        let now = self.clock.now();
        let credit = match conversion.by {
            CreditBy::Click(click) => Some(credit_of_click(click)),
            CreditBy::Recipient(recipient) => {
                let (click, open) = store.last_touches(&recipient).await?;
                credit_of_touches(
                    recipient,
                    click,
                    open,
                    now.as_second(),
                    policy.attribution_s,
                )
            }
        };
        let Some(credit) = credit else {
            return Ok(Converted::Unattributed);
        };
        let id_hash = hex::encode(Sha256::digest(conversion.id.as_bytes()));
        match store.claim_conversion(&id_hash, policy.keep_s).await {
            Ok(true) => {}
            Ok(false) => return Ok(Converted::Duplicate),
            Err(error) => {
                // The claim may have landed before the reply was lost: give
                // it back, so that sending the conversion again counts it.
                let _ = store.release_conversion(&id_hash).await;
                return Err(error.into());
            }
        }
        let event = conversion_event(&conversion.id, conversion.amount, &credit, now);
        if !self.events.record(event) {
            store.release_conversion(&id_hash).await?;
            return Err(ConversionError::BufferFull);
        }
        Ok(Converted::Counted(credit))
    }
}

/// The credit of a click id: the click it seals.
fn credit_of_click(click: ClickId) -> Credit {
    Credit {
        template: click.template,
        email: click.email,
        variant: click.variant,
        arm: click.arm,
        recipient: click.recipient,
        credited_by: "click",
    }
}

/// The credit of a recipient's last person's click, else open, no older
/// than `window_s` at `now_s`.
pub fn credit_of_touches(
    recipient: RecipientId,
    last_click: Option<LastTouch>,
    last_open: Option<LastTouch>,
    now_s: i64,
    window_s: i64,
) -> Option<Credit> {
    let recent = |touch: &LastTouch| now_s - touch.at <= window_s;
    let (touch, credited_by) = match (last_click, last_open) {
        (Some(click), _) if recent(&click) => (click, "click_recent"),
        (_, Some(open)) if recent(&open) => (open, "open"),
        _ => return None,
    };
    Some(Credit {
        template: touch.template,
        email: touch.email,
        variant: touch.variant,
        arm: touch.arm,
        recipient,
        credited_by,
    })
}

/// The `conversion` event of `id`, credited to `credit`. A conversion is a
/// person's act, reported by the customer's backend, so it is a person's
/// event with no device.
fn conversion_event(id: &str, amount: Option<Amount>, credit: &Credit, at: Timestamp) -> Event {
    let mut event = Event::new(
        EventKind::Conversion,
        &credit.template,
        &credit.variant,
        Some(credit.recipient.clone()),
        at,
        Opener::Human,
        true,
        Device::unknown(),
    )
    .for_email(Some(credit.email.as_str()).filter(|email| !email.is_empty()));
    if let Some((experiment, arm)) = &credit.arm {
        event.experiment = experiment.clone();
        event.arm = arm.clone();
    }
    event.amount = amount;
    event.extra.push(("conversion", id.to_string()));
    event
        .extra
        .push(("credited_by", credit.credited_by.to_string()));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(at: i64, template: &str) -> LastTouch {
        LastTouch {
            at,
            template: template.into(),
            email: "step-2".into(),
            variant: "offer".into(),
            arm: Some(("copy".into(), "b".into())),
        }
    }

    fn recipient() -> RecipientId {
        RecipientId::new("cust-1").expect("valid")
    }

    #[test]
    fn a_recent_click_wins_then_a_recent_open_then_nothing() {
        let day = 86_400;
        let now = 100 * day;
        let window = 7 * day;
        let credit = |click, open| {
            credit_of_touches(recipient(), click, open, now, window)
                .map(|credit| (credit.template, credit.credited_by))
        };
        assert_eq!(
            credit(
                Some(touch(now - day, "clicked")),
                Some(touch(now, "opened"))
            ),
            Some(("clicked".into(), "click_recent"))
        );
        assert_eq!(
            credit(Some(touch(now - window, "clicked")), None),
            Some(("clicked".into(), "click_recent")),
            "the window's last second is in it"
        );
        assert_eq!(
            credit(
                Some(touch(now - window - 1, "clicked")),
                Some(touch(now - 2 * day, "opened"))
            ),
            Some(("opened".into(), "open"))
        );
        assert_eq!(
            credit(None, Some(touch(now - day, "opened"))).unwrap().1,
            "open"
        );
        assert_eq!(
            credit(
                Some(touch(now - 8 * day, "clicked")),
                Some(touch(now - 9 * day, "opened"))
            ),
            None
        );
        assert_eq!(credit(None, None), None);
    }

    #[test]
    fn the_event_carries_the_credit_the_amount_and_the_id() {
        let credit = credit_of_touches(recipient(), Some(touch(10, "renewal")), None, 20, 100)
            .expect("recent");
        let event = conversion_event(
            "order-991",
            Amount::new(49.9, "EUR"),
            &credit,
            "2026-12-01T09:00:00Z".parse().expect("valid"),
        );
        let at = crate::events::format_at(event.at);
        let fields = event.fields(&at);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(field, _)| *field == name)
                .map(|(_, value)| *value)
        };
        assert_eq!(field("type"), Some("conversion"));
        assert_eq!(field("template"), Some("renewal"));
        assert_eq!(field("variant"), Some("offer"));
        assert_eq!(field("recipient"), Some("cust-1"));
        assert_eq!(field("e"), Some("step-2"));
        assert_eq!(field("experiment"), Some("copy"));
        assert_eq!(field("arm"), Some("b"));
        assert_eq!(field("value"), Some("49.9"));
        assert_eq!(field("currency"), Some("EUR"));
        assert_eq!(field("conversion"), Some("order-991"));
        assert_eq!(field("credited_by"), Some("click_recent"));
        assert_eq!(field("person"), Some("1"));
    }
}
