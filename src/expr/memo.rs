//! What a User-Agent says, remembered per thread.
//!
//! Telling the opener and the device from a User-Agent walks dozens of
//! marks through a lower-cased copy of it: about a third of a cache-hit
//! open's instructions for a mail client's User-Agent (`docs/benchmarks.md`,
//! "User-Agents remembered"). Yet a send's opens come from a few hundred
//! distinct User-Agents at most: the image proxies send one each, and mail
//! clients one per version. So each worker thread keeps the answers for
//! the User-Agents it saw last, in a small table indexed by a hash of the
//! string: no lock, no contention between threads, a bounded size
//! whatever the traffic, and a miss (a new User-Agent, or two that share a
//! slot) only costs the walk it saves.

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::thread::LocalKey;

/// Slots per table and thread.
const SLOTS: usize = 256;

/// User-Agents longer than this are worked out each time and not kept, so
/// that a table holds at most `SLOTS` times this many bytes.
const MAX_REMEMBERED_LEN: usize = 512;

/// One thread's table of answers: `V` for a User-Agent under a `scope`
/// (the rule set that gave it; 0 where there is only one).
pub(crate) struct Memo<V> {
    slots: Vec<Option<Entry<V>>>,
    hasher: RandomState,
}

struct Entry<V> {
    scope: u64,
    user_agent: Box<str>,
    value: V,
}

impl<V: Copy> Memo<V> {
    pub(crate) fn new() -> Memo<V> {
        Memo {
            slots: (0..SLOTS).map(|_| None).collect(),
            hasher: RandomState::new(),
        }
    }

    fn slot(&self, scope: u64, user_agent: &str) -> usize {
        self.hasher.hash_one((scope, user_agent)) as usize % SLOTS
    }

    fn get(&self, scope: u64, user_agent: &str) -> Option<V> {
        let entry = self.slots[self.slot(scope, user_agent)].as_ref()?;
        (entry.scope == scope && *entry.user_agent == *user_agent).then_some(entry.value)
    }

    fn put(&mut self, scope: u64, user_agent: &str, value: V) {
        let slot = self.slot(scope, user_agent);
        self.slots[slot] = Some(Entry {
            scope,
            user_agent: user_agent.into(),
            value,
        });
    }
}

/// The answer for `user_agent` under `scope` from this thread's `table`,
/// or `work_out`'s, then kept. The table is not borrowed while `work_out`
/// runs, so it may look up other tables (or this one).
pub(crate) fn remembered<V: Copy + 'static>(
    table: &'static LocalKey<RefCell<Memo<V>>>,
    scope: u64,
    user_agent: &str,
    work_out: impl FnOnce() -> V,
) -> V {
    if user_agent.len() > MAX_REMEMBERED_LEN {
        return work_out();
    }
    if let Some(value) = table.with_borrow(|memo| memo.get(scope, user_agent)) {
        return value;
    }
    let value = work_out();
    table.with_borrow_mut(|memo| memo.put(scope, user_agent, value));
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static NUMBERS: RefCell<Memo<usize>> = RefCell::new(Memo::new());
    }

    #[test]
    fn an_answer_is_worked_out_once_then_remembered() {
        let mut worked = 0;
        let mut length = |scope: u64, user_agent: &str| {
            remembered(&NUMBERS, scope, user_agent, || {
                worked += 1;
                user_agent.len() + scope as usize
            })
        };
        assert_eq!(length(1, "Mozilla/5.0"), 12);
        assert_eq!(length(1, "Mozilla/5.0"), 12);
        // Another rule set's answer for the same User-Agent is its own.
        assert_eq!(length(2, "Mozilla/5.0"), 13);
        assert_eq!(length(2, "Mozilla/5.0"), 13);
        assert_eq!(length(1, "Mozilla/5.0 (iPhone)"), 21);
        assert_eq!(length(1, "Mozilla/5.0 (iPhone)"), 21);
        // Whether the first answer is still kept depends on the slots the
        // others took; either way it is the right one.
        assert_eq!(length(1, "Mozilla/5.0"), 12);
        assert!((3..=4).contains(&worked), "worked out {worked} times");
    }

    #[test]
    fn slots_shared_by_many_user_agents_still_give_each_its_own_answer() {
        // Ten times more User-Agents than slots: answers are replaced, never
        // mixed up.
        for round in 0..2 {
            for index in 0..SLOTS * 10 {
                let user_agent = format!("Client/{index}");
                let value = remembered(&NUMBERS, 7, &user_agent, || index);
                assert_eq!(value, index, "round {round}");
            }
        }
    }

    #[test]
    fn long_user_agents_are_worked_out_every_time() {
        let long = "x".repeat(MAX_REMEMBERED_LEN + 1);
        let mut worked = 0;
        for _ in 0..3 {
            remembered(&NUMBERS, 1, &long, || {
                worked += 1;
                0
            });
        }
        assert_eq!(worked, 3);
    }
}
