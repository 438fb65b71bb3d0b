//! Webhooks: what happened goes back to the sender's systems.
//!
//! Each configured webhook receives the events of the types it chose,
//! signed and batched, from the events stream (`docs/webhooks.md`).
//!
//! # Layout
//! - `config.rs`: [`WebhookConfig`], a webhook as the configuration
//!   declares it, checked.

mod config;

pub use config::{EVENT_TYPES, MIN_SECRET_LEN, WebhookConfig, WebhookSecret, parse_webhooks};
