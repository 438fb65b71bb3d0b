//! Where recipient state lives: Redis, or the embedded in-memory demo store.
//!
//! Nothing outside this module speaks Redis. (Skeleton: the implementation
//! lands with the store.)

use std::path::PathBuf;
use std::time::Duration;

use crate::recipient::{Profile, RecipientId};

/// How to reach the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `redis://`, `rediss://` or `redis+unix://`; `None` selects the
    /// embedded store seeded from `demo_dir`.
    pub redis_url: Option<String>,
    /// Prefix of every key, `ot:` by default.
    pub key_prefix: String,
    /// How long one request may wait for the store before it gives up and
    /// the default variant is served.
    pub budget: Duration,
    /// Where the demo recipients are (`assets/demo`).
    pub demo_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub enum Store {
    Memory,
}

impl Store {
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let _ = config;
        Ok(Store::Memory)
    }
    pub fn is_demo(&self) -> bool {
        true
    }
    pub async fn profile(&self, recipient: &RecipientId) -> Result<Option<Profile>, StoreError> {
        let _ = recipient;
        Ok(None)
    }
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store configuration: {0}")]
    Config(String),
}
