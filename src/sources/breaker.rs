//! The circuit breaker of one source host: after a run of failures the
//! host is skipped for a while, so that opens stop waiting on an API that
//! is down (and stop adding to its load); then one call is let through to
//! see whether it is back. Pure: the caller passes the time.

use std::time::{Duration, Instant};

/// Failures in a row that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 5;

/// How long an open circuit skips its host at first; each failed trial
/// doubles it, up to [`MAX_OPEN`].
pub const FIRST_OPEN: Duration = Duration::from_secs(10);
pub const MAX_OPEN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    failures: u32,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    /// Skipping the host until `until`; `length` is how long this time.
    Open {
        until: Instant,
        length: Duration,
    },
    /// One trial call is out; others are skipped until it ends.
    Trying {
        length: Duration,
    },
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker {
            failures: 0,
            state: State::Closed,
        }
    }
}

impl Breaker {
    /// Whether a call may go out now. An open circuit whose time is up lets
    /// exactly one call through, as a trial.
    pub fn allows(&mut self, now: Instant) -> bool {
        match self.state {
            State::Closed => true,
            State::Open { until, length } if now >= until => {
                self.state = State::Trying { length };
                true
            }
            State::Open { .. } | State::Trying { .. } => false,
        }
    }

    /// A call answered: the circuit closes.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.state = State::Closed;
    }

    /// A call failed. Returns whether the circuit opened with it.
    pub fn failed(&mut self, now: Instant) -> bool {
        self.failures = self.failures.saturating_add(1);
        match self.state {
            State::Trying { length } => {
                let length = (length * 2).min(MAX_OPEN);
                self.state = State::Open {
                    until: now + length,
                    length,
                };
                true
            }
            State::Closed if self.failures >= FAILURES_TO_OPEN => {
                self.state = State::Open {
                    until: now + FIRST_OPEN,
                    length: FIRST_OPEN,
                };
                true
            }
            _ => false,
        }
    }

    /// Whether the host is being skipped (or tried).
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_run_of_failures_and_closes_after_a_good_trial() {
        let start = Instant::now();
        let mut breaker = Breaker::default();
        for _ in 1..FAILURES_TO_OPEN {
            assert!(breaker.allows(start));
            assert!(!breaker.failed(start));
        }
        assert!(breaker.allows(start));
        assert!(breaker.failed(start), "the fifth failure opens it");
        assert!(!breaker.allows(start + Duration::from_secs(1)));
        let later = start + FIRST_OPEN;
        assert!(breaker.allows(later), "one trial when the time is up");
        assert!(!breaker.allows(later), "only one");
        breaker.succeeded();
        assert!(!breaker.is_open());
        assert!(breaker.allows(later));
    }

    #[test]
    fn a_failed_trial_skips_the_host_twice_as_long() {
        let start = Instant::now();
        let mut breaker = Breaker::default();
        for _ in 0..FAILURES_TO_OPEN {
            breaker.failed(start);
        }
        let trial = start + FIRST_OPEN;
        assert!(breaker.allows(trial));
        assert!(breaker.failed(trial));
        assert!(!breaker.allows(trial + FIRST_OPEN));
        assert!(breaker.allows(trial + FIRST_OPEN * 2));
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let start = Instant::now();
        let mut breaker = Breaker::default();
        for _ in 0..10 {
            breaker.failed(start);
            breaker.failed(start);
            breaker.succeeded();
        }
        assert!(breaker.allows(start));
    }
}
