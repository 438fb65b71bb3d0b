//! The countdown scan of `opentime check`: every countdown variant at every
//! allowed scale, rendered with all its frames and every unit changing, and
//! a warning for each that would pass the 1 MB a timer may weigh (the
//! server then keeps only the first frames that fit).

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;

use crate::countdown::TimerState;
use crate::decide::resolve_artwork;
use crate::expr::{Context, RequestFacts};
use crate::render::{Artwork, MAX_TIMER_BYTES, OutputFormat, Renderer};
use crate::template::{Template, VariantLayer};

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
                .any(|layer| matches!(layer, VariantLayer::Countdown(_)));
            if !has_countdown {
                continue;
            }
            for &scale in &template.scales {
                let artwork = resolve_artwork(
                    template,
                    variant,
                    &context,
                    scale,
                    OutputFormat::Gif,
                    Some(&state),
                );
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
