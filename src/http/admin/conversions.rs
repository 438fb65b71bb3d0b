//! `POST /api/v1/conversions`: sales and sign-ups the customer's backend
//! reports, each credited to a click (by its click id) or to a
//! recipient's last click or open ([`crate::open::conversion`]), with a
//! result for every line.
//!
//! The body is one JSON object, a JSON array of them, or NDJSON, one per
//! line. With `Content-Type: application/x-ndjson` it is read line by line
//! as it arrives, of any length; otherwise it is read whole (at most
//! [`MAX_BODY`](super::MAX_BODY) bytes) and taken as NDJSON when it is not
//! one JSON value. Lines are judged in batches of up to [`BATCH`] at once;
//! a batch ends before a line whose id is already in it, so that of two
//! lines with one id the first is always the one counted.

use bytes::Bytes;
use futures_util::future::join_all;
use http_body_util::Full;
use hyper::StatusCode;
use hyper::header::{self, HeaderMap};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiError, body_error};
use crate::access::KeyRing;
use crate::app::App;
use crate::events::Amount;
use crate::http::body::RequestBody;
use crate::http::form::{FormError, read_limited};
use crate::http::lines::{Line, LineReader};
use crate::open::conversion::{Conversion, ConversionError, ConversionPolicy, Converted, CreditBy};
use crate::recipient::RecipientId;
use crate::store::Store;

/// The longest line, in bytes: a conversion is a few hundred.
pub const MAX_LINE: usize = 16 * 1024;

/// The longest conversion id, in characters.
pub const MAX_ID_CHARS: usize = 128;

/// Lines judged at once.
const BATCH: usize = 64;

/// Lines whose result is given in full; the rest are counted.
const MAX_RESULTS: usize = 1000;

/// Judges every conversion of the body and answers the report.
pub(super) async fn report(
    app: &App,
    store: &Store,
    headers: &HeaderMap,
    body: RequestBody,
) -> Result<Value, ApiError> {
    let policy = ConversionPolicy {
        attribution_s: i64::from(app.config.events.attribution_days) * 86_400,
        keep_s: u64::from(app.config.store.report_retention_days) * 86_400,
    };
    let mut judge = Judge {
        app,
        store,
        policy,
        report: Report::default(),
        batch: Vec::with_capacity(BATCH),
    };
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/x-ndjson"));
    if ndjson {
        judge.lines(LineReader::new(body, MAX_LINE)).await?;
    } else {
        let bytes = read_limited(body, super::MAX_BODY)
            .await
            .map_err(|error| match error {
                FormError::TooLarge(limit) => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "a JSON body holds at most {limit} bytes; send longer lists as NDJSON \
                         with Content-Type: application/x-ndjson, which may be of any length"
                    ),
                ),
                other => body_error(other),
            })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => {
                for (index, item) in items.into_iter().enumerate() {
                    judge.item(index as u64 + 1, item).await?;
                }
            }
            Ok(item) => judge.item(1, item).await?,
            Err(error) if bytes.trim_ascii_start().starts_with(b"[") => {
                return Err(ApiError::bad_request(format!(
                    "the body is not a JSON array of conversions: {error}"
                )));
            }
            Err(_) => {
                judge
                    .lines(LineReader::new(Full::new(bytes), MAX_LINE))
                    .await?
            }
        }
    }
    judge.flush().await?;
    Ok(judge.report.to_value())
}

/// One conversion line as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionLine {
    id: String,
    #[serde(default)]
    click: Option<String>,
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    currency: Option<String>,
}

/// A line refused before it reached the store.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    code: &'static str,
    message: String,
}

fn refusal(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// The conversion a line names, checked.
fn parse(item: Value, keys: &KeyRing) -> Result<Conversion, Refusal> {
    let shape = "a conversion is {\"id\": ..., \"click\": ... or \"recipient\": ..., \
                 \"value\": ..., \"currency\": ...}";
    // Checked first: serde would read a struct from an array too.
    if !item.is_object() {
        return Err(refusal(
            "invalid_line",
            format!("{shape}: a JSON object, not {}", kind_of(&item)),
        ));
    }
    let line: ConversionLine = serde_json::from_value(item)
        .map_err(|error| refusal("invalid_line", format!("{shape}: {error}")))?;
    check_id(&line.id)?;
    let by = match (line.click, line.recipient) {
        (Some(click), None) => CreditBy::Click(keys.open_click(&click).map_err(|error| {
            refusal(
                "invalid_click",
                format!("\"click\": {error}; send the click id exactly as the link brought it"),
            )
        })?),
        (None, Some(recipient)) => CreditBy::Recipient(
            RecipientId::new(recipient)
                .map_err(|error| refusal("invalid_recipient", format!("\"recipient\": {error}")))?,
        ),
        (Some(_), Some(_)) => {
            return Err(refusal(
                "invalid_line",
                "name either \"click\" or \"recipient\", not both",
            ));
        }
        (None, None) => {
            return Err(refusal(
                "invalid_line",
                "name what to credit: \"click\" (the click id the link brought) or \"recipient\"",
            ));
        }
    };
    let amount = match (line.value, line.currency) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(refusal(
                "invalid_value",
                "a value needs its \"currency\": a three-letter ISO 4217 code such as \"EUR\"",
            ));
        }
        (None, Some(_)) => {
            return Err(refusal(
                "invalid_value",
                "a \"currency\" needs a \"value\": give both, or neither",
            ));
        }
        (Some(value), Some(currency)) => {
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(refusal(
                    "invalid_value",
                    "\"currency\" is a three-letter ISO 4217 code such as \"EUR\"",
                ));
            }
            Some(Amount::new(value, &currency).ok_or_else(|| {
                refusal(
                    "invalid_value",
                    "\"value\" is a number from -1000000000000 to 1000000000000",
                )
            })?)
        }
    };
    Ok(Conversion {
        id: line.id,
        by,
        amount,
    })
}

/// What a JSON value is, in words.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A conversion id: 1 to [`MAX_ID_CHARS`] characters, none a control
/// character.
fn check_id(id: &str) -> Result<(), Refusal> {
    let count = id.chars().count();
    if (1..=MAX_ID_CHARS).contains(&count) && !id.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(refusal(
            "invalid_id",
            format!("\"id\" is 1 to {MAX_ID_CHARS} characters, none of them a control character"),
        ))
    }
}

/// A line waiting in the batch: refused already, or to be judged.
struct Waiting {
    number: u64,
    /// The line's id, when it has a valid one, to echo in its result.
    id: Option<String>,
    judged: Result<Conversion, Refusal>,
}

/// The state of one request: the batch being gathered and the report.
struct Judge<'a> {
    app: &'a App,
    store: &'a Store,
    policy: ConversionPolicy,
    report: Report,
    batch: Vec<Waiting>,
}

impl Judge<'_> {
    async fn lines<B>(&mut self, mut reader: LineReader<B>) -> Result<(), ApiError>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        loop {
            match reader.next_line().await {
                Ok(Some(Line::Text { number, bytes })) => {
                    match serde_json::from_slice::<Value>(&bytes) {
                        Ok(item) => self.item(number, item).await?,
                        Err(error) => {
                            let refused = refusal(
                                "invalid_line",
                                format!("a line is one JSON object: {error}"),
                            );
                            self.push(number, None, Err(refused)).await?;
                        }
                    }
                }
                Ok(Some(Line::TooLong { number })) => {
                    let refused = refusal(
                        "line_too_long",
                        format!("a line holds at most {MAX_LINE} bytes"),
                    );
                    self.push(number, None, Err(refused)).await?;
                }
                Ok(None) => return Ok(()),
                Err(error) => {
                    self.flush().await?;
                    let mut refused = ApiError::bad_request(format!(
                        "{error}; the lines before it were judged, and sending the whole body \
                         again is safe: conversions counted already answer duplicate"
                    ));
                    refused.details = Some(self.report.to_value());
                    return Err(refused);
                }
            }
        }
    }

    /// Checks one conversion and puts it in the batch.
    async fn item(&mut self, number: u64, item: Value) -> Result<(), ApiError> {
        let id = match &item {
            Value::Object(object) => object
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| check_id(id).is_ok())
                .map(str::to_string),
            _ => None,
        };
        let judged = parse(item, &self.app.keys);
        self.push(number, id, judged).await
    }

    async fn push(
        &mut self,
        number: u64,
        id: Option<String>,
        judged: Result<Conversion, Refusal>,
    ) -> Result<(), ApiError> {
        let repeated = judged.as_ref().is_ok_and(|conversion| {
            self.batch.iter().any(|waiting| {
                waiting
                    .judged
                    .as_ref()
                    .is_ok_and(|other| other.id == conversion.id)
            })
        });
        if repeated {
            self.flush().await?;
        }
        self.batch.push(Waiting { number, id, judged });
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Judges the batch, all of its conversions at once, and adds the
    /// results in line order. A store that fails ends the request with
    /// 503 and the report so far.
    async fn flush(&mut self) -> Result<(), ApiError> {
        let batch = std::mem::take(&mut self.batch);
        let mut waiting = Vec::with_capacity(batch.len());
        let mut judging = Vec::new();
        for line in batch {
            match line.judged {
                Ok(conversion) => {
                    judging.push(
                        self.app
                            .pipeline
                            .convert(self.store, conversion, self.policy),
                    );
                    waiting.push((line.number, line.id, None));
                }
                Err(refused) => waiting.push((line.number, line.id, Some(refused))),
            }
        }
        let mut outcomes = join_all(judging).await.into_iter();
        let mut failure: Option<(u64, ConversionError)> = None;
        for (number, id, refused) in waiting {
            let result = match refused {
                Some(refused) => Err(refused),
                None => match outcomes.next() {
                    Some(Ok(converted)) => Ok(converted),
                    Some(Err(error)) => {
                        let refused = refusal(
                            "store_unavailable",
                            format!("{error}; send this conversion again"),
                        );
                        failure.get_or_insert((number, error));
                        Err(refused)
                    }
                    None => Err(refusal("internal", "the conversion was not judged")),
                },
            };
            self.app
                .metrics
                .conversions
                .with_label_values(&[result_name(&result)])
                .inc();
            self.report.add(number, id, result);
        }
        match failure {
            None => Ok(()),
            Some((number, error)) => {
                let mut unavailable = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    format!(
                        "{error} at line {number}; the report in details has every line judged \
                         so far. Sending the whole body again is safe: conversions counted \
                         already answer duplicate"
                    ),
                );
                unavailable.details = Some(self.report.to_value());
                Err(unavailable)
            }
        }
    }
}

fn result_name(result: &Result<Converted, Refusal>) -> &'static str {
    match result {
        Ok(Converted::Counted(_)) => "counted",
        Ok(Converted::Duplicate) => "duplicate",
        Ok(Converted::Unattributed) => "unattributed",
        Err(_) => "refused",
    }
}

/// What a request did, line by line.
#[derive(Default)]
struct Report {
    lines: u64,
    counted: u64,
    duplicate: u64,
    unattributed: u64,
    refused: u64,
    results: Vec<Value>,
}

impl Report {
    fn add(&mut self, number: u64, id: Option<String>, result: Result<Converted, Refusal>) {
        self.lines += 1;
        let name = result_name(&result);
        let mut entry = Map::new();
        entry.insert("line".into(), json!(number));
        if let Some(id) = id {
            entry.insert("id".into(), json!(id));
        }
        entry.insert("result".into(), json!(name));
        match result {
            Ok(Converted::Counted(credit)) => {
                self.counted += 1;
                entry.insert("credited_by".into(), json!(credit.credited_by));
                entry.insert("template".into(), json!(credit.template));
                if !credit.email.is_empty() {
                    entry.insert("e".into(), json!(credit.email));
                }
                entry.insert("variant".into(), json!(credit.variant));
                if let Some((experiment, arm)) = credit.arm {
                    entry.insert("experiment".into(), json!(experiment));
                    entry.insert("arm".into(), json!(arm));
                }
            }
            Ok(Converted::Duplicate) => self.duplicate += 1,
            Ok(Converted::Unattributed) => self.unattributed += 1,
            Err(refused) => {
                self.refused += 1;
                entry.insert("code".into(), json!(refused.code));
                entry.insert("message".into(), json!(refused.message));
            }
        }
        if self.results.len() < MAX_RESULTS {
            self.results.push(Value::Object(entry));
        }
    }

    fn to_value(&self) -> Value {
        json!({
            "lines": self.lines,
            "counted": self.counted,
            "duplicate": self.duplicate,
            "unattributed": self.unattributed,
            "refused": self.refused,
            "results": self.results,
            "results_truncated": self.lines > self.results.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyRing {
        KeyRing::new(vec![b"conversions-test-key-0123".to_vec()]).unwrap()
    }

    fn refused(line: Value) -> (&'static str, String) {
        let refused = parse(line, &keys()).unwrap_err();
        (refused.code, refused.message)
    }

    #[test]
    fn lines_are_checked_with_precise_refusals() {
        let click = crate::access::ClickId {
            at: 1_795_428_000,
            template: "renewal".into(),
            email: String::new(),
            variant: "offer".into(),
            arm: None,
            recipient: RecipientId::new("cust-1").unwrap(),
        };
        let id = keys().seal_click(&click);
        let good = parse(
            json!({"id": "order-991", "click": id, "value": 49.90, "currency": "eur"}),
            &keys(),
        )
        .unwrap();
        assert!(matches!(&good.by, CreditBy::Click(opened) if *opened == click));
        let amount = good.amount.unwrap();
        assert_eq!(
            (amount.micros, amount.currency.as_str()),
            (49_900_000, "EUR")
        );
        let by_recipient = parse(json!({"id": "o-2", "recipient": "cust-1"}), &keys()).unwrap();
        assert!(matches!(by_recipient.by, CreditBy::Recipient(ref r) if r.as_str() == "cust-1"));
        assert!(by_recipient.amount.is_none());

        let mut tampered = id.clone();
        let last = if tampered.ends_with('A') { "B" } else { "A" };
        tampered.replace_range(tampered.len() - 1.., last);
        for (line, code, says) in [
            (
                json!({"id": "o", "click": tampered}),
                "invalid_click",
                "was altered",
            ),
            (
                json!({"id": "o", "click": id, "recipient": "c"}),
                "invalid_line",
                "not both",
            ),
            (json!({"id": "o"}), "invalid_line", "name what to credit"),
            (json!({"click": id}), "invalid_line", "missing field `id`"),
            (
                json!({"id": "o", "click": id, "coupon": "x"}),
                "invalid_line",
                "unknown field `coupon`",
            ),
            (
                json!({"id": "", "click": id}),
                "invalid_id",
                "1 to 128 characters",
            ),
            (
                json!({"id": "o", "recipient": ""}),
                "invalid_recipient",
                "\"recipient\"",
            ),
            (
                json!({"id": "o", "click": id, "value": 5}),
                "invalid_value",
                "needs its \"currency\"",
            ),
            (
                json!({"id": "o", "click": id, "currency": "EUR"}),
                "invalid_value",
                "needs a \"value\"",
            ),
            (
                json!({"id": "o", "click": id, "value": 5, "currency": "EURO"}),
                "invalid_value",
                "three-letter",
            ),
            (
                json!({"id": "o", "click": id, "value": 1e13, "currency": "EUR"}),
                "invalid_value",
                "from -1000000000000",
            ),
            (
                json!({"id": "o", "click": id, "value": "5", "currency": "EUR"}),
                "invalid_line",
                "expected f64",
            ),
            (json!(["o"]), "invalid_line", "a JSON object, not an array"),
        ] {
            let (got, message) = refused(line.clone());
            assert_eq!(got, code, "{line}: {message}");
            assert!(message.contains(says), "{line}: {message}");
        }
    }

    #[test]
    fn ids_are_short_printable_text() {
        assert_eq!(check_id("order-991"), Ok(()));
        assert_eq!(check_id("commande n° 12 (é)"), Ok(()));
        assert_eq!(check_id(&"é".repeat(MAX_ID_CHARS)), Ok(()));
        for bad in ["", "a\nb", "tab\there", &"x".repeat(MAX_ID_CHARS + 1)] {
            assert_eq!(check_id(bad).unwrap_err().code, "invalid_id", "{bad:?}");
        }
    }
}
