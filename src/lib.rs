//! opentime: an open-time content server for lifecycle email.
//!
//! An email embeds image and link URLs that point at opentime. At each open
//! the server reads the recipient's latest state, decides which variant of a
//! template fits now, renders it and answers in a few milliseconds.
//!
//! # Layout
//! - [`config`]: the typed configuration, loaded from defaults, a TOML file
//!   and `OPENTIME_*` environment variables.
//! - [`recipient`]: recipient ids and their profiles, the data every other
//!   subsystem reads.
//! - [`access`]: recipient tokens and signed URLs (HMAC-SHA256, key rotation).
//! - [`store`]: where recipient state lives: Redis, or the embedded demo store.
//! - [`expr`]: the expression language of conditions and texts (minijinja),
//!   and what it can see: profile, query, time, device, opener.
//! - [`template`]: the template format, its validation, and the live set of
//!   templates that reloads on change.
//! - [`countdown`]: deadlines of countdown templates and the `timer` state
//!   their rules read.
//! - [`events`]: opens, clicks, votes and unsubscribes, queued off the
//!   request path and written to the store in batches.
//! - [`poll`]: live polls: a template's poll, its results as a request sees
//!   them, and the layout of a `poll_results` layer.
//! - [`prefs`]: email preferences: what the preference center offers, in
//!   which words, and what a recipient chose.
//! - [`open`]: the open pipeline: what an open, a click, a vote, the AMP
//!   answer, the preview, warming and offline renders go through, from a
//!   request's facts to a typed answer, with no HTTP in it.
//! - [`check`]: the checks of `opentime check`, which the admin API's
//!   template put runs too: scripts sample states need that a template's
//!   fonts lack, countdown GIFs over the bound, deadlines that do not
//!   resolve.
//! - [`render`]: pixels: rectangles, images, text, encoding. No I/O.
//! - [`cache`]: the byte-bounded render cache with one render per key.
//! - [`remote`]: images fetched from allow-listed origins by URL, bounded in
//!   bytes and time, and cached.
//! - [`feeds`]: product feeds (RSS, Atom, Google Merchant, CSV, JSON)
//!   refreshed on a schedule by one replica at a time, kept in the store
//!   and served from memory as `feed.NAME`.
//! - [`reports`]: a template's report over a range of days, per email,
//!   variant and arm, with its experiment's arms, from the counts the
//!   events' batches keep; as JSON or CSV.
//! - [`metrics`]: metric names and the registry behind `/metrics`.
//! - [`http`]: the hyper server, the router and the handlers.
//! - [`app`]: the application state shared by every connection.
//! - [`warm`]: cache warming jobs, which render what a list of
//!   recipients would see ahead of a send.
//! - [`embed`]: the HTML an author pastes into an email platform for a
//!   template, with the platform's merge tag for the token.
//! - [`webhooks`]: signed, batched, retried deliveries of events to the
//!   sender's systems, from a consumer group on the events stream.
//! - [`cli`]: the subcommands of the `opentime` binary.
//! - [`geo`]: where the reader is (country, region, city, time zone), from
//!   their address in a MaxMind-format city database.
//! - [`words`]: words that agree with the reader's language, from CLDR:
//!   plural forms, numbers, money and dates.

pub mod access;
pub mod app;
pub mod cache;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod countdown;
pub mod embed;
pub mod events;
pub mod experiments;
pub mod expr;
pub mod feeds;
pub mod geo;
pub mod http;
pub mod metrics;
pub mod open;
pub mod poll;
pub mod prefs;
pub mod recipient;
pub mod remote;
pub mod render;
pub mod reports;
pub mod sources;
pub mod store;
pub mod template;
pub mod warm;
pub mod webhooks;
pub mod words;
