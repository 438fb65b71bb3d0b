//! Loading and validating template files.
//!
//! A template is checked completely before it can serve: the JSON shape,
//! every condition and text compiles, every asset decodes, every font family
//! exists, the default variant is last, and the fallback image renders.
//! Errors name the file, the variant and the field, because authors read
//! them in `opentime check` and in the server's log.
//!
//! This file reads a template and checks its own fields and its variants;
//! each kind of layer is checked in `layers.rs` (the ones that set text in
//! `text_layers.rs`), and the timer, the coupon pool, the poll and the
//! sources in files of their own.

mod coupon;
mod experiment;
mod layers;
mod poll;
mod repeat;
mod sources;
mod text_layers;
mod timer;

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::file::{TemplateFile, VariantFile};
use super::{AccessMode, Loader, Prerender, SourceRules, Template, Variant, VariantLayer};

use crate::expr::{Condition, TextSet};
use crate::render::{Asset, Layer, Renderer};

/// Largest canvas side at 1x, in pixels. Email images are rarely wider than
/// 1200 px; this bound keeps a typo from asking for a gigapixel render.
pub const MAX_SIDE: u32 = 2000;

/// Longest value a parameter may declare, in bytes: URLs in email stay short.
pub const MAX_PARAM_LEN: usize = 1024;

/// Longest alt text, in characters: a sentence, not the email's copy.
pub const MAX_ALT_CHARS: usize = 300;

/// A problem in one template file, located as precisely as it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub file: PathBuf,
    /// The variant's id, when the problem is inside one.
    pub variant: Option<String>,
    /// The field, as a path such as `layers[1].color`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(variant) = &self.variant {
            write!(f, ": variant {variant:?}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TemplateError {}

/// Loads every `*.json` file of `dir`, in name order. Returns the templates
/// that are valid and an error for each file that is not.
pub fn load_dir(dir: &Path, loader: Loader<'_>) -> (Vec<Template>, Vec<TemplateError>) {
    let mut templates = Vec::new();
    let mut errors = Vec::new();
    let paths = match template_paths(dir) {
        Ok(paths) => paths,
        Err(error) => {
            errors.push(TemplateError {
                file: dir.to_path_buf(),
                variant: None,
                field: None,
                message: format!("cannot read the templates directory: {error}"),
            });
            return (templates, errors);
        }
    };
    let mut assets = AssetCache::default();
    for path in paths {
        match load_file(&path, dir, loader, &mut assets) {
            // A vote URL names only the poll, so one poll id is one template.
            Ok(template) => match template.poll.as_ref().and_then(|poll| {
                templates
                    .iter()
                    .find(|other: &&Template| other.poll.as_ref().is_some_and(|p| p.id == poll.id))
            }) {
                Some(other) => errors.push(TemplateError {
                    file: path.clone(),
                    variant: None,
                    field: Some("poll.id".to_string()),
                    message: format!("is the poll id of {} already", other.name),
                }),
                None => templates.push(template),
            },
            Err(error) => errors.push(error),
        }
    }
    (templates, errors)
}

/// The template files of a directory, sorted by name.
pub fn template_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Loads one template file; assets are resolved against `assets_root`.
pub fn load_file(
    path: &Path,
    assets_root: &Path,
    loader: Loader<'_>,
    assets: &mut AssetCache,
) -> Result<Template, TemplateError> {
    let bytes = std::fs::read(path).map_err(|e| TemplateError {
        file: path.to_path_buf(),
        variant: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    load_bytes(path, &bytes, assets_root, loader, assets)
}

/// Loads a template from its JSON; `path` names it in errors, and its
/// stem must be the template's name, as a file's must.
pub fn load_bytes(
    path: &Path,
    bytes: &[u8],
    assets_root: &Path,
    loader: Loader<'_>,
    assets: &mut AssetCache,
) -> Result<Template, TemplateError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let file: TemplateFile = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let field = e.path().to_string();
        TemplateError {
            file: path.to_path_buf(),
            variant: None,
            field: (field != ".").then_some(field),
            message: e.into_inner().to_string(),
        }
    })?;
    Builder {
        path,
        assets_root,
        renderer: loader.renderer,
        prerender: loader.prerender,
        sources: loader.sources,
        assets,
        texts: TextSet::new(),
        poll_labels: None,
    }
    .build(file, bytes)
}

/// Decoded assets of one load pass, so that templates sharing an image
/// decode it once.
#[derive(Default)]
pub struct AssetCache {
    by_path: HashMap<PathBuf, Arc<Asset>>,
}

struct Builder<'a> {
    path: &'a Path,
    assets_root: &'a Path,
    renderer: &'a Renderer,
    prerender: Prerender,
    sources: &'a dyn SourceRules,
    assets: &'a mut AssetCache,
    texts: TextSet,
    /// The poll's option labels, once read, for its `poll_results` layers.
    poll_labels: Option<Vec<String>>,
}

impl Builder<'_> {
    fn build(mut self, file: TemplateFile, bytes: &[u8]) -> Result<Template, TemplateError> {
        let stem = self
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if file.name != stem {
            return Err(self.error(None, "name", format!(
                "is {:?} but the file is {stem:?}.json: they must match, because URLs use the name",
                file.name
            )));
        }
        if !is_identifier(&file.name, true) {
            return Err(self.error(
                None,
                "name",
                "use lowercase letters, digits, '-' and '_'".into(),
            ));
        }
        for (field, side) in [("width", file.width), ("height", file.height)] {
            if side == 0 || side > MAX_SIDE {
                return Err(self.error(None, field, format!("must be 1 to {MAX_SIDE} pixels")));
            }
        }
        if file.scales.is_empty() || file.scales.iter().any(|s| *s != 1 && *s != 2) {
            return Err(self.error(None, "scales", "may hold 1 and 2 only".into()));
        }
        for (name, spec) in &file.params {
            let field = format!("params.{name}");
            if !is_identifier(name, false) || name == "t" || name == "s" {
                return Err(self.error(None, &field, "a parameter name is lowercase letters, digits and '_', and not t or s (they are the token and the signature)".into()));
            }
            if spec.max_len == 0 || spec.max_len > MAX_PARAM_LEN {
                return Err(self.error(
                    None,
                    &field,
                    format!("max_len must be 1 to {MAX_PARAM_LEN}"),
                ));
            }
        }
        if let Some(link) = &file.fallback_link
            && !is_plain_url(link)
        {
            return Err(self.error(
                None,
                "fallback_link",
                "is an absolute http(s) URL, written out (no expressions): it is where a click goes when all else fails".into(),
            ));
        }
        let alt = match file.alt {
            Some(alt) => self.alt(alt)?,
            None => name_in_words(&file.name),
        };
        let subject_line = match &file.subject_line {
            Some(source) => Some(
                self.texts
                    .add(source)
                    .map_err(|e| self.error(None, "subject_line", e.to_string()))?,
            ),
            None => None,
        };
        let subject = match &file.subject {
            // Whoever edits an unsigned URL would choose whose record the
            // image shows.
            Some(_) if file.access != AccessMode::SignedUrl => {
                return Err(self.error(
                    None,
                    "subject",
                    "names another record, which only a signed parameter may choose: make the template \"access\": \"signed_url\" and sign its URLs (opentime sign --url)".to_string(),
                ));
            }
            Some(source) => Some(
                self.texts
                    .add(source)
                    .map_err(|e| self.error(None, "subject", e.to_string()))?,
            ),
            None => None,
        };
        let poll = self.poll(file.poll)?;
        let sources = self.sources(&file.name, file.sources)?;
        let variants = self.variants(file.variants)?;
        let experiment = self.experiment(file.experiment, &variants)?;
        let click_id = self.click_id(file.click_id)?;
        let timer = self.timer(file.timer, file.format, &variants)?;
        let coupon = self.coupon(file.coupon, &variants)?;

        let mut hasher = Sha256::new();
        hasher.update(bytes);
        for variant in &variants {
            for layer in &variant.layers {
                match layer {
                    VariantLayer::Static(Layer::Image(image)) => {
                        hasher.update(image.asset.content_hash);
                    }
                    VariantLayer::RemoteImage {
                        placeholder: Some(asset),
                        ..
                    } => hasher.update(asset.content_hash),
                    _ => {}
                }
            }
        }
        let mut template = Template {
            name: file.name,
            path: self.path.to_path_buf(),
            version: hasher.finalize().into(),
            width: file.width,
            height: file.height,
            format: file.format,
            scales: file.scales,
            access: file.access,
            alt,
            subject_line,
            subject,
            params: file.params,
            timer,
            lock_at_first_open: file.lock_at_first_open,
            coupon,
            poll,
            fallback_link: file.fallback_link,
            sources,
            experiment,
            click_id,
            // A mention anywhere (even in a plain text) costs one read more,
            // never a wrong answer.
            reads_prefs: bytes.windows(5).any(|window| window == b"prefs"),
            variants,
            texts: self.texts,
            fallbacks: Vec::new(),
        };
        // The pipeline renders the fallback images: it knows what an open
        // without a recipient shows. One that does not render fails the
        // template, as an invalid field would.
        template.fallbacks =
            (self.prerender)(&template, self.renderer).map_err(|message| TemplateError {
                file: self.path.to_path_buf(),
                variant: template.variants.last().map(|v| v.id.clone()),
                field: None,
                message,
            })?;
        Ok(template)
    }

    /// An author's alt text: one line of at most [`MAX_ALT_CHARS`].
    fn alt(&self, alt: String) -> Result<String, TemplateError> {
        if alt.chars().count() > MAX_ALT_CHARS {
            return Err(self.error(
                None,
                "alt",
                format!("holds at most {MAX_ALT_CHARS} characters"),
            ));
        }
        if alt.chars().any(char::is_control) {
            return Err(self.error(
                None,
                "alt",
                "is one line of text, without line breaks or control characters".into(),
            ));
        }
        Ok(alt)
    }

    fn variants(&mut self, files: Vec<VariantFile>) -> Result<Vec<Variant>, TemplateError> {
        if files.is_empty() {
            return Err(self.error(
                None,
                "variants",
                "needs at least the default variant".into(),
            ));
        }
        let count = files.len();
        let mut seen = Vec::with_capacity(count);
        let mut variants = Vec::with_capacity(count);
        for (index, file) in files.into_iter().enumerate() {
            let id = file.id.clone();
            let at = |field: &str| format!("variants[{index}].{field}");
            if !is_identifier(&id, true) {
                return Err(self.error(
                    Some(&id),
                    &at("id"),
                    "use lowercase letters, digits, '-' and '_'".into(),
                ));
            }
            if seen.contains(&id) {
                return Err(self.error(
                    Some(&id),
                    &at("id"),
                    "is used by an earlier variant".into(),
                ));
            }
            seen.push(id.clone());
            let is_last = index + 1 == count;
            let condition = match (&file.when, is_last) {
                (None, true) => None,
                // The arm is the condition of an arm's variant.
                (None, false) if file.arm.is_some() => None,
                (None, false) => {
                    return Err(self.error(Some(&id), &at("when"), "only the last variant, the default, or an experiment arm's variant may have no condition; this one is neither".into()));
                }
                (Some(_), true) => {
                    return Err(self.error(Some(&id), &at("when"), "the last variant is the default and must have no condition, so that every open gets an image".into()));
                }
                (Some(source), false) => Some(
                    Condition::compile(source)
                        .map_err(|e| self.error(Some(&id), &at("when"), e.to_string()))?,
                ),
            };
            let link = match &file.link {
                Some(source) => Some(
                    self.texts
                        .add(source)
                        .map_err(|e| self.error(Some(&id), &at("link"), e.to_string()))?,
                ),
                None => None,
            };
            let subject_line = match &file.subject_line {
                Some(source) => Some(
                    self.texts
                        .add(source)
                        .map_err(|e| self.error(Some(&id), &at("subject_line"), e.to_string()))?,
                ),
                None => None,
            };
            let mut layers = Vec::with_capacity(file.layers.len());
            for (layer_index, layer) in file.layers.into_iter().enumerate() {
                let field = format!("variants[{index}].layers[{layer_index}]");
                layers.push(self.layer(layer, &id, &field)?);
            }
            variants.push(Variant {
                id,
                condition,
                link,
                subject_line,
                arm: file.arm,
                layers,
            });
        }
        Ok(variants)
    }

    /// Reads and decodes an asset, refusing paths that leave the templates
    /// directory.
    fn asset(&mut self, src: &str) -> Result<Arc<Asset>, String> {
        let relative = Path::new(src);
        let escapes = relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if src.is_empty() || escapes {
            return Err(format!(
                "{src:?} must be a path inside the templates directory"
            ));
        }
        let path = self.assets_root.join(relative);
        if let Some(asset) = self.assets.by_path.get(&path) {
            return Ok(asset.clone());
        }
        // The error names the asset as the template does: the directory it
        // sits in is the server's business, not the author's (an admin API
        // caller sees this message).
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {src:?}: {e}"))?;
        let asset = Arc::new(Asset::decode(src, &bytes).map_err(|e| e.to_string())?);
        self.assets.by_path.insert(path, asset.clone());
        Ok(asset)
    }

    fn error(&self, variant: Option<&str>, field: &str, message: String) -> TemplateError {
        TemplateError {
            file: self.path.to_path_buf(),
            variant: variant.map(str::to_string),
            field: Some(field.to_string()),
            message,
        }
    }
}

/// A template's name as words, the default alt text: `flash-sale` is
/// "Flash sale", `care_survey_2` "Care survey 2".
fn name_in_words(name: &str) -> String {
    let words = name
        .split(['-', '_'])
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// An absolute `http(s)` URL with nothing to resolve: no spaces, controls
/// or template syntax.
fn is_plain_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let host = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or_default();
    !host.is_empty()
        && !host.starts_with('/')
        && text.len() <= 8192
        && !text.chars().any(|c| c.is_control() || c == ' ')
        && !text.contains("{{")
        && !text.contains("{%")
}

/// Lowercase ASCII letters, digits and `_` (and `-` where URLs allow it).
fn is_identifier(text: &str, allow_dash: bool) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || (allow_dash && b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_in_words_is_the_default_alt() {
        assert_eq!(name_in_words("flash-sale"), "Flash sale");
        assert_eq!(name_in_words("care_survey_2"), "Care survey 2");
        assert_eq!(name_in_words("renewal"), "Renewal");
        assert_eq!(name_in_words("2026-promo"), "2026 promo");
    }
}
