//! The live set of templates, and how it reloads.
//!
//! Requests read the set through an [`ArcSwap`]: a lookup is a pointer load
//! and never waits for a reload. A reload builds a whole new set off to the
//! side and swaps it in at once; a request in flight keeps the template it
//! started with. A file that became invalid keeps its previous version
//! running, and the reason is logged.
//!
//! Besides the directory's files, the set holds the templates put through
//! the admin API, which live in the store so that every replica serves
//! them ([`TemplateRegistry::set_stored`]). A stored template replaces the
//! file of the same name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};

use super::{
    AssetCache, Loader, Prerender, SourceRules, Template, TemplateError, load_bytes, load_dir,
};
use crate::render::Renderer;

/// An immutable set of templates by name.
#[derive(Debug, Default)]
pub struct TemplateSet {
    by_name: HashMap<String, Arc<Template>>,
    /// The template each poll id's votes go to.
    by_poll: HashMap<String, String>,
}

impl TemplateSet {
    pub fn get(&self, name: &str) -> Option<&Arc<Template>> {
        self.by_name.get(name)
    }

    /// The template whose poll is `poll`.
    pub fn with_poll(&self, poll: &str) -> Option<&Arc<Template>> {
        self.by_name.get(self.by_poll.get(poll)?)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The templates, sorted by name.
    pub fn templates(&self) -> Vec<Arc<Template>> {
        let mut templates: Vec<_> = self.by_name.values().cloned().collect();
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        templates
    }
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Templates now live from their current file.
    pub loaded: usize,
    /// Files that failed; the template's previous version, if any, still
    /// serves.
    pub errors: Vec<TemplateError>,
    /// Templates whose file was removed.
    pub removed: Vec<String>,
}

#[derive(Debug)]
pub struct TemplateRegistry {
    dir: PathBuf,
    renderer: Arc<Renderer>,
    prerender: Prerender,
    /// What the server allows templates' sources.
    sources: Arc<dyn SourceRules>,
    current: ArcSwap<TemplateSet>,
    /// One reload at a time: two racing reloads could otherwise swap in an
    /// older directory state last.
    reloading: Mutex<()>,
    /// The stored templates' JSON by name, and the store's revision of
    /// them.
    stored: Mutex<(u64, BTreeMap<String, Vec<u8>>)>,
    /// Held from reading the stored templates to applying them, so that a
    /// read made earlier is never applied after one made later.
    applying: tokio::sync::Mutex<()>,
}

/// Where a template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    File,
    Store,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::File => "file",
            Origin::Store => "store",
        }
    }
}

/// The name a stored template goes by in errors: `store/{name}.json`.
pub fn stored_path(name: &str) -> PathBuf {
    Path::new("store").join(format!("{name}.json"))
}

impl TemplateRegistry {
    /// Loads the directory. Invalid files are reported, and the valid ones
    /// serve.
    pub fn load(
        dir: &Path,
        renderer: Arc<Renderer>,
        prerender: Prerender,
        sources: Arc<dyn SourceRules>,
    ) -> (TemplateRegistry, Vec<TemplateError>) {
        let registry = TemplateRegistry {
            dir: dir.to_path_buf(),
            renderer,
            prerender,
            sources,
            current: ArcSwap::from_pointee(TemplateSet::default()),
            reloading: Mutex::new(()),
            stored: Mutex::new((0, BTreeMap::new())),
            applying: tokio::sync::Mutex::new(()),
        };
        let report = registry.reload();
        (registry, report.errors)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self, name: &str) -> Option<Arc<Template>> {
        self.current.load().get(name).cloned()
    }

    pub fn snapshot(&self) -> Arc<TemplateSet> {
        self.current.load_full()
    }

    /// Reads the directory again and swaps in the result. CPU-bound (it
    /// renders fallback images): call it from a blocking thread.
    pub fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = self.current.load_full();
        let (mut templates, mut errors) = load_dir(&self.dir, self.loader());
        let stored = self.lock_stored().1.clone();
        let mut assets = AssetCache::default();
        for (name, bytes) in &stored {
            match self.build_stored(name, bytes, &mut assets, &templates) {
                Ok(template) => {
                    templates.retain(|other| other.name != template.name);
                    templates.push(template);
                }
                Err(error) => errors.push(error),
            }
        }
        let mut by_name: HashMap<String, Arc<Template>> = templates
            .into_iter()
            .map(|template| (template.name.clone(), Arc::new(template)))
            .collect();
        let loaded = by_name.len();
        for error in &errors {
            if let Some(old) = previous.by_name.values().find(|t| t.path == error.file) {
                by_name
                    .entry(old.name.clone())
                    .or_insert_with(|| old.clone());
            }
        }
        let by_poll = owners_of_polls(&by_name, &previous, &mut errors);
        let mut removed: Vec<String> = previous
            .by_name
            .keys()
            .filter(|name| !by_name.contains_key(*name))
            .cloned()
            .collect();
        removed.sort();
        self.current
            .store(Arc::new(TemplateSet { by_name, by_poll }));
        ReloadReport {
            loaded,
            errors,
            removed,
        }
    }
}

impl TemplateRegistry {
    /// What this registry loads with.
    fn loader(&self) -> Loader<'_> {
        Loader {
            renderer: &self.renderer,
            prerender: self.prerender,
            sources: self.sources.as_ref(),
        }
    }

    /// Checks a template as the admin API receives it, against the set that
    /// serves now: everything loading checks, and that its poll id is not
    /// another template's.
    pub fn validate(&self, name: &str, bytes: &[u8]) -> Result<Template, TemplateError> {
        let current = self.current.load_full();
        let others: Vec<&Template> = current.by_name.values().map(|t| t.as_ref()).collect();
        self.build_stored(name, bytes, &mut AssetCache::default(), others)
    }

    fn build_stored<'a>(
        &self,
        name: &str,
        bytes: &[u8],
        assets: &mut AssetCache,
        others: impl IntoIterator<Item = &'a Template>,
    ) -> Result<Template, TemplateError> {
        let path = stored_path(name);
        let template = load_bytes(&path, bytes, &self.dir, self.loader(), assets)?;
        if let Some(poll) = &template.poll {
            let clash = others.into_iter().find(|other| {
                other.name != template.name && other.poll.as_ref().is_some_and(|p| p.id == poll.id)
            });
            if let Some(other) = clash {
                return Err(TemplateError {
                    file: path,
                    variant: None,
                    field: Some("poll.id".to_string()),
                    message: format!("is the poll id of {} already", other.name),
                });
            }
        }
        Ok(template)
    }

    /// Replaces the stored templates with the store's, at `revision`, and
    /// reloads when they changed; `None` when nothing changed. CPU-bound
    /// like [`TemplateRegistry::reload`].
    pub fn set_stored(
        &self,
        revision: u64,
        stored: BTreeMap<String, Vec<u8>>,
    ) -> Option<ReloadReport> {
        {
            let mut current = self.lock_stored();
            if current.0 == revision && current.1 == stored {
                return None;
            }
            *current = (revision, stored);
        }
        Some(self.reload())
    }

    /// Hold this from reading the store's templates to
    /// [`TemplateRegistry::set_stored`].
    pub async fn applying(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.applying.lock().await
    }

    /// The store's revision of the stored templates last applied.
    pub fn stored_revision(&self) -> u64 {
        self.lock_stored().0
    }

    /// Where a live template comes from.
    pub fn source_origin(&self, name: &str) -> Option<Origin> {
        let template = self.get(name)?;
        Some(if template.path == stored_path(name) {
            Origin::Store
        } else {
            Origin::File
        })
    }

    /// A template's JSON as it was loaded, and where it came from.
    pub fn source(&self, name: &str) -> Option<(Origin, Vec<u8>)> {
        let template = self.get(name)?;
        if template.path == stored_path(name) {
            let stored = self.lock_stored();
            return stored
                .1
                .get(name)
                .map(|bytes| (Origin::Store, bytes.clone()));
        }
        std::fs::read(&template.path)
            .ok()
            .map(|bytes| (Origin::File, bytes))
    }

    fn lock_stored(&self) -> std::sync::MutexGuard<'_, (u64, BTreeMap<String, Vec<u8>>)> {
        self.stored
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Which template each poll id's votes go to. Loading refuses a second file
/// with a poll id, but a previous version kept for a file that failed can
/// still share one with a newer file: then the template that owned the
/// poll before keeps it (else the first by name), and the other is
/// reported.
fn owners_of_polls(
    by_name: &HashMap<String, Arc<Template>>,
    previous: &TemplateSet,
    errors: &mut Vec<TemplateError>,
) -> HashMap<String, String> {
    let mut claims: HashMap<&str, Vec<&Arc<Template>>> = HashMap::new();
    for template in by_name.values() {
        if let Some(poll) = &template.poll {
            claims.entry(poll.id.as_str()).or_default().push(template);
        }
    }
    let mut owners = HashMap::new();
    for (poll, mut templates) in claims {
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        let before = previous.by_poll.get(poll);
        let owner = templates
            .iter()
            .find(|template| Some(&template.name) == before)
            .unwrap_or(&templates[0]);
        for other in templates
            .iter()
            .filter(|template| template.name != owner.name)
        {
            errors.push(TemplateError {
                file: other.path.clone(),
                variant: None,
                field: Some("poll.id".to_string()),
                message: format!("is the poll id of {} already; votes go there", owner.name),
            });
        }
        owners.insert(poll.to_string(), owner.name.clone());
    }
    owners
}

/// Reloads on SIGHUP and, when `watch_files` is set, whenever a file under
/// the templates directory changes (debounced, so an editor's burst of
/// writes is one reload). `on_reload` sees every report, for logs and
/// metrics.
///
/// The SIGHUP handler and the file watcher are installed before this
/// returns, so a signal sent once the server answers is never lost (nor
/// fatal: without a handler SIGHUP ends the process). The reloads run on
/// the returned task until it is aborted.
pub fn reload_on_signals(
    registry: Arc<TemplateRegistry>,
    watch_files: bool,
    on_reload: impl Fn(&ReloadReport) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let (trigger, mut triggered) = tokio::sync::mpsc::channel::<()>(1);
    let watcher = if watch_files {
        watch_directory(registry.dir(), trigger.clone())
    } else {
        None
    };
    listen_for_sighup(trigger);
    let on_reload = Arc::new(on_reload);
    tokio::spawn(async move {
        // The watcher stops when dropped: keep it as long as the task runs.
        let _watcher = watcher;
        while triggered.recv().await.is_some() {
            // Let a burst of file events settle, then reload once.
            tokio::time::sleep(Duration::from_millis(150)).await;
            while triggered.try_recv().is_ok() {}
            let registry = registry.clone();
            let on_reload = on_reload.clone();
            let reloaded = tokio::task::spawn_blocking(move || {
                let report = registry.reload();
                on_reload(&report);
            })
            .await;
            if let Err(error) = reloaded {
                tracing::error!(%error, "template reload panicked; the previous templates still serve");
            }
        }
    })
}

/// Watches `dir` recursively; every change (but mere reads) pulls `trigger`.
fn watch_directory(
    dir: &Path,
    trigger: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = trigger.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the templates directory; SIGHUP still reloads");
            return None;
        }
    };
    if let Err(error) = watcher.watch(dir, RecursiveMode::Recursive) {
        tracing::warn!(%error, "cannot watch the templates directory; SIGHUP still reloads");
        return None;
    }
    Some(watcher)
}

#[cfg(unix)]
fn listen_for_sighup(trigger: tokio::sync::mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading templates");
                    let _ = trigger.try_send(());
                }
            });
        }
        Err(error) => tracing::warn!(%error, "cannot listen for SIGHUP"),
    }
}

#[cfg(not(unix))]
fn listen_for_sighup(_trigger: tokio::sync::mpsc::Sender<()>) {}
