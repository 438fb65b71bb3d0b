//! `opentime render`: one image, offline, through the pipeline's offline
//! entry ([`crate::open::offline::render`]), so authors and CI see exactly
//! what recipients will.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use jiff::Timestamp;

use crate::app::load_renderer;
use crate::check::read_state;
use crate::config::Config;
use crate::open::Target;
use crate::open::offline::{self, OfflineOpen};
use crate::render::OutputFormat;

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The template's name (its file is `{templates_dir}/{name}.json`).
    #[arg(long)]
    pub template: String,
    /// A JSON object of profile fields, as the recipient's Redis hash holds
    /// them. Omit it to render for a recipient with no state.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// The moment of the open, RFC 3339 (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// The User-Agent of the mail client that opens it.
    #[arg(long)]
    pub user_agent: Option<String>,
    /// 1 or 2.
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// png or jpg (default: the template's format).
    #[arg(long)]
    pub format: Option<String>,
    /// A query parameter, `name=value`; repeat for more.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Where to write the image.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

pub fn render(config: &Config, args: &RenderArgs) -> anyhow::Result<()> {
    let renderer = load_renderer(&config.render)?;
    let template = super::load_named_template(config, &renderer, &args.template)?;
    let format = match &args.format {
        Some(name) => OutputFormat::from_extension(name)
            .with_context(|| format!("--format {name:?}: use png, jpg or gif"))?,
        None => template.format,
    };
    if !template.allows_scale(args.scale) {
        bail!(
            "--scale {}: {} allows {:?}",
            args.scale,
            template.name,
            template.scales
        );
    }
    let now = match &args.at {
        Some(at) => at
            .parse::<Timestamp>()
            .with_context(|| format!("--at {at:?} is not RFC 3339"))?,
        None => Timestamp::now(),
    };
    let mut query = template.default_query();
    for pair in &args.params {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--param {pair:?}: write NAME=VALUE"))?;
        let Some(spec) = template.params.get(name) else {
            bail!(
                "--param {name}: {} declares no such parameter",
                template.name
            );
        };
        if value.len() > spec.max_len {
            bail!(
                "--param {name}: longer than its max_len of {}",
                spec.max_len
            );
        }
        query.insert(name.to_string(), value.to_string());
    }
    let profile = match &args.state {
        Some(path) => Some(read_state(path)?),
        None => None,
    };
    let open = OfflineOpen {
        profile,
        query,
        now,
        user_agent: args.user_agent.clone(),
        target: Target {
            scale: args.scale,
            format,
        },
    };
    let rendered = offline::render(&template, &renderer, open)?;
    if let Some(problem) = &rendered.deadline_problem {
        eprintln!(
            "warning: the countdown's deadline did not resolve ({problem}); it counts as expired"
        );
    }
    if let Some(timer) = &rendered.timer {
        match timer.deadline {
            Some(deadline) => eprintln!(
                "timer: deadline {deadline}, {} s left at {now}",
                timer.seconds_left
            ),
            None => eprintln!("timer: no deadline"),
        }
    }
    if rendered.condition_errors > 0 {
        eprintln!(
            "warning: {} condition(s) failed at run time and counted as false",
            rendered.condition_errors
        );
    }
    if let Some(error) = &rendered.fell_back {
        eprintln!("warning: {error}; writing the fallback image, as the server would serve");
    }
    let bytes = rendered.bytes;
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{}: variant {:?}, {} bytes, {}",
        template.name,
        rendered.variant,
        bytes.len(),
        args.output.display()
    );
    Ok(())
}
