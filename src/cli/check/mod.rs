//! `opentime check`: validates every template, asset, font and expression,
//! and says exactly where each problem is. It also resolves every text for
//! a set of sample states and warns where a template's fonts cannot draw a
//! script those states put in it ([`scripts`]); warnings do not fail the
//! check, because the renderer still serves an image.
//!
//! - [`samples`]: the sample states (demo recipients and `--state` files).
//! - [`scripts`]: the scan for scripts no font of a family has.
//! - [`timers`]: the scan for countdowns whose GIF would pass 1 MB.

mod samples;
mod scripts;
mod timers;

use std::path::PathBuf;

use crate::app::load_renderer;
use crate::clock::Clock;
use crate::config::Config;
use crate::render::MAX_TIMER_BYTES;
use crate::template::load_dir;

use samples::{SampleSource, load_sample_states};
use scripts::find_unrenderable_scripts;
use timers::{find_deadline_problems, find_oversized_timers};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A JSON object of profile fields, as `render --state` reads it, to
    /// check the fonts against besides the demo recipients; repeat for more.
    #[arg(long = "state", value_name = "FILE")]
    pub states: Vec<PathBuf>,
}

/// Prints one line per template and per problem, and one per script that
/// a sample state needs and a layer's fonts lack; fails if there is any
/// problem, never for a warning.
pub fn check(config: &Config, args: &CheckArgs) -> anyhow::Result<()> {
    let renderer = load_renderer(config)?;
    println!("fonts: {} ok", config.fonts_dir.display());
    let states = load_sample_states(&config.demo_dir, &args.states)?;
    let demo_count = states
        .iter()
        .filter(|state| matches!(state.source, SampleSource::Demo(_)))
        .count();
    println!(
        "states: {demo_count} demo recipients from {}, {} from --state",
        config.demo_dir.display(),
        args.states.len()
    );
    let (templates, errors) = load_dir(&config.templates_dir, &renderer);
    for template in &templates {
        let variants: Vec<&str> = template.variants.iter().map(|v| v.id.as_str()).collect();
        println!(
            "ok     {} ({}x{}, variants: {})",
            template.path.display(),
            template.width,
            template.height,
            variants.join(", ")
        );
    }
    for error in &errors {
        println!("error  {error}");
    }
    // One moment for the whole scan, as one open has one, so that every
    // state and template is resolved on the same day.
    let now = Clock::System.now();
    let warnings = find_unrenderable_scripts(&templates, renderer.fonts(), &states, now);
    for warning in &warnings {
        println!("warning {warning}");
    }
    let oversized = find_oversized_timers(&templates, &renderer, now);
    for timer in &oversized {
        println!("warning {timer}");
    }
    let deadlines = find_deadline_problems(&templates, &states, now);
    for problem in &deadlines {
        println!("warning {problem}");
    }
    if !errors.is_empty() {
        print_warning_summary(warnings.len());
        anyhow::bail!(
            "{} of {} template files have problems",
            errors.len(),
            templates.len() + errors.len()
        );
    }
    if templates.is_empty() {
        anyhow::bail!("no templates in {}", config.templates_dir.display());
    }
    println!("{} templates ok", templates.len());
    print_warning_summary(warnings.len());
    if !oversized.is_empty() {
        println!(
            "{} countdown warning{}: GIFs over {} KB",
            oversized.len(),
            if oversized.len() == 1 { "" } else { "s" },
            MAX_TIMER_BYTES / 1024
        );
    }
    if !deadlines.is_empty() {
        println!(
            "{} countdown warning{}: deadlines that do not resolve",
            deadlines.len(),
            if deadlines.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// The warnings `opentime check` gives one template, for the admin API's
/// put: scripts the demo recipients need that its fonts lack, countdown
/// GIFs over the bound, deadlines that do not resolve.
pub fn template_warnings(
    template: &crate::template::Template,
    renderer: &crate::render::Renderer,
    demo_dir: &std::path::Path,
) -> Vec<String> {
    let states = load_sample_states(demo_dir, &[]).unwrap_or_default();
    let now = Clock::System.now();
    let templates = std::slice::from_ref(template);
    let mut warnings: Vec<String> =
        find_unrenderable_scripts(templates, renderer.fonts(), &states, now)
            .iter()
            .map(ToString::to_string)
            .collect();
    warnings.extend(
        find_oversized_timers(templates, renderer, now)
            .iter()
            .map(ToString::to_string),
    );
    warnings.extend(
        find_deadline_problems(templates, &states, now)
            .iter()
            .map(ToString::to_string),
    );
    warnings
}

/// The closing line for warnings, if there are any.
fn print_warning_summary(count: usize) {
    match count {
        0 => {}
        1 => println!("1 warning: some recipients' scripts cannot be rendered"),
        n => println!("{n} warnings: some recipients' scripts cannot be rendered"),
    }
}
