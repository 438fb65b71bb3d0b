//! `POST /api/v1/recipients`: an NDJSON import of profiles, one
//! `{"recipient": ID, "fields": {...}, "remove": [...]}` per line, read as
//! it arrives and written in pipelined batches, with a report of every
//! line that was not written (the first [`MAX_REPORTED`] in full). Bodies
//! of any length: memory stays constant.

use crate::http::body::RequestBody;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::recipients::{field_name, fields_of, recipient_named};
use crate::http::lines::{Line, LineReader};
use crate::store::{ProfileUpsert, Store};

/// The longest import line, in bytes: a profile is a few hundred.
pub const MAX_LINE: usize = 64 * 1024;

/// Lines written per pipeline.
const BATCH: usize = 500;

/// Refused lines described in an import's answer; the rest are counted.
pub const MAX_REPORTED: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    recipient: String,
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
    #[serde(default)]
    remove: Vec<String>,
}

/// What an import did, line by line where a line failed.
#[derive(Default)]
struct Report {
    lines: u64,
    written: u64,
    refused: u64,
    errors: Vec<Value>,
}

impl Report {
    fn refuse(&mut self, line: u64, code: &str, message: impl Into<String>) {
        self.refused += 1;
        if self.errors.len() < MAX_REPORTED {
            self.errors
                .push(json!({ "line": line, "code": code, "message": message.into() }));
        }
    }

    fn to_value(&self) -> Value {
        json!({
            "lines": self.lines,
            "written": self.written,
            "refused": self.refused,
            "errors": self.errors,
            "errors_truncated": self.refused > self.errors.len() as u64,
        })
    }
}

/// Reads the body line by line and writes each valid one. While one batch
/// is in Redis the next is read and checked, so reading and writing
/// overlap; at most two batches are held. A store that fails ends the
/// import with 503, saying through which line everything was written.
pub(super) async fn import_recipients(store: &Store, body: RequestBody) -> Result<Value, ApiError> {
    let mut reader = LineReader::new(body, MAX_LINE);
    let mut report = Report::default();
    let mut batch: Vec<(u64, ProfileUpsert)> = Vec::with_capacity(BATCH);
    let mut in_flight: Option<tokio::task::JoinHandle<Written>> = None;
    let mut done = false;
    while !done {
        match reader.next_line().await {
            Ok(Some(Line::Text { number, bytes })) => {
                report.lines += 1;
                match parse_line(&bytes) {
                    Ok(row) => batch.push((number, row)),
                    Err((code, message)) => report.refuse(number, code, message),
                }
            }
            Ok(Some(Line::TooLong { number })) => {
                report.lines += 1;
                report.refuse(
                    number,
                    "line_too_long",
                    format!("a line holds at most {MAX_LINE} bytes"),
                );
            }
            Ok(None) => done = true,
            Err(error) => {
                settle(in_flight.take(), &mut report).await?;
                return Err(ApiError::bad_request(format!(
                    "{error}; lines written before it stay written ({})",
                    report.to_value()
                )));
            }
        }
        if batch.len() == BATCH || (done && !batch.is_empty()) {
            settle(in_flight.take(), &mut report).await?;
            let rows = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            let store = store.clone();
            in_flight = Some(tokio::spawn(async move {
                let (numbers, rows): (Vec<u64>, Vec<ProfileUpsert>) = rows.into_iter().unzip();
                let result = store.upsert_profiles(&rows).await;
                Written { numbers, result }
            }));
        }
    }
    settle(in_flight.take(), &mut report).await?;
    Ok(report.to_value())
}

struct Written {
    numbers: Vec<u64>,
    result: Result<Vec<Option<String>>, crate::store::StoreError>,
}

/// Waits for the batch in flight and adds its outcome to the report.
async fn settle(
    in_flight: Option<tokio::task::JoinHandle<Written>>,
    report: &mut Report,
) -> Result<(), ApiError> {
    let Some(handle) = in_flight else {
        return Ok(());
    };
    let written = handle.await.map_err(ApiError::internal)?;
    match written.result {
        Ok(refusals) => {
            for (number, refusal) in written.numbers.iter().zip(refusals) {
                match refusal {
                    None => report.written += 1,
                    Some(message) => report.refuse(*number, "store_refused", message),
                }
            }
            Ok(())
        }
        Err(error) => {
            let first = written.numbers.first().copied().unwrap_or(0);
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!(
                    "{error}; the batch from line {first} on may be partly written, and \
                     every line before it was handled: {}",
                    report.to_value()
                ),
            ))
        }
    }
}

pub(crate) fn parse_line(bytes: &[u8]) -> Result<ProfileUpsert, (&'static str, String)> {
    let line: ImportLine = serde_json::from_slice(bytes).map_err(|error| {
        (
            "invalid_line",
            format!(
                "a line is {{\"recipient\": id, \"fields\": {{...}}, \"remove\": [...]}}: {error}"
            ),
        )
    })?;
    let recipient =
        recipient_named(&line.recipient).map_err(|error| ("invalid_recipient", error.message))?;
    let set = fields_of(line.fields).map_err(|message| ("invalid_field", message))?;
    for name in &line.remove {
        field_name(name).map_err(|message| ("invalid_field", message))?;
    }
    if set.is_empty() && line.remove.is_empty() {
        return Err(("invalid_line", "the line sets and removes no field".into()));
    }
    Ok(ProfileUpsert {
        recipient,
        set,
        remove: line.remove,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_lines_are_checked_one_by_one() {
        let row = parse_line(br#"{"recipient":"alice","fields":{"plan":"pro","n":3,"ok":true}}"#)
            .unwrap();
        assert_eq!(row.recipient.as_str(), "alice");
        assert_eq!(row.set.len(), 3);
        let row = parse_line(br#"{"recipient":"bob","remove":["plan"]}"#).unwrap();
        assert_eq!(row.remove, vec!["plan".to_string()]);
        for (line, code) in [
            (&b"not json"[..], "invalid_line"),
            (
                br#"{"recipient":"a","fields":{"x":1},"extra":1}"#,
                "invalid_line",
            ),
            (br#"{"recipient":"a"}"#, "invalid_line"),
            (br#"{"recipient":"","fields":{"x":1}}"#, "invalid_recipient"),
            (br#"{"recipient":"a","fields":{"x":[1]}}"#, "invalid_field"),
            (br#"{"recipient":"a","fields":{"":"1"}}"#, "invalid_field"),
        ] {
            let (got, _) = parse_line(line).unwrap_err();
            assert_eq!(got, code, "{}", String::from_utf8_lossy(line));
        }
    }
}
