//! The clock that decides "now" for every request.
//!
//! Time is injected, never read directly, so that tests and `opentime render
//! --at` can pin it.

use jiff::Timestamp;

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant, for tests and offline renders.
    Fixed(Timestamp),
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => *at,
        }
    }
}
