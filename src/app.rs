//! The application state: one cheap-to-clone struct of shared parts, handed
//! to every connection.

use std::sync::Arc;

use anyhow::Context as _;

use crate::cache::shared::SharedCache;
use crate::cache::{RenderCache, RenderLimiter};
use crate::clock::Clock;
use crate::config::{Config, RenderConfig};
use crate::events::{EventLog, writer};
use crate::expr::OpenerRules;
use crate::feeds::Feeds;
use crate::geo::GeoDatabase;
use crate::metrics::Metrics;
use crate::open::Pipeline;
use crate::poll::TallyCache;
use crate::prefs::PrefsConfig;
use crate::remote::RemoteImages;
use crate::render::{FontBook, Renderer};
use crate::store::Store;
use crate::template::{TemplateError, TemplateRegistry};
use crate::webhooks::Webhooks;

#[derive(Clone, Debug)]
pub struct App {
    pub config: Arc<Config>,
    /// The parts every open goes through: the store, the templates, the
    /// caches, the keys, the metrics, the clock, the events.
    pub pipeline: Pipeline,
    /// This replica's cache warming jobs.
    pub warm_jobs: crate::warm::WarmJobs,
    /// This replica's webhook deliveries, stopped when the server stops.
    pub webhooks: Webhooks,
}

/// The pipeline's parts read as the application's own (`app.store`,
/// `app.metrics`): they are one set, built once in [`App::build`].
impl std::ops::Deref for App {
    type Target = Pipeline;

    fn deref(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl App {
    /// Loads fonts and templates and opens the store. Invalid template files
    /// are returned, not fatal: the valid ones serve, and the caller logs
    /// the rest.
    pub async fn build(
        mut config: Config,
        clock: Clock,
    ) -> anyhow::Result<(App, Vec<TemplateError>)> {
        config.demo_defaults();
        config.validate()?;
        let keys = config.key_ring()?;
        let renderer = Arc::new(load_renderer(&config.render)?);
        let source_policy = Arc::new(
            crate::sources::SourcePolicy::new(&config.sources).map_err(anyhow::Error::msg)?,
        );
        let (templates, errors) = {
            let dir = config.templates.dir.clone();
            let renderer = renderer.clone();
            let rules: Arc<dyn crate::template::SourceRules> = source_policy.clone();
            tokio::task::spawn_blocking(move || {
                TemplateRegistry::load(
                    &dir,
                    renderer,
                    crate::open::offline::prerender_fallbacks,
                    rules,
                )
            })
            .await
            .context("loading templates")?
        };
        let templates = Arc::new(templates);
        let store = Store::open(&config.store).await?;
        load_stored_templates(&templates, &store).await;
        let metrics = Arc::new(Metrics::new());
        metrics
            .templates_loaded
            .set(templates.snapshot().len() as i64);
        let limiter = RenderLimiter::new(
            config.render.slots(),
            config.render.queue,
            config.render.wait,
            config.render.anonymous_renders(),
        );
        let mut cache = RenderCache::new(config.cache.bytes, limiter, renderer, metrics.clone());
        if !config.cache.recompress_png {
            cache = cache.without_recompression();
        }
        let shared_redis = match (&config.cache.shared_redis_url, &store) {
            _ if config.cache.shared_bytes == 0 => None,
            (Some(url), _) => Some(
                Store::open_cache(&config.store, url)
                    .await
                    .context("shared_cache_redis_url")?,
            ),
            (None, Store::Redis(redis)) => Some(redis.clone()),
            (None, Store::Memory(_)) => None,
        };
        if let Some(redis) = &shared_redis {
            cache = cache.with_shared(SharedCache::new(
                redis,
                config.cache.shared_bytes,
                config.cache.shared_ttl,
                config.cache.shared_max_entry_bytes,
                metrics.clone(),
            ));
        }
        let openers = OpenerRules::load(
            config.openers.rules_file.as_deref(),
            config.openers.apple_relay_ranges_file.as_deref(),
        )
        .context("loading the opener rules")?;
        let remote_images =
            RemoteImages::new(config.remote_images.clone()).context("remote_image_origins")?;
        let prefs = PrefsConfig::load(config.preferences.file.as_deref())?;
        // Up to a few hundred megabytes read and checked: off the reactor.
        let geo = match config.geo.database.clone() {
            Some(path) => Some(
                tokio::task::spawn_blocking(move || open_geo(&path))
                    .await
                    .context("reading geo_database")??,
            ),
            None => None,
        };
        let events = EventLog::new(config.events.buffer, metrics.clone());
        // The writer gets a connection of its own, so that its large
        // pipelines do not hold up the requests' small ones, and the
        // writer's budget per batch, longer than a request's, since nobody
        // waits for it.
        let writer_store = store
            .own_connection()
            .context("preparing the events writer's Redis connection")?
            .with_budget(writer::BATCH_BUDGET);
        writer::spawn(events.clone(), writer_store, metrics.clone());
        let webhooks = match &store {
            _ if config.webhooks.is_empty() => Webhooks::default(),
            Store::Redis(redis) => Webhooks::start(&config.webhooks, redis, metrics.clone())
                .context("preparing the webhooks' Redis connections")?,
            Store::Memory(_) => anyhow::bail!(
                "webhooks need Redis (redis_url): the embedded demo store keeps no events stream to deliver from"
            ),
        };
        let sources = crate::sources::Sources::new(source_policy, store.clone(), metrics.clone());
        // The demo serves its bundled catalogue when no feed is configured.
        let mut feed_configs = config.feeds.clone();
        if feed_configs.is_empty()
            && store.is_demo()
            && let Some(demo) = crate::feeds::demo_feed(&config.store.demo_dir)
        {
            feed_configs.push(demo);
        }
        let feeds = Feeds::start(feed_configs, &store, metrics.clone())
            .context("preparing the feeds' Redis connection")?;
        let decisions = crate::experiments::Decisions::default();
        tokio::spawn(crate::experiments::run_monitor(
            store.with_budget(std::time::Duration::from_secs(2)),
            templates.clone(),
            events.clone(),
            metrics.clone(),
            decisions.clone(),
        ));
        let pipeline = Pipeline {
            sources,
            store,
            templates,
            cache,
            keys,
            metrics,
            clock,
            events,
            openers: Arc::new(openers),
            remote_images,
            tallies: TallyCache::default(),
            prefs: Arc::new(prefs),
            geo,
            feeds,
            decisions,
        };
        let app = App {
            config: Arc::new(config),
            pipeline,
            warm_jobs: crate::warm::WarmJobs::default(),
            webhooks,
        };
        Ok((app, errors))
    }
}

/// Reads the city database `geo_database` names, and says which it is
/// and how old: a file months old places readers where their addresses
/// used to be.
fn open_geo(path: &std::path::Path) -> anyhow::Result<Arc<GeoDatabase>> {
    let database = GeoDatabase::open(path)?;
    let built = jiff::Timestamp::from_second(database.build_epoch() as i64)
        .map(|at| at.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    tracing::info!(
        path = %path.display(),
        database_type = database.database_type(),
        built,
        "geo database loaded"
    );
    Ok(Arc::new(database))
}

/// How often a replica asks the store whether the stored templates
/// changed: one `GET` of a counter.
pub const TEMPLATE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Applies the store's templates once at start, so that a replica serves
/// them from its first request. A store that does not answer is logged:
/// the sync task picks them up when it does.
async fn load_stored_templates(templates: &Arc<TemplateRegistry>, store: &Store) {
    match store
        .with_budget(std::time::Duration::from_secs(2))
        .stored_templates()
        .await
    {
        Ok((revision, stored)) if revision > 0 => {
            let templates = templates.clone();
            let report =
                tokio::task::spawn_blocking(move || templates.set_stored(revision, stored)).await;
            if let Ok(Some(report)) = report {
                for error in &report.errors {
                    tracing::error!(%error, "stored template not loaded");
                }
            }
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "cannot read the stored templates yet; the files serve until the store answers");
        }
    }
}

/// Keeps the stored templates in step with the store: every
/// [`TEMPLATE_POLL`], reads the revision, and when it moved, every stored
/// template, and reloads. `on_reload` sees every report.
pub fn sync_stored_templates(
    app: &App,
    on_reload: impl Fn(&crate::template::ReloadReport) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let templates = app.templates.clone();
    let store = app.store.with_budget(std::time::Duration::from_secs(2));
    let on_reload = Arc::new(on_reload);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(TEMPLATE_POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let revision = match store.templates_revision().await {
                Ok(revision) => revision,
                Err(_) => continue,
            };
            if revision == templates.stored_revision() {
                continue;
            }
            let applying = templates.applying().await;
            let Ok((revision, stored)) = store.stored_templates().await else {
                continue;
            };
            let templates = templates.clone();
            let on_reload = on_reload.clone();
            let applied = tokio::task::spawn_blocking(move || {
                if let Some(report) = templates.set_stored(revision, stored) {
                    on_reload(&report);
                }
            })
            .await;
            drop(applying);
            if let Err(error) = applied {
                tracing::error!(%error, "applying the stored templates panicked; the previous templates still serve");
            }
        }
    })
}

/// Loads the font book named by the configuration, with its caches'
/// bounds.
pub fn load_renderer(config: &RenderConfig) -> anyhow::Result<Renderer> {
    let fonts = FontBook::load(&config.fonts_dir)
        .with_context(|| format!("loading fonts from {}", config.fonts_dir.display()))?;
    Ok(Renderer::with_cache_bytes(
        fonts,
        config.glyph_cache_bytes,
        config.shape_cache_bytes,
    ))
}
