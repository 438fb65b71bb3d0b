//! What a render needs, fully resolved: the input of [`crate::render`].
//!
//! A plan holds no expressions and nothing about the recipient beyond the
//! resolved texts. Two requests with equal plans get byte-identical images,
//! so the plan's hash is the render cache key.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::render::Asset;
use crate::words::plural::PluralForms;

/// Everything that decides the pixels of one image.
#[derive(Debug, Clone)]
pub struct RenderPlan {
    /// Canvas width at 1x, in pixels.
    pub width: u32,
    /// Canvas height at 1x, in pixels.
    pub height: u32,
    /// 1 or 2. Everything is drawn at `scale` times the 1x coordinates, so a
    /// 2x image is rendered at full resolution, never upscaled.
    pub scale: u32,
    pub format: OutputFormat,
    /// The layers, bottom first.
    pub layers: Vec<Layer>,
    /// Which layers draw the same for every recipient of the template's
    /// version (by index; a missing entry is `false`): the renderer keeps
    /// their pixels and compressed rows, and draws again only the rows the
    /// other layers touch. The pixels never depend on it; a PNG's bytes
    /// may, as a stripe drawn over a kept photo is coded with the kept
    /// stripe's Huffman code (`png_writer::StripeCoding::Over`), so the
    /// render key hashes it.
    pub fixed: Vec<bool>,
}

/// The encoded image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Png,
    Jpeg,
    /// Countdown timers, animated; a still variant of a timer template is
    /// a one-frame GIF.
    Gif,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Gif => "image/gif",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Gif => "gif",
        }
    }

    /// Parses a URL extension: `png`, `jpg`, `jpeg` or `gif`.
    pub fn from_extension(extension: &str) -> Option<OutputFormat> {
        match extension {
            "png" => Some(OutputFormat::Png),
            "jpg" | "jpeg" => Some(OutputFormat::Jpeg),
            "gif" => Some(OutputFormat::Gif),
            _ => None,
        }
    }
}

/// A box in 1x canvas coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

#[derive(Debug, Clone)]
pub enum Layer {
    Rect(RectLayer),
    Image(ImageLayer),
    Text(TextLayer),
    Code(CodeLayer),
}

/// A filled rectangle, optionally with rounded corners.
#[derive(Debug, Clone)]
pub struct RectLayer {
    pub frame: Frame,
    pub fill: Color,
    /// Corner radius in 1x pixels; 0 for square corners.
    pub radius: f32,
}

/// A bundled image, scaled into its frame.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    pub frame: Frame,
    pub asset: Arc<Asset>,
    pub fit: Fit,
    /// Corner radius in 1x pixels; 0 for square corners.
    pub radius: f32,
    /// 0.0 (invisible) to 1.0 (opaque).
    pub opacity: f32,
}

/// How an image fills its frame.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Scale to cover the whole frame, cropping the overflow, centered.
    #[default]
    Cover,
    /// Scale to fit inside the frame, centered, leaving the rest clear.
    Contain,
    /// Stretch to the frame, ignoring the aspect ratio.
    Fill,
}

/// A machine-readable code (QR or Code 128) drawn crisply in its frame.
#[derive(Debug, Clone)]
pub struct CodeLayer {
    pub frame: Frame,
    pub symbology: Symbology,
    /// The resolved content, e.g. a coupon code.
    pub content: String,
    /// Dark modules / bars.
    pub color: Color,
    /// Light modules and the quiet zone; None leaves them transparent.
    pub background: Option<Color>,
}

/// The kind of machine-readable code a [`CodeLayer`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    /// A QR code, for phones: any text, URLs included.
    Qr { error_correction: QrErrorCorrection },
    /// A linear Code 128 barcode, for tills: ASCII only, short.
    Code128,
}

/// How much of a QR code can be damaged (or covered) and still read; more
/// correction makes a denser symbol for the same content.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum QrErrorCorrection {
    /// About 7% of the symbol.
    Low,
    /// About 15%: the usual choice.
    #[default]
    Medium,
    /// About 25%.
    Quartile,
    /// About 30%.
    High,
}

impl CodeLayer {
    /// Whether `content` can be encoded in `symbology` at all (QR capacity, Code 128's ASCII-only
    /// character set, non-empty, at most some sane length such as 80 chars for Code 128), with a
    /// message for template authors. Used at template load for static contents and per request.
    pub fn check_content(symbology: Symbology, content: &str) -> Result<(), String> {
        crate::render::code_layer::check_content(symbology, content)
    }
}

/// A block of text, laid out inside its frame.
#[derive(Debug, Clone)]
pub struct TextLayer {
    pub frame: Frame,
    /// The resolved text: expressions already evaluated.
    pub text: String,
    pub style: TextStyle,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextStyle {
    /// A font family from the font book (`fonts/fonts.toml`).
    pub family: String,
    pub weight: Weight,
    /// Font size in 1x pixels (the em height).
    pub size: f32,
    /// Shrink-to-fit goes no smaller than this; equal to `size` to disable.
    pub min_size: f32,
    pub color: Color,
    /// Where lines sit across the frame. `Start` (the default) follows each
    /// paragraph's direction: left for English, right for Arabic or Hebrew.
    pub align: HorizontalAlign,
    pub vertical_align: VerticalAlign,
    /// The paragraphs' base direction; `Auto` takes it from the first
    /// letter with a direction (Unicode bidi rules P2 and P3).
    pub direction: TextDirection,
    /// Emoji in their own colors, or in the text's color.
    pub emoji: EmojiStyle,
    /// Line advance as a multiple of the size.
    pub line_height: f32,
    /// Extra space after each character, in 1x pixels.
    pub letter_spacing: f32,
    /// At most this many lines; the last one ends with an ellipsis when text
    /// is cut. `None` means as many as fit in the frame.
    pub max_lines: Option<u32>,
    /// Wrap at word boundaries (and between CJK characters). When false the
    /// text is one line, shrunk and then cut with an ellipsis.
    pub wrap: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Weight {
    #[default]
    Regular,
    Bold,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum HorizontalAlign {
    /// The side where the paragraph's reading starts.
    #[default]
    Start,
    /// The side where the paragraph's reading ends.
    End,
    Left,
    Center,
    Right,
}

/// How a text layer draws emoji.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EmojiStyle {
    /// In their own colors, from the color emoji font.
    #[default]
    Color,
    /// As outlines in the text's color, from the monochrome emoji font:
    /// for designs in one or two colors.
    Mono,
}

/// The base direction of a text layer's paragraphs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TextDirection {
    /// From the first strong character of each paragraph, left-to-right
    /// when there is none.
    #[default]
    Auto,
    Ltr,
    Rtl,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum VerticalAlign {
    #[default]
    Top,
    Middle,
    Bottom,
}

/// A straight (not premultiplied) sRGB color with alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

impl Color {
    pub const WHITE: Color = Color::rgba(255, 255, 255, 255);
    pub const TRANSPARENT: Color = Color::rgba(0, 0, 0, 0);

    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Color {
        Color { r, g, b, a }
    }

    /// Parses `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`.
    pub fn parse(text: &str) -> Result<Color, InvalidColor> {
        let hex = text.strip_prefix('#').ok_or(InvalidColor)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidColor);
        }
        let nibble = |i: usize| u8::from_str_radix(&hex[i..=i], 16).map(|v| v * 17);
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16);
        let color = match hex.len() {
            3 => Color::rgba(nibble(0)?, nibble(1)?, nibble(2)?, 255),
            4 => Color::rgba(nibble(0)?, nibble(1)?, nibble(2)?, nibble(3)?),
            6 => Color::rgba(byte(0)?, byte(2)?, byte(4)?, 255),
            8 => Color::rgba(byte(0)?, byte(2)?, byte(4)?, byte(6)?),
            _ => return Err(InvalidColor),
        };
        Ok(color)
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{:02x}{:02x}{:02x}{:02x}",
            self.r, self.g, self.b, self.a
        )
    }
}

/// A color was not `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a color is written #rgb, #rgba, #rrggbb or #rrggbbaa")]
pub struct InvalidColor;

impl From<std::num::ParseIntError> for InvalidColor {
    fn from(_: std::num::ParseIntError) -> InvalidColor {
        InvalidColor
    }
}

/// The hash of everything that decides the pixels: the render cache key and
/// the ETag. It never includes the recipient, only what they are shown.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RenderKey(pub [u8; 16]);

impl RenderKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for RenderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RenderKey({})", self.to_hex())
    }
}

impl RenderPlan {
    /// The render key of this plan for a template version (a hash of the
    /// template file): BLAKE3 over a length-prefixed encoding of every
    /// field, truncated to 128 bits. The fixed marks are hashed too: they
    /// change a PNG's bytes (never its pixels), and a key means its bytes.
    pub fn render_key(&self, template_version: &[u8]) -> RenderKey {
        let mut hasher = KeyHasher::new();
        hasher.bytes(b"opentime/render/v7");
        hasher.bytes(template_version);
        hasher.u32(self.width);
        hasher.u32(self.height);
        hasher.u32(self.scale);
        hasher.bytes(self.format.extension().as_bytes());
        hasher.u32(self.layers.len() as u32);
        for (index, layer) in self.layers.iter().enumerate() {
            hasher.layer(layer);
            hasher.u32(u32::from(self.is_fixed(index)));
        }
        RenderKey(hasher.finish())
    }
}

impl RenderPlan {
    /// The key of what the plan's fixed layers draw (`fixed`), in order, on
    /// its canvas: plans of any recipient that share it share those pixels.
    pub(crate) fn fixed_key(&self) -> [u8; 16] {
        let mut hasher = KeyHasher::new();
        hasher.bytes(b"opentime/fixed/v3");
        hasher.u32(self.width);
        hasher.u32(self.height);
        hasher.u32(self.scale);
        hasher.u32(self.leading_fixed() as u32);
        for (index, layer) in self.layers.iter().enumerate() {
            if self.is_fixed(index) {
                hasher.layer(layer);
            }
        }
        hasher.finish()
    }

    /// How many layers at the bottom are fixed, up to the first that is
    /// not: what every recipient's image has under everything that varies.
    pub(crate) fn leading_fixed(&self) -> usize {
        (0..self.layers.len())
            .take_while(|&index| self.is_fixed(index))
            .count()
    }

    /// Whether any layer is fixed: without one, a render is drawn whole.
    pub(crate) fn has_fixed(&self) -> bool {
        (0..self.layers.len()).any(|index| self.is_fixed(index))
    }

    /// Whether layer `index` is one of the fixed ones.
    pub(crate) fn is_fixed(&self, index: usize) -> bool {
        self.fixed.get(index).copied().unwrap_or(false)
    }
}

/// What a request renders: a still image, or a countdown animation.
#[derive(Debug, Clone)]
pub enum Artwork {
    Still(RenderPlan),
    /// Shared: a timer plan is several times the size of a still one, and
    /// the image path keeps a handle to render the next seconds ahead.
    Timer(Arc<TimerPlan>),
}

impl From<RenderPlan> for Artwork {
    fn from(plan: RenderPlan) -> Artwork {
        Artwork::Still(plan)
    }
}

impl From<TimerPlan> for Artwork {
    fn from(timer: TimerPlan) -> Artwork {
        Artwork::Timer(Arc::new(timer))
    }
}

impl Artwork {
    pub fn render_key(&self, template_version: &[u8]) -> RenderKey {
        match self {
            Artwork::Still(plan) => plan.render_key(template_version),
            Artwork::Timer(timer) => timer.render_key(template_version),
        }
    }
}

/// A unit a countdown shows.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Days,
    Hours,
    Minutes,
    Seconds,
}

impl TimeUnit {
    pub fn seconds(self) -> i64 {
        match self {
            TimeUnit::Days => 86_400,
            TimeUnit::Hours => 3_600,
            TimeUnit::Minutes => 60,
            TimeUnit::Seconds => 1,
        }
    }
}

/// A countdown: one cell per unit, side by side across the frame, each
/// with its number over an optional box and its label under it.
#[derive(Debug, Clone)]
pub struct CountdownLayer {
    pub frame: Frame,
    /// Largest unit first; the largest takes what the units above it would
    /// have held (48 hours when days are not shown).
    pub units: Vec<TimeUnit>,
    /// One label per unit, drawn under its number: the form of the plural
    /// category of the number each frame shows, in `locale`'s rules. A
    /// plain label has the one form `other`; an empty one draws nothing.
    pub labels: Vec<PluralForms>,
    /// The locale whose plural rules pick the labels' forms; empty for
    /// English.
    pub locale: String,
    /// The numbers' font, size and color.
    pub digits: TextStyle,
    /// The labels' font, size and color.
    pub label_style: TextStyle,
    /// A rounded box behind each number.
    pub digit_box: Option<DigitBox>,
    /// Drawn between cells, centered on the numbers (":" or nothing).
    pub separator: String,
    /// Numbers are zero-padded to this many digits.
    pub pad: u8,
    /// Space between cells, in 1x pixels.
    pub gap: f32,
    /// Leave out the leading units whose value is zero (no "00 days" in the
    /// last day), never the last unit; the shown cells are centered.
    pub hide_leading_zero_units: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DigitBox {
    pub fill: Color,
    pub radius: f32,
}

/// An animated countdown image: the static layers of a plan, a countdown
/// over them, and how many one-second frames to show.
#[derive(Debug, Clone)]
pub struct TimerPlan {
    /// The layers that do not change, drawn under the countdown. Its format
    /// is ignored: timers are GIFs.
    pub base: RenderPlan,
    pub countdown: CountdownLayer,
    /// Whole seconds from the first frame to the deadline. Frame `i` shows
    /// `remaining - i`; the animation ends on zero and never goes past it.
    pub remaining: i64,
    /// Frames at most, one a second.
    pub frames: u32,
    /// Loop forever, or stop on the last frame.
    pub looping: bool,
}

impl TimerPlan {
    /// The key of the GIF: everything that decides its bytes, including the
    /// remaining seconds at the first frame and nothing about the recipient,
    /// so everyone who opens the same timer in the same second shares one
    /// render.
    pub fn render_key(&self, template_version: &[u8]) -> RenderKey {
        let mut hasher = KeyHasher::new();
        hasher.bytes(b"opentime/timer/v4");
        hasher.bytes(&self.base.render_key(template_version).0);
        let countdown = &self.countdown;
        hasher.frame(countdown.frame);
        hasher.bytes(format!("{:?}", countdown.units).as_bytes());
        for label in &countdown.labels {
            hasher.u32(label.given().count() as u32);
            for (category, words) in label.given() {
                hasher.bytes(category.name().as_bytes());
                hasher.bytes(words.as_bytes());
            }
        }
        hasher.bytes(countdown.locale.as_bytes());
        for style in [&countdown.digits, &countdown.label_style] {
            hasher.bytes(format!("{style:?}").as_bytes());
        }
        hasher.bytes(format!("{:?}", countdown.digit_box).as_bytes());
        hasher.bytes(countdown.separator.as_bytes());
        hasher.u32(u32::from(countdown.pad));
        hasher.f32(countdown.gap);
        hasher.u32(u32::from(countdown.hide_leading_zero_units));
        hasher.bytes(&self.remaining.to_le_bytes());
        hasher.u32(self.frames);
        hasher.u32(self.looping as u32);
        RenderKey(hasher.finish())
    }
}

/// Writes fields with their lengths, so that no two different plans can
/// produce the same byte stream, and hashes the stream with BLAKE3 at the
/// end: in one call, as each of BLAKE3's own costs more than the few bytes
/// of a field (half the key's instructions, fed a field at a time).
struct KeyHasher(Vec<u8>);

impl KeyHasher {
    fn new() -> KeyHasher {
        KeyHasher(Vec::with_capacity(1024))
    }
    /// The first 128 bits of the stream's hash.
    fn finish(self) -> [u8; 16] {
        let digest = blake3::hash(&self.0);
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest.as_bytes()[..16]);
        key
    }
    fn bytes(&mut self, bytes: &[u8]) {
        self.0
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.0.extend_from_slice(bytes);
    }
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn f32(&mut self, value: f32) {
        self.0.extend_from_slice(&value.to_bits().to_le_bytes());
    }
    fn color(&mut self, color: Color) {
        self.0
            .extend_from_slice(&[color.r, color.g, color.b, color.a]);
    }
    fn frame(&mut self, frame: Frame) {
        for value in [frame.x, frame.y, frame.width, frame.height] {
            self.f32(value);
        }
    }
    /// Every field of a layer that decides its pixels. A choice among
    /// named options is hashed as its place in its enum (no text is
    /// formatted: this runs at every open); reordering an enum changes
    /// every key, which only costs the caches their entries.
    fn layer(&mut self, layer: &Layer) {
        let hasher = self;
        match layer {
            Layer::Rect(rect) => {
                hasher.bytes(b"rect");
                hasher.frame(rect.frame);
                hasher.color(rect.fill);
                hasher.f32(rect.radius);
            }
            Layer::Image(image) => {
                hasher.bytes(b"image");
                hasher.frame(image.frame);
                hasher.bytes(&image.asset.content_hash);
                hasher.u32(image.fit as u32);
                hasher.f32(image.radius);
                hasher.f32(image.opacity);
            }
            Layer::Text(text) => {
                let style = &text.style;
                hasher.bytes(b"text");
                hasher.frame(text.frame);
                hasher.bytes(text.text.as_bytes());
                hasher.bytes(style.family.as_bytes());
                hasher.u32(style.weight as u32);
                hasher.f32(style.size);
                hasher.f32(style.min_size);
                hasher.color(style.color);
                for choice in [
                    style.align as u32,
                    style.vertical_align as u32,
                    style.direction as u32,
                    style.emoji as u32,
                ] {
                    hasher.u32(choice);
                }
                hasher.f32(style.line_height);
                hasher.f32(style.letter_spacing);
                hasher.u32(style.max_lines.map_or(0, |n| n + 1));
                hasher.u32(style.wrap as u32);
            }
            Layer::Code(code) => {
                hasher.bytes(b"code");
                hasher.frame(code.frame);
                match code.symbology {
                    Symbology::Qr { error_correction } => {
                        hasher.bytes(b"qr");
                        hasher.u32(error_correction as u32);
                    }
                    Symbology::Code128 => hasher.bytes(b"code128"),
                }
                hasher.bytes(code.content.as_bytes());
                hasher.color(code.color);
                match code.background {
                    Some(background) => {
                        hasher.u32(1);
                        hasher.color(background);
                    }
                    None => hasher.u32(0),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_parse_in_every_written_form() {
        assert_eq!(Color::parse("#fff"), Ok(Color::rgba(255, 255, 255, 255)));
        assert_eq!(Color::parse("#0b3d91"), Ok(Color::rgba(11, 61, 145, 255)));
        assert_eq!(Color::parse("#0b3d9180"), Ok(Color::rgba(11, 61, 145, 128)));
        assert_eq!(Color::parse("#f008"), Ok(Color::rgba(255, 0, 0, 136)));
        for bad in ["fff", "#ff", "#ggg", "#12345", "", "#+1+2+3"] {
            assert_eq!(Color::parse(bad), Err(InvalidColor), "{bad}");
        }
    }

    fn plan_with_text(text: &str) -> RenderPlan {
        RenderPlan {
            width: 600,
            height: 200,
            scale: 1,
            format: OutputFormat::Png,
            fixed: Vec::new(),
            layers: vec![Layer::Text(TextLayer {
                frame: Frame {
                    x: 0.0,
                    y: 0.0,
                    width: 600.0,
                    height: 200.0,
                },
                text: text.to_string(),
                style: TextStyle {
                    color: Color::WHITE,
                    ..crate::render::test_fonts::style(20.0)
                },
            })],
        }
    }

    #[test]
    fn render_key_follows_content_and_version() {
        let a = plan_with_text("Hello Ann");
        let b = plan_with_text("Hello Bob");
        assert_eq!(
            a.render_key(b"v1"),
            plan_with_text("Hello Ann").render_key(b"v1")
        );
        assert_ne!(a.render_key(b"v1"), b.render_key(b"v1"));
        assert_ne!(a.render_key(b"v1"), a.render_key(b"v2"));
        let mut doubled = a.clone();
        doubled.scale = 2;
        assert_ne!(a.render_key(b"v1"), doubled.render_key(b"v1"));
    }
}
