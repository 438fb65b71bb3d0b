//! The template loader, on any JSON: as `opentime check`, a reload and the
//! admin API's put read a template. It must load or say where the problem
//! is; loading renders the fallback images, so the renderer is fuzzed on
//! whatever a template can ask of it.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use opentime::render::{FontBook, Renderer};
use opentime::template::{AssetCache, load_bytes};

static ROOT: LazyLock<PathBuf> = LazyLock::new(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
static RENDERER: LazyLock<Renderer> = LazyLock::new(|| {
    Renderer::new(FontBook::load(&ROOT.join("fonts")).expect("the bundled fonts load"))
});

fuzz_target!(|data: &[u8]| {
    let templates = ROOT.join("assets/templates");
    let mut assets = AssetCache::default();
    // The name in the file must be "fuzz" to pass the first check; the
    // corpus's templates are named so.
    if let Err(error) = load_bytes(
        Path::new("fuzz.json"),
        data,
        &templates,
        opentime::open::offline::loader(&RENDERER, &opentime::template::NoSources),
        &mut assets,
    ) {
        assert!(!error.message.is_empty());
    }
});
