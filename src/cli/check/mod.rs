//! `opentime check`: validates every template, asset, font and expression,
//! and says exactly where each problem is.

use crate::app::load_renderer;
use crate::config::Config;
use crate::template::load_dir;

/// Prints one line per template and per problem; fails if there is any.
pub fn check(config: &Config) -> anyhow::Result<()> {
    let renderer = load_renderer(config)?;
    println!("fonts: {} ok", config.fonts_dir.display());
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
    if !errors.is_empty() {
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
    Ok(())
}
