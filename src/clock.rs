//! The clock that decides "now" for every request.
//!
//! Time is injected, never read directly, so that tests and `opentime render
//! --at` can pin it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant, for tests and offline renders.
    Fixed(Timestamp),
    /// An instant that tests move forward ([`Clock::advance`]); shared by
    /// every clone.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A clock at `at` that only [`Clock::advance`] moves.
    pub fn manual(at: Timestamp) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(at.as_millisecond())))
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => *at,
            Clock::Manual(millis) => Timestamp::from_millisecond(millis.load(Ordering::Relaxed))
                .unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }

    /// Moves a manual clock forward by `by`; other clocks do not move.
    pub fn advance(&self, by: SignedDuration) {
        if let Clock::Manual(millis) = self {
            millis.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
        }
    }
}
