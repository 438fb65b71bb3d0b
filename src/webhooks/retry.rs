//! When a batch the receiver did not take is sent again, and when it is
//! given up. Pure: the caller brings the times.
//!
//! The wait doubles from one second to ten minutes. A batch is given up
//! when an attempt fails and even its newest event was added to the
//! stream more than a day ago: every event gets at least a day of tries,
//! counted from when it happened rather than from its first attempt, so
//! that after a long outage the backlog behind the first batch drains
//! instead of waiting a day per batch.

use std::time::Duration;

/// The wait after the first failure.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);

/// The longest wait between two attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// How long after it happened an event is still tried.
pub const KEEP_TRYING: Duration = Duration::from_secs(24 * 60 * 60);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

/// After the `failures`-th failed attempt (1 for the first) of a batch
/// whose newest entry was added at `newest_ms`, at `now_ms` (both Unix
/// milliseconds: a stream id's first part is the time Redis added it).
pub fn after_failure(failures: u32, newest_ms: u64, now_ms: u64) -> AfterFailure {
    if now_ms.saturating_sub(newest_ms) >= KEEP_TRYING.as_millis() as u64 {
        return AfterFailure::GiveUp;
    }
    let doublings = failures.saturating_sub(1).min(20);
    AfterFailure::RetryIn((FIRST_WAIT * 2u32.pow(doublings)).min(MAX_WAIT))
}

/// The Unix milliseconds a stream id (`1764578400000-0`) was added at.
pub fn added_ms(stream_id: &str) -> Option<u64> {
    stream_id.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: u64 = 60 * 60 * 1000;

    #[test]
    fn waits_double_from_a_second_to_ten_minutes() {
        let waits: Vec<AfterFailure> = (1..=12).map(|n| after_failure(n, 0, 1000)).collect();
        let seconds: Vec<u64> = waits
            .iter()
            .map(|wait| match wait {
                AfterFailure::RetryIn(wait) => wait.as_secs(),
                AfterFailure::GiveUp => panic!("an event of a second ago is tried again"),
            })
            .collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(
            after_failure(u32::MAX, 0, 1000),
            AfterFailure::RetryIn(MAX_WAIT)
        );
    }

    #[test]
    fn a_batch_is_tried_for_a_day_after_its_newest_event() {
        let added = 1_764_578_400_000;
        assert!(matches!(
            after_failure(140, added, added + 24 * HOUR_MS - 1),
            AfterFailure::RetryIn(_)
        ));
        assert_eq!(
            after_failure(140, added, added + 24 * HOUR_MS),
            AfterFailure::GiveUp
        );
        // A batch read a day late (its receiver was down and the batches
        // before it waited) gets one attempt.
        assert_eq!(
            after_failure(1, added, added + 25 * HOUR_MS),
            AfterFailure::GiveUp
        );
        // A clock behind Redis's does not give up early.
        assert!(matches!(
            after_failure(1, added, added - HOUR_MS),
            AfterFailure::RetryIn(_)
        ));
        // Over a day of failures, about 150 attempts.
        let mut now = added;
        let mut attempts = 1;
        while let AfterFailure::RetryIn(wait) = after_failure(attempts, added, now) {
            now += wait.as_millis() as u64;
            attempts += 1;
        }
        assert!((140..160).contains(&attempts), "{attempts}");
    }

    #[test]
    fn stream_ids_give_their_time() {
        assert_eq!(added_ms("1764578400000-12"), Some(1_764_578_400_000));
        assert_eq!(added_ms("x-1"), None);
    }
}
