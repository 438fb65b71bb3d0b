//! Templates: the file format, its validation, and the live set.
//!
//! - [`file`]: the JSON format as authors write it.
//! - [`load`]: validation and compilation into a [`Template`].
//! - [`registry`]: the live set, swapped atomically on reload.
//! - [`locate`]: where a field is written in a template's text.

pub mod file;
pub mod load;
pub mod locate;
pub mod registry;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

pub use file::{AccessMode, ParamSpec};
pub use load::{AssetCache, TemplateError, load_bytes, load_dir, load_file};
pub use registry::{ReloadReport, TemplateRegistry, TemplateSet};

use crate::expr::{Condition, TextId, TextSet};
use crate::poll::Poll;
use crate::render::{
    Asset, Color, CountdownLayer, Fit, Frame, Layer, OutputFormat, Renderer, ResultsLayer,
    Symbology, TextStyle,
};
use crate::words::plural::PluralCategory;

/// A validated template, ready to serve. Immutable: a reload builds a new
/// one, and requests in flight keep the version they started with.
#[derive(Debug)]
pub struct Template {
    pub name: String,
    pub path: PathBuf,
    /// SHA-256 of the file and its assets: part of every render key, so an
    /// edit never serves a stale cached image.
    pub version: [u8; 32],
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
    pub scales: Vec<u32>,
    pub access: AccessMode,
    /// The image's alt text in the embed HTML: the file's `alt`, else the
    /// name in words.
    pub alt: String,
    /// The subject line at send time, when the template gives one.
    pub subject_line: Option<TextId>,
    /// The id of the record the email is about (`subject.*`), when it is
    /// not the recipient's own: a text of signed parameters.
    pub subject: Option<TextId>,
    pub params: BTreeMap<String, ParamSpec>,
    /// The deadline of a countdown template.
    pub timer: Option<TemplateTimer>,
    /// Later opens and the click show what the first human open showed.
    pub lock_at_first_open: bool,
    /// The coupon pool each recipient draws a code from.
    pub coupon: Option<Coupon>,
    /// The live poll this template's email votes in.
    pub poll: Option<Poll>,
    /// Where a click goes when the link of what was shown does not resolve:
    /// an absolute URL checked at load. Without it, the default variant's.
    pub fallback_link: Option<String>,
    /// Whether its rules or texts may read `prefs`, so that a request loads
    /// the recipient's preferences only when they matter.
    pub reads_prefs: bool,
    /// In order; the last one is the default and has no condition.
    /// The JSON APIs called at open, in name order.
    pub sources: Vec<Source>,
    /// The experiment between this template's variants.
    pub experiment: Option<Experiment>,
    /// The query parameter a click adds with its signed click id.
    pub click_id: Option<String>,
    pub variants: Vec<Variant>,
    /// The compiled texts and links of every variant.
    pub texts: TextSet,
    /// One per allowed scale and static format.
    fallbacks: Vec<(u32, OutputFormat, Fallback)>,
}

#[derive(Debug)]
pub struct Variant {
    pub id: String,
    pub condition: Option<Condition>,
    pub link: Option<TextId>,
    /// This variant's subject line at send time.
    pub subject_line: Option<TextId>,
    /// The experiment arm this variant belongs to.
    pub arm: Option<String>,
    pub layers: Vec<VariantLayer>,
}

/// A template's experiment, checked at load: arms that exist, shares that
/// add up to 100, a variant for every arm.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub id: String,
    /// In name order.
    pub arms: Vec<Arm>,
    pub metric: file::ExperimentMetric,
    /// Declare a winner by itself: when every arm has this many exposures
    /// and one arm's probability of being best reaches `probability`.
    pub winner: Option<WinnerRule>,
    pub switch_all: bool,
}

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub name: String,
    /// Percent of recipients.
    pub weight: f64,
    /// Given to nobody any more.
    pub paused: bool,
}

impl Arm {
    /// Whether recipients are still given this arm.
    pub fn is_open(&self) -> bool {
        !self.paused && self.weight > 0.0
    }
}

/// When an arm wins by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WinnerRule {
    pub min_exposures: u64,
    pub probability: f64,
}

impl Experiment {
    pub fn arm(&self, name: &str) -> Option<&Arm> {
        self.arms.iter().find(|arm| arm.name == name)
    }
}

/// A template's coupon pool, checked at load.
#[derive(Debug, Clone)]
pub struct Coupon {
    /// An identifier: lowercase letters, digits, `-` and `_`.
    pub pool: String,
    /// The index of the variant shown when the pool is empty.
    pub exhausted_variant: Option<usize>,
    /// One code per email of a sequence (`e`) rather than per recipient.
    pub per_email: bool,
}

/// A countdown template's deadline and animation, checked at load.
#[derive(Debug)]
pub struct TemplateTimer {
    pub deadline: TimerDeadline,
    /// A zone that exists; the recipient's zone, then UTC, when `None`.
    pub time_zone: Option<String>,
    pub frames: u32,
    pub looping: bool,
}

/// Where a countdown's deadline comes from.
#[derive(Debug, Clone, Copy)]
pub enum TimerDeadline {
    /// A text that resolves to the deadline (see
    /// [`crate::countdown::parse_deadline`]).
    Until(TextId),
    /// This many seconds after the recipient's first human open, kept per
    /// recipient so that re-opens and other devices see the same deadline.
    Evergreen { seconds: i64 },
}

/// One of a template's sources, checked and compiled: a JSON API called
/// at open, read by expressions as `source.NAME`.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    /// `template/name`: how logs and metrics name it.
    pub label: String,
    /// The URL, a text of the template's set; its host is written out and
    /// was allowed when the template loaded.
    pub url: TextId,
    /// Header names and their value texts, which may read secrets.
    pub headers: Vec<(String, TextId)>,
    pub timeout: std::time::Duration,
    pub ttl: std::time::Duration,
    pub stale: std::time::Duration,
    /// Whether the URL or a header mentions `profile`: such a source waits
    /// for the state lookup, the others run beside it.
    pub reads_profile: bool,
    /// Whether the URL and headers read nothing but `recipient` and
    /// `query` (and secrets): then the recipient and the query alone name
    /// the answer, and a cached one is found without rendering anything.
    pub request_keyed: bool,
}

/// What the server allows sources to do, which loading checks a
/// template's sources against: the hosts they may call and the secrets
/// they may read (by name; the values stay with the server).
pub trait SourceRules: std::fmt::Debug + Send + Sync {
    /// Refuses a URL text whose written scheme and host are not allowed,
    /// saying why.
    fn check_url(&self, url_text: &str) -> Result<(), String>;
    /// Whether `[secrets]` has `name`.
    fn has_secret(&self, name: &str) -> bool;
}

/// No sources allowed: for loading where no server configuration is at
/// hand, which then refuses every template that has sources.
#[derive(Debug, Clone, Copy)]
pub struct NoSources;

impl SourceRules for NoSources {
    fn check_url(&self, _url_text: &str) -> Result<(), String> {
        Err("the server's source_hosts lists no hosts, so no source may be called".to_string())
    }

    fn has_secret(&self, _name: &str) -> bool {
        false
    }
}

/// A layer as a template holds it: fully known at load, a text whose
/// content is resolved per request, or a countdown.
#[derive(Debug)]
pub enum VariantLayer {
    Static(Layer),
    /// Drawn only when the request has time left; its numbers change with
    /// every frame. Its labels are texts, resolved per request like text
    /// layers (so they can follow the recipient's locale), one list per
    /// unit: a text per plural category given (`other` alone for a plain
    /// label), empty for none. `locale` names the plural rules.
    Countdown {
        countdown: CountdownLayer,
        labels: Vec<Vec<(PluralCategory, TextId)>>,
        locale: Option<TextId>,
    },
    Text {
        frame: Frame,
        text: TextId,
        style: TextStyle,
    },
    /// A QR code or barcode of a resolved text.
    Code {
        frame: Frame,
        symbology: Symbology,
        content: TextId,
        color: Color,
        background: Option<Color>,
    },
    /// The template's poll results, as the request's context holds them.
    PollResults(ResultsLayer),
    /// An image whose URL comes from state, fetched from an allowed origin
    /// per request (through a cache); `placeholder`, when given, shows when
    /// it cannot be had.
    RemoteImage {
        frame: Frame,
        url: TextId,
        fit: Fit,
        radius: f32,
        opacity: f32,
        placeholder: Option<Arc<Asset>>,
    },
    /// Child layers drawn once per item of a list, in a grid.
    Repeat(RepeatLayer),
}

/// A repeat layer as a template holds it: `items` is an expression whose
/// value is the list; each item gets a cell of the grid, and the child
/// layers draw in it, their coordinates relative to the cell.
#[derive(Debug)]
pub struct RepeatLayer {
    pub frame: Frame,
    pub items: Condition,
    pub max: usize,
    pub columns: u32,
    pub gap: f32,
    /// Rectangles, images, texts, remote images and codes only.
    pub layers: Vec<VariantLayer>,
}

impl RepeatLayer {
    /// The grid's rows: enough for `max` items.
    pub fn rows(&self) -> u32 {
        (self.max as u32).div_ceil(self.columns.max(1))
    }

    /// The width and height of one cell, in 1x pixels.
    pub fn cell_size(&self) -> (f32, f32) {
        let columns = self.columns.max(1) as f32;
        let rows = self.rows().max(1) as f32;
        (
            (self.frame.width - self.gap * (columns - 1.0)) / columns,
            (self.frame.height - self.gap * (rows - 1.0)) / rows,
        )
    }

    /// Where cell `index` (0 for the first item) starts, in 1x pixels:
    /// cells fill the grid row by row.
    pub fn cell_origin(&self, index: usize) -> (f32, f32) {
        let columns = self.columns.max(1) as usize;
        let (width, height) = self.cell_size();
        let (column, row) = ((index % columns) as f32, (index / columns) as f32);
        (
            self.frame.x + column * (width + self.gap),
            self.frame.y + row * (height + self.gap),
        )
    }
}

impl VariantLayer {
    /// What kind of layer this is, as the template file names it, and the
    /// frame it draws in, in 1x pixels: the studio outlines it.
    pub fn outline(&self) -> (&'static str, Frame) {
        match self {
            VariantLayer::Static(Layer::Rect(rect)) => ("rect", rect.frame),
            VariantLayer::Static(Layer::Image(image)) => ("image", image.frame),
            VariantLayer::Static(Layer::Text(text)) => ("text", text.frame),
            VariantLayer::Static(Layer::Code(code)) => (code_type(&code.symbology), code.frame),
            VariantLayer::Countdown { countdown, .. } => ("countdown", countdown.frame),
            VariantLayer::Text { frame, .. } => ("text", *frame),
            VariantLayer::Code {
                frame, symbology, ..
            } => (code_type(symbology), *frame),
            VariantLayer::PollResults(results) => ("poll_results", results.frame),
            VariantLayer::RemoteImage { frame, .. } => ("remote_image", *frame),
            VariantLayer::Repeat(repeat) => ("repeat", repeat.frame),
        }
    }
}

/// A code layer's `type` in the template file.
fn code_type(symbology: &Symbology) -> &'static str {
    match symbology {
        Symbology::Qr { .. } => "qr",
        Symbology::Code128 => "barcode",
    }
}

/// What loading needs beside the files: the renderer (a layer's font
/// family must be one it has) and the way a template's fallback images are
/// pre-rendered. The open pipeline gives that
/// ([`crate::open::offline::loader`]), since it knows what an open without
/// a recipient shows; loading only loads and validates.
#[derive(Clone, Copy)]
pub struct Loader<'r> {
    pub renderer: &'r Renderer,
    pub prerender: Prerender,
    /// What the server allows a template's sources.
    pub sources: &'r dyn SourceRules,
}

/// Renders a template's fallback images: one per allowed scale and format.
/// An error says why they do not render, which fails the template.
pub type Prerender = fn(&Template, &Renderer) -> Result<Vec<(u32, OutputFormat, Fallback)>, String>;

/// A pre-rendered image of the default variant.
#[derive(Debug, Clone)]
pub struct Fallback {
    pub bytes: Bytes,
    pub etag: String,
}

impl Template {
    /// The variant shown to anyone the rules say nothing about.
    pub fn default_variant(&self) -> &Variant {
        self.variants
            .last()
            .expect("loading refuses templates without variants")
    }

    pub fn allows_scale(&self, scale: u32) -> bool {
        self.scales.contains(&scale)
    }

    /// The fallback image for a scale and format the template allows.
    pub fn fallback(&self, scale: u32, format: OutputFormat) -> Option<&Fallback> {
        self.fallbacks
            .iter()
            .find(|(s, f, _)| *s == scale && *f == format)
            .map(|(_, _, fallback)| fallback)
    }

    /// The variant with this id.
    pub fn variant(&self, id: &str) -> Option<&Variant> {
        self.variants.iter().find(|variant| variant.id == id)
    }

    /// Whether this is an evergreen countdown, whose start is kept per
    /// recipient.
    pub fn is_evergreen(&self) -> bool {
        self.timer
            .as_ref()
            .is_some_and(|timer| matches!(timer.deadline, TimerDeadline::Evergreen { .. }))
    }

    /// The declared parameters' defaults, as a request without parameters
    /// sees them.
    pub fn default_query(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .filter_map(|(name, spec)| Some((name.clone(), spec.default.clone()?)))
            .collect()
    }
}
