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

pub use query::{ImageTarget, QueryPairs};
pub use server::run;
pub use warm::WarmJobs;
