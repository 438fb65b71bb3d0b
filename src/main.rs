//! The `opentime` binary: parses the command line, loads the configuration,
//! installs logging, and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use opentime::cli::{self, Cli, Command};
use opentime::config::Config;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than the system allocator: see Cargo.toml.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // The schema depends on no configuration, so a broken one does not
    // stop an editor's setup.
    if matches!(cli.command, Some(Command::Schema)) {
        return cli::schema();
    }
    let config = Config::load(cli.config.as_deref())?;
    install_logging(&config.server.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(cli::serve(config)),
        Command::Render(args) => cli::render(&config, &args),
        Command::Sign(args) => cli::sign(&config, &args),
        Command::Embed(args) => cli::embed(&config, &args),
        Command::Check(args) => cli::check(&config, &args),
        Command::Warm(args) => cli::warm(&args),
        Command::Schema => cli::schema(),
    }
}

/// Logs to standard error, filtered by `OPENTIME_LOG` (default `info`), as
/// text or as one JSON object a line.
fn install_logging(format: &str) {
    let filter = EnvFilter::try_from_env("OPENTIME_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours for a person at a terminal, none for a file or a collector.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    if format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
}
