//! Product feeds: `GET /api/v1/feeds`, each feed's source, items and last
//! refresh and error, and `POST /api/v1/feeds/{name}/refresh`, a refresh
//! now, under the feed's lock like the scheduled ones.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::App;
use crate::feeds::RefreshOutcome;

/// `GET /api/v1/feeds`.
pub(super) async fn list(app: &App) -> Result<Value, ApiError> {
    let feeds = app.feeds.report().await?;
    Ok(json!({ "feeds": feeds }))
}

/// `POST /api/v1/feeds/{name}/refresh`: 200 with the new counts, 502 when
/// the fetch or the document failed (the last good items stay), 409 while
/// another replica refreshes it.
pub(super) async fn refresh(app: &App, name: &str) -> Result<Value, ApiError> {
    let outcome = app.feeds.refresh_now(name).await.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_feed",
            format!("no feed {name:?} is configured"),
        )
    })??;
    match outcome {
        RefreshOutcome::Refreshed {
            items,
            skipped,
            generation,
        } => Ok(json!({
            "feed": name, "result": "refreshed", "items": items,
            "skipped": skipped, "generation": generation,
        })),
        RefreshOutcome::Failed(error) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "feed_refresh_failed",
            format!("the refresh failed; the last good items stay: {error}"),
        )),
        RefreshOutcome::Busy | RefreshOutcome::NotDue => Err(ApiError::new(
            StatusCode::CONFLICT,
            "feed_refreshing",
            "another replica is refreshing this feed now",
        )),
    }
}
