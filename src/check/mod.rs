//! The checks of `opentime check`, which the admin API's template put runs
//! too: every text resolved for a set of sample states, with a warning
//! where a template's fonts cannot draw a script those states put in it;
//! every countdown rendered with all its frames, with a warning where its
//! GIF would pass the 1 MB a timer may weigh; every countdown deadline
//! resolved for the sample states, with a warning where it does not
//! resolve; every `profile` field an expression reads, with a warning where
//! no sample state has it; and every unsigned `query` parameter, with a
//! warning where it reaches a link's host, a remote image's URL or a public
//! template's text. Warnings never fail a check, because the renderer
//! still serves an image.
//!
//! This module only computes. Loading the configuration and the renderer,
//! printing and the exit code belong to the command (`cli/check.rs`), so
//! that the HTTP server can run the same checks without depending on the
//! command line.
//!
//! # Layout
//! - `samples.rs`: the sample states (the recipient without state,
//!   `--state` files and demo recipients), and how a state file is read.
//! - `scripts.rs`: the scan for scripts no font of a family has.
//! - `expressions.rs`: the scans of what expressions read: profile fields
//!   and unsigned parameters.
//! - `timers.rs`: the scans for countdowns whose GIF would pass 1 MB and
//!   for deadlines that do not resolve.

mod expressions;
mod samples;
mod scripts;
mod timers;

use std::path::Path;

use jiff::Timestamp;

use crate::clock::Clock;
use crate::render::Renderer;
use crate::template::Template;

pub use expressions::{Reach, UnknownProfileField, UnsignedParam, fields_read_by};
pub use samples::{SampleSource, SampleState, load_sample_states, read_state};
pub use scripts::ScriptWarning;
pub use timers::{DeadlineProblem, OversizedTimer};

use expressions::{find_unknown_profile_fields, find_unsigned_params};
use scripts::find_unrenderable_scripts;
use timers::{find_deadline_problems, find_oversized_timers};

/// What the scans found in a set of templates, each kind in the order the
/// command prints it.
#[derive(Debug)]
pub struct Warnings {
    /// Scripts a sample state needs and a layer's fonts lack.
    pub scripts: Vec<ScriptWarning>,
    /// Countdown variants whose GIF would pass
    /// [`crate::render::MAX_TIMER_BYTES`] at some scale.
    pub oversized_timers: Vec<OversizedTimer>,
    /// Countdown deadlines that do not resolve for a sample state.
    pub deadlines: Vec<DeadlineProblem>,
    /// `profile` fields an expression reads and no sample state has.
    pub profile_fields: Vec<UnknownProfileField>,
    /// Unsigned parameters that reach a link's host, a remote image's URL
    /// or a public template's text.
    pub unsigned_params: Vec<UnsignedParam>,
}

/// Runs every scan on `templates` for `states`. The caller picks one
/// moment, `now`, for the whole scan, as one open has one, so that every
/// state and template is resolved on the same day.
pub fn find_warnings(
    templates: &[Template],
    renderer: &Renderer,
    states: &[SampleState],
    now: Timestamp,
) -> Warnings {
    Warnings {
        scripts: find_unrenderable_scripts(templates, renderer.fonts(), states, now),
        oversized_timers: find_oversized_timers(templates, renderer, now),
        deadlines: find_deadline_problems(templates, states, now),
        profile_fields: find_unknown_profile_fields(templates, states),
        unsigned_params: find_unsigned_params(templates),
    }
}

/// `feed.NAME` reads of a feed that is not configured (`configured`), as
/// warnings naming the template: such a read is always undefined.
pub fn find_unknown_feeds(templates: &[Template], configured: &[&str]) -> Vec<String> {
    let mut warnings = Vec::new();
    for template in templates {
        for (root, field) in fields_read_by(template) {
            if root == crate::expr::FEED_ROOT && !configured.contains(&field.as_str()) {
                let known = if configured.is_empty() {
                    "no feed is configured".to_string()
                } else {
                    format!("the feeds are {}", configured.join(", "))
                };
                warnings.push(format!(
                    "{}: feed.{field} is not a configured feed ({known})",
                    template.name
                ));
            }
        }
    }
    warnings
}

/// A warning and the field of the template's file it concerns, as a path
/// such as `variants[0].layers[1].text`, so that an editor can show it at
/// its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub field: Option<String>,
    pub message: String,
}

/// The warnings `opentime check` gives one template, for the admin API's
/// put: scripts the demo recipients need that its fonts lack, countdown
/// GIFs over the bound, deadlines that do not resolve, profile fields no
/// demo recipient has, and unsigned parameters where they do harm.
pub fn template_warnings(template: &Template, renderer: &Renderer, demo_dir: &Path) -> Vec<String> {
    template_findings(template, renderer, demo_dir)
        .into_iter()
        .map(|finding| finding.message)
        .collect()
}

/// [`template_warnings`], each with the field it concerns.
pub fn template_findings(
    template: &Template,
    renderer: &Renderer,
    demo_dir: &Path,
) -> Vec<Finding> {
    let states = load_sample_states(demo_dir, &[]).unwrap_or_default();
    let now = Clock::System.now();
    let warnings = find_warnings(std::slice::from_ref(template), renderer, &states, now);
    let variant_field = |id: &str| {
        template
            .variants
            .iter()
            .position(|variant| variant.id == id)
            .map(|index| format!("variants[{index}]"))
    };
    let at = |field: Option<String>, message: &dyn ToString| Finding {
        field,
        message: message.to_string(),
    };
    let scripts = warnings.scripts.iter().map(|warning| {
        let field = format!(
            "variants[{}].layers[{}]",
            warning.variant_index, warning.layer_index
        );
        at(Some(field), warning)
    });
    let oversized_timers = warnings
        .oversized_timers
        .iter()
        .map(|warning| at(variant_field(&warning.variant), warning));
    let deadlines = warnings
        .deadlines
        .iter()
        .map(|warning| at(Some("timer".to_string()), warning));
    let profile_fields = warnings
        .profile_fields
        .iter()
        .map(|warning| at(Some(warning.field.clone()), warning));
    let unsigned_params = warnings
        .unsigned_params
        .iter()
        .map(|warning| at(Some(warning.field.clone()), warning));
    scripts
        .chain(oversized_timers)
        .chain(deadlines)
        .chain(profile_fields)
        .chain(unsigned_params)
        .collect()
}
