//! Checking a countdown template's timer: when a template needs one, and
//! its frames, time zone and deadline, fixed or evergreen.

use super::{Builder, TemplateError};
use crate::render::{MAX_TIMER_FRAMES, OutputFormat};
use crate::template::file::TimerFile;
use crate::template::{TemplateTimer, TimerDeadline, Variant, VariantLayer};

/// The longest evergreen timer: a year.
const MAX_EVERGREEN_HOURS: f64 = 8760.0;

impl Builder<'_> {
    /// Checks a countdown template's timer: a gif template has one, a
    /// template with a countdown layer has one, and its frames, zone and
    /// deadline text are valid.
    pub(super) fn timer(
        &mut self,
        timer: Option<TimerFile>,
        format: OutputFormat,
        variants: &[Variant],
    ) -> Result<Option<TemplateTimer>, TemplateError> {
        let has_countdown = variants.iter().any(|variant| {
            variant
                .layers
                .iter()
                .any(|layer| matches!(layer, VariantLayer::Countdown { .. }))
        });
        let Some(timer) = timer else {
            if has_countdown {
                return Err(self.error(
                    None,
                    "timer",
                    "a template with a countdown layer needs a timer: { \"until\": ... }".into(),
                ));
            }
            if format == OutputFormat::Gif {
                return Err(self.error(
                    None,
                    "format",
                    "\"gif\" is for countdown templates, which have a timer".into(),
                ));
            }
            return Ok(None);
        };
        if format != OutputFormat::Gif {
            return Err(self.error(None, "format", "a countdown template is a \"gif\"".into()));
        }
        if timer.frames == 0 || timer.frames > MAX_TIMER_FRAMES {
            return Err(self.error(
                None,
                "timer.frames",
                format!("must be 1 to {MAX_TIMER_FRAMES}"),
            ));
        }
        if let Some(zone) = &timer.time_zone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            return Err(self.error(
                None,
                "timer.time_zone",
                format!("unknown time zone {zone:?}"),
            ));
        }
        let deadline = match (&timer.until, timer.evergreen_hours) {
            (Some(until), None) => TimerDeadline::Until(
                self.texts
                    .add(until)
                    .map_err(|e| self.error(None, "timer.until", e.to_string()))?,
            ),
            (None, Some(hours))
                if hours.is_finite() && hours > 0.0 && hours <= MAX_EVERGREEN_HOURS =>
            {
                TimerDeadline::Evergreen {
                    seconds: (hours * 3600.0).round() as i64,
                }
            }
            (None, Some(_)) => {
                return Err(self.error(
                    None,
                    "timer.evergreen_hours",
                    format!("must be above 0 and at most {MAX_EVERGREEN_HOURS}"),
                ));
            }
            _ => {
                return Err(self.error(
                    None,
                    "timer",
                    "give the deadline as \"until\" or \"evergreen_hours\", one of the two".into(),
                ));
            }
        };
        Ok(Some(TemplateTimer {
            deadline,
            time_zone: timer.time_zone,
            frames: timer.frames,
            looping: timer.looping,
        }))
    }
}
