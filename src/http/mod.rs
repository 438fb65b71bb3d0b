//! The HTTP surface: the hyper server, the router and the handlers.
//!
//! Only this module knows about hyper for serving. The handlers of the
//! recipient's URLs (`/i/`, `/c/`, `/v/`, `/a/`, `/s/`) are adapters: they hand
//! the request's facts to one entry of [`crate::open`], and map its typed
//! answer to a response and a metric; they hold no product logic of their
//! own (`docs/outcomes.md`).

mod admin;
mod amp;
mod body;
mod click;
pub mod demo_api;
mod form;
pub mod front;
mod head;
mod image;
mod lines;
mod ops;
mod prefs;
mod preview;
mod reports;
mod response;
mod router;
mod send;
pub mod server;
mod vote;

pub use crate::open::{ImageTarget, QueryPairs};
pub use form::{FormError, fields as form_fields};
pub use lines::{Line, LineReader};
pub use server::run;

/// Counts one answer of `route` in the requests metric: the one place a
/// handler's outcome becomes a metric.
fn count_request(app: &crate::app::App, route: &str, counted: crate::open::Counted<'_>) {
    app.metrics
        .requests
        .with_label_values(&[route, counted.template, counted.variant, counted.outcome])
        .inc();
}

/// One line of a `POST /api/v1/recipients` import, checked as the import
/// checks it: the recipient and the fields to set, or the refusal's code.
/// Public for the fuzz targets.
pub fn parse_import_line(line: &[u8]) -> Result<crate::store::ProfileUpsert, &'static str> {
    admin::parse_line(line).map_err(|(code, _)| code)
}
