//! Live polls: a template's poll, what a request knows of its results, and
//! how a `poll_results` layer lays them out.
//!
//! A request's view of the results (the counts and this recipient's
//! choice) travels through the variant's resolved texts as one encoded
//! string, like every other per-request content: so the render key, and
//! thus the cache, changes exactly when the drawn results do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use minijinja::Value;

use crate::expr::TextId;
use crate::render::{
    Color, Frame, HorizontalAlign, Layer, RectLayer, TextLayer, TextStyle, Weight,
};
use crate::store::Tally;

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

    /// The text slot of a `poll_results` layer: `"3,0,12|2"` (counts, then
    /// the chosen index or `-`), or `"?|-"` without counts.
    pub fn encode(&self) -> String {
        let counts = match &self.counts {
            Some(counts) => counts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            None => "?".to_string(),
        };
        let choice = self
            .choice
            .map_or_else(|| "-".to_string(), |index| index.to_string());
        format!("{counts}|{choice}")
    }

    /// The inverse of [`PollView::encode`] for a poll of `options`
    /// options; anything else reads as unknown results.
    pub fn decode(text: &str, options: usize) -> PollView {
        let unknown = PollView {
            counts: None,
            choice: None,
        };
        let Some((counts, choice)) = text.split_once('|') else {
            return unknown;
        };
        let choice = choice.parse().ok().filter(|index| *index < options);
        let counts = (counts != "?")
            .then(|| counts.split(',').map(|count| count.parse().ok()).collect())
            .flatten()
            .filter(|counts: &Vec<u64>| counts.len() == options);
        PollView { counts, choice }
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

/// What a `poll_results` row shows beside its bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultsValue {
    #[default]
    Percent,
    Count,
    None,
}

/// A `poll_results` layer as a template holds it: one row per option, its
/// label, a bar as long as its share, and its percentage or count.
#[derive(Debug, Clone)]
pub struct ResultsLayer {
    pub frame: Frame,
    pub labels: Vec<String>,
    pub style: TextStyle,
    pub bar: Color,
    pub track: Option<Color>,
    /// The bar of the option this recipient chose; its label is bold too.
    pub highlight: Color,
    pub label_width: f32,
    pub value_width: f32,
    pub value: ResultsValue,
}

impl ResultsLayer {
    /// The rectangles and texts that draw `view`. Without counts only the
    /// labels show: an empty bar would claim nobody voted.
    pub fn layers(&self, view: &PollView) -> Vec<Layer> {
        let rows = self.labels.len().max(1) as f32;
        let frame = self.frame;
        let row_height = frame.height / rows;
        let gap = (self.style.size * 0.5).min(frame.width / 10.0);
        let value_width = match (&view.counts, self.value) {
            (None, _) | (_, ResultsValue::None) => 0.0,
            _ => self.value_width,
        };
        let track_x = frame.x + self.label_width + gap;
        let track_width = (frame.width - self.label_width - gap - value_width - gap).max(0.0);
        let bar_height = (row_height * 0.6).max(1.0);
        let percentages = view.percentages();
        let mut layers = Vec::new();
        for (index, label) in self.labels.iter().enumerate() {
            let chosen = view.choice == Some(index);
            let top = frame.y + row_height * index as f32;
            let text_style = TextStyle {
                weight: if chosen {
                    Weight::Bold
                } else {
                    self.style.weight
                },
                ..self.style.clone()
            };
            layers.push(Layer::Text(TextLayer {
                frame: Frame {
                    x: frame.x,
                    y: top,
                    width: self.label_width,
                    height: row_height,
                },
                text: label.clone(),
                style: text_style.clone(),
            }));
            let Some(counts) = &view.counts else {
                continue;
            };
            let bar_frame = |width: f32| Frame {
                x: track_x,
                y: top + (row_height - bar_height) / 2.0,
                width,
                height: bar_height,
            };
            let radius = bar_height / 2.0;
            if let Some(track) = self.track
                && track_width > 0.0
            {
                layers.push(Layer::Rect(RectLayer {
                    frame: bar_frame(track_width),
                    fill: track,
                    radius,
                }));
            }
            let share = percentages[index] as f32 / 100.0;
            if share > 0.0 && track_width > 0.0 {
                layers.push(Layer::Rect(RectLayer {
                    frame: bar_frame((track_width * share).max(bar_height.min(track_width))),
                    fill: if chosen { self.highlight } else { self.bar },
                    radius,
                }));
            }
            let value = match self.value {
                ResultsValue::Percent => format!("{}%", percentages[index]),
                ResultsValue::Count => crate::expr::group_thousands(counts[index]),
                ResultsValue::None => continue,
            };
            layers.push(Layer::Text(TextLayer {
                frame: Frame {
                    x: frame.x + frame.width - value_width,
                    y: top,
                    width: value_width,
                    height: row_height,
                },
                text: value,
                style: TextStyle {
                    align: HorizontalAlign::Right,
                    ..text_style
                },
            }));
        }
        layers
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
    fn views_round_trip_through_their_text_slot() {
        for view in [
            PollView {
                counts: Some(vec![3, 0, 12]),
                choice: Some(2),
            },
            PollView {
                counts: None,
                choice: None,
            },
            PollView {
                counts: Some(vec![0, 0, 0]),
                choice: None,
            },
        ] {
            assert_eq!(PollView::decode(&view.encode(), 3), view);
        }
        let unknown = PollView::decode("1,2|0", 3);
        assert_eq!(unknown.counts, None, "a count per option, or none");
        assert_eq!(PollView::decode("garbage", 3).counts, None);
        assert_eq!(PollView::decode("1,2,3|7", 3).choice, None);
    }
}
