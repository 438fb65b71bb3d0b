//! What the reports and experiments count, as both backends share it: the
//! counters and unique sets each event adds to, and their spelling.
//!
//! A template's day is one hash of counters, `{prefix}rep:{TEMPLATE}:{day}`,
//! whose fields are `{e}|{variant}|{arm}|{metric}` (any of the first three
//! may be empty), and one HyperLogLog per field group and set,
//! `{prefix}rep:{TEMPLATE}:{day}:u:{e}|{variant}|{arm}|{set}`, of the
//! recipients behind it. The template is the hash tag, so a report's
//! unions of many days are one `PFCOUNT` on a Cluster too. An experiment
//! counts its people apart from any day, `{prefix}exp:{ID}:{arm}:{set}`,
//! which its winner check reads in one round trip.
//!
//! Template names, variant ids, arms and experiment ids are identifiers
//! (lowercase letters, digits, `-`, `_`) and `e` is `[A-Za-z0-9._-]`, so
//! `|` and `:` never occur inside them.

use super::records::LastTouch;
use super::redis_reports::Decision;
use super::{Store, StoreError};
use crate::events::{Event, EventKind};
use crate::expr::Opener;
use crate::recipient::RecipientId;

/// The metric names a counter field ends with. `revenue.{CUR}` counts
/// millionths of that currency.
pub const OPEN_METRICS: [&str; 5] = [
    "open.human",
    "open.apple_mpp",
    "open.gmail_proxy",
    "open.yahoo_proxy",
    "open.scanner",
];

/// The unique sets: people who opened, clicked, converted.
pub const OPENERS: &str = "open";
pub const CLICKERS: &str = "click";
pub const CONVERTERS: &str = "conversion";

/// One change an event makes to the reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportWrite {
    /// Add `by` to the day's counter `field`.
    Count { field: String, by: i64 },
    /// Add the recipient to the day's unique set `group|set`.
    Unique { group_set: String },
    /// Add the recipient to an experiment arm's set (`exposed`, `click`,
    /// `conversion`).
    Experiment { set: &'static str },
}

/// A field group: `{e}|{variant}|{arm}`.
pub fn group(email: &str, variant: &str, arm: &str) -> String {
    [email, "|", variant, "|", arm].concat()
}

/// The report name of an opener class. Apple's prefetch is `apple_mpp`
/// in reports, as the field calls Mail Privacy Protection.
pub fn open_metric(opener: Opener) -> &'static str {
    match opener {
        Opener::Human => OPEN_METRICS[0],
        Opener::AppleProxy => OPEN_METRICS[1],
        Opener::GmailProxy => OPEN_METRICS[2],
        Opener::YahooProxy => OPEN_METRICS[3],
        Opener::Scanner => OPEN_METRICS[4],
    }
}

/// What `event` adds to the reports. Opens are counted by class; only a
/// person's (`person_openers`) open or click joins the unique sets, and
/// only a person's is an experiment's exposure or success. An event with
/// no recipient is not counted: it names nobody, and anyone can make
/// millions of them.
pub fn report_writes(event: &Event) -> Vec<ReportWrite> {
    if event.recipient.is_none() {
        return Vec::new();
    }
    let group = group(&event.email, &event.variant, &event.arm);
    let count = |metric: &str, by: i64| ReportWrite::Count {
        field: [group.as_str(), "|", metric].concat(),
        by,
    };
    let unique = |set: &str| ReportWrite::Unique {
        group_set: [group.as_str(), "|", set].concat(),
    };
    let in_experiment = !event.experiment.is_empty() && !event.arm.is_empty();
    let mut writes = Vec::new();
    match event.kind {
        EventKind::Open => {
            writes.push(count(open_metric(event.opener), 1));
            if event.person {
                writes.push(unique(OPENERS));
                if in_experiment {
                    writes.push(ReportWrite::Experiment { set: "exposed" });
                }
            }
            if drew_code(event) {
                writes.push(count("code", 1));
            }
        }
        EventKind::Click => {
            if event.person {
                writes.push(count("click.human", 1));
                writes.push(unique(CLICKERS));
                if in_experiment {
                    writes.push(ReportWrite::Experiment { set: CLICKERS });
                }
            } else {
                writes.push(count("click.machine", 1));
            }
        }
        EventKind::Vote => {
            let retracted = event.extra.iter().any(|(name, _)| *name == "retracted");
            if event.person && !retracted {
                writes.push(count("vote", 1));
            }
        }
        EventKind::Conversion => {
            writes.push(count("conversion", 1));
            writes.push(unique(CONVERTERS));
            if let Some(amount) = &event.amount {
                writes.push(count(
                    &format!("revenue.{}", amount.currency),
                    amount.micros,
                ));
            }
            if in_experiment {
                writes.push(ReportWrite::Experiment { set: CONVERTERS });
            }
        }
        EventKind::Unsubscribe | EventKind::Preferences | EventKind::Experiment => {}
    }
    writes
}

/// Whether an open event says it drew a coupon code (the open's
/// `code_drawn` field).
pub fn drew_code(event: &Event) -> bool {
    event.extra.iter().any(|(name, _)| *name == "code_drawn")
}

/// One counter field split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterField<'f> {
    pub email: &'f str,
    pub variant: &'f str,
    pub arm: &'f str,
    pub metric: &'f str,
}

impl<'f> CounterField<'f> {
    pub fn parse(field: &'f str) -> Option<CounterField<'f>> {
        let mut parts = field.splitn(4, '|');
        Some(CounterField {
            email: parts.next()?,
            variant: parts.next()?,
            arm: parts.next()?,
            metric: parts.next()?,
        })
    }
}

/// The reports' and experiments' calls, on either backend.
impl Store {
    /// Each day's report counters of `template` (`20261201`), in order.
    pub async fn report_counters(
        &self,
        template: &str,
        days: &[String],
    ) -> Result<Vec<Vec<(String, i64)>>, StoreError> {
        match self {
            Store::Redis(redis) => redis.report_counters(template, days).await,
            Store::Memory(memory) => Ok(memory.report_counters(template, days)),
        }
    }

    /// The number of distinct people in each union of `(day, group|set)`
    /// unique sets of `template`: estimated within about 1% by Redis,
    /// exact in the embedded store.
    pub async fn report_uniques(
        &self,
        template: &str,
        unions: &[Vec<(String, String)>],
    ) -> Result<Vec<u64>, StoreError> {
        match self {
            Store::Redis(redis) => redis.report_uniques(template, unions).await,
            Store::Memory(memory) => Ok(memory.report_uniques(template, unions)),
        }
    }

    /// For each arm: people exposed, who clicked, who converted.
    pub async fn experiment_counts(
        &self,
        experiment: &str,
        arms: &[&str],
    ) -> Result<Vec<[u64; 3]>, StoreError> {
        match self {
            Store::Redis(redis) => redis.experiment_counts(experiment, arms).await,
            Store::Memory(memory) => Ok(memory.experiment_counts(experiment, arms)),
        }
    }

    pub async fn experiment_decisions(
        &self,
        experiments: &[&str],
    ) -> Result<Vec<Option<Decision>>, StoreError> {
        match self {
            Store::Redis(redis) => redis.experiment_decisions(experiments).await,
            Store::Memory(memory) => Ok(memory.experiment_decisions(experiments)),
        }
    }

    /// Records a decision unless one is recorded (or always, `replace`);
    /// answers whether it did.
    pub async fn decide_experiment(
        &self,
        experiment: &str,
        decision: &Decision,
        replace: bool,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Redis(redis) => redis.decide_experiment(experiment, decision, replace).await,
            Store::Memory(memory) => Ok(memory.decide_experiment(experiment, decision, replace)),
        }
    }

    /// True the first time a conversion id (hashed) is claimed.
    pub async fn claim_conversion(&self, id_hash: &str, keep_s: u64) -> Result<bool, StoreError> {
        match self {
            Store::Redis(redis) => redis.claim_conversion(id_hash, keep_s).await,
            Store::Memory(memory) => Ok(memory.claim_conversion(id_hash)),
        }
    }

    pub async fn release_conversion(&self, id_hash: &str) -> Result<(), StoreError> {
        match self {
            Store::Redis(redis) => redis.release_conversion(id_hash).await,
            Store::Memory(memory) => {
                memory.release_conversion(id_hash);
                Ok(())
            }
        }
    }

    /// The recipient's last person's click and open, of any template.
    pub async fn last_touches(
        &self,
        recipient: &RecipientId,
    ) -> Result<(Option<LastTouch>, Option<LastTouch>), StoreError> {
        match self {
            Store::Redis(redis) => redis.last_touches(recipient).await,
            Store::Memory(memory) => Ok(memory.last_touches(recipient)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Amount;
    use crate::expr::Device;
    use crate::recipient::RecipientId;

    fn event(kind: EventKind, opener: Opener, person: bool) -> Event {
        let mut event = Event::new(
            kind,
            "renewal",
            "offer",
            Some(RecipientId::new("cust-1").expect("valid")),
            "2026-12-01T09:00:00Z".parse().expect("valid"),
            opener,
            person,
            Device::from_user_agent(None),
        );
        event.email = "step-2".into();
        event
    }

    #[test]
    fn an_apple_prefetch_is_counted_by_class_but_is_no_one() {
        let writes = report_writes(&event(EventKind::Open, Opener::AppleProxy, false));
        assert_eq!(
            writes,
            [ReportWrite::Count {
                field: "step-2|offer||open.apple_mpp".into(),
                by: 1
            }]
        );
    }

    #[test]
    fn a_persons_open_in_an_experiment_is_an_exposure() {
        let mut open = event(EventKind::Open, Opener::GmailProxy, true);
        open.experiment = "copy".into();
        open.arm = "b".into();
        open.extra.push(("code_drawn", "1".into()));
        let writes = report_writes(&open);
        assert_eq!(
            writes,
            [
                ReportWrite::Count {
                    field: "step-2|offer|b|open.gmail_proxy".into(),
                    by: 1
                },
                ReportWrite::Unique {
                    group_set: "step-2|offer|b|open".into()
                },
                ReportWrite::Experiment { set: "exposed" },
                ReportWrite::Count {
                    field: "step-2|offer|b|code".into(),
                    by: 1
                },
            ]
        );
    }

    #[test]
    fn a_machine_click_is_counted_apart_and_a_conversion_carries_revenue() {
        let click = report_writes(&event(EventKind::Click, Opener::Scanner, false));
        assert_eq!(
            click,
            [ReportWrite::Count {
                field: "step-2|offer||click.machine".into(),
                by: 1
            }]
        );
        let mut conversion = event(EventKind::Conversion, Opener::Human, true);
        conversion.amount = Amount::new(49.9, "EUR");
        let writes = report_writes(&conversion);
        assert!(writes.contains(&ReportWrite::Count {
            field: "step-2|offer||revenue.EUR".into(),
            by: 49_900_000
        }));
        let mut anonymous = event(EventKind::Open, Opener::Human, true);
        anonymous.recipient = None;
        assert!(report_writes(&anonymous).is_empty());
    }

    #[test]
    fn fields_split_into_their_parts() {
        let field = CounterField::parse("|offer|a|revenue.EUR").expect("four parts");
        assert_eq!(
            (field.email, field.variant, field.arm, field.metric),
            ("", "offer", "a", "revenue.EUR")
        );
        assert!(CounterField::parse("offer|a").is_none());
    }
}
