//! Experiments between a template's variants (`docs/experiments.md`):
//! which arm a recipient is given (`assign.rs`), each arm's probability of
//! being best (`stats.rs`), and the decisions, kept in memory for the
//! open path and checked in the background by one task per replica.
//!
//! An open reads the recipient's arm in its one round trip (the open
//! records keep it from their first exposure) and the decision from
//! memory, so an experiment costs an open no extra call to Redis. The
//! counts the winner check reads are written by the events' batches
//! (`store/reports.rs`).

pub mod assign;
pub mod stats;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::events::{Event, EventKind, EventLog};
use crate::expr::{Device, Opener};
use crate::metrics::Metrics;
use crate::recipient::RecipientId;
use crate::store::{Decision, Store};
use crate::template::file::ExperimentMetric;
use crate::template::{Experiment, TemplateRegistry};

pub use stats::{ArmCounts, probability_best};

/// How often each replica reads the decisions and checks the rules.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The decisions this replica knows, by experiment id.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    known: Arc<RwLock<HashMap<String, Decision>>>,
}

impl Decisions {
    pub fn get(&self, experiment: &str) -> Option<Decision> {
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(experiment)
            .cloned()
    }

    pub fn set(&self, experiment: &str, decision: Decision) {
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(experiment.to_string(), decision);
    }
}

/// The arm an open shows: the winner to everyone new once there is one
/// (to everyone with `switch_all`); else the arm the recipient was first
/// exposed to (`kept`), while it is still open; else the hash's.
pub fn arm_for<'e>(
    experiment: &'e Experiment,
    recipient: &RecipientId,
    kept: Option<&str>,
    decision: Option<&Decision>,
) -> Option<&'e str> {
    let kept = kept
        .and_then(|name| experiment.arm(name))
        .filter(|arm| arm.is_open());
    let winner = decision.and_then(|decision| experiment.arm(&decision.arm));
    match (winner, kept) {
        (Some(winner), None) => Some(&winner.name),
        (Some(winner), Some(_)) if experiment.switch_all => Some(&winner.name),
        (_, Some(kept)) => Some(&kept.name),
        (None, None) => assign::assign(experiment, recipient).map(|arm| arm.name.as_str()),
    }
}

/// Each arm's people, as the experiment's metric counts successes.
pub async fn arm_counts(
    store: &Store,
    experiment: &Experiment,
) -> Result<Vec<ArmCounts>, crate::store::StoreError> {
    let names: Vec<&str> = experiment
        .arms
        .iter()
        .map(|arm| arm.name.as_str())
        .collect();
    let counts = store.experiment_counts(&experiment.id, &names).await?;
    Ok(counts
        .into_iter()
        .map(|[exposed, clicked, converted]| ArmCounts {
            exposures: exposed,
            successes: match experiment.metric {
                ExperimentMetric::Click => clicked,
                ExperimentMetric::Conversion => converted,
            },
        })
        .collect())
}

/// The arm the rule declares the winner, if any: every arm has at least
/// `min_exposures` and one arm's probability of being best reaches
/// `probability`.
pub fn rule_winner<'e>(experiment: &'e Experiment, counts: &[ArmCounts]) -> Option<&'e str> {
    let rule = experiment.winner?;
    if counts.len() != experiment.arms.len()
        || counts.iter().any(|arm| arm.exposures < rule.min_exposures)
    {
        return None;
    }
    let best = probability_best(counts);
    best.iter()
        .position(|p| *p >= rule.probability)
        .map(|index| experiment.arms[index].name.as_str())
}

/// Records `decision` (by hand it overrules one already made) and, if it
/// was recorded, announces it: an `experiment` event and the metric.
pub async fn decide(
    store: &Store,
    events: &EventLog,
    metrics: &Metrics,
    decisions: &Decisions,
    experiment: &Experiment,
    template: &str,
    decision: Decision,
) -> Result<bool, crate::store::StoreError> {
    let manual = decision.by == "manual";
    let recorded = store
        .decide_experiment(&experiment.id, &decision, manual)
        .await?;
    if recorded {
        let at =
            jiff::Timestamp::from_second(decision.at).unwrap_or_else(|_| jiff::Timestamp::now());
        let mut event = Event::new(
            EventKind::Experiment,
            template,
            "",
            None,
            at,
            Opener::Human,
            false,
            Device::from_user_agent(None),
        );
        event.experiment = experiment.id.clone();
        event.arm = decision.arm.clone();
        event.extra.push(("by", decision.by.clone()));
        events.record(event);
        metrics
            .experiment_winners
            .with_label_values(&[&experiment.id, &decision.arm])
            .set(1);
        decisions.set(&experiment.id, decision);
    }
    Ok(recorded)
}

/// Every [`CHECK_EVERY`]: reads the decisions of the loaded templates'
/// experiments into `decisions`, and for each one without a decision
/// checks its winner rule. Runs until the process ends; a store that fails
/// skips a round.
pub async fn run_monitor(
    store: Store,
    templates: Arc<TemplateRegistry>,
    events: EventLog,
    metrics: Arc<Metrics>,
    decisions: Decisions,
) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = check_once(&store, &templates, &events, &metrics, &decisions).await {
            tracing::debug!(%error, "the experiments were not checked this round");
        }
    }
}

/// One round of [`run_monitor`].
pub async fn check_once(
    store: &Store,
    templates: &TemplateRegistry,
    events: &EventLog,
    metrics: &Metrics,
    decisions: &Decisions,
) -> Result<(), crate::store::StoreError> {
    let running: Vec<(String, Experiment)> = templates
        .snapshot()
        .templates()
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.experiment.clone()?)))
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = running.iter().map(|(_, e)| e.id.as_str()).collect();
    let stored = store.experiment_decisions(&ids).await?;
    for ((template, experiment), decision) in running.iter().zip(stored) {
        if let Some(decision) = decision {
            metrics
                .experiment_winners
                .with_label_values(&[&experiment.id, &decision.arm])
                .set(1);
            decisions.set(&experiment.id, decision);
            continue;
        }
        let counts = arm_counts(store, experiment).await?;
        if let Some(arm) = rule_winner(experiment, &counts) {
            let decision = Decision {
                arm: arm.to_string(),
                at: jiff::Timestamp::now().as_second(),
                by: "rule".into(),
            };
            decide(
                store, events, metrics, decisions, experiment, template, decision,
            )
            .await?;
        }
    }
    Ok(())
}
