//! Poll votes as both backends keep them: one vote per recipient and poll,
//! and a tally per option, changed together.
//!
//! A vote is stored as `"{option} {unix ms} {before}"`, where `before` is
//! the option the recipient had chosen until this vote (`-` for none). The
//! time and `before` let a vote be taken back when it turns out to be the
//! first click of a scanner's burst (see [`retract`]), restoring the
//! recipient's earlier choice. Options are identifiers, so they hold no
//! space. The Redis store runs the same steps as scripts
//! (`super::redis_polls`); these functions are the memory store's and the
//! reference both follow.

use std::collections::BTreeMap;

/// One recipient's vote in one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRecord {
    pub option: String,
    /// Unix milliseconds of the vote; 0 for a choice restored by
    /// [`retract`].
    pub at_ms: i64,
    /// The option chosen before this one.
    pub before: Option<String>,
}

impl VoteRecord {
    pub fn encode(&self) -> String {
        format!(
            "{} {} {}",
            self.option,
            self.at_ms,
            self.before.as_deref().unwrap_or("-")
        )
    }

    pub fn decode(text: &str) -> Option<VoteRecord> {
        let mut parts = text.split(' ');
        let option = parts.next().filter(|option| !option.is_empty())?;
        let at_ms = parts.next()?.parse().ok()?;
        let before = parts.next()?;
        Some(VoteRecord {
            option: option.to_string(),
            at_ms,
            before: (before != "-").then(|| before.to_string()),
        })
    }
}

/// A change to one poll's tally: the option that loses a vote and the one
/// that gains it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TallyChange {
    pub minus: Option<String>,
    pub plus: Option<String>,
}

/// A person's vote for `option` at `at_ms`: the record to keep and the
/// tally change, or `None` when it is the option they already chose.
pub fn cast(
    held: Option<&VoteRecord>,
    option: &str,
    at_ms: i64,
) -> Option<(VoteRecord, TallyChange)> {
    let before = held.map(|record| record.option.clone());
    if before.as_deref() == Some(option) {
        return None;
    }
    let record = VoteRecord {
        option: option.to_string(),
        at_ms,
        before: before.clone(),
    };
    let change = TallyChange {
        minus: before,
        plus: Some(option.to_string()),
    };
    Some((record, change))
}

/// Takes back a vote cast at or after `since_ms`: it was the first click of
/// a burst that later clicks showed to be a scanner's. The choice before it
/// comes back (with time 0, so it is never taken back in turn). `None` when
/// there is nothing that recent to take back.
pub fn retract(
    held: Option<&VoteRecord>,
    since_ms: i64,
) -> Option<(Option<VoteRecord>, TallyChange)> {
    let held = held.filter(|record| record.at_ms >= since_ms && record.at_ms > 0)?;
    let restored = held.before.as_ref().map(|before| VoteRecord {
        option: before.clone(),
        at_ms: 0,
        before: None,
    });
    let change = TallyChange {
        minus: Some(held.option.clone()),
        plus: held.before.clone(),
    };
    Some((restored, change))
}

/// Applies `change` to a tally held as counts by option.
pub fn apply(tally: &mut BTreeMap<String, i64>, change: &TallyChange) {
    if let Some(minus) = &change.minus {
        *tally.entry(minus.clone()).or_default() -= 1;
    }
    if let Some(plus) = &change.plus {
        *tally.entry(plus.clone()).or_default() += 1;
    }
}

/// A poll's counts by option as the store answers them: negative counts,
/// which only a hand edit could leave, read as 0.
pub use crate::poll::Tally;

pub fn tally_of(raw: impl IntoIterator<Item = (String, i64)>) -> Tally {
    raw.into_iter()
        .map(|(option, count)| (option, count.max(0) as u64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> VoteRecord {
        VoteRecord::decode(text).expect("a valid record")
    }

    #[test]
    fn records_round_trip() {
        for text in ["3 1700000000000 -", "yes 12 no"] {
            assert_eq!(record(text).encode(), text);
        }
        assert_eq!(VoteRecord::decode("3"), None);
        assert_eq!(VoteRecord::decode("3 soon -"), None);
        assert_eq!(VoteRecord::decode(""), None);
    }

    #[test]
    fn a_revote_moves_the_count_and_the_same_vote_changes_nothing() {
        let (first, change) = cast(None, "3", 10).expect("a first vote counts");
        assert_eq!(change.minus, None);
        assert_eq!(change.plus.as_deref(), Some("3"));
        assert_eq!(cast(Some(&first), "3", 20), None);
        let (second, change) = cast(Some(&first), "5", 30).expect("a new choice counts");
        assert_eq!(second.before.as_deref(), Some("3"));
        assert_eq!(change.minus.as_deref(), Some("3"));
        assert_eq!(change.plus.as_deref(), Some("5"));
    }

    #[test]
    fn a_retracted_vote_gives_back_the_choice_before_it() {
        let mut tally = BTreeMap::new();
        let (person, change) = cast(None, "4", 1_000).expect("counts");
        apply(&mut tally, &change);
        // Days later a scanner clicks 1, then 2 a moment after.
        let (scanner, change) = cast(Some(&person), "1", 900_000).expect("counts, for now");
        apply(&mut tally, &change);
        let (restored, change) = retract(Some(&scanner), 895_000).expect("recent enough");
        apply(&mut tally, &change);
        assert_eq!(restored.as_ref().map(|r| r.option.as_str()), Some("4"));
        assert_eq!(tally.get("4"), Some(&1));
        assert_eq!(tally.get("1"), Some(&0));
        // The restored choice is never taken back, however recent the window.
        assert_eq!(retract(restored.as_ref(), 0), None);
        assert_eq!(
            retract(Some(&person), 2_000),
            None,
            "too old to be the burst"
        );
    }

    #[test]
    fn negative_counts_read_as_zero() {
        let tally = tally_of([("a".to_string(), -2), ("b".to_string(), 7)]);
        assert_eq!(tally.get("a"), Some(&0));
        assert_eq!(tally.get("b"), Some(&7));
    }
}
