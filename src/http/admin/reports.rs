//! `GET /api/v1/reports/{template}?from=YYYY-MM-DD&to=YYYY-MM-DD[&e=ID]
//! [&format=csv]`: a template's report (`crate::reports`), as JSON or CSV.
//! The `/reports` page reads its reports through [`load`] too, so both
//! refuse the same requests in the same words.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::error::{ApiError, json_response};
use crate::app::App;
use crate::http::response::{self, Body};
use crate::open::{MAX_EMAIL_ID_LEN, QueryPairs, is_email_id};
use crate::reports::{DateRange, RangeError, Report, ReportQuery, csv};
use crate::store::Store;
use crate::template::Template;

/// How a report is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Csv,
}

/// What a request asks for, checked: the template (loaded), the range and
/// the email.
pub(crate) struct Asked<'q> {
    pub(crate) template: Arc<Template>,
    pub(crate) query: ReportQuery<'q>,
}

/// Answers the API's call.
pub(crate) async fn answer(
    app: &App,
    store: &Store,
    name: &str,
    query: &QueryPairs,
) -> Result<Response<Body>, ApiError> {
    let format = format(query)?;
    let report = load(app, store, name, query).await?;
    Ok(match format {
        Format::Json => json_response(StatusCode::OK, &report_json(&report)?),
        Format::Csv => csv_response(&report),
    })
}

/// Checks the request and builds the report.
pub(crate) async fn load(
    app: &App,
    store: &Store,
    name: &str,
    query: &QueryPairs,
) -> Result<Report, ApiError> {
    let asked = asked(app, name, query)?;
    Ok(crate::reports::build(store, &asked.template, asked.query).await?)
}

/// The template, range and email a request names, or why they are refused.
pub(crate) fn asked<'q>(
    app: &App,
    name: &str,
    query: &'q QueryPairs,
) -> Result<Asked<'q>, ApiError> {
    let name = super::identifier(name)?;
    let template = app.templates.get(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_template",
            format!("no template {name:?} is loaded"),
        )
    })?;
    let email = match query.get("e") {
        None => None,
        Some(email) if is_email_id(email) => Some(email),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "e is 1 to {MAX_EMAIL_ID_LEN} letters, digits, '.', '_' and '-'"
            )));
        }
    };
    let today = app.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let range = DateRange::asked(
        query.get("from"),
        query.get("to"),
        today,
        app.config.store.report_retention_days,
    )?;
    Ok(Asked {
        template,
        query: ReportQuery { range, email },
    })
}

/// `format=json` (the default) or `format=csv`.
pub(crate) fn format(query: &QueryPairs) -> Result<Format, ApiError> {
    match query.get("format") {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::bad_request(format!(
            "format is json or csv, not {:?}",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

fn report_json(report: &Report) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(report).map_err(ApiError::internal)
}

/// The CSV, as a download named after the template, range and email.
pub(crate) fn csv_response(report: &Report) -> Response<Body> {
    let mut response = response::no_store(
        StatusCode::OK,
        "text/csv; charset=utf-8",
        Bytes::from(csv::to_csv(report)),
    );
    let email = report
        .e
        .as_deref()
        .map(|email| format!("-{email}"))
        .unwrap_or_default();
    // Template names and `e` are `[A-Za-z0-9._-]`: nothing to escape.
    let disposition = format!(
        "attachment; filename=\"report-{}-{}-{}{email}.csv\"",
        report.template, report.from, report.to
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

impl From<RangeError> for ApiError {
    fn from(error: RangeError) -> ApiError {
        ApiError::bad_request(error.to_string())
    }
}
