//! The `opentime` command line: `serve` (the default), `render`, `sign`,
//! `embed`, `check`, `warm` and `schema`. Each subcommand is one file; the checks that
//! `check` runs live in the library's [`crate::check`]. `main.rs` only
//! parses and calls.

mod check;
mod embed;
mod render;
mod serve;
mod sign;
mod warm;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use check::{CheckArgs, check};
pub use embed::{EmbedArgs, embed};
pub use render::{RenderArgs, render};
pub use serve::serve;
pub use sign::{SignArgs, sign};
pub use warm::{WarmArgs, warm};

/// An open-time content server for lifecycle email.
#[derive(Debug, Parser)]
#[command(name = "opentime", version)]
pub struct Cli {
    /// A TOML configuration file; `OPENTIME_*` variables override its keys.
    #[arg(long, global = true, env = "OPENTIME_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default). Without a Redis URL it runs on the
    /// embedded demo store.
    Serve,
    /// Render one image offline, exactly as the server would serve it.
    Render(RenderArgs),
    /// Print recipient tokens and signed URLs.
    Sign(SignArgs),
    /// Print the HTML to paste into an email platform for a template: a
    /// link around its image, with the platform's merge tag for the token.
    Embed(EmbedArgs),
    /// Validate every template, asset, font and expression, and warn where
    /// a template's fonts cannot draw a script that a sample state uses.
    Check(CheckArgs),
    /// Start a cache warming job on a running server and show its progress.
    Warm(WarmArgs),
    /// Print the JSON Schema of the template format, for editors: name it
    /// in a template's `$schema` to get completion and checks as you type.
    Schema,
}

/// `opentime schema`: the template format's JSON Schema on standard output.
/// The template `name` of the configured directory, loaded as the server
/// loads it, with `renderer`.
fn load_named_template(
    config: &crate::config::Config,
    renderer: &crate::render::Renderer,
    name: &str,
) -> anyhow::Result<crate::template::Template> {
    let path = config.templates.dir.join(format!("{name}.json"));
    anyhow::ensure!(
        path.is_file(),
        "no template {name:?}: there is no {}",
        path.display()
    );
    let sources = crate::sources::SourcePolicy::new(&config.sources).map_err(anyhow::Error::msg)?;
    Ok(crate::template::load::load_file(
        &path,
        &config.templates.dir,
        crate::open::offline::loader(renderer, &sources),
        &mut crate::template::load::AssetCache::default(),
    )?)
}

pub fn schema() -> anyhow::Result<()> {
    let schema = crate::template::file::json_schema();
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
