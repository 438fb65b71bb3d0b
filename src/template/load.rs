//! Loading and validating template files.
//!
//! A template is checked completely before it can serve: the JSON shape,
//! every condition and text compiles, every asset decodes, every font family
//! exists, the default variant is last, and the fallback image renders.
//! Errors name the file, the variant and the field, because authors read
//! them in `opentime check` and in the server's log.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::file::{CouponFile, LayerFile, PollFile, TemplateFile, TimerFile, VariantFile};
use super::{Coupon, Fallback, Template, TemplateTimer, TimerDeadline, Variant, VariantLayer};

/// The longest evergreen timer: a year.
const MAX_EVERGREEN_HOURS: f64 = 8760.0;
use crate::expr::{Condition, TextSet};
use crate::poll::{Poll, PollOption};
use crate::render::ResultsLayer;
use crate::render::{
    Asset, CodeLayer, Color, CountdownLayer, DigitBox, EmojiStyle, Frame, HorizontalAlign,
    ImageLayer, Layer, MAX_TIMER_FRAMES, OutputFormat, RectLayer, Renderer, Symbology,
    TextDirection, TextStyle, VerticalAlign, Weight,
};

/// Largest canvas side at 1x, in pixels. Email images are rarely wider than
/// 1200 px; this bound keeps a typo from asking for a gigapixel render.
pub const MAX_SIDE: u32 = 2000;

/// Longest value a parameter may declare, in bytes: URLs in email stay short.
pub const MAX_PARAM_LEN: usize = 1024;

/// More options than this do not fit a results image or an email.
const MAX_POLL_OPTIONS: usize = 20;

/// A tally older than an hour is not "live" any more.
const MAX_RESULTS_CACHE_SECONDS: u64 = 3600;

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
pub fn load_dir(dir: &Path, renderer: &Renderer) -> (Vec<Template>, Vec<TemplateError>) {
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
        match load_file(&path, dir, renderer, &mut assets) {
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
    renderer: &Renderer,
    assets: &mut AssetCache,
) -> Result<Template, TemplateError> {
    let bytes = std::fs::read(path).map_err(|e| TemplateError {
        file: path.to_path_buf(),
        variant: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    load_bytes(path, &bytes, assets_root, renderer, assets)
}

/// Loads a template from its JSON; `path` names it in errors, and its
/// stem must be the template's name, as a file's must.
pub fn load_bytes(
    path: &Path,
    bytes: &[u8],
    assets_root: &Path,
    renderer: &Renderer,
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
        renderer,
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
        let poll = self.poll(file.poll)?;
        let variants = self.variants(file.variants)?;
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
            params: file.params,
            timer,
            lock_at_first_open: file.lock_at_first_open,
            coupon,
            poll,
            // A mention anywhere (even in a plain text) costs one read more,
            // never a wrong answer.
            reads_prefs: bytes.windows(5).any(|window| window == b"prefs"),
            variants,
            texts: self.texts,
            fallbacks: Vec::new(),
        };
        template.fallbacks =
            prerender_fallbacks(&template, self.renderer).map_err(|message| TemplateError {
                file: self.path.to_path_buf(),
                variant: template.variants.last().map(|v| v.id.clone()),
                field: None,
                message,
            })?;
        Ok(template)
    }

    /// Checks a countdown template's timer: a gif template has one, a
    /// template with a countdown layer has one, and its frames, zone and
    /// deadline text are valid.
    fn timer(
        &mut self,
        timer: Option<TimerFile>,
        format: OutputFormat,
        variants: &[Variant],
    ) -> Result<Option<TemplateTimer>, TemplateError> {
        let has_countdown = variants.iter().any(|variant| {
            variant
                .layers
                .iter()
                .any(|layer| matches!(layer, VariantLayer::Countdown { .. }))
        });
        let Some(timer) = timer else {
            if has_countdown {
                return Err(self.error(
                    None,
                    "timer",
                    "a template with a countdown layer needs a timer: { \"until\": ... }".into(),
                ));
            }
            if format == OutputFormat::Gif {
                return Err(self.error(
                    None,
                    "format",
                    "\"gif\" is for countdown templates, which have a timer".into(),
                ));
            }
            return Ok(None);
        };
        if format != OutputFormat::Gif {
            return Err(self.error(None, "format", "a countdown template is a \"gif\"".into()));
        }
        if timer.frames == 0 || timer.frames > MAX_TIMER_FRAMES {
            return Err(self.error(
                None,
                "timer.frames",
                format!("must be 1 to {MAX_TIMER_FRAMES}"),
            ));
        }
        if let Some(zone) = &timer.time_zone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            return Err(self.error(
                None,
                "timer.time_zone",
                format!("unknown time zone {zone:?}"),
            ));
        }
        let deadline = match (&timer.until, timer.evergreen_hours) {
            (Some(until), None) => TimerDeadline::Until(
                self.texts
                    .add(until)
                    .map_err(|e| self.error(None, "timer.until", e.to_string()))?,
            ),
            (None, Some(hours))
                if hours.is_finite() && hours > 0.0 && hours <= MAX_EVERGREEN_HOURS =>
            {
                TimerDeadline::Evergreen {
                    seconds: (hours * 3600.0).round() as i64,
                }
            }
            (None, Some(_)) => {
                return Err(self.error(
                    None,
                    "timer.evergreen_hours",
                    format!("must be above 0 and at most {MAX_EVERGREEN_HOURS}"),
                ));
            }
            _ => {
                return Err(self.error(
                    None,
                    "timer",
                    "give the deadline as \"until\" or \"evergreen_hours\", one of the two".into(),
                ));
            }
        };
        Ok(Some(TemplateTimer {
            deadline,
            time_zone: timer.time_zone,
            frames: timer.frames,
            looping: timer.looping,
        }))
    }

    /// Checks a coupon pool: its name is an identifier and its exhausted
    /// variant exists.
    fn coupon(
        &self,
        coupon: Option<CouponFile>,
        variants: &[Variant],
    ) -> Result<Option<Coupon>, TemplateError> {
        let Some(coupon) = coupon else {
            return Ok(None);
        };
        if !is_identifier(&coupon.pool, true) {
            return Err(self.error(
                None,
                "coupon.pool",
                "use lowercase letters, digits, '-' and '_'".into(),
            ));
        }
        let exhausted_variant = match &coupon.exhausted_variant {
            None => None,
            Some(id) => Some(
                variants
                    .iter()
                    .position(|variant| &variant.id == id)
                    .ok_or_else(|| {
                        self.error(
                            None,
                            "coupon.exhausted_variant",
                            format!("no variant has the id {id:?}"),
                        )
                    })?,
            ),
        };
        Ok(Some(Coupon {
            pool: coupon.pool,
            exhausted_variant,
        }))
    }

    /// Checks a poll: identifiers for it and its options, no option twice,
    /// a thank-you link that compiles, a sane cache time.
    fn poll(&mut self, poll: Option<PollFile>) -> Result<Option<Poll>, TemplateError> {
        let Some(poll) = poll else {
            return Ok(None);
        };
        if !is_identifier(&poll.id, true) {
            return Err(self.error(
                None,
                "poll.id",
                "use lowercase letters, digits, '-' and '_'".into(),
            ));
        }
        if poll.options.is_empty() || poll.options.len() > MAX_POLL_OPTIONS {
            return Err(self.error(
                None,
                "poll.options",
                format!("needs 1 to {MAX_POLL_OPTIONS} options"),
            ));
        }
        let mut options: Vec<PollOption> = Vec::with_capacity(poll.options.len());
        for (index, option) in poll.options.into_iter().enumerate() {
            let field = format!("poll.options[{index}].id");
            if !is_identifier(&option.id, true) {
                return Err(self.error(
                    None,
                    &field,
                    "use lowercase letters, digits, '-' and '_'".into(),
                ));
            }
            if options.iter().any(|seen| seen.id == option.id) {
                return Err(self.error(None, &field, format!("{:?} is there twice", option.id)));
            }
            options.push(PollOption {
                label: option.label.unwrap_or_else(|| option.id.clone()),
                id: option.id,
            });
        }
        if poll.results_cache_seconds > MAX_RESULTS_CACHE_SECONDS {
            return Err(self.error(
                None,
                "poll.results_cache_seconds",
                format!("must be at most {MAX_RESULTS_CACHE_SECONDS}"),
            ));
        }
        let thanks = self
            .texts
            .add(&poll.thanks)
            .map_err(|e| self.error(None, "poll.thanks", e.to_string()))?;
        self.poll_labels = Some(options.iter().map(|option| option.label.clone()).collect());
        Ok(Some(Poll {
            id: poll.id,
            options,
            thanks,
            results_cache: Duration::from_secs(poll.results_cache_seconds),
        }))
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
                (None, false) => {
                    return Err(self.error(Some(&id), &at("when"), "only the last variant, the default, may have no condition; this one is not last".into()));
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
            let mut layers = Vec::with_capacity(file.layers.len());
            for (layer_index, layer) in file.layers.into_iter().enumerate() {
                let field = format!("variants[{index}].layers[{layer_index}]");
                layers.push(self.layer(layer, &id, &field)?);
            }
            variants.push(Variant {
                id,
                condition,
                link,
                layers,
            });
        }
        Ok(variants)
    }

    fn layer(
        &mut self,
        layer: LayerFile,
        variant: &str,
        at: &str,
    ) -> Result<VariantLayer, TemplateError> {
        let err = |this: &Self, field: &str, message: String| {
            this.error(Some(variant), &format!("{at}.{field}"), message)
        };
        let frame = |this: &Self, x: f32, y: f32, width: f32, height: f32| {
            let all_finite = [x, y, width, height].iter().all(|v| v.is_finite());
            if !all_finite || width <= 0.0 || height <= 0.0 {
                return Err(err(
                    this,
                    "width",
                    "x, y, width and height must be numbers, with width and height above 0".into(),
                ));
            }
            Ok(Frame {
                x,
                y,
                width,
                height,
            })
        };
        let color = |this: &Self, field: &str, text: &str| {
            Color::parse(text).map_err(|e| err(this, field, format!("{text:?}: {e}")))
        };
        let radius = |this: &Self, radius: f32| {
            if radius.is_finite() && radius >= 0.0 {
                Ok(radius)
            } else {
                Err(err(this, "radius", "must be 0 or more".into()))
            }
        };
        let code = |this: &mut Self,
                    symbology: Symbology,
                    frame: Frame,
                    content: String,
                    dark: String,
                    light: Option<String>| {
            let is_static = !content.contains("{{") && !content.contains("{%");
            if is_static && let Err(message) = CodeLayer::check_content(symbology, &content) {
                return Err(err(this, "content", message));
            }
            let color = color(this, "color", &dark)?;
            let background = match &light {
                Some(text) => Some(self::color_of(text).map_err(|e| err(this, "background", e))?),
                None => None,
            };
            let content = this
                .texts
                .add(&content)
                .map_err(|e| err(this, "content", e.to_string()))?;
            Ok(VariantLayer::Code {
                frame,
                symbology,
                content,
                color,
                background,
            })
        };
        Ok(match layer {
            LayerFile::Qr {
                x,
                y,
                width,
                height,
                content,
                color: dark,
                background,
                error_correction,
            } => {
                let frame = frame(self, x, y, width, height)?;
                code(
                    self,
                    Symbology::Qr { error_correction },
                    frame,
                    content,
                    dark,
                    background,
                )?
            }
            LayerFile::Barcode {
                x,
                y,
                width,
                height,
                content,
                color: dark,
                background,
            } => {
                let frame = frame(self, x, y, width, height)?;
                code(self, Symbology::Code128, frame, content, dark, background)?
            }
            LayerFile::Countdown {
                x,
                y,
                width,
                height,
                units,
                labels,
                font,
                weight,
                size,
                color: digit_color,
                label_size,
                label_color,
                digit_box,
                separator,
                pad,
                gap,
            } => {
                let frame = frame(self, x, y, width, height)?;
                let descending = units.windows(2).all(|pair| pair[0] < pair[1]);
                if units.is_empty() || !descending {
                    return Err(err(
                        self,
                        "units",
                        "list units largest first, each once: days, hours, minutes, seconds".into(),
                    ));
                }
                let label_size = label_size.unwrap_or(size * 0.35);
                for (field, value) in [("size", size), ("label_size", label_size)] {
                    if !value.is_finite() || value <= 0.0 || value > 1000.0 {
                        return Err(err(self, field, "must be above 0 and at most 1000".into()));
                    }
                }
                if !(1..=6).contains(&pad) {
                    return Err(err(self, "pad", "must be 1 to 6 digits".into()));
                }
                if !gap.is_finite() || gap < 0.0 {
                    return Err(err(self, "gap", "must be 0 or more".into()));
                }
                if let Some(extra) = labels.keys().find(|unit| !units.contains(unit)) {
                    return Err(err(
                        self,
                        "labels",
                        format!("has a label for {extra:?}, which is not in units"),
                    ));
                }
                if !self.renderer.fonts().has_family(&font) {
                    return Err(err(
                        self,
                        "font",
                        format!("no font family {font:?} in the font book"),
                    ));
                }
                let digits = TextStyle {
                    family: font,
                    weight,
                    size,
                    min_size: size,
                    color: color(self, "color", &digit_color)?,
                    align: HorizontalAlign::Center,
                    vertical_align: VerticalAlign::Middle,
                    direction: TextDirection::Ltr,
                    emoji: EmojiStyle::Color,
                    line_height: 1.2,
                    letter_spacing: 0.0,
                    max_lines: Some(1),
                    wrap: false,
                };
                let label_style = TextStyle {
                    weight: Weight::Regular,
                    size: label_size,
                    min_size: label_size,
                    color: match &label_color {
                        Some(text) => color(self, "label_color", text)?,
                        None => digits.color,
                    },
                    direction: TextDirection::Auto,
                    ..digits.clone()
                };
                let digit_box = match digit_box {
                    None => None,
                    Some(file) => Some(DigitBox {
                        fill: color(self, "box.fill", &file.fill)?,
                        radius: radius(self, file.radius)?,
                    }),
                };
                let mut label_texts = Vec::with_capacity(units.len());
                for unit in &units {
                    label_texts.push(match labels.get(unit) {
                        None => None,
                        Some(text) => Some(self.texts.add(text).map_err(|e| {
                            let unit = format!("{unit:?}").to_lowercase();
                            err(self, &format!("labels.{unit}"), e.to_string())
                        })?),
                    });
                }
                VariantLayer::Countdown {
                    countdown: CountdownLayer {
                        frame,
                        labels: Vec::new(),
                        units,
                        digits,
                        label_style,
                        digit_box,
                        separator,
                        pad,
                        gap,
                    },
                    labels: label_texts,
                }
            }
            LayerFile::PollResults {
                x,
                y,
                width,
                height,
                font,
                weight,
                size,
                color: text_color,
                bar_color,
                track_color,
                highlight_color,
                label_width,
                value_width,
                value,
            } => {
                let Some(labels) = self.poll_labels.clone() else {
                    return Err(err(
                        self,
                        "type",
                        "a poll_results layer needs the template's poll: { \"poll\": ... }".into(),
                    ));
                };
                let frame = frame(self, x, y, width, height)?;
                if !(size.is_finite() && size > 0.0 && size <= 500.0) {
                    return Err(err(self, "size", "must be above 0 and at most 500".into()));
                }
                if !self.renderer.fonts().has_family(&font) {
                    return Err(err(
                        self,
                        "font",
                        format!("no font family {font:?} in the font book"),
                    ));
                }
                let column = |this: &Self, field: &str, width: Option<f32>, default: f32| {
                    let width = width.unwrap_or(default);
                    if width.is_finite() && width >= 0.0 && width < frame.width {
                        Ok(width)
                    } else {
                        Err(err(
                            this,
                            field,
                            "must be 0 or more and less than the layer's width".into(),
                        ))
                    }
                };
                let label_width = column(self, "label_width", label_width, frame.width / 4.0)?;
                let value_width = column(self, "value_width", value_width, size * 3.5)?;
                let bar = color(self, "bar_color", &bar_color)?;
                VariantLayer::PollResults(ResultsLayer {
                    frame,
                    labels,
                    style: TextStyle {
                        family: font,
                        weight,
                        size,
                        min_size: size * 0.6,
                        color: color(self, "color", &text_color)?,
                        align: HorizontalAlign::Start,
                        vertical_align: VerticalAlign::Middle,
                        direction: TextDirection::Auto,
                        emoji: EmojiStyle::Color,
                        line_height: 1.2,
                        letter_spacing: 0.0,
                        max_lines: Some(1),
                        wrap: false,
                    },
                    bar,
                    track: match &track_color {
                        Some(text) => Some(color(self, "track_color", text)?),
                        None => None,
                    },
                    highlight: match &highlight_color {
                        Some(text) => color(self, "highlight_color", text)?,
                        None => bar,
                    },
                    label_width,
                    value_width,
                    value,
                })
            }
            LayerFile::Rect {
                x,
                y,
                width,
                height,
                fill,
                radius: r,
            } => VariantLayer::Static(Layer::Rect(RectLayer {
                frame: frame(self, x, y, width, height)?,
                fill: color(self, "fill", &fill)?,
                radius: radius(self, r)?,
            })),
            LayerFile::Image {
                x,
                y,
                width,
                height,
                src,
                url,
                fit,
                radius: r,
                opacity,
            } => {
                if !(0.0..=1.0).contains(&opacity) {
                    return Err(err(self, "opacity", "must be from 0 to 1".into()));
                }
                let frame = frame(self, x, y, width, height)?;
                let radius = radius(self, r)?;
                let asset = match &src {
                    Some(src) => Some(
                        self.asset(src)
                            .map_err(|message| err(self, "src", message))?,
                    ),
                    None => None,
                };
                match (url, asset) {
                    (Some(url), placeholder) => {
                        let url = self
                            .texts
                            .add(&url)
                            .map_err(|e| err(self, "url", e.to_string()))?;
                        VariantLayer::RemoteImage {
                            frame,
                            url,
                            fit,
                            radius,
                            opacity,
                            placeholder,
                        }
                    }
                    (None, Some(asset)) => VariantLayer::Static(Layer::Image(ImageLayer {
                        frame,
                        asset,
                        fit,
                        radius,
                        opacity,
                    })),
                    (None, None) => {
                        return Err(err(
                            self,
                            "src",
                            "an image layer needs src (a file) or url (from state), or both".into(),
                        ));
                    }
                }
            }
            LayerFile::Text {
                x,
                y,
                width,
                height,
                text,
                font,
                weight,
                size,
                min_size,
                color: text_color,
                align,
                vertical_align,
                direction,
                emoji,
                line_height,
                letter_spacing,
                max_lines,
                wrap,
            } => {
                let frame = frame(self, x, y, width, height)?;
                if !(size.is_finite() && size > 0.0 && size <= 500.0) {
                    return Err(err(self, "size", "must be above 0 and at most 500".into()));
                }
                let min_size = min_size.unwrap_or(size);
                if !(min_size.is_finite() && min_size > 0.0 && min_size <= size) {
                    return Err(err(
                        self,
                        "min_size",
                        "must be above 0 and at most size".into(),
                    ));
                }
                if !(line_height.is_finite() && line_height > 0.0 && line_height <= 10.0) {
                    return Err(err(
                        self,
                        "line_height",
                        "must be above 0 and at most 10".into(),
                    ));
                }
                if !letter_spacing.is_finite() {
                    return Err(err(self, "letter_spacing", "must be a number".into()));
                }
                if max_lines == Some(0) {
                    return Err(err(self, "max_lines", "must be at least 1".into()));
                }
                if !self.renderer.fonts().has_family(&font) {
                    return Err(err(
                        self,
                        "font",
                        format!("no font family {font:?} in the font book"),
                    ));
                }
                let style = TextStyle {
                    family: font,
                    weight,
                    size,
                    min_size,
                    color: color(self, "color", &text_color)?,
                    align,
                    vertical_align,
                    direction: direction_of_wording(&text, direction),
                    emoji,
                    line_height,
                    letter_spacing,
                    max_lines,
                    wrap,
                };
                let text = self
                    .texts
                    .add(&text)
                    .map_err(|e| err(self, "text", e.to_string()))?;
                VariantLayer::Text { frame, text, style }
            }
        })
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
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
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

/// The fallback images (see [`crate::open::offline::prerender_fallbacks`]).
fn prerender_fallbacks(
    template: &Template,
    renderer: &Renderer,
) -> Result<Vec<(u32, OutputFormat, Fallback)>, String> {
    crate::open::offline::prerender_fallbacks(template, renderer)
}

/// Lowercase ASCII letters, digits and `_` (and `-` where URLs allow it).
/// The direction of a text layer whose template says `auto`: that of the
/// template's own wording, the text outside `{{ }}`, `{% %}` and `{# #}`,
/// when it has a letter with a direction. "{{ profile.first_name }}, your
/// plan renews soon" is an English sentence whatever script the name is in,
/// and must not turn right-to-left because the name comes first. A text made
/// only of interpolations stays `auto` and takes the direction of what it
/// resolves to.
fn direction_of_wording(source: &str, declared: TextDirection) -> TextDirection {
    if declared != TextDirection::Auto {
        return declared;
    }
    let mut rest = source;
    let mut wording = String::new();
    while let Some(start) = rest.find('{') {
        let closing = match rest[start..].chars().nth(1) {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                wording.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
                continue;
            }
        };
        wording.push_str(&rest[..start]);
        rest = match rest[start + 2..].find(closing) {
            Some(end) => &rest[start + 2 + end + 2..],
            None => "",
        };
    }
    wording.push_str(rest);
    for c in wording.chars() {
        match unicode_bidi::bidi_class(c) {
            unicode_bidi::BidiClass::L => return TextDirection::Ltr,
            unicode_bidi::BidiClass::R | unicode_bidi::BidiClass::AL => return TextDirection::Rtl,
            _ => {}
        }
    }
    TextDirection::Auto
}

fn color_of(text: &str) -> Result<Color, String> {
    Color::parse(text).map_err(|e| format!("{text:?}: {e}"))
}

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
    fn auto_direction_follows_the_wording_not_the_interpolated_name() {
        let auto = TextDirection::Auto;
        let cases = [
            (
                "{{ profile.first_name }}, your plan renews soon",
                TextDirection::Ltr,
            ),
            ("{{ profile.first_name }}، شكرًا لك", TextDirection::Rtl),
            ("{% if x %}{{ a }}{% endif %} שלום", TextDirection::Rtl),
            ("{{ profile.first_name }}!", auto),
            ("{# a note #}{{ n }} 42", auto),
            ("{ not jinja } hello", TextDirection::Ltr),
        ];
        for (source, expected) in cases {
            assert_eq!(direction_of_wording(source, auto), expected, "{source}");
        }
        // What the template declares wins.
        let rtl = TextDirection::Rtl;
        assert_eq!(direction_of_wording("Hello {{ name }}", rtl), rtl);
    }
}
