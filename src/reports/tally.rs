//! The folding of a range's counters into a report's lines (one per
//! email, variant and arm), the unions of unique sets each figure needs,
//! and the figures once the store has counted them. Pure.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;

use super::{Clicks, Day, Figures, Line, Opens, Totals, ratio};
use crate::store::reports::{CLICKERS, CounterField, OPENERS, group};
use crate::template::Template;

/// The summed counters of a line on a day, or over several.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub opens: Opens,
    pub clicks: Clicks,
    pub votes: i64,
    pub codes_drawn: i64,
    pub conversions: i64,
    /// Millionths, by currency code.
    pub revenue: BTreeMap<String, i64>,
}

impl Counts {
    /// Adds one counter; a metric this version does not know is left out.
    pub fn add_metric(&mut self, metric: &str, by: i64) {
        let counter = match metric {
            "open.human" => &mut self.opens.human,
            "open.apple_mpp" => &mut self.opens.apple_mpp,
            "open.gmail_proxy" => &mut self.opens.gmail_proxy,
            "open.yahoo_proxy" => &mut self.opens.yahoo_proxy,
            "open.scanner" => &mut self.opens.scanner,
            "click.human" => &mut self.clicks.human,
            "click.machine" => &mut self.clicks.machine,
            "vote" => &mut self.votes,
            "code" => &mut self.codes_drawn,
            "conversion" => &mut self.conversions,
            _ => match metric.strip_prefix("revenue.") {
                Some(currency) if !currency.is_empty() => {
                    self.revenue.entry(currency.to_string()).or_default()
                }
                _ => return,
            },
        };
        *counter += by;
    }

    pub fn add(&mut self, other: &Counts) {
        let Counts {
            opens,
            clicks,
            votes,
            codes_drawn,
            conversions,
            revenue,
        } = other;
        self.opens.human += opens.human;
        self.opens.apple_mpp += opens.apple_mpp;
        self.opens.gmail_proxy += opens.gmail_proxy;
        self.opens.yahoo_proxy += opens.yahoo_proxy;
        self.opens.scanner += opens.scanner;
        self.clicks.human += clicks.human;
        self.clicks.machine += clicks.machine;
        self.votes += votes;
        self.codes_drawn += codes_drawn;
        self.conversions += conversions;
        for (currency, micros) in revenue {
            *self.revenue.entry(currency.clone()).or_default() += micros;
        }
    }

    /// Whether anyone may have joined the day's openers: every open is
    /// counted by class, and a person's also joins the set.
    fn any_open(&self) -> bool {
        let opens = &self.opens;
        opens.human + opens.apple_mpp + opens.gmail_proxy + opens.yahoo_proxy + opens.scanner > 0
    }

    /// A person's click is counted as `click.human` and joins the set.
    fn any_person_click(&self) -> bool {
        self.clicks.human > 0
    }
}

/// A line: the email, variant and arm its counters name (each may be
/// empty), in the store's spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct LineKey {
    email: String,
    variant: String,
    arm: String,
}

impl LineKey {
    /// The field group the store's unique sets are named by.
    fn group(&self) -> String {
        group(&self.email, &self.variant, &self.arm)
    }
}

/// A range's counters, by line and day.
#[derive(Debug)]
pub struct Tally {
    /// In report order, each with one `Counts` per day.
    lines: Vec<(LineKey, Vec<Counts>)>,
}

/// Where each figure's unique counts are among the unions asked: for the
/// range, then for each day, the openers' and the clickers' places.
#[derive(Debug)]
pub struct Places {
    lines: Vec<UniquePlaces>,
    totals: UniquePlaces,
}

#[derive(Debug, Default)]
struct UniquePlaces {
    range: [usize; 2],
    days: Vec<[usize; 2]>,
}

impl Tally {
    /// Folds each day's counter fields (in the order of the range's days)
    /// into lines, keeping `email`'s only when given.
    pub fn fold(days: &[Vec<(String, i64)>], template: &Template, email: Option<&str>) -> Tally {
        let mut lines: HashMap<LineKey, Vec<Counts>> = HashMap::new();
        for (index, fields) in days.iter().enumerate() {
            for (field, by) in fields {
                let Some(field) = CounterField::parse(field) else {
                    continue;
                };
                if email.is_some_and(|email| email != field.email) {
                    continue;
                }
                let key = LineKey {
                    email: field.email.to_string(),
                    variant: field.variant.to_string(),
                    arm: field.arm.to_string(),
                };
                let counts = lines
                    .entry(key)
                    .or_insert_with(|| vec![Counts::default(); days.len()]);
                counts[index].add_metric(field.metric, *by);
            }
        }
        let position = |variant: &str| {
            template
                .variants
                .iter()
                .position(|known| known.id == variant)
                .unwrap_or(usize::MAX)
        };
        let mut lines: Vec<(LineKey, Vec<Counts>)> = lines.into_iter().collect();
        lines.sort_by(|(a, _), (b, _)| {
            (&a.email, position(&a.variant), &a.variant, &a.arm).cmp(&(
                &b.email,
                position(&b.variant),
                &b.variant,
                &b.arm,
            ))
        });
        Tally { lines }
    }

    /// The unions of unique sets to count, and where each figure's are.
    /// A day's set is only named where that day counted an open (or a
    /// person's click) of the line: the set cannot exist otherwise.
    pub fn unions(&self, day_keys: &[String]) -> (Vec<Vec<(String, String)>>, Places) {
        let mut unions: Vec<Vec<(String, String)>> = Vec::new();
        let mut ask = |union: Vec<(String, String)>| {
            unions.push(union);
            unions.len() - 1
        };
        // Every (day, set) of the report, for the template's totals.
        let mut all_days: Vec<[Vec<(String, String)>; 2]> =
            vec![Default::default(); day_keys.len()];
        let mut lines = Vec::with_capacity(self.lines.len());
        for (key, counts) in &self.lines {
            let group = key.group();
            let mut range: [Vec<(String, String)>; 2] = Default::default();
            let mut days = Vec::with_capacity(counts.len());
            for ((day, counts), all) in day_keys.iter().zip(counts).zip(all_days.iter_mut()) {
                let mut places = [0; 2];
                for (set_index, (set, present)) in [
                    (OPENERS, counts.any_open()),
                    (CLICKERS, counts.any_person_click()),
                ]
                .into_iter()
                .enumerate()
                {
                    let union = if present {
                        vec![(day.clone(), format!("{group}|{set}"))]
                    } else {
                        Vec::new()
                    };
                    range[set_index].extend(union.iter().cloned());
                    all[set_index].extend(union.iter().cloned());
                    places[set_index] = ask(union);
                }
                days.push(places);
            }
            let [openers, clickers] = range;
            lines.push(UniquePlaces {
                range: [ask(openers), ask(clickers)],
                days,
            });
        }
        let mut totals = UniquePlaces::default();
        let mut every: [Vec<(String, String)>; 2] = Default::default();
        for [openers, clickers] in all_days {
            every[0].extend(openers.iter().cloned());
            every[1].extend(clickers.iter().cloned());
            totals.days.push([ask(openers), ask(clickers)]);
        }
        let [openers, clickers] = every;
        totals.range = [ask(openers), ask(clickers)];
        (unions, Places { lines, totals })
    }

    /// The report's totals and lines, from the counts of the unions
    /// [`Tally::unions`] asked for.
    pub fn figures(self, days: &[Date], places: &Places, uniques: &[u64]) -> (Totals, Vec<Line>) {
        let unique = |place: usize| uniques.get(place).copied().unwrap_or(0);
        let figures_of = |counts: &Counts, [openers, clickers]: [usize; 2]| {
            figures(counts, unique(openers), unique(clickers))
        };
        let mut template_days = vec![Counts::default(); days.len()];
        let mut lines = Vec::with_capacity(self.lines.len());
        for ((key, counts), places) in self.lines.into_iter().zip(&places.lines) {
            let mut sum = Counts::default();
            let mut day_rows = Vec::with_capacity(days.len());
            for (((date, counts), day_places), template_day) in days
                .iter()
                .zip(&counts)
                .zip(&places.days)
                .zip(template_days.iter_mut())
            {
                sum.add(counts);
                template_day.add(counts);
                day_rows.push(Day {
                    date: date.to_string(),
                    figures: figures_of(counts, *day_places),
                });
            }
            let optional = |text: String| (!text.is_empty()).then_some(text);
            lines.push(Line {
                e: optional(key.email),
                variant: key.variant,
                arm: optional(key.arm),
                figures: figures_of(&sum, places.range),
                days: day_rows,
            });
        }
        let mut sum = Counts::default();
        let mut day_rows = Vec::with_capacity(days.len());
        for ((date, counts), day_places) in days.iter().zip(&template_days).zip(&places.totals.days)
        {
            sum.add(counts);
            day_rows.push(Day {
                date: date.to_string(),
                figures: figures_of(counts, *day_places),
            });
        }
        let totals = Totals {
            figures: figures_of(&sum, places.totals.range),
            days: day_rows,
        };
        (totals, lines)
    }
}

fn figures(counts: &Counts, openers: u64, clickers: u64) -> Figures {
    Figures {
        opens: counts.opens,
        unique_human_openers: openers,
        clicks: counts.clicks,
        unique_human_clickers: clickers,
        click_rate: ratio(clickers, openers),
        votes: counts.votes,
        codes_drawn: counts.codes_drawn,
        conversions: counts.conversions,
        revenue: counts.revenue.clone(),
    }
}
