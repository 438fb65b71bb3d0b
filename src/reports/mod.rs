//! A template's report over a range of UTC days (`docs/reports.md`): per
//! email (`e`), variant and arm, the opens by opener class, the people who
//! opened and clicked, votes, codes, conversions and revenue, each day and
//! over the range; the template's totals; and for an experiment each
//! arm's exposures, successes, probability of being best and the winner.
//!
//! The events' batches did the counting (`store/reports.rs`); a report
//! only reads. It waits on the store twice: the days' counters (beside the
//! experiment's counts and decision), then one `PFCOUNT` per group of
//! unique sets, all in one round trip, since which groups exist is only
//! known from the counters. The folding (`tally.rs`) and the CSV
//! (`csv.rs`) are pure.

pub mod csv;
pub mod range;
mod tally;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::experiments::{ArmCounts, arm_counts, probability_best};
use crate::store::{Decision, Store, StoreError};
use crate::template::file::ExperimentMetric;
use crate::template::{Experiment, Template};

pub use range::{DateRange, RangeError};
pub use tally::Counts;

/// What a report is asked for: its days, and one email's counts only
/// (`e`) or every email's.
#[derive(Debug, Clone, Copy)]
pub struct ReportQuery<'q> {
    pub range: DateRange,
    pub email: Option<&'q str>,
}

/// A template's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub template: String,
    /// The first and last day, `YYYY-MM-DD`, UTC, both included.
    pub from: String,
    pub to: String,
    /// The email the report is limited to; `null` for all of them.
    pub e: Option<String>,
    /// Every currency some revenue was counted in, in order.
    pub currencies: Vec<String>,
    pub totals: Totals,
    /// One entry per email, variant and arm with counts in the range,
    /// by email, then in the template's order of variants.
    pub variants: Vec<Line>,
    /// The template's experiment, over its whole life (as its winner rule
    /// counts), whatever the range.
    pub experiment: Option<ExperimentReport>,
}

/// The counts of one email, variant and arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// The email (`e`) the counts came with; `null` for opens whose URL
    /// named none.
    pub e: Option<String>,
    pub variant: String,
    /// The experiment arm; `null` outside an experiment.
    pub arm: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
    /// One entry per day of the range, in order.
    pub days: Vec<Day>,
}

/// The template's counts, over every line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    #[serde(flatten)]
    pub figures: Figures,
    pub days: Vec<Day>,
}

/// One day's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// What is counted of a line, a day or the template.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub opens: Opens,
    /// Distinct people who opened (a person per `person_openers`),
    /// estimated by Redis within 2%.
    pub unique_human_openers: u64,
    pub clicks: Clicks,
    pub unique_human_clickers: u64,
    /// `unique_human_clickers / unique_human_openers`, to four decimals;
    /// `null` without openers. It can pass 1: people click with images off.
    pub click_rate: Option<f64>,
    /// Votes cast by people (a retraction does not count).
    pub votes: i64,
    pub codes_drawn: i64,
    pub conversions: i64,
    /// By currency code, as decimal strings (`"149.8"`): exact, where a
    /// float would round sums of cents.
    #[serde(serialize_with = "revenue_text")]
    pub revenue: BTreeMap<String, i64>,
}

/// Image requests by opener class (`docs/openers.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Opens {
    /// Straight from a mail client.
    pub human: i64,
    /// Apple Mail Privacy Protection's prefetch, on delivery.
    pub apple_mpp: i64,
    pub gmail_proxy: i64,
    pub yahoo_proxy: i64,
    pub scanner: i64,
}

/// Clicks by people (`person_openers`) and by machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Clicks {
    pub human: i64,
    pub machine: i64,
}

/// An experiment as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentReport {
    pub id: String,
    /// What counts as a success: `click` or `conversion`.
    pub metric: &'static str,
    /// The rule that declares a winner by itself, if any.
    pub rule: Option<WinnerRule>,
    /// The arm declared the winner, by the rule or by hand.
    pub winner: Option<Winner>,
    /// In name order.
    pub arms: Vec<ArmReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WinnerRule {
    pub min_exposures: u64,
    pub probability: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Winner {
    pub arm: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// `rule` or `manual`.
    pub by: String,
}

/// One arm: people exposed and successes, estimated like the uniques.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmReport {
    pub arm: String,
    /// Its share of recipients, in percent.
    pub weight: f64,
    pub paused: bool,
    pub exposures: u64,
    pub successes: u64,
    /// `successes / exposures`, to four decimals; `null` without exposures.
    pub rate: Option<f64>,
    /// The posterior probability that this arm's rate is the highest, to
    /// four decimals.
    pub probability_best: f64,
}

/// Builds `template`'s report: two round trips for the counts and the
/// uniques, the experiment's reads beside the first.
pub async fn build(
    store: &Store,
    template: &Template,
    query: ReportQuery<'_>,
) -> Result<Report, StoreError> {
    let days = query.range.days();
    let day_keys: Vec<String> = days.iter().map(|day| range::store_day(*day)).collect();
    let experiment = template.experiment.as_ref();
    let (counters, experiment_counts) = tokio::join!(
        store.report_counters(&template.name, &day_keys),
        experiment_reads(store, experiment),
    );
    let tally = tally::Tally::fold(&counters?, template, query.email);
    let (unions, places) = tally.unions(&day_keys);
    let uniques = store.report_uniques(&template.name, &unions).await?;
    let (totals, variants) = tally.figures(&days, &places, &uniques);
    let currencies = totals.figures.revenue.keys().cloned().collect();
    let experiment = match (experiment, experiment_counts?) {
        (Some(experiment), Some((counts, decision))) => {
            Some(experiment_report(experiment, &counts, decision))
        }
        _ => None,
    };
    Ok(Report {
        template: template.name.clone(),
        from: query.range.from.to_string(),
        to: query.range.to.to_string(),
        e: query.email.map(str::to_string),
        currencies,
        totals,
        variants,
        experiment,
    })
}

/// The experiment's arms' counts and its decision, when there is one.
async fn experiment_reads(
    store: &Store,
    experiment: Option<&Experiment>,
) -> Result<Option<(Vec<ArmCounts>, Option<Decision>)>, StoreError> {
    let Some(experiment) = experiment else {
        return Ok(None);
    };
    let ids = [experiment.id.as_str()];
    let (counts, decisions) = tokio::join!(
        arm_counts(store, experiment),
        store.experiment_decisions(&ids),
    );
    let decision = decisions?.into_iter().next().flatten();
    Ok(Some((counts?, decision)))
}

fn experiment_report(
    experiment: &Experiment,
    counts: &[ArmCounts],
    decision: Option<Decision>,
) -> ExperimentReport {
    let best = probability_best(counts);
    let arms = experiment
        .arms
        .iter()
        .zip(counts)
        .zip(best)
        .map(|((arm, counts), best)| ArmReport {
            arm: arm.name.clone(),
            weight: arm.weight,
            paused: arm.paused,
            exposures: counts.exposures,
            successes: counts.successes,
            rate: ratio(counts.successes, counts.exposures),
            probability_best: four_decimals(best),
        })
        .collect();
    let winner = decision.map(|decision| Winner {
        at: jiff::Timestamp::from_second(decision.at)
            .map(|at| at.to_string())
            .unwrap_or_default(),
        arm: decision.arm,
        by: decision.by,
    });
    ExperimentReport {
        id: experiment.id.clone(),
        metric: match experiment.metric {
            ExperimentMetric::Click => "click",
            ExperimentMetric::Conversion => "conversion",
        },
        rule: experiment.winner.map(|rule| WinnerRule {
            min_exposures: rule.min_exposures,
            probability: rule.probability,
        }),
        winner,
        arms,
    }
}

/// `part / whole` to four decimals; `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| four_decimals(part as f64 / whole as f64))
}

fn four_decimals(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn revenue_text<S: serde::Serializer>(
    revenue: &BTreeMap<String, i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        revenue
            .iter()
            .map(|(currency, micros)| (currency, crate::events::micros_text(*micros))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Amount, Event, EventKind};
    use crate::expr::{Device, Opener};
    use crate::recipient::RecipientId;
    use crate::store::MemoryStore;

    const PROMO: &str = r##"{ "name": "promo", "width": 100, "height": 50, "access": "token",
      "experiment": { "id": "promo-copy", "arms": { "a": 50, "b": 50 } },
      "variants": [
        { "id": "copy-a", "arm": "a", "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 10, "height": 10, "fill": "#000" } ] },
        { "id": "copy-b", "arm": "b", "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 10, "height": 10, "fill": "#111" } ] },
        { "id": "default", "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 10, "height": 10, "fill": "#222" } ] } ] }"##;

    fn promo() -> Template {
        let fonts = crate::render::FontBook::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"),
        )
        .expect("the bundled fonts load");
        let renderer = crate::render::Renderer::new(fonts);
        let loader = crate::template::Loader {
            renderer: &renderer,
            prerender: |_, _| Ok(Vec::new()),
            sources: &crate::template::NoSources,
        };
        crate::template::load_bytes(
            std::path::Path::new("promo.json"),
            PROMO.as_bytes(),
            std::path::Path::new("."),
            loader,
            &mut crate::template::AssetCache::default(),
        )
        .expect("the template loads")
    }

    /// An event of the promo's email `step-1`, in arm `a` for `copy-a`
    /// and `b` for `copy-b`.
    fn event(kind: EventKind, who: &str, variant: &str, at: &str, opener: Opener) -> Event {
        let person = matches!(
            opener,
            Opener::Human | Opener::GmailProxy | Opener::YahooProxy
        );
        let mut event = Event::new(
            kind,
            "promo",
            variant,
            Some(RecipientId::new(who).expect("valid")),
            at.parse().expect("an instant"),
            opener,
            person,
            Device::from_user_agent(None),
        );
        event.email = "step-1".into();
        event.experiment = "promo-copy".into();
        event.arm = variant.trim_start_matches("copy-").into();
        event
    }

    fn range(from: &str, to: &str) -> DateRange {
        DateRange {
            from: from.parse().expect("a date"),
            to: to.parse().expect("a date"),
        }
    }

    #[tokio::test]
    async fn a_report_counts_each_line_day_and_the_template_and_the_csv_says_the_same() {
        use EventKind::{Click, Conversion, Open};
        use Opener::{AppleProxy, GmailProxy, Human, Scanner};
        let template = promo();
        let store = Store::Memory(MemoryStore::new());
        let mut conversion = event(Conversion, "r4", "copy-b", "2026-11-21T12:00:00Z", Human);
        conversion.amount = Amount::new(49.9, "EUR");
        let events = [
            event(Open, "r1", "copy-a", "2026-11-20T09:00:00Z", Human),
            event(Open, "r1", "copy-a", "2026-11-20T09:05:00Z", Human),
            event(Open, "r2", "copy-a", "2026-11-20T09:00:01Z", AppleProxy),
            event(Open, "r3", "copy-b", "2026-11-20T10:00:00Z", GmailProxy),
            event(Click, "r1", "copy-a", "2026-11-20T09:06:00Z", Human),
            event(Click, "r3", "copy-b", "2026-11-20T10:00:01Z", Scanner),
            event(Open, "r1", "copy-a", "2026-11-21T08:00:00Z", Human),
            event(Open, "r4", "copy-b", "2026-11-21T11:00:00Z", Human),
            conversion,
            // A day outside the range.
            event(Open, "r5", "copy-a", "2026-11-23T08:00:00Z", Human),
        ];
        store.write_events(&events).await.expect("written");
        let query = ReportQuery {
            range: range("2026-11-20", "2026-11-22"),
            email: None,
        };
        let report = build(&store, &template, query).await.expect("built");
        let json = serde_json::to_value(&report).expect("serializes");
        let a = &json["variants"][0];
        assert_eq!(
            (&a["e"], &a["variant"], &a["arm"]),
            (&"step-1".into(), &"copy-a".into(), &"a".into())
        );
        assert_eq!(
            a["opens"],
            serde_json::json!({ "human": 3, "apple_mpp": 1, "gmail_proxy": 0, "yahoo_proxy": 0, "scanner": 0 })
        );
        assert_eq!(a["unique_human_openers"], 1);
        assert_eq!(a["clicks"], serde_json::json!({ "human": 1, "machine": 0 }));
        assert_eq!(a["click_rate"], 1.0);
        assert_eq!(a["days"].as_array().map(Vec::len), Some(3));
        assert_eq!(a["days"][1]["date"], "2026-11-21");
        assert_eq!(a["days"][1]["opens"]["human"], 1);
        assert_eq!(a["days"][2]["click_rate"], serde_json::Value::Null);
        let b = &json["variants"][1];
        assert_eq!(b["variant"], "copy-b");
        assert_eq!(b["unique_human_openers"], 2);
        assert_eq!(b["clicks"], serde_json::json!({ "human": 0, "machine": 1 }));
        assert_eq!(b["click_rate"], 0.0);
        assert_eq!(b["conversions"], 1);
        assert_eq!(b["revenue"], serde_json::json!({ "EUR": "49.9" }));
        let totals = &json["totals"];
        assert_eq!(totals["unique_human_openers"], 3);
        assert_eq!(totals["unique_human_clickers"], 1);
        assert_eq!(totals["click_rate"], 0.3333);
        assert_eq!(totals["days"][0]["unique_human_openers"], 2);
        assert_eq!(totals["days"][1]["unique_human_openers"], 2);
        assert_eq!(json["currencies"], serde_json::json!(["EUR"]));
        let experiment = &json["experiment"];
        assert_eq!(experiment["metric"], "click");
        assert_eq!(experiment["winner"], serde_json::Value::Null);
        assert_eq!(experiment["arms"][0]["exposures"], 2, "r1 and r5");
        assert_eq!(experiment["arms"][0]["successes"], 1);
        assert_eq!(experiment["arms"][1]["exposures"], 2);
        assert_eq!(experiment["arms"][1]["rate"], 0.0);
        let a_best = experiment["arms"][0]["probability_best"].as_f64().unwrap();
        assert!(a_best > 0.5 && a_best < 1.0, "{a_best}");

        let csv = csv::to_csv(&report);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "date,e,variant,arm,opens_human,opens_apple_mpp,opens_gmail_proxy,\
             opens_yahoo_proxy,opens_scanner,unique_human_openers,clicks_human,\
             clicks_machine,unique_human_clickers,click_rate,votes,codes_drawn,\
             conversions,revenue_EUR"
        );
        assert_eq!(
            lines[1],
            "2026-11-20,step-1,copy-a,a,2,1,0,0,0,1,1,0,1,1,0,0,0,0"
        );
        assert_eq!(
            lines[4],
            "total,step-1,copy-a,a,3,1,0,0,0,1,1,0,1,1,0,0,0,0"
        );
        assert_eq!(
            lines[8],
            "total,step-1,copy-b,b,1,0,1,0,0,2,0,1,0,0,0,0,1,49.9"
        );
        assert_eq!(lines[11], "2026-11-22,*,*,*,0,0,0,0,0,0,0,0,0,,0,0,0,0");
        assert_eq!(lines[12], "total,*,*,*,4,1,1,0,0,3,1,1,1,0.3333,0,0,1,49.9");
        assert_eq!(lines[13], "", "the last row ends its line");
        assert_eq!(lines.len(), 14);

        // Another email's report has none of it; the experiment is the
        // same whatever the email.
        let other = ReportQuery {
            email: Some("step-2"),
            ..query
        };
        let report = build(&store, &template, other).await.expect("built");
        assert!(report.variants.is_empty());
        assert_eq!(report.totals.figures, Figures::default());
        assert_eq!(report.totals.days.len(), 3);
        assert_eq!(
            report.experiment.expect("an experiment").arms[1].exposures,
            2
        );
    }
}
