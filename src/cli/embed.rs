//! `opentime embed`: the HTML to paste into an email platform for one
//! template, made by [`crate::embed`] as the admin API's embed call makes
//! it.

use anyhow::Context as _;

use crate::app::load_renderer;
use crate::config::Config;
use crate::embed::{
    DEFAULT_ATTRIBUTE, EmbedRequest, Esp, check_attribute, check_email_id, embed_html,
    normalize_base,
};

#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// The template's name (its file is `{templates_dir}/{name}.json`).
    #[arg(long)]
    pub template: String,
    /// The email platform whose merge syntax fills in each recipient's
    /// token: braze, sfmc, klaviyo, mailchimp, customerio, iterable,
    /// hubspot, sendgrid, or plain (a literal TOKEN to replace by hand).
    #[arg(long)]
    pub esp: String,
    /// The profile attribute that holds the token in the platform.
    #[arg(long, default_value = DEFAULT_ATTRIBUTE)]
    pub attribute: String,
    /// The email or send id, added to both URLs as `e` (at most 64 of
    /// A-Z a-z 0-9 . _ -).
    #[arg(long = "e", value_name = "ID")]
    pub email: Option<String>,
    /// Where recipients reach opentime, instead of `public_url`.
    #[arg(long, value_name = "URL")]
    pub base: Option<String>,
}

/// Prints the snippet on standard output, alone, so scripts can capture it.
pub fn embed(config: &Config, args: &EmbedArgs) -> anyhow::Result<()> {
    // What can be refused without loading the template is refused first.
    let esp = Esp::parse(&args.esp)?;
    check_attribute(&args.attribute)?;
    if let Some(email) = &args.email {
        check_email_id(email)?;
    }
    let base = match (&args.base, &config.server.public_url) {
        (Some(base), _) => normalize_base(base).context("--base")?,
        (None, Some(public_url)) => public_url.clone(),
        (None, None) => anyhow::bail!(
            "set public_url (OPENTIME_PUBLIC_URL), the address recipients reach opentime at, or give it as --base URL"
        ),
    };
    let request = EmbedRequest {
        base: &base,
        esp,
        attribute: &args.attribute,
        email: args.email.as_deref(),
    };
    let renderer = load_renderer(&config.render)?;
    let template = super::load_named_template(config, &renderer, &args.template)?;
    println!("{}", embed_html(&template, &request)?);
    Ok(())
}
