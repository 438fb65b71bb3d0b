//! `opentime serve`: load everything, bind, serve until SIGTERM or Ctrl-C.

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::front::samples;
use crate::http::server::{run, run_ops, shutdown_signal};

pub async fn serve(config: Config) -> anyhow::Result<()> {
    if config.is_demo() {
        tracing::warn!(
            "DEMO MODE: no OPENTIME_REDIS_URL, serving the embedded demo store from {}",
            config.store.demo_dir.display()
        );
    } else if let Some(url) = &config.store.redis_url {
        tracing::info!(redis = %url.redacted(), "using Redis");
    }
    if config.uses_demo_key() {
        tracing::warn!(
            "DEMO KEY: OPENTIME_SIGNING_KEYS is not set; tokens are signed with the public demo key"
        );
    }
    if config.is_demo() {
        crate::http::demo_api::start().await;
    }
    let (app, errors) = App::build(config, Clock::System).await?;
    for error in &errors {
        tracing::error!(%error, "template not loaded");
    }
    let templates = app.templates.snapshot();
    if templates.is_empty() {
        tracing::warn!(dir = %app.templates.dir().display(), "no templates loaded");
    }
    let listener = TcpListener::bind(app.config.server.listen)
        .await
        .with_context(|| format!("binding {}", app.config.server.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, templates = templates.len(), "opentime is serving");
    // The operations address stops when the public one has drained.
    let (ops_stop, ops_stopped) = tokio::sync::oneshot::channel::<()>();
    let ops = match app.config.server.ops_listen {
        Some(ops_address) => {
            let ops_listener = TcpListener::bind(ops_address)
                .await
                .with_context(|| format!("binding ops_listen {ops_address}"))?;
            let bound = ops_listener.local_addr()?;
            tracing::info!(address = %bound, "operations endpoints (/metrics, /healthz, /readyz) are serving");
            Some(tokio::spawn(run_ops(ops_listener, app.clone(), async {
                let _ = ops_stopped.await;
            })))
        }
        None => None,
    };
    if app.store.is_demo() {
        print_sample_urls(&app, &format!("http://{address}"));
    }
    run(listener, app, shutdown_signal()).await?;
    drop(ops_stop);
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    Ok(())
}

/// Prints a working URL per demo template and recipient, so a newcomer can
/// open them in a browser straight away: the same samples as the page at
/// `/`.
fn print_sample_urls(app: &App, base: &str) {
    println!("\nDemo page, with every template: {base}/");
    println!("Sample URLs (demo mode):");
    let samples = samples(app);
    for template in &samples {
        println!(
            "  {} (default variant): {base}{}",
            template.name, template.image
        );
        for recipient in &template.recipients {
            println!("    {}: {base}{}", recipient.id, recipient.image);
            if let Some(vote) = recipient.votes.first() {
                println!("      vote: {base}{}", vote.url);
            }
        }
    }
    if let Some(recipient) = samples.iter().flat_map(|t| &t.recipients).next() {
        println!(
            "  preferences of {}: {base}{}",
            recipient.id, recipient.preferences
        );
    }
    match app.config.server.ops_listen {
        Some(ops) => println!("  metrics: http://{ops}/metrics\n"),
        None => println!("  metrics: {base}/metrics\n"),
    }
}
