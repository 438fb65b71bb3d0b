//! Engagement events: every open, click, vote and unsubscribe, recorded off
//! the request path.
//!
//! A handler builds an [`Event`] and hands it to the [`EventLog`], which
//! only pushes it onto a bounded in-memory queue: recording an open costs
//! no Redis round trip. A background writer ([`writer`]) drains the queue
//! in batches, one pipeline per batch, into the store: the events stream
//! for downstream consumers, the per-recipient open records that the click
//! path and locks read, the profile counters rules read (`profile.opens`),
//! and the daily engagement counts of the engagement API.
//!
//! While the store is down the queue holds the events and the writer
//! retries with backoff; they are written when it returns. What does not
//! fit in the queue is counted in `opentime_events_dropped_total`, never
//! dropped silently. Delivery is at least once: a batch whose reply was
//! lost with its connection is sent again, so consumers deduplicate on the
//! event's `id`.
//!
//! # Layout
//! - `event.rs`: the [`Event`] and its fields as the stream spells them.
//! - `log.rs`: the bounded queue, [`EventLog`].
//! - `sink.rs`: [`EventSink`], what the writer writes batches through; the
//!   store implements it, so this module does not depend on the store.
//! - `writer.rs`: the background task that writes batches to the sink.

mod event;
mod log;
mod sink;
pub mod writer;

pub use event::{Amount, Event, EventKind, format_at, micros_text};
pub use log::EventLog;
pub use sink::{EventSink, SinkError};
