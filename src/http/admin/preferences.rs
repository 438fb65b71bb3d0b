//! A recipient's email preferences as the preference center keeps them:
//! `GET /api/v1/recipients/{id}/preferences`, the choices and their
//! history.

use serde_json::{Value, json};

use super::error::ApiError;
use super::recipients::recipient_id;
use crate::app::App;
use crate::store::Store;

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
