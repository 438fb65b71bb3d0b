//! The integration tests, one module per file beside this one, built as
//! one test binary. Each file was its own binary before, and building
//! forty of them (each compiling the shared helpers and the generic code of
//! the HTTP, Redis and image crates again, then linking it all) was most of
//! CI's time. One binary builds that once; libtest still runs the tests
//! side by side, as many at a time as there are cores.
//!
//! Run one file's tests by its module name (`scripts/test store::`), or
//! one test by a part of its name (`scripts/test -- sentinel`).

mod support;

mod admin_bulk;
mod amp;
mod architecture;
mod browser;
mod check_names;
mod cli;
mod code_render;
mod config_docs;
mod conversions;
mod deploy;
mod engagement;
mod erasure;
mod experiments;
mod feeds;
mod geo;
mod hostile;
mod limits;
mod operations;
mod outcomes;
mod polls;
mod prefs;
mod redis_topologies;
mod remote_images;
mod render_flood;
mod render_golden;
mod repeat;
mod reports;
mod schema;
mod send_time;
mod server;
mod shared_cache;
mod signing_snippets;
mod sources;
mod store;
mod studio;
mod subject_records;
mod templates_api;
mod timer_render;
mod warm;
mod webhooks;
