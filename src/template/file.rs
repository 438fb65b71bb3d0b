//! The template file format, exactly as authors write it (`docs/templates.md`).
//!
//! These structs only describe the JSON; [`super::load`] checks what JSON
//! cannot (conditions compile, assets exist, the default variant is last)
//! and turns them into a ready [`super::Template`]. Unknown fields are
//! refused so that a typo ("colour") is an error, not a silent default.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::render::ResultsValue;

use crate::render::{
    EmojiStyle, Fit, HorizontalAlign, OutputFormat, QrErrorCorrection, TextDirection, TimeUnit,
    VerticalAlign, Weight,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// The format of the URLs printed for this template; the server also
    /// answers the other static format.
    #[serde(default = "default_format")]
    pub format: OutputFormat,
    /// Allowed scales: 1 and 2 by default (2 for retina screens, rendered at
    /// double resolution).
    #[serde(default = "default_scales")]
    pub scales: Vec<u32>,
    pub access: AccessMode,
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    /// The deadline of a countdown template.
    #[serde(default)]
    pub timer: Option<TimerFile>,
    /// Keep what the recipient's first human open showed: every later open
    /// and the click show exactly that, whatever the state becomes.
    #[serde(default)]
    pub lock_at_first_open: bool,
    /// Give each recipient a code from a pool at their first human open.
    #[serde(default)]
    pub coupon: Option<CouponFile>,
    /// A live poll whose options the email links to (`/v/{poll}/{option}`)
    /// and whose results `poll_results` layers draw.
    #[serde(default)]
    pub poll: Option<PollFile>,
    /// Where a click goes when the link of what was shown does not resolve
    /// at click time (an expression that fails, a value that is no URL): an
    /// absolute `http(s)` URL, written out. Without it, the default
    /// variant's link.
    #[serde(default)]
    pub fallback_link: Option<String>,
    pub variants: Vec<VariantFile>,
}

/// A template's live poll.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollFile {
    /// An identifier, unique across templates.
    pub id: String,
    pub options: Vec<PollOptionFile>,
    /// Where the voter goes after voting: a Jinja template that can read
    /// `vote.option` and `vote.label`, e.g.
    /// `https://example.com/thanks?rating={{ vote.option }}`.
    pub thanks: String,
    /// How long a replica reuses a tally before reading it again, so a
    /// popular poll does not cost a read on every open.
    #[serde(default = "default_results_cache")]
    pub results_cache_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollOptionFile {
    /// An identifier: the last segment of the option's vote URL.
    pub id: String,
    /// What results show for it; the id when absent.
    #[serde(default)]
    pub label: Option<String>,
}

fn default_results_cache() -> u64 {
    10
}

/// A template's coupon pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponFile {
    /// The pool's name: a Redis set `{prefix}pool:{name}` of unused codes.
    pub pool: String,
    /// The variant shown when the pool has run out for a recipient who has
    /// no code yet ("no codes left").
    #[serde(default)]
    pub exhausted_variant: Option<String>,
}

/// A countdown template's deadline and animation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerFile {
    /// A Jinja template that resolves to the deadline: an RFC 3339 moment,
    /// or a date or date and time read in `time_zone`.
    #[serde(default)]
    pub until: Option<String>,
    /// An evergreen timer instead: the deadline is this many hours after
    /// the recipient's first human open of the template.
    #[serde(default)]
    pub evergreen_hours: Option<f64>,
    /// The IANA zone of a deadline without an offset; the recipient's
    /// `time_zone` field, then UTC, when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// One frame a second, this many at most.
    #[serde(default = "default_frames")]
    pub frames: u32,
    /// Loop the animation (it never loops once it has reached zero).
    #[serde(default = "yes", rename = "loop")]
    pub looping: bool,
}

fn default_frames() -> u32 {
    60
}

/// How a template's URLs are trusted (`docs/templates.md`, "Access").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// A recipient token `t` personalizes; without one the default variant
    /// is served.
    Token,
    /// The URL's parameters must carry a valid signature `s`; a token may
    /// personalize too.
    SignedUrl,
    /// No token, no signature: only the declared parameters count.
    Public,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::Token => "token",
            AccessMode::SignedUrl => "signed_url",
            AccessMode::Public => "public",
        }
    }
}

/// A declared query parameter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Longest accepted value, in bytes; longer values are dropped.
    pub max_len: usize,
    /// Used when the URL does not carry the parameter.
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    pub id: String,
    /// A Jinja expression; the variant without one is the default.
    #[serde(default)]
    pub when: Option<String>,
    /// The click-through URL, a Jinja template.
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub layers: Vec<LayerFile>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerFile {
    Rect {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        fill: String,
        #[serde(default)]
        radius: f32,
    },
    Image {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        /// A path relative to the templates directory, e.g. `images/bg.png`.
        /// With `url`, the placeholder shown when the remote image cannot be
        /// had.
        #[serde(default)]
        src: Option<String>,
        /// A Jinja template resolving to an image URL from state
        /// (`{{ profile.photo_url }}`), fetched only from allowed origins.
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        fit: Fit,
        #[serde(default)]
        radius: f32,
        #[serde(default = "one")]
        opacity: f32,
    },
    Text {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        /// A Jinja template.
        text: String,
        #[serde(default = "default_family")]
        font: String,
        #[serde(default)]
        weight: Weight,
        size: f32,
        /// Shrink-to-fit goes down to this size; the default is no shrinking.
        #[serde(default)]
        min_size: Option<f32>,
        #[serde(default = "default_color")]
        color: String,
        #[serde(default)]
        align: HorizontalAlign,
        #[serde(default, alias = "valign")]
        vertical_align: VerticalAlign,
        /// `auto` (from the text), `ltr` or `rtl`.
        #[serde(default)]
        direction: TextDirection,
        /// `color` (the default) or `mono` (in the text's color).
        #[serde(default)]
        emoji: EmojiStyle,
        #[serde(default = "default_line_height")]
        line_height: f32,
        #[serde(default)]
        letter_spacing: f32,
        #[serde(default)]
        max_lines: Option<u32>,
        #[serde(default = "yes")]
        wrap: bool,
    },
    /// A QR code of a resolved text, such as a coupon code or a URL.
    Qr {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        /// A Jinja template: `{{ coupon.code }}`.
        content: String,
        #[serde(default = "default_color")]
        color: String,
        /// `null` leaves the light modules transparent.
        #[serde(default = "white")]
        background: Option<String>,
        #[serde(default)]
        error_correction: QrErrorCorrection,
    },
    /// A Code 128 barcode of a resolved text, for a till's scanner.
    Barcode {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        /// A Jinja template: `{{ coupon.code }}`.
        content: String,
        #[serde(default = "default_color")]
        color: String,
        /// `null` leaves the spaces transparent.
        #[serde(default = "white")]
        background: Option<String>,
    },
    /// The poll's results: a row per option with its label, a bar as long
    /// as its share of the votes, and its percentage or count.
    PollResults {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        #[serde(default = "default_family")]
        font: String,
        #[serde(default)]
        weight: Weight,
        size: f32,
        #[serde(default = "default_color")]
        color: String,
        #[serde(default = "default_color")]
        bar_color: String,
        /// Drawn behind each bar, the length of a full bar.
        #[serde(default)]
        track_color: Option<String>,
        /// The bar of the option the recipient chose; `bar_color` when
        /// absent.
        #[serde(default)]
        highlight_color: Option<String>,
        /// Width of the labels' column; a quarter of the layer by default.
        #[serde(default)]
        label_width: Option<f32>,
        /// Width of the values' column; 3.5 times the size by default.
        #[serde(default)]
        value_width: Option<f32>,
        /// `percent` (the default), `count` or `none`.
        #[serde(default)]
        value: ResultsValue,
    },
    Countdown {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        /// Largest first, from `days`, `hours`, `minutes`, `seconds`.
        #[serde(default = "all_units")]
        units: Vec<TimeUnit>,
        /// A label per unit, drawn under its number ("days", "дней", "時間").
        #[serde(default)]
        labels: BTreeMap<TimeUnit, String>,
        #[serde(default = "default_family")]
        font: String,
        #[serde(default = "bold")]
        weight: Weight,
        size: f32,
        #[serde(default = "default_color")]
        color: String,
        #[serde(default)]
        label_size: Option<f32>,
        #[serde(default)]
        label_color: Option<String>,
        /// A box behind each number: `{ "fill": "#334", "radius": 8 }`.
        #[serde(default, rename = "box")]
        digit_box: Option<DigitBoxFile>,
        #[serde(default)]
        separator: String,
        /// Numbers are zero-padded to this many digits.
        #[serde(default = "two")]
        pad: u8,
        /// Space between units, in pixels.
        #[serde(default = "default_gap")]
        gap: f32,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitBoxFile {
    pub fill: String,
    #[serde(default)]
    pub radius: f32,
}

fn all_units() -> Vec<TimeUnit> {
    vec![
        TimeUnit::Days,
        TimeUnit::Hours,
        TimeUnit::Minutes,
        TimeUnit::Seconds,
    ]
}

fn white() -> Option<String> {
    Some("#ffffff".to_string())
}

fn bold() -> Weight {
    Weight::Bold
}

fn two() -> u8 {
    2
}

fn default_gap() -> f32 {
    16.0
}

fn default_format() -> OutputFormat {
    OutputFormat::Png
}

fn default_scales() -> Vec<u32> {
    vec![1, 2]
}

fn default_family() -> String {
    "sans".to_string()
}

fn default_color() -> String {
    "#000000".to_string()
}

fn default_line_height() -> f32 {
    1.25
}

fn one() -> f32 {
    1.0
}

fn yes() -> bool {
    true
}
