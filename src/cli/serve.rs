//! `opentime serve`: load everything, bind, serve until SIGTERM or Ctrl-C.

use std::path::Path;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::server::{run, run_ops, shutdown_signal};
use crate::recipient::RecipientId;
use crate::template::AccessMode;

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
/// open them in a browser straight away.
fn print_sample_urls(app: &App, base: &str) {
    let recipients = demo_recipient_ids(&app.config.store.demo_dir);
    println!("\nSample URLs (demo mode):");
    let snapshot = app.templates.snapshot();
    let templates = snapshot.templates();
    // A demo id names its template as a prefix ("renewal-timer-anna"); the
    // longest template name that prefixes it wins over "renewal".
    let owner = |id: &str| {
        templates
            .iter()
            .filter(|template| id.starts_with(&format!("{}-", template.name)))
            .max_by_key(|template| template.name.len())
            .map(|template| template.name.clone())
    };
    for template in &templates {
        let extension = template.format.extension();
        let path = format!("/i/{}.{extension}", template.name);
        // A signed_url template answers only signed URLs.
        let signature = match template.access {
            AccessMode::SignedUrl => format!("?s={}", app.keys.sign_url(&path, &[])),
            _ => String::new(),
        };
        println!(
            "  {} (default variant): {base}{path}{signature}",
            template.name
        );
        for id in recipients
            .iter()
            .filter(|id| owner(id).as_deref() == Some(template.name.as_str()))
        {
            let Ok(recipient) = RecipientId::new(id.as_str()) else {
                continue;
            };
            let token = app.keys.sign_recipient(&recipient);
            println!("    {id}: {base}/i/{}.{extension}?t={token}", template.name);
            if let Some(option) = template.poll.as_ref().and_then(|poll| {
                poll.options
                    .first()
                    .map(|option| (poll.id.as_str(), option.id.as_str()))
            }) {
                println!("      vote: {base}/v/{}/{}?t={token}", option.0, option.1);
            }
        }
    }
    if let Some(recipient) = recipients
        .first()
        .and_then(|id| RecipientId::new(id.as_str()).ok())
    {
        let token = app.keys.sign_recipient(&recipient);
        println!(
            "  preferences of {}: {base}/p?t={token}",
            recipient.as_str()
        );
    }
    match app.config.server.ops_listen {
        Some(ops) => println!("  metrics: http://{ops}/metrics\n"),
        None => println!("  metrics: {base}/metrics\n"),
    }
}

/// The recipient ids of the demo file, sorted, for sample URLs.
fn demo_recipient_ids(demo_dir: &Path) -> Vec<String> {
    let path = demo_dir.join("recipients.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Object(recipients)) = serde_json::from_str(&text) else {
        return Vec::new();
    };
    recipients.keys().cloned().collect()
}
