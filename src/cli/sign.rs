//! `opentime sign`: recipient tokens and signed URLs, for scripts and email
//! platforms.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::Config;
use crate::embed::DEFAULT_ATTRIBUTE;
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
    /// With --csv: the name of the added column; `ot_token` is the profile
    /// attribute `opentime embed` merges in by default.
    #[arg(long, default_value = DEFAULT_ATTRIBUTE)]
    pub token_column: String,
    /// With --csv: write here instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Print this URL with its signature `s` added.
    #[arg(long)]
    pub url: Option<String>,
    /// With --recipient: print the `List-Unsubscribe` and
    /// `List-Unsubscribe-Post` headers of an email to them instead (RFC
    /// 8058), with URLs under `public_url`.
    #[arg(long, requires = "recipient")]
    pub unsubscribe_headers: bool,
    /// With --unsubscribe-headers: the list the email belongs to (a topic of
    /// the preferences file); without it, one click leaves all marketing.
    #[arg(long, requires = "unsubscribe_headers")]
    pub list: Option<String>,
    /// Sign with the public demo key when no signing keys are configured,
    /// for trying opentime out on its demo store. Tokens signed so are
    /// worthless: anyone can make them.
    #[arg(long)]
    pub demo: bool,
}

pub fn sign(config: &Config, args: &SignArgs) -> anyhow::Result<()> {
    if config.uses_demo_key() {
        if !args.demo {
            anyhow::bail!(
                "no signing keys are configured: set OPENTIME_SIGNING_KEYS (or OPENTIME_SIGNING_KEYS_FILE), \
                 or pass --demo to sign with the public demo key for the demo store"
            );
        }
        eprintln!(
            "warning: signing with the public demo key (--demo): anyone can make these tokens"
        );
    }
    let keys = config.key_ring()?;
    if let Some(id) = &args.recipient {
        let recipient = RecipientId::new(id.as_str())?;
        let token = keys.sign_recipient(&recipient);
        if args.unsubscribe_headers {
            for line in unsubscribe_headers(config, &token, args.list.as_deref())? {
                println!("{line}");
            }
        } else {
            println!("{token}");
        }
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

/// The two header lines of RFC 8058 one-click unsubscribe for a recipient's
/// token. RFC 8058 wants exactly one HTTPS URI in `List-Unsubscribe`, the
/// one receivers POST to: `/u`. The preference page belongs in the email's
/// footer.
fn unsubscribe_headers(
    config: &Config,
    token: &str,
    list: Option<&str>,
) -> anyhow::Result<[String; 2]> {
    let base = config.server.public_url.as_deref().context(
        "set public_url (OPENTIME_PUBLIC_URL), the address recipients reach opentime at, to print unsubscribe headers",
    )?;
    anyhow::ensure!(
        base.to_ascii_lowercase().starts_with("https://"),
        "RFC 8058 needs an https:// public_url for one-click unsubscribe; it is {base}"
    );
    if let Some(list) = list {
        let prefs = crate::prefs::PrefsConfig::load(config.preferences.file.as_deref())?;
        anyhow::ensure!(
            prefs.topic(list).is_some(),
            "there is no list {list:?} in the preferences file"
        );
    }
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let mut one_click = format!("{base}/u?t={}", encode(token));
    if let Some(list) = list {
        one_click.push_str(&format!("&list={}", encode(list)));
    }
    Ok([
        format!("List-Unsubscribe: <{one_click}>"),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click".to_string(),
    ])
}
