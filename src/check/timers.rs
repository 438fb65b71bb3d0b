//! The countdown scan of `opentime check`: every countdown variant at every
//! allowed scale, rendered with all its frames and every unit changing, and
//! a warning for each that would pass the 1 MB a timer may weigh (the
//! server then keeps only the first frames that fit); and every countdown
//! deadline resolved for every sample state, with a warning where it does
//! not resolve or parse (the server would show the expired variant).

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;

use super::samples::{SampleSource, SampleState};
use crate::countdown::{DeadlineError, TimerState};
use crate::expr::{Context, RequestFacts};
use crate::open::decide::timer_state;
use crate::open::{Target, offline};
use crate::render::{Artwork, MAX_TIMER_BYTES, OutputFormat, Renderer};
use crate::template::{AccessMode, Template, VariantLayer};

/// A countdown variant whose GIF would be too large at one scale.
#[derive(Debug)]
pub struct OversizedTimer {
    pub file: PathBuf,
    pub variant: String,
    pub scale: u32,
    pub frames: u32,
    pub kept: u32,
}

impl fmt::Display for OversizedTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: variant {:?} at {}x: {} frames make a GIF over {} KB; only the first {} are served",
            self.file.display(),
            self.variant,
            self.scale,
            self.frames,
            MAX_TIMER_BYTES / 1024,
            self.kept
        )
    }
}

/// Renders each countdown variant of `templates` at each scale with nine
/// days and a bit left (so that every unit has two digits and the seconds
/// and minutes change within the frames), and reports those over the bound.
pub fn find_oversized_timers(
    templates: &[Template],
    renderer: &Renderer,
    now: Timestamp,
) -> Vec<OversizedTimer> {
    let state = TimerState::at(
        Some(
            now.checked_add(jiff::SignedDuration::from_secs(9 * 86_400 + 3_630))
                .unwrap_or(now),
        ),
        now,
    );
    let mut oversized = Vec::new();
    for template in templates {
        let Some(timer) = &template.timer else {
            continue;
        };
        let context = Context::new(&RequestFacts {
            query: template.default_query(),
            now,
            ..RequestFacts::default()
        })
        .with("timer", state.to_value());
        for variant in &template.variants {
            let has_countdown = variant
                .layers
                .iter()
                .any(|layer| matches!(layer, VariantLayer::Countdown { .. }));
            if !has_countdown {
                continue;
            }
            for &scale in &template.scales {
                let target = Target {
                    scale,
                    format: OutputFormat::Gif,
                };
                let artwork = offline::artwork(template, variant, &context, target, Some(&state));
                let Ok(Artwork::Timer(plan)) = artwork else {
                    continue;
                };
                if let Ok((_, kept)) = renderer.render_timer_frames(&plan)
                    && kept < timer.frames
                {
                    oversized.push(OversizedTimer {
                        file: template.path.clone(),
                        variant: variant.id.clone(),
                        scale,
                        frames: timer.frames,
                        kept,
                    });
                }
            }
        }
    }
    oversized
}

/// A countdown deadline that did not resolve or parse for a sample state.
#[derive(Debug)]
pub struct DeadlineProblem {
    pub file: PathBuf,
    pub first_state: SampleSource,
    pub problem: String,
    pub other_states: usize,
}

impl fmt::Display for DeadlineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: timer: {} for {}, which sees the expired variant",
            self.file.display(),
            self.problem,
            self.first_state
        )?;
        match self.other_states {
            0 => Ok(()),
            1 => write!(f, " (and 1 other state)"),
            n => write!(f, " (and {n} other states)"),
        }
    }
}

/// Resolves each countdown template's deadline for the sample states meant
/// for it, and reports, per template, the states for which it does not
/// resolve. The states meant for a template are the `--state` files (when
/// their deadline resolves to something), the demo recipients whose id
/// starts with its name, and, unless it is a `token` template (whose opens
/// without state show the default variant without reading the timer), the
/// open without state.
pub fn find_deadline_problems(
    templates: &[Template],
    states: &[SampleState],
    now: Timestamp,
) -> Vec<DeadlineProblem> {
    let mut problems = Vec::new();
    for template in templates.iter().filter(|template| template.timer.is_some()) {
        let mut found: Option<DeadlineProblem> = None;
        let meant_for = |state: &&SampleState| match &state.source {
            SampleSource::File(_) => true,
            SampleSource::Demo(id) => id.starts_with(&format!("{}-", template.name)),
            SampleSource::NoState => template.access != AccessMode::Token,
        };
        for state in states.iter().filter(meant_for) {
            let context = super::scripts::sample_context(template, state, now);
            let Some((_, Some(problem))) = timer_state(template, &context, None) else {
                continue;
            };
            // A state file may be meant for another template and lack the
            // field the deadline reads; only the template's own demo
            // recipients must have it.
            let empty = problem == DeadlineError::Empty.to_string();
            if empty && !matches!(state.source, SampleSource::Demo(_)) {
                continue;
            }
            match &mut found {
                None => {
                    found = Some(DeadlineProblem {
                        file: template.path.clone(),
                        first_state: state.source.clone(),
                        problem,
                        other_states: 0,
                    })
                }
                Some(seen) => seen.other_states += 1,
            }
        }
        problems.extend(found);
    }
    problems
}
