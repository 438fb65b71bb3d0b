//! Live polls: a template's poll, what a request knows of its results (a
//! [`PollView`], which its `poll_results` layers draw through
//! [`crate::render::ResultsLayer`]), and the tallies a replica read
//! recently.
//!
//! The view is part of a request's resolved content, like every other
//! per-request content: so the render key, and thus the cache, changes
//! exactly when the drawn results do.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use minijinja::Value;

use crate::expr::{TextId, group_thousands};
use crate::render::{ResultsRows, ResultsValue};

/// A poll's votes by option id.
pub type Tally = BTreeMap<String, u64>;

/// A template's poll, checked at load.
#[derive(Debug)]
pub struct Poll {
    /// An identifier, unique across templates: `/v/{id}/{option}`.
    pub id: String,
    /// In the order they are drawn.
    pub options: Vec<PollOption>,
    /// Where a vote goes afterwards: a Jinja template that can read
    /// `vote.option` and `vote.label`.
    pub thanks: TextId,
    /// How long a replica reuses a tally it read before reading it again.
    pub results_cache: Duration,
}

#[derive(Debug, Clone)]
pub struct PollOption {
    /// An identifier: `/v/{poll}/{id}`.
    pub id: String,
    /// What results show for it.
    pub label: String,
}

impl Poll {
    pub fn option(&self, id: &str) -> Option<(usize, &PollOption)> {
        self.options
            .iter()
            .enumerate()
            .find(|(_, option)| option.id == id)
    }
}

/// What a request knows of a poll's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollView {
    /// Counts in option order; `None` when the store could not say.
    pub counts: Option<Vec<u64>>,
    /// The index of the option this recipient chose.
    pub choice: Option<usize>,
}

impl PollView {
    /// The view for `poll` from a tally by option id and a chosen option id.
    pub fn new(poll: &Poll, tally: Option<&Tally>, choice: Option<&str>) -> PollView {
        PollView {
            counts: tally.map(|tally| {
                poll.options
                    .iter()
                    .map(|option| tally.get(&option.id).copied().unwrap_or(0))
                    .collect()
            }),
            choice: choice
                .and_then(|id| poll.option(id))
                .map(|(index, _)| index),
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Whole percentages that add up to 100 (largest remainders get the
    /// leftover points), all 0 when nobody voted.
    pub fn percentages(&self) -> Vec<u64> {
        let Some(counts) = &self.counts else {
            return Vec::new();
        };
        let total = self.total();
        if total == 0 {
            return vec![0; counts.len()];
        }
        let mut shares: Vec<u64> = counts.iter().map(|count| count * 100 / total).collect();
        let mut by_remainder: Vec<usize> = (0..counts.len()).collect();
        by_remainder.sort_by_key(|&index| std::cmp::Reverse(counts[index] * 100 % total));
        let missing = 100 - shares.iter().sum::<u64>();
        for &index in by_remainder.iter().take(missing as usize) {
            shares[index] += 1;
        }
        shares
    }

    /// Results that cannot be known: the store did not say.
    pub fn unknown() -> PollView {
        PollView {
            counts: None,
            choice: None,
        }
    }

    /// The numbers a `poll_results` layer draws for this view; counts are
    /// written only where the layer shows them. A poll nobody has voted in
    /// yet has no shares to draw: its options show as plain choices, as
    /// when the store could not say.
    pub fn rows(&self, value: ResultsValue) -> ResultsRows {
        let voted = self.counts.as_ref().filter(|_| self.total() > 0);
        ResultsRows {
            counts: voted.map(|counts| {
                counts
                    .iter()
                    .map(|&count| match value {
                        ResultsValue::Count => group_thousands(count),
                        ResultsValue::Percent | ResultsValue::None => String::new(),
                    })
                    .collect()
            }),
            percentages: self.percentages(),
            choice: self.choice,
        }
    }

    /// The value rules and texts read as `poll`: `poll.total`,
    /// `poll.choice`, `poll.counts["3"]`, `poll.percent["3"]`,
    /// `poll.known`, and `poll.options`, a list of `{id, label, count,
    /// percent, chosen}`.
    pub fn to_value(&self, poll: &Poll) -> Value {
        let percentages = self.percentages();
        let count_of = |index: usize| self.counts.as_ref().map_or(0, |counts| counts[index]);
        let percent_of = |index: usize| percentages.get(index).copied().unwrap_or(0);
        let options: Vec<Value> = poll
            .options
            .iter()
            .enumerate()
            .map(|(index, option)| {
                Value::from_pairs(vec![
                    ("id", Value::from(option.id.as_str())),
                    ("label", Value::from(option.label.as_str())),
                    ("count", Value::from(count_of(index))),
                    ("percent", Value::from(percent_of(index))),
                    ("chosen", Value::from(self.choice == Some(index))),
                ])
            })
            .collect();
        let by_id = |value: &dyn Fn(usize) -> u64| {
            Value::from_pairs(
                poll.options
                    .iter()
                    .enumerate()
                    .map(|(index, option)| (option.id.as_str(), Value::from(value(index))))
                    .collect::<Vec<_>>(),
            )
        };
        let mut fields = vec![
            ("id", Value::from(poll.id.as_str())),
            ("known", Value::from(self.counts.is_some())),
            ("total", Value::from(self.total())),
            ("counts", by_id(&count_of)),
            ("percent", by_id(&percent_of)),
            ("options", Value::from(options)),
        ];
        if let Some(index) = self.choice {
            fields.push(("choice", Value::from(poll.options[index].id.as_str())));
        }
        Value::from_pairs(fields)
    }
}

/// Tallies a replica read recently, by poll id, so that a popular poll is
/// read once per its `results_cache_seconds`, not on every open. Shared by
/// every clone.
#[derive(Debug, Clone, Default)]
pub struct TallyCache {
    entries: Arc<Mutex<HashMap<String, ReadTally>>>,
}

/// A tally and when this replica read it.
type ReadTally = (Instant, Arc<Tally>);

impl TallyCache {
    /// The tally read for `poll` less than `fresh_for` ago.
    pub fn get(&self, poll: &str, fresh_for: Duration) -> Option<Arc<Tally>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (read_at, tally) = entries.get(poll)?;
        (read_at.elapsed() < fresh_for).then(|| Arc::clone(tally))
    }

    pub fn put(&self, poll: &str, tally: Arc<Tally>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(poll.to_string(), (Instant::now(), tally));
    }

    /// Forgets a poll's tally, after a vote on this replica, so that the
    /// voter sees their vote counted.
    pub fn forget(&self, poll: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_add_up_to_a_hundred() {
        let view = PollView {
            counts: Some(vec![1, 1, 1]),
            choice: None,
        };
        assert_eq!(view.percentages().iter().sum::<u64>(), 100);
        let view = PollView {
            counts: Some(vec![0, 0]),
            choice: None,
        };
        assert_eq!(view.percentages(), vec![0, 0]);
        let view = PollView {
            counts: Some(vec![3, 1]),
            choice: None,
        };
        assert_eq!(view.percentages(), vec![75, 25]);
    }

    #[test]
    fn a_poll_nobody_voted_in_draws_its_options_as_choices() {
        let nobody = PollView {
            counts: Some(vec![0, 0, 0]),
            choice: None,
        };
        assert_eq!(nobody.rows(ResultsValue::Percent).counts, None);
        assert_eq!(nobody.rows(ResultsValue::Count).counts, None);
        let one = PollView {
            counts: Some(vec![0, 1, 0]),
            choice: Some(1),
        };
        let rows = one.rows(ResultsValue::Count);
        assert_eq!(rows.counts, Some(vec!["0".into(), "1".into(), "0".into()]));
        assert_eq!(rows.percentages, vec![0, 100, 0]);
        assert_eq!(rows.choice, Some(1));
    }
}
