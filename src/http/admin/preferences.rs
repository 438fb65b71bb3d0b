//! Recipients' email preferences as the preference center keeps them:
//! `GET /api/v1/recipients/{id}/preferences`, one recipient's choices and
//! history, and `GET /api/v1/preferences/export`, every change of every
//! recipient, for a bulk sync.
//!
//! The export reads the events stream, the one record of changes in the
//! order they happened: its `unsubscribe` and `preferences` entries, one
//! NDJSON line each, as a webhook gets them. The cursor is a stream id,
//! so a sync that keeps the last one it got reads each change once, in
//! order, from any replica. What the stream no longer holds (it is
//! capped) cannot be exported; the answer says when the cursor is older
//! than the oldest entry left after a trim.

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::recipients::recipient_id;
use crate::app::App;
use crate::http::response::{self, Body};
use crate::open::QueryPairs;
use crate::store::{Store, StreamEntry};
use crate::webhooks::payload::push_with_stream_id;

/// The header with the cursor after the last line (or after the entries
/// read without a change among them): the next call's `since`.
pub const NEXT_CURSOR: &str = "opentime-next-cursor";

/// Said when the cursor is older than the oldest entry the stream holds
/// and entries were trimmed off before that one: changes between the
/// cursor and it may be gone. Its value is that oldest entry's id.
pub const TRIMMED: &str = "opentime-trimmed-before";

/// Lines per answer without `limit`, and at most.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;

/// Entries read from the stream per round trip.
const CHUNK: usize = 1000;

/// Entries one answer reads at most, changes or not: a stream full of
/// opens answers in bounded time, with a `Link` to go on.
const MAX_SCAN: usize = 100_000;

/// `GET /api/v1/recipients/{id}/preferences`.
pub(super) async fn get(app: &App, store: &Store, id: &str) -> Result<Value, ApiError> {
    let recipient = recipient_id(id)?;
    let stored = store.prefs(&recipient).await?;
    let history = store.prefs_history(&recipient).await?;
    let view = app.prefs.view(&stored);
    Ok(json!({
        "recipient": recipient.as_str(),
        "preferences": {
            "topics": view.topics.iter().map(|(id, ticked)| (id.clone(), Value::from(*ticked))).collect::<serde_json::Map<_, _>>(),
            "frequency": view.frequency,
            "unsubscribed_all": view.unsubscribed_all,
            "updated_at": view.updated_at,
            "source": stored.get("source"),
        },
        "history": history,
    }))
}

/// `GET /api/v1/preferences/export?since=CURSOR&limit=N`.
pub(super) async fn export(store: &Store, query: &QueryPairs) -> Result<Response<Body>, ApiError> {
    let since = cursor(query.get("since"))?;
    let limit = limit(query.get("limit"))?;
    let mut position = since.map(str::to_string);
    let mut lines = String::new();
    let mut count = 0;
    let mut scanned = 0;
    let more = 'read: loop {
        let chunk = store.events_after(position.as_deref(), CHUNK).await?;
        let end = chunk.len() < CHUNK;
        for entry in chunk {
            scanned += 1;
            if is_preference_change(&entry) {
                push_with_stream_id(&mut lines, &entry);
                lines.push('\n');
                count += 1;
            }
            position = Some(entry.id);
            if count == limit {
                break 'read true;
            }
        }
        if end {
            break false;
        }
        if scanned >= MAX_SCAN {
            break true;
        }
    };
    let next = position.unwrap_or_else(|| "0-0".to_string());
    let trimmed = store
        .events_trimmed_before()
        .await?
        .filter(|oldest| since.is_none_or(|since| stream_id_before(since, oldest)));
    let mut response =
        response::no_store(StatusCode::OK, "application/x-ndjson", Bytes::from(lines));
    let headers = response.headers_mut();
    // Stream ids are digits and a dash: always a valid header value.
    let value = |text: &str| HeaderValue::from_str(text).expect("a stream id is ASCII");
    headers.insert(NEXT_CURSOR, value(&next));
    if more {
        let link = format!("</api/v1/preferences/export?since={next}&limit={limit}>; rel=\"next\"");
        headers.insert(header::LINK, value(&link));
    }
    if let Some(trimmed) = trimmed {
        headers.insert(TRIMMED, value(&trimmed));
    }
    Ok(response)
}

/// Whether the entry is an `unsubscribe` or `preferences` event.
fn is_preference_change(entry: &StreamEntry) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<Kind>(&entry.event)
        .is_ok_and(|kind| kind.kind == "unsubscribe" || kind.kind == "preferences")
}

/// `since`: a stream id, `MS-SEQ` or `MS`, as `Opentime-Next-Cursor` gave
/// it; empty or absent reads from the stream's start.
fn cursor(since: Option<&str>) -> Result<Option<&str>, ApiError> {
    let Some(since) = since.filter(|since| !since.is_empty()) else {
        return Ok(None);
    };
    let digits = |part: &str| {
        !part.is_empty() && part.len() <= 20 && part.bytes().all(|b| b.is_ascii_digit())
    };
    let valid = match since.split_once('-') {
        Some((ms, seq)) => digits(ms) && digits(seq),
        None => digits(since),
    };
    if valid {
        Ok(Some(since))
    } else {
        Err(ApiError::bad_request(format!(
            "since is a cursor as Opentime-Next-Cursor gives it, like 1764578400000-0; got {since:?}"
        )))
    }
}

fn limit(limit: Option<&str>) -> Result<usize, ApiError> {
    let Some(limit) = limit else {
        return Ok(DEFAULT_LIMIT);
    };
    match limit.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(ApiError::bad_request(format!(
            "limit is a whole number from 1 to {MAX_LIMIT}; got {limit:?}"
        ))),
    }
}

/// Whether stream id `a` comes before `b` (both checked or from Redis).
fn stream_id_before(a: &str, b: &str) -> bool {
    let parts = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    parts(a) < parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_stream_ids() {
        assert_eq!(cursor(None).unwrap(), None);
        assert_eq!(cursor(Some("")).unwrap(), None);
        assert_eq!(
            cursor(Some("1764578400000-3")).unwrap(),
            Some("1764578400000-3")
        );
        assert_eq!(
            cursor(Some("1764578400000")).unwrap(),
            Some("1764578400000")
        );
        for bad in ["-", "1-", "-1", "1-2-3", "abc", "1 2", "+", "(1-0"] {
            assert!(cursor(Some(bad)).is_err(), "{bad}");
        }
        assert!(stream_id_before("9-5", "10-0"));
        assert!(stream_id_before("10-0", "10-1"));
        assert!(!stream_id_before("10-1", "10-1"));
        assert!(stream_id_before("10", "10-1"));
        assert_eq!(limit(None).unwrap(), 1000);
        assert!(limit(Some("0")).is_err() && limit(Some("10001")).is_err());
    }
}
