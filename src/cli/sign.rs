//! `opentime sign`: recipient tokens and signed URLs, for scripts and email
//! platforms.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::Config;
use crate::recipient::RecipientId;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["recipient", "csv", "url"])))]
pub struct SignArgs {
    /// Print the token of one recipient, alone on standard output.
    #[arg(long)]
    pub recipient: Option<String>,
    /// Add a token column to a CSV file (streamed, for millions of rows).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// With --csv: the column holding recipient ids.
    #[arg(long, default_value = "id")]
    pub id_column: String,
    /// With --csv: the name of the added column.
    #[arg(long, default_value = "t")]
    pub token_column: String,
    /// With --csv: write here instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Print this URL with its signature `s` added.
    #[arg(long)]
    pub url: Option<String>,
}

pub fn sign(config: &Config, args: &SignArgs) -> anyhow::Result<()> {
    if config.uses_demo_key() {
        eprintln!("warning: OPENTIME_SIGNING_KEYS is not set; signing with the public demo key");
    }
    let keys = config.key_ring()?;
    if let Some(id) = &args.recipient {
        let recipient = RecipientId::new(id.as_str())?;
        println!("{}", keys.sign_recipient(&recipient));
    }
    if let Some(url) = &args.url {
        println!("{}", keys.sign_url_string(url)?);
    }
    if let Some(path) = &args.csv {
        let input = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let output: Box<dyn Write> = match &args.output {
            Some(out) => {
                Box::new(File::create(out).with_context(|| format!("creating {}", out.display()))?)
            }
            None => Box::new(std::io::stdout().lock()),
        };
        let rows = keys.sign_csv(
            BufReader::with_capacity(256 * 1024, input),
            BufWriter::with_capacity(256 * 1024, output),
            &args.id_column,
            &args.token_column,
        )?;
        eprintln!("signed {rows} rows");
    }
    Ok(())
}
