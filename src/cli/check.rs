//! `opentime check`: validates every template, asset, font and expression,
//! and says exactly where each problem is. It also prints the warnings of
//! [`crate::check`]: scripts a sample state needs that a template's fonts
//! lack, countdown GIFs over the bound, deadlines that do not resolve,
//! `profile` fields no sample state has, and unsigned parameters that reach
//! a link's host, a remote image's URL or a public template's text.
//! Warnings do not fail the check, because the renderer still serves an
//! image.
//!
//! This file is the command: its arguments, what it prints, and when it
//! fails. The checks themselves live in [`crate::check`], which the admin
//! API's template put runs too.

use std::path::PathBuf;

use crate::app::load_renderer;
use crate::check::{SampleSource, find_unknown_feeds, find_warnings, load_sample_states};
use crate::clock::Clock;
use crate::config::Config;
use crate::open::offline;
use crate::render::MAX_TIMER_BYTES;
use crate::template::load_dir;

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
    let renderer = load_renderer(&config.render)?;
    println!("fonts: {} ok", config.render.fonts_dir.display());
    let states = load_sample_states(&config.store.demo_dir, &args.states)?;
    let demo_count = states
        .iter()
        .filter(|state| matches!(state.source, SampleSource::Demo(_)))
        .count();
    println!(
        "states: {demo_count} demo recipients from {}, {} from --state",
        config.store.demo_dir.display(),
        args.states.len()
    );
    // Sources are held to this configuration's source_hosts and [secrets],
    // as the server that reads it would hold them.
    let sources = crate::sources::SourcePolicy::new(&config.sources).map_err(anyhow::Error::msg)?;
    let (templates, errors) = load_dir(&config.templates.dir, offline::loader(&renderer, &sources));
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
    let warnings = find_warnings(&templates, &renderer, &states, Clock::System.now());
    for warning in &warnings.scripts {
        println!("warning {warning}");
    }
    for timer in &warnings.oversized_timers {
        println!("warning {timer}");
    }
    for problem in &warnings.deadlines {
        println!("warning {problem}");
    }
    for field in &warnings.profile_fields {
        println!("warning {field}");
    }
    for param in &warnings.unsigned_params {
        println!("warning {param}");
    }
    let feeds = feed_names(config);
    let feeds: Vec<&str> = feeds.iter().map(String::as_str).collect();
    for unknown_feed in find_unknown_feeds(&templates, &feeds) {
        println!("warning {unknown_feed}");
    }
    if !errors.is_empty() {
        print_warning_summary(warnings.scripts.len());
        anyhow::bail!(
            "{} of {} template files have problems",
            errors.len(),
            templates.len() + errors.len()
        );
    }
    if templates.is_empty() {
        anyhow::bail!("no templates in {}", config.templates.dir.display());
    }
    println!("{} templates ok", templates.len());
    print_warning_summary(warnings.scripts.len());
    let oversized = &warnings.oversized_timers;
    if !oversized.is_empty() {
        println!(
            "{} countdown warning{}: GIFs over {} KB",
            oversized.len(),
            if oversized.len() == 1 { "" } else { "s" },
            MAX_TIMER_BYTES / 1024
        );
    }
    let deadlines = &warnings.deadlines;
    if !deadlines.is_empty() {
        println!(
            "{} countdown warning{}: deadlines that do not resolve",
            deadlines.len(),
            if deadlines.len() == 1 { "" } else { "s" }
        );
    }
    count_warnings(
        warnings.profile_fields.len(),
        "profile fields no sample state has",
    );
    count_warnings(
        warnings.unsigned_params.len(),
        "unsigned parameters anyone can change",
    );
    Ok(())
}

/// A closing line for one kind of warning, if there are any.
fn count_warnings(count: usize, what: &str) {
    match count {
        0 => {}
        1 => println!("1 warning: {what}"),
        n => println!("{n} warnings: {what}"),
    }
}

/// The closing line for warnings, if there are any.
fn print_warning_summary(count: usize) {
    match count {
        0 => {}
        1 => println!("1 warning: some recipients' scripts cannot be rendered"),
        n => println!("{n} warnings: some recipients' scripts cannot be rendered"),
    }
}

/// The feeds a server with this configuration serves: the configured ones,
/// or the demo's catalogue on the demo store.
fn feed_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = config.feeds.iter().map(|feed| feed.name.clone()).collect();
    if names.is_empty()
        && config.is_demo()
        && let Some(demo) = crate::feeds::demo_feed(&config.store.demo_dir)
    {
        names.push(demo.name);
    }
    names
}
