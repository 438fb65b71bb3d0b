//! `/reports`: a template's report as a page, for people. Admin auth as
//! the preview takes it (`Basic`, any user name, the admin token as
//! password, or `Bearer`), with the `reports` scope.
//!
//! - `GET /reports?template=NAME&from=YYYY-MM-DD&to=YYYY-MM-DD[&e=ID]`:
//!   the page (`assets/pages/reports.html`), rendered here with the report
//!   in it: a form to choose, the totals, a daily chart drawn as inline
//!   SVG (`chart.rs`), the experiment's arms, a table of the variants, the
//!   opens by source with the machines apart, and each variant by day. No
//!   script, nothing from elsewhere: it works with JavaScript off.
//! - `GET /reports/csv?...`: the same report as the API's CSV, for the
//!   page's download link.
//!
//! Both read the report through the admin API's `reports::load`, so they
//! refuse what it refuses, in its words.

mod chart;

use std::sync::LazyLock;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::admin::auth::page_access;
use super::admin::error::{ApiError, error_response};
use super::admin::reports::{csv_response, load};
use super::response::Body;
use crate::app::App;
use crate::events::micros_text;
use crate::open::QueryPairs;
use crate::reports::{Figures, Report, range::DEFAULT_DAYS};

/// The scope a token needs for the page.
const SCOPE: &str = "reports";

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut pages = Environment::new();
    // The `.html` name turns on HTML escaping of every value.
    pages
        .add_template(
            "reports.html",
            include_str!("../../../assets/pages/reports.html"),
        )
        .expect("the shipped page compiles");
    pages
});

pub async fn serve(
    app: &App,
    method: &Method,
    rest: &[&str],
    query: &QueryPairs,
    headers: &HeaderMap,
) -> Response<Body> {
    if let Some(refused) = page_access(
        app,
        headers,
        &[SCOPE],
        "Basic realm=\"opentime reports\", charset=\"UTF-8\"",
        "reports",
    ) {
        return refused;
    }
    let reads = *method == Method::GET || *method == Method::HEAD;
    match (reads, rest) {
        (true, []) => page(app, query).await,
        (true, ["csv"]) => {
            let store = app.store.with_budget(BUDGET);
            let name = query.get("template").unwrap_or_default();
            match load(app, &store, name, query).await {
                Ok(report) => csv_response(&report),
                Err(error) => error_response(error),
            }
        }
        (false, [] | ["csv"]) => error_response(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the reports are read with GET",
        )),
        _ => error_response(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such reports path",
        )),
    }
}

/// How long the page waits for the store, as the API does.
const BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

async fn page(app: &App, query: &QueryPairs) -> Response<Body> {
    let mut templates: Vec<String> = app
        .templates
        .snapshot()
        .templates()
        .iter()
        .map(|template| template.name.clone())
        .collect();
    templates.sort();
    let chosen = query
        .get("template")
        .map(str::to_string)
        .or_else(|| templates.first().cloned());
    let today = app.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let retention = i64::from(app.config.store.report_retention_days);
    let oldest = today
        .checked_sub(jiff::Span::new().days(retention))
        .unwrap_or(today);
    let default_from = today
        .checked_sub(jiff::Span::new().days(i64::from(DEFAULT_DAYS - 1)))
        .unwrap_or(today)
        .max(oldest);
    let store = app.store.with_budget(BUDGET);
    let (report, problem, status) = match &chosen {
        None => (None, None, StatusCode::OK),
        Some(name) => match load(app, &store, name, query).await {
            Ok(report) => (Some(report), None, StatusCode::OK),
            Err(error) => (None, Some(error.message), error.status),
        },
    };
    let text = |name: &str| query.get(name).unwrap_or_default().to_string();
    // The form shows what the report covers, or else what was asked.
    let (from, to) = match &report {
        Some(report) => (report.from.clone(), report.to.clone()),
        None => (
            query
                .get("from")
                .map_or_else(|| default_from.to_string(), str::to_string),
            query
                .get("to")
                .map_or_else(|| today.to_string(), str::to_string),
        ),
    };
    let view = report.as_ref().map(ReportView::of);
    let html = PAGES
        .get_template("reports.html")
        .and_then(|page| {
            page.render(context! {
                templates,
                chosen,
                from,
                to,
                e => text("e"),
                today => today.to_string(),
                oldest => oldest.to_string(),
                problem,
                report => Value::from(Serde(&report)),
                csv_query => report.as_ref().map(csv_query),
                total => Value::from(Serde(view.as_ref().map(|view| &view.total))),
                lines => Value::from(Serde(view.as_ref().map(|view| &view.lines))),
                currencies => Value::from(Serde(view.as_ref().map(|view| &view.currencies))),
                chart => Value::from(Serde(view.as_ref().map(|view| &view.chart))),
                experiment => Value::from(Serde(
                    view.as_ref().and_then(|view| view.experiment.as_ref())
                )),
            })
        })
        .unwrap_or_else(|error| {
            tracing::error!(%error, "the reports page did not render");
            "the reports page did not render".to_string()
        });
    let mut response =
        super::response::no_store(status, "text/html; charset=utf-8", Bytes::from(html));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The download link's query: the report's own template, days and email.
fn csv_query(report: &Report) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("template", &report.template);
    query.append_pair("from", &report.from);
    query.append_pair("to", &report.to);
    if let Some(email) = &report.e {
        query.append_pair("e", email);
    }
    query.finish()
}

/// The report's numbers as the page writes them.
struct ReportView {
    total: Row,
    lines: Vec<LineView>,
    currencies: Vec<String>,
    chart: chart::Chart,
    experiment: Option<ExperimentView>,
}

#[derive(Serialize)]
struct LineView {
    e: String,
    variant: String,
    arm: String,
    total: Row,
    days: Vec<Row>,
}

/// One row of a table: every figure, written out.
#[derive(Serialize)]
struct Row {
    label: String,
    openers: String,
    clickers: String,
    rate: String,
    votes: String,
    codes: String,
    conversions: String,
    revenue: Vec<String>,
    human: String,
    gmail: String,
    yahoo: String,
    apple: String,
    scanner: String,
    machine_opens: String,
    human_clicks: String,
    machine_clicks: String,
}

#[derive(Serialize)]
struct ExperimentView {
    id: String,
    metric: &'static str,
    rule: Option<String>,
    winner: Option<WinnerView>,
    arms: Vec<ArmView>,
}

#[derive(Serialize)]
struct WinnerView {
    arm: String,
    how: &'static str,
    at: String,
}

#[derive(Serialize)]
struct ArmView {
    arm: String,
    weight: String,
    paused: bool,
    exposures: String,
    successes: String,
    rate: String,
    best: String,
    /// The bar's length, in percent.
    bar: f64,
    winner: bool,
}

impl ReportView {
    fn of(report: &Report) -> ReportView {
        let currencies = &report.currencies;
        let lines = report
            .variants
            .iter()
            .map(|line| LineView {
                e: line.e.clone().unwrap_or_default(),
                variant: line.variant.clone(),
                arm: line.arm.clone().unwrap_or_default(),
                total: Row::of("Total", &line.figures, currencies),
                days: line
                    .days
                    .iter()
                    .map(|day| Row::of(&day.date, &day.figures, currencies))
                    .collect(),
            })
            .collect();
        let dates: Vec<String> = report
            .totals
            .days
            .iter()
            .map(|day| day.date.clone())
            .collect();
        let per_day = |figure: fn(&Figures) -> u64| -> Vec<u64> {
            report
                .totals
                .days
                .iter()
                .map(|day| figure(&day.figures))
                .collect()
        };
        let chart = chart::chart(
            &dates,
            &[
                (
                    "People who opened",
                    "opened",
                    per_day(|figures| figures.unique_human_openers),
                ),
                (
                    "People who clicked",
                    "clicked",
                    per_day(|figures| figures.unique_human_clickers),
                ),
            ],
        );
        let experiment = report.experiment.as_ref().map(|experiment| {
            let winner = experiment.winner.as_ref();
            ExperimentView {
                id: experiment.id.clone(),
                metric: experiment.metric,
                rule: experiment.rule.map(|rule| {
                    format!(
                        "{} people exposed and one arm's probability of being best reaches {}",
                        grouped(rule.min_exposures),
                        percent(Some(rule.probability))
                    )
                }),
                winner: winner.map(|winner| WinnerView {
                    arm: winner.arm.clone(),
                    how: if winner.by == "manual" {
                        "decided by hand"
                    } else {
                        "declared by the rule"
                    },
                    at: winner
                        .at
                        .parse::<jiff::Timestamp>()
                        .map(|at| at.strftime("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_else(|_| winner.at.clone()),
                }),
                arms: experiment
                    .arms
                    .iter()
                    .map(|arm| ArmView {
                        arm: arm.arm.clone(),
                        weight: trimmed(arm.weight),
                        paused: arm.paused,
                        exposures: grouped(arm.exposures),
                        successes: grouped(arm.successes),
                        rate: percent(arm.rate),
                        best: percent(Some(arm.probability_best)),
                        bar: (arm.probability_best * 1000.0).round() / 10.0,
                        winner: winner.is_some_and(|winner| winner.arm == arm.arm),
                    })
                    .collect(),
            }
        });
        ReportView {
            total: Row::of("Total", &report.totals.figures, currencies),
            lines,
            currencies: currencies.clone(),
            chart,
            experiment,
        }
    }
}

impl Row {
    fn of(label: &str, figures: &Figures, currencies: &[String]) -> Row {
        let opens = &figures.opens;
        let count = |n: i64| signed(n);
        Row {
            label: label.to_string(),
            openers: grouped(figures.unique_human_openers),
            clickers: grouped(figures.unique_human_clickers),
            rate: percent(figures.click_rate),
            votes: count(figures.votes),
            codes: count(figures.codes_drawn),
            conversions: count(figures.conversions),
            revenue: currencies
                .iter()
                .map(|currency| money(figures.revenue.get(currency).copied().unwrap_or(0)))
                .collect(),
            human: count(opens.human),
            gmail: count(opens.gmail_proxy),
            yahoo: count(opens.yahoo_proxy),
            apple: count(opens.apple_mpp),
            scanner: count(opens.scanner),
            machine_opens: count(opens.apple_mpp + opens.scanner),
            human_clicks: count(figures.clicks.human),
            machine_clicks: count(figures.clicks.machine),
        }
    }
}

/// `12345` as `12,345`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn signed(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", grouped(n.unsigned_abs()))
}

/// Millionths of a currency with grouped digits and at least two
/// decimals, as amounts of money are written: `2,519.70`, `0.125`.
fn money(micros: i64) -> String {
    let text = micros_text(micros);
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = grouped(whole.parse().unwrap_or(0));
    format!("{sign}{whole}.{fraction:0<2}")
}

/// A ratio as a percentage with one decimal; a dash for none.
fn percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(ratio) => format!("{:.1}%", ratio * 100.0),
        None => "–".to_string(),
    }
}

/// A share without needless decimals: `50`, `33.3`.
fn trimmed(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_for_people() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(signed(-12_000), "-12,000");
        assert_eq!(percent(Some(0.3333)), "33.3%");
        assert_eq!(percent(None), "–");
        assert_eq!(trimmed(50.0), "50");
        assert_eq!(money(2_519_700_000), "2,519.70");
        assert_eq!(money(125_000), "0.125");
        assert_eq!(money(-5_000_000), "-5.00");
        assert_eq!(money(0), "0.00");
        assert_eq!(trimmed(33.33), "33.33");
    }
}
