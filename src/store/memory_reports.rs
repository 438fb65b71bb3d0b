//! The embedded store's reports, experiments and conversion ids: the same
//! counting as the Redis store's (`reports.rs`), with exact sets in place
//! of HyperLogLogs, for the demo and tests.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::memory::MemoryStore;
use super::records::{LAST_CLICK, LAST_OPEN, LastTouch};
use super::redis_reports::Decision;
use super::reports::{ReportWrite, report_writes};
use crate::events::Event;
use crate::recipient::RecipientId;

/// Counters and sets by `(template, day)`, experiments' sets and
/// decisions, and the conversion ids seen.
#[derive(Debug, Default)]
pub struct MemoryReports {
    counters: HashMap<(String, String), BTreeMap<String, i64>>,
    uniques: HashMap<(String, String, String), HashSet<RecipientId>>,
    experiments: HashMap<(String, String, String), HashSet<RecipientId>>,
    decisions: HashMap<String, Decision>,
    conversions: HashSet<String>,
    last: HashMap<(RecipientId, &'static str), LastTouch>,
}

impl MemoryReports {
    /// Counts `event` as the Redis store's batch does.
    pub fn count(&mut self, event: &Event, recipient: &RecipientId, day: &str) {
        for write in report_writes(event) {
            match write {
                ReportWrite::Count { field, by } => {
                    *self
                        .counters
                        .entry((event.template.clone(), day.to_string()))
                        .or_default()
                        .entry(field)
                        .or_default() += by;
                }
                ReportWrite::Unique { group_set } => {
                    self.uniques
                        .entry((event.template.clone(), day.to_string(), group_set))
                        .or_default()
                        .insert(recipient.clone());
                }
                ReportWrite::Experiment { set } => {
                    self.experiments
                        .entry((event.experiment.clone(), event.arm.clone(), set.to_string()))
                        .or_default()
                        .insert(recipient.clone());
                }
            }
        }
    }

    pub fn remember(&mut self, recipient: &RecipientId, field: &'static str, touch: LastTouch) {
        self.last.insert((recipient.clone(), field), touch);
    }
}

impl MemoryStore {
    pub fn report_counters(&self, template: &str, days: &[String]) -> Vec<Vec<(String, i64)>> {
        let reports = self.reports();
        days.iter()
            .map(|day| {
                reports
                    .counters
                    .get(&(template.to_string(), day.clone()))
                    .map(|fields| fields.iter().map(|(f, n)| (f.clone(), *n)).collect())
                    .unwrap_or_default()
            })
            .collect()
    }

    pub fn report_uniques(&self, template: &str, unions: &[Vec<(String, String)>]) -> Vec<u64> {
        let reports = self.reports();
        unions
            .iter()
            .map(|union| {
                let mut people = HashSet::new();
                for (day, group_set) in union {
                    if let Some(set) =
                        reports
                            .uniques
                            .get(&(template.to_string(), day.clone(), group_set.clone()))
                    {
                        people.extend(set.iter());
                    }
                }
                people.len() as u64
            })
            .collect()
    }

    pub fn experiment_counts(&self, experiment: &str, arms: &[&str]) -> Vec<[u64; 3]> {
        let reports = self.reports();
        let size = |arm: &str, set: &str| {
            reports
                .experiments
                .get(&(experiment.to_string(), arm.to_string(), set.to_string()))
                .map_or(0, |people| people.len() as u64)
        };
        arms.iter()
            .map(|arm| {
                [
                    size(arm, "exposed"),
                    size(arm, "click"),
                    size(arm, "conversion"),
                ]
            })
            .collect()
    }

    pub fn experiment_decisions(&self, experiments: &[&str]) -> Vec<Option<Decision>> {
        let reports = self.reports();
        experiments
            .iter()
            .map(|experiment| reports.decisions.get(*experiment).cloned())
            .collect()
    }

    pub fn decide_experiment(&self, experiment: &str, decision: &Decision, replace: bool) -> bool {
        let mut reports = self.reports();
        if !replace && reports.decisions.contains_key(experiment) {
            return false;
        }
        reports
            .decisions
            .insert(experiment.to_string(), decision.clone());
        true
    }

    pub fn claim_conversion(&self, id_hash: &str) -> bool {
        self.reports().conversions.insert(id_hash.to_string())
    }

    pub fn release_conversion(&self, id_hash: &str) {
        self.reports().conversions.remove(id_hash);
    }

    pub fn last_touches(&self, recipient: &RecipientId) -> (Option<LastTouch>, Option<LastTouch>) {
        let reports = self.reports();
        let touch = |field| reports.last.get(&(recipient.clone(), field)).cloned();
        (touch(LAST_CLICK), touch(LAST_OPEN))
    }
}
