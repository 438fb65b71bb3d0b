//! Who reads: `GET /api/v1/recipients/{id}/engagement?days=30`, one
//! recipient's opens and clicks by person and machine over the window and
//! their last human open and click, and `POST /api/v1/engagement` with
//! `{"recipients": [...], "days": 30}`, the same for up to [`MAX_BULK`]
//! recipients, so a sender can leave out of a newsletter those who never
//! read it.

use crate::http::body::RequestBody;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::read_body;
use super::recipients::{recipient_id, recipient_named};
use crate::app::App;
use crate::expr::Opener;
use crate::open::QueryPairs;
use crate::recipient::RecipientId;
use crate::store::{EngagementRecord, Store};

/// Recipients one bulk engagement call may ask about.
pub const MAX_BULK: usize = 1000;

/// The longest window, in days: the engagement counts are kept 400 days.
const MAX_DAYS: u32 = 365;

const DEFAULT_DAYS: u32 = 30;

/// `GET /api/v1/recipients/{id}/engagement`.
pub(super) async fn one(
    app: &App,
    store: &Store,
    id: &str,
    query: &QueryPairs,
) -> Result<Value, ApiError> {
    let recipient = recipient_id(id)?;
    let days = days(query.get("days"))?;
    let records = store.engagement(std::slice::from_ref(&recipient)).await?;
    let record = records.into_iter().next().unwrap_or_default();
    Ok(summary(
        &recipient,
        &record,
        days,
        app.clock.now(),
        apple_is_person(app),
    ))
}

/// `POST /api/v1/engagement`.
pub(super) async fn bulk(app: &App, store: &Store, body: RequestBody) -> Result<Value, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Bulk {
        recipients: Vec<String>,
        #[serde(default)]
        days: Option<u32>,
    }
    let bytes = read_body(body).await?;
    let bulk: Bulk = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!(
            "the body must be {{\"recipients\": [ids], \"days\": n}}: {error}"
        ))
    })?;
    if bulk.recipients.len() > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_BULK} recipients per call"
        )));
    }
    let days = days(bulk.days.map(|d| d.to_string()).as_deref())?;
    let recipients = bulk
        .recipients
        .iter()
        .map(|id| recipient_named(id))
        .collect::<Result<Vec<_>, _>>()?;
    let records = store.engagement(&recipients).await?;
    let now = app.clock.now();
    let apple_is_person = apple_is_person(app);
    let summaries: Vec<Value> = recipients
        .iter()
        .zip(&records)
        .map(|(recipient, record)| summary(recipient, record, days, now, apple_is_person))
        .collect();
    Ok(json!({ "days": days, "recipients": summaries }))
}

/// Whether the opener rules count Apple Mail's privacy opens as a
/// person's (`person_openers`): then they are in the `human` counts too,
/// and the status takes them out again.
fn apple_is_person(app: &App) -> bool {
    app.openers.is_person(Opener::AppleProxy)
}

/// One recipient's engagement over the last `days` days (today included),
/// from their daily counters, and their status: `engaged` for a human
/// open (other than Apple Mail's privacy proxy) or a human click,
/// `privacy_protected` when Apple's proxy opens are all there is (the
/// reader cannot be known: keep them), else `unengaged`.
fn summary(
    recipient: &RecipientId,
    record: &EngagementRecord,
    days: u32,
    now: jiff::Timestamp,
    apple_is_person: bool,
) -> Value {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let since = today
        .checked_sub(jiff::Span::new().days(i64::from(days) - 1))
        .unwrap_or(today);
    let cutoff = since.strftime("%Y%m%d").to_string();
    let mut totals = [[0u64; 2]; 2];
    let mut apple_opens = 0;
    for (field, count) in &record.counts {
        let mut parts = field.split(':');
        let (Some(day), Some(kind), Some(who)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if day < cutoff.as_str() {
            continue;
        }
        let kind = match kind {
            "open" => 0,
            "click" => 1,
            _ => continue,
        };
        let who = match who {
            "person" => 0,
            "machine" => 1,
            "apple" => {
                apple_opens += count;
                continue;
            }
            _ => continue,
        };
        totals[kind][who] += count;
    }
    let human_opens_not_apple = if apple_is_person {
        totals[0][0].saturating_sub(apple_opens)
    } else {
        totals[0][0]
    };
    let status = if human_opens_not_apple + totals[1][0] > 0 {
        "engaged"
    } else if apple_opens > 0 {
        "privacy_protected"
    } else {
        "unengaged"
    };
    json!({
        "recipient": recipient.as_str(),
        "days": days,
        "since": since.to_string(),
        "opens": { "human": totals[0][0], "machine": totals[0][1], "apple_privacy": apple_opens },
        "clicks": { "human": totals[1][0], "machine": totals[1][1] },
        "last_human_open": record.last_open_at,
        "last_human_click": record.last_click_at,
        "status": status,
        "engaged": status == "engaged",
    })
}

fn days(text: Option<&str>) -> Result<u32, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_DAYS);
    };
    match text.parse::<u32>() {
        Ok(days) if (1..=MAX_DAYS).contains(&days) => Ok(days),
        _ => Err(ApiError::bad_request(format!(
            "days must be a whole number from 1 to {MAX_DAYS}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_only_its_days() {
        let recipient = RecipientId::new("r").expect("valid id");
        let record = EngagementRecord {
            counts: vec![
                ("20261201:open:person".into(), 2),
                ("20261201:open:machine".into(), 5),
                ("20261125:click:person".into(), 1),
                ("20261101:open:person".into(), 9),
                ("garbage".into(), 3),
            ],
            last_open_at: Some("2026-12-01T08:00:00.000Z".into()),
            last_click_at: None,
        };
        let now = "2026-12-01T12:00:00Z".parse().expect("valid time");
        let week = summary(&recipient, &record, 7, now, false);
        assert_eq!(week["since"], "2026-11-25");
        assert_eq!(week["opens"]["human"], 2);
        assert_eq!(week["opens"]["machine"], 5);
        assert_eq!(week["clicks"]["human"], 1);
        assert_eq!(week["engaged"], true);
        let month = summary(&recipient, &record, 31, now, false);
        assert_eq!(month["opens"]["human"], 11);
        let today = summary(&recipient, &record, 1, now, false);
        assert_eq!(today["clicks"]["human"], 0);
        assert_eq!(today["status"], "engaged");
    }

    #[test]
    fn apple_privacy_opens_alone_are_privacy_protected() {
        let recipient = RecipientId::new("r").expect("valid id");
        let now = "2026-12-01T12:00:00Z".parse().expect("valid time");
        let record = |counts: &[(&str, u64)]| EngagementRecord {
            counts: counts.iter().map(|(f, c)| (f.to_string(), *c)).collect(),
            ..EngagementRecord::default()
        };
        let apple_only = record(&[("20261201:open:machine", 2), ("20261201:open:apple", 2)]);
        let answer = summary(&recipient, &apple_only, 30, now, false);
        assert_eq!(answer["status"], "privacy_protected");
        assert_eq!(answer["engaged"], false);
        assert_eq!(answer["opens"]["apple_privacy"], 2);
        // Counted as a person's by the opener rules, still not a reader.
        let as_person = record(&[("20261201:open:person", 2), ("20261201:open:apple", 2)]);
        assert_eq!(
            summary(&recipient, &as_person, 30, now, true)["status"],
            "privacy_protected"
        );
        let scanner_only = record(&[("20261201:open:machine", 3), ("20261201:click:machine", 1)]);
        assert_eq!(
            summary(&recipient, &scanner_only, 30, now, false)["status"],
            "unengaged"
        );
        let clicked = record(&[("20261201:open:apple", 1), ("20261201:click:person", 1)]);
        assert_eq!(
            summary(&recipient, &clicked, 30, now, false)["status"],
            "engaged"
        );
    }
}
