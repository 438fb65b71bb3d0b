//! The HTTP surface: the hyper server, the router and the handlers.
//!
//! Only this module knows about hyper. Handlers parse and verify the
//! request, then call into [`crate::decide`], [`crate::cache`] and
//! [`crate::store`]; they hold no product logic of their own beyond the
//! mapping of outcomes to responses (SPEC "Outcomes").

mod admin;
mod admin_bulk;
mod admin_templates;
mod amp;
mod click;
mod content;
mod form;
mod image;
mod lines;
mod ops;
mod prefs;
mod preview;
mod query;
mod recipient;
mod response;
mod router;
pub mod server;
mod vote;
mod warm;

pub use form::{FormError, fields as form_fields};
pub use lines::{Line, LineReader};
pub use query::{ImageTarget, QueryPairs};
pub use server::run;
pub use warm::WarmJobs;

/// One line of a `POST /api/v1/recipients` import, checked as the import
/// checks it: the recipient and the fields to set, or the refusal's code.
/// Public for the fuzz targets.
pub fn parse_import_line(line: &[u8]) -> Result<crate::store::ProfileUpsert, &'static str> {
    admin_bulk::parse_line(line).map_err(|(code, _)| code)
}
