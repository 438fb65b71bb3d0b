//! A report as CSV (RFC 4180, `\r\n` line ends): one header row, then for
//! each line of the report a row per day and a `total` row, then the
//! template's rows, whose `e`, `variant` and `arm` are `*`. The columns
//! are the JSON's figures, flattened; revenue has one column per currency
//! the report holds, in decimals, and an empty `click_rate` is the JSON's
//! `null`. `docs/api.md` lists the columns.

use std::fmt::Write as _;

use super::{Figures, Report};
use crate::events::micros_text;

/// The columns before the revenue ones.
pub const COLUMNS: [&str; 17] = [
    "date",
    "e",
    "variant",
    "arm",
    "opens_human",
    "opens_apple_mpp",
    "opens_gmail_proxy",
    "opens_yahoo_proxy",
    "opens_scanner",
    "unique_human_openers",
    "clicks_human",
    "clicks_machine",
    "unique_human_clickers",
    "click_rate",
    "votes",
    "codes_drawn",
    "conversions",
];

/// What the `e`, `variant` and `arm` columns of the template's rows hold.
pub const ALL: &str = "*";

/// The `date` of a row over the whole range.
pub const TOTAL: &str = "total";

/// The report as CSV text.
pub fn to_csv(report: &Report) -> String {
    let mut out = String::new();
    let mut header: Vec<String> = COLUMNS.iter().map(|name| name.to_string()).collect();
    header.extend(
        report
            .currencies
            .iter()
            .map(|currency| format!("revenue_{currency}")),
    );
    write_row(&mut out, &header);
    for line in &report.variants {
        let e = line.e.as_deref().unwrap_or_default();
        let arm = line.arm.as_deref().unwrap_or_default();
        for day in &line.days {
            let row = row(&day.date, [e, &line.variant, arm], &day.figures, report);
            write_row(&mut out, &row);
        }
        let row = row(TOTAL, [e, &line.variant, arm], &line.figures, report);
        write_row(&mut out, &row);
    }
    for day in &report.totals.days {
        let row = row(&day.date, [ALL; 3], &day.figures, report);
        write_row(&mut out, &row);
    }
    let row = row(TOTAL, [ALL; 3], &report.totals.figures, report);
    write_row(&mut out, &row);
    out
}

fn row(date: &str, names: [&str; 3], figures: &Figures, report: &Report) -> Vec<String> {
    let opens = &figures.opens;
    let mut row: Vec<String> = vec![date.to_string()];
    row.extend(names.iter().map(|name| name.to_string()));
    row.extend(
        [
            opens.human,
            opens.apple_mpp,
            opens.gmail_proxy,
            opens.yahoo_proxy,
            opens.scanner,
        ]
        .map(|count| count.to_string()),
    );
    row.push(figures.unique_human_openers.to_string());
    row.push(figures.clicks.human.to_string());
    row.push(figures.clicks.machine.to_string());
    row.push(figures.unique_human_clickers.to_string());
    row.push(
        figures
            .click_rate
            .map(|rate| rate.to_string())
            .unwrap_or_default(),
    );
    row.extend(
        [figures.votes, figures.codes_drawn, figures.conversions].map(|count| count.to_string()),
    );
    for currency in &report.currencies {
        let micros = figures.revenue.get(currency).copied().unwrap_or(0);
        row.push(micros_text(micros));
    }
    row
}

/// One row: fields holding a comma, a quote or a line end are quoted,
/// with their quotes doubled.
fn write_row(out: &mut String, fields: &[String]) {
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            let _ = write!(out, "\"{}\"", field.replace('"', "\"\""));
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_that_need_it_are_quoted() {
        let mut out = String::new();
        write_row(
            &mut out,
            &["a".into(), "b,c".into(), "say \"hi\"".into(), String::new()],
        );
        assert_eq!(out, "a,\"b,c\",\"say \"\"hi\"\"\",\r\n");
    }
}
