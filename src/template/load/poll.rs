//! Checking a template's poll: its id, its options, its thank-you link and
//! how long a tally may be cached. The option labels it reads are kept for
//! the template's `poll_results` layers.

use std::time::Duration;

use super::{Builder, TemplateError, is_identifier};
use crate::poll::{Poll, PollOption};
use crate::template::file::PollFile;

/// More options than this do not fit a results image or an email.
const MAX_POLL_OPTIONS: usize = 20;

/// A tally older than an hour is not "live" any more.
const MAX_RESULTS_CACHE_SECONDS: u64 = 3600;

impl Builder<'_> {
    /// Checks a poll: identifiers for it and its options, no option twice,
    /// a thank-you link that compiles, a sane cache time.
    pub(super) fn poll(&mut self, poll: Option<PollFile>) -> Result<Option<Poll>, TemplateError> {
        let Some(poll) = poll else {
            return Ok(None);
        };
        if !is_identifier(&poll.id, true) {
            return Err(self.error(
                None,
                "poll.id",
                "use lowercase letters, digits, '-' and '_'".into(),
            ));
        }
        if poll.options.is_empty() || poll.options.len() > MAX_POLL_OPTIONS {
            return Err(self.error(
                None,
                "poll.options",
                format!("needs 1 to {MAX_POLL_OPTIONS} options"),
            ));
        }
        let mut options: Vec<PollOption> = Vec::with_capacity(poll.options.len());
        for (index, option) in poll.options.into_iter().enumerate() {
            let field = format!("poll.options[{index}].id");
            if !is_identifier(&option.id, true) {
                return Err(self.error(
                    None,
                    &field,
                    "use lowercase letters, digits, '-' and '_'".into(),
                ));
            }
            if options.iter().any(|seen| seen.id == option.id) {
                return Err(self.error(None, &field, format!("{:?} is there twice", option.id)));
            }
            options.push(PollOption {
                label: option.label.unwrap_or_else(|| option.id.clone()),
                id: option.id,
            });
        }
        if poll.results_cache_seconds > MAX_RESULTS_CACHE_SECONDS {
            return Err(self.error(
                None,
                "poll.results_cache_seconds",
                format!("must be at most {MAX_RESULTS_CACHE_SECONDS}"),
            ));
        }
        let thanks = self
            .texts
            .add(&poll.thanks)
            .map_err(|e| self.error(None, "poll.thanks", e.to_string()))?;
        self.poll_labels = Some(options.iter().map(|option| option.label.clone()).collect());
        Ok(Some(Poll {
            id: poll.id,
            options,
            thanks,
            results_cache: Duration::from_secs(poll.results_cache_seconds),
        }))
    }
}
