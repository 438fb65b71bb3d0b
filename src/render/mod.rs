//! Pixels: turns a [`RenderPlan`] into PNG or JPEG bytes.
//!
//! This module does no I/O and knows nothing of HTTP, Redis or recipients;
//! the only files it reads are the fonts, once, in [`FontBook::load`]. A
//! render draws the plan's layers bottom first onto a premultiplied canvas
//! and encodes it. Everything is a pure function of the plan, so the same
//! plan always gives the same bytes, which the render cache and the ETags
//! rely on.
//!
//! # Layout
//! - `plan.rs`: the input, and its render key.
//! - `fonts.rs`: the font book and fallback chains; `glyph_cache.rs`: the
//!   shared cache of rasterized glyphs.
//! - `asset.rs`: decoded images and their cached resizes.
//! - `canvas.rs`: pixels and blending; `coverage.rs`: antialiased (rounded)
//!   rectangles.
//! - `rect_layer.rs`, `image_layer.rs`, `text/`, `code_layer.rs`: one file
//!   per kind of layer; `text/` also holds line breaking, bidi and shaping
//!   (with its cache), and `code128.rs` the Code 128 encoder that
//!   `code_layer.rs` draws from (QR codes come from the `qrcode` crate).
//! - `encode.rs`: PNG and JPEG; `png_writer.rs` and `deflate.rs`: our own
//!   PNG encoder, made for the canvas and for cards.

mod adler32;
mod asset;
mod canvas;
mod code128;
mod code_layer;
mod coverage;
mod deflate;
mod encode;
mod error;
mod fonts;
mod gif_writer;
mod glyph_cache;
mod huffman;
mod image_layer;
mod incremental;
mod plan;
mod png_writer;
pub mod recompress;
mod rect_layer;
mod results;
#[cfg(test)]
pub(crate) mod test_fonts;
mod text;
mod timer;

pub use asset::Asset;
pub use error::RenderError;
pub use fonts::FontBook;
pub use plan::{
    Artwork, CodeLayer, Color, CountdownLayer, DigitBox, EmojiStyle, Fit, Frame, HorizontalAlign,
    ImageLayer, InvalidColor, Layer, OutputFormat, QrErrorCorrection, RectLayer, RenderKey,
    RenderPlan, Symbology, TextDirection, TextLayer, TextStyle, TimeUnit, TimerPlan, VerticalAlign,
    Weight,
};
pub use results::{ResultsLayer, ResultsRows, ResultsValue};
pub use text::DEFAULT_SHAPE_CACHE_BYTES;
pub use timer::{MAX_TIMER_BYTES, MAX_TIMER_FRAMES};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use canvas::Canvas;
pub use glyph_cache::DEFAULT_GLYPH_CACHE_BYTES;
use glyph_cache::GlyphCache;
use incremental::Base;
pub use incremental::DEFAULT_BASE_CACHE_BYTES;

/// The largest canvas side, in output pixels. Email images are a few hundred
/// pixels wide; this leaves room for 2x banners and refuses mistakes.
pub const MAX_SIDE: u32 = 4096;

/// The largest canvas, in output pixels (64 MiB of RGBA).
pub const MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// Renders plans with a font book, a shaping cache and a glyph cache.
/// Shared by all threads.
pub struct Renderer {
    fonts: FontBook,
    /// Shaped runs of text, shared by every render and thread; bounded in
    /// bytes.
    shapes: text::ShapeCache,
    /// Rasterized glyphs, shared by every render and thread; bounded in bytes.
    glyphs: GlyphCache,
    /// Renders since the metrics last asked whose text had a character no
    /// font of its family has (left out of the image rather than boxed).
    missing_glyph_renders: AtomicU64,
    /// PNG renders that kept their fixed layers and drew only some rows.
    incremental_renders: AtomicU64,
    /// The fixed layers of plans drawn and compressed once, by
    /// [`RenderPlan::fixed_key`] (`incremental.rs`); bounded in bytes.
    bases: moka::sync::Cache<[u8; 16], Arc<Base>>,
}

/// The most pixels a render on the asking thread may draw
/// ([`Renderer::renders_in_place`]): a 600x200 card at 2x.
pub const IN_PLACE_PIXELS: u64 = 480_000;

impl Renderer {
    /// A renderer whose glyph cache holds at most
    /// [`DEFAULT_GLYPH_CACHE_BYTES`].
    pub fn new(fonts: FontBook) -> Renderer {
        Renderer::with_glyph_cache_bytes(fonts, DEFAULT_GLYPH_CACHE_BYTES)
    }

    /// A renderer whose glyph cache holds at most `max_bytes` of masks (and
    /// whose shaping cache holds [`DEFAULT_SHAPE_CACHE_BYTES`]).
    pub fn with_glyph_cache_bytes(fonts: FontBook, max_bytes: u64) -> Renderer {
        Renderer::with_cache_bytes(fonts, max_bytes, DEFAULT_SHAPE_CACHE_BYTES)
    }

    /// A renderer whose glyph cache holds at most `glyph_bytes` of masks and
    /// whose shaping cache holds at most `shape_bytes` of shaped runs.
    pub fn with_cache_bytes(fonts: FontBook, glyph_bytes: u64, shape_bytes: u64) -> Renderer {
        Renderer {
            fonts,
            shapes: text::ShapeCache::new(shape_bytes),
            glyphs: GlyphCache::new(glyph_bytes),
            missing_glyph_renders: AtomicU64::new(0),
            incremental_renders: AtomicU64::new(0),
            bases: moka::sync::Cache::builder()
                .max_capacity(DEFAULT_BASE_CACHE_BYTES)
                .weigher(|_key: &[u8; 16], base: &Arc<Base>| base.weight())
                .build(),
        }
    }

    /// Bytes of rasterized glyphs held now, for the metrics.
    pub fn glyph_cache_bytes(&self) -> u64 {
        self.glyphs.weighted_size()
    }

    /// Bytes of shaped runs held now, for the metrics.
    pub fn shape_cache_bytes(&self) -> u64 {
        self.shapes.weighted_size()
    }

    /// How many renders left out a character that no font of its layer's
    /// family has since the last call, for the metrics' counter: each
    /// render is handed over once, whoever asks.
    pub fn take_missing_glyph_renders(&self) -> u64 {
        self.missing_glyph_renders.swap(0, Ordering::Relaxed)
    }

    /// How many PNG renders so far drew only the rows their varying
    /// layers reach, from kept fixed layers (`incremental.rs`).
    pub fn incremental_renders(&self) -> u64 {
        self.incremental_renders.load(Ordering::Relaxed)
    }

    pub fn fonts(&self) -> &FontBook {
        &self.fonts
    }

    /// Draws the plan's layers, bottom first, and encodes the result. A PNG
    /// with fixed layers is drawn and compressed incrementally
    /// (`incremental.rs`), into the same pixels.
    pub fn render(&self, plan: &RenderPlan) -> Result<Vec<u8>, RenderError> {
        if plan.format == OutputFormat::Png {
            let size = canvas_size(plan)?;
            self.check_families(plan)?;
            if let Some(rendered) = self.render_png_incrementally(plan, size) {
                return rendered;
            }
        }
        let canvas = self.draw(plan)?;
        encode::encode(&canvas, plan.format)
    }

    /// Whether `artwork` is quick enough to render on the thread that asked
    /// rather than on a pool thread: a PNG still of at most
    /// [`IN_PLACE_PIXELS`] whose personalized layers are texts, shapes or
    /// codes over fixed layers, so that it is drawn incrementally (a tenth
    /// of a millisecond for a card). Handing such a render to a pool thread
    /// and back costs two thread wake-ups and as many switches, about as
    /// much CPU as the render on a busy core (`docs/benchmarks.md`, the flat
    /// card); an image layer that varies may need a large resize, and a
    /// countdown draws many frames.
    pub fn renders_in_place(&self, artwork: &Artwork) -> bool {
        let Artwork::Still(plan) = artwork else {
            return false;
        };
        let pixels = u64::from(plan.width)
            * u64::from(plan.height)
            * u64::from(plan.scale)
            * u64::from(plan.scale);
        plan.format == OutputFormat::Png
            && pixels <= IN_PLACE_PIXELS
            && plan.has_fixed()
            && plan
                .layers
                .iter()
                .enumerate()
                .all(|(index, layer)| plan.is_fixed(index) || !matches!(layer, Layer::Image(_)))
    }

    /// Renders a still image or a countdown.
    pub fn render_artwork(&self, artwork: &Artwork) -> Result<Vec<u8>, RenderError> {
        match artwork {
            Artwork::Still(plan) => self.render(plan),
            Artwork::Timer(timer) => self.render_timer(timer),
        }
    }

    /// Renders a countdown as an animated GIF: one frame a second from the
    /// time left at the request, ending on zero.
    pub fn render_timer(&self, plan: &TimerPlan) -> Result<Vec<u8>, RenderError> {
        timer::render_timer_within(self, plan).map(|(bytes, _)| bytes)
    }

    /// Renders a countdown and says how many of its frames fit in
    /// [`MAX_TIMER_BYTES`], for `opentime check`.
    pub fn render_timer_frames(&self, plan: &TimerPlan) -> Result<(Vec<u8>, u32), RenderError> {
        timer::render_timer_within(self, plan)
    }

    /// Draws one text layer onto `canvas`, and says how many glyphs it left
    /// out because no font had them.
    fn draw_text_layer(
        &self,
        canvas: &mut Canvas,
        layer: &TextLayer,
        scale: f32,
    ) -> Result<usize, RenderError> {
        text::draw_text(
            canvas,
            &self.fonts,
            &self.shapes,
            &self.glyphs,
            layer,
            scale,
        )
    }

    /// Lays out one text layer, to draw later, perhaps in pieces.
    fn prepare_text_layer(
        &self,
        layer: &TextLayer,
        scale: f32,
    ) -> Result<text::PreparedText, RenderError> {
        text::prepare_text(&self.fonts, &self.shapes, &self.glyphs, layer, scale)
    }

    /// Draws one layer of a plan at `scale` (1 or 2) onto `canvas`, and says
    /// how many glyphs it left out because no font had them.
    fn draw_layer(
        &self,
        canvas: &mut Canvas,
        layer: &Layer,
        scale: u32,
    ) -> Result<usize, RenderError> {
        match layer {
            Layer::Rect(rect) => rect_layer::draw_rect(canvas, rect, scale as f32),
            Layer::Image(image) => image_layer::draw_image(canvas, image, scale as f32),
            Layer::Text(text) => return self.draw_text_layer(canvas, text, scale as f32),
            Layer::Code(code) => code_layer::draw_code(canvas, code, scale)?,
        }
        Ok(0)
    }

    /// Every text layer's family is in the font book: a bad plan fails
    /// before any drawing.
    fn check_families(&self, plan: &RenderPlan) -> Result<(), RenderError> {
        for layer in &plan.layers {
            if let Layer::Text(text) = layer
                && !self.fonts.has_family(&text.style.family)
            {
                return Err(RenderError::UnknownFamily(text.style.family.clone()));
            }
        }
        Ok(())
    }

    fn draw(&self, plan: &RenderPlan) -> Result<Canvas, RenderError> {
        let (canvas, missing_glyphs) = self.draw_layers(plan)?;
        self.count_missing_glyphs(missing_glyphs);
        Ok(canvas)
    }

    /// Counts one render in the missing glyphs' counter if it left any out.
    fn count_missing_glyphs(&self, missing_glyphs: usize) {
        if missing_glyphs > 0 {
            self.missing_glyph_renders.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Draws the plan's layers, and says how many glyphs its text layers
    /// left out.
    fn draw_layers(&self, plan: &RenderPlan) -> Result<(Canvas, usize), RenderError> {
        let (width, height) = canvas_size(plan)?;
        self.check_families(plan)?;
        let mut canvas = Canvas::new(width, height);
        let mut missing_glyphs = 0;
        for layer in &plan.layers {
            missing_glyphs += self.draw_layer(&mut canvas, layer, plan.scale)?;
        }
        Ok((canvas, missing_glyphs))
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("fonts", &self.fonts)
            .finish_non_exhaustive()
    }
}

/// The canvas size in output pixels, or why the plan's size is refused.
fn canvas_size(plan: &RenderPlan) -> Result<(u32, u32), RenderError> {
    if !matches!(plan.scale, 1 | 2) {
        return Err(RenderError::UnsupportedScale(plan.scale));
    }
    if plan.width == 0 || plan.height == 0 {
        return Err(RenderError::EmptyCanvas {
            width: plan.width,
            height: plan.height,
        });
    }
    let too_large = RenderError::TooLarge {
        width: plan.width,
        height: plan.height,
        scale: plan.scale,
    };
    let width = plan
        .width
        .checked_mul(plan.scale)
        .filter(|side| *side <= MAX_SIDE);
    let height = plan
        .height
        .checked_mul(plan.scale)
        .filter(|side| *side <= MAX_SIDE);
    match (width, height) {
        (Some(width), Some(height)) if u64::from(width) * u64::from(height) <= MAX_PIXELS => {
            Ok((width, height))
        }
        _ => Err(too_large),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_and_sync<T: Send + Sync>() {}

    #[test]
    fn renderer_can_be_shared_between_threads() {
        is_send_and_sync::<Renderer>();
        is_send_and_sync::<Asset>();
    }

    fn plan(width: u32, height: u32, scale: u32) -> RenderPlan {
        RenderPlan {
            width,
            height,
            scale,
            format: OutputFormat::Png,
            fixed: Vec::new(),
            layers: Vec::new(),
        }
    }

    #[test]
    fn only_quick_incremental_cards_render_in_place() {
        let fonts_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts");
        let renderer = Renderer::new(FontBook::load(&fonts_dir).expect("the bundled fonts load"));
        let text = Layer::Text(TextLayer {
            frame: Frame {
                x: 10.0,
                y: 10.0,
                width: 300.0,
                height: 40.0,
            },
            text: "Hello, Ada".into(),
            style: test_fonts::style(20.0),
        });
        // A photo, fixed, under a personalized line.
        let mut card = test_fonts::photo_plan(0.0);
        card.layers.push(text);
        card.fixed = vec![true, false];
        let still = |plan: &RenderPlan| Artwork::Still(plan.clone());
        assert!(renderer.renders_in_place(&still(&card)));
        let at_2x = RenderPlan {
            scale: 2,
            ..card.clone()
        };
        assert!(renderer.renders_in_place(&still(&at_2x)));

        let not_in_place = [
            // Nothing fixed: drawn whole.
            RenderPlan {
                fixed: Vec::new(),
                ..card.clone()
            },
            // Not a PNG.
            RenderPlan {
                format: OutputFormat::Jpeg,
                ..card.clone()
            },
            // More pixels than a 600x200 card at 2x.
            RenderPlan {
                width: 1200,
                height: 201,
                ..at_2x.clone()
            },
            // The photo is the personalized layer: it may need a resize.
            RenderPlan {
                fixed: vec![false, true],
                ..card.clone()
            },
        ];
        for plan in &not_in_place {
            assert!(!renderer.renders_in_place(&still(plan)), "{plan:?}");
        }
    }

    #[test]
    fn absurd_canvas_sizes_are_refused() {
        assert!(canvas_size(&plan(600, 200, 2)).is_ok());
        assert!(canvas_size(&plan(4096, 4096, 1)).is_ok());
        assert!(matches!(
            canvas_size(&plan(4097, 10, 1)),
            Err(RenderError::TooLarge { .. })
        ));
        assert!(matches!(
            canvas_size(&plan(2049, 10, 2)),
            Err(RenderError::TooLarge { .. })
        ));
        assert!(matches!(
            canvas_size(&plan(u32::MAX, 1, 2)),
            Err(RenderError::TooLarge { .. })
        ));
        assert!(matches!(
            canvas_size(&plan(600, 0, 1)),
            Err(RenderError::EmptyCanvas { .. })
        ));
        assert!(matches!(
            canvas_size(&plan(600, 200, 3)),
            Err(RenderError::UnsupportedScale(3))
        ));
    }

    #[test]
    fn characters_no_font_has_are_left_out_and_counted() {
        let fonts_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts");
        let renderer = Renderer::new(FontBook::load(&fonts_dir).expect("the bundled fonts load"));
        let text_plan = |text: &str| RenderPlan {
            layers: vec![Layer::Text(TextLayer {
                frame: Frame {
                    x: 0.0,
                    y: 0.0,
                    width: 200.0,
                    height: 60.0,
                },
                text: text.to_string(),
                style: test_fonts::style(40.0),
            })],
            ..plan(200, 60, 1)
        };
        let inked = |bytes: &[u8]| {
            image::load_from_memory(bytes)
                .expect("decodes")
                .into_rgba8()
                .pixels()
                .filter(|pixel| pixel.0[3] > 0)
                .count()
        };
        // Two private-use characters and an unassigned code point: no
        // font has them, so nothing is drawn (no boxes) and the render is
        // counted once.
        let missing = renderer
            .render(&text_plan("\u{E000}\u{F8FF} \u{10FFFD}"))
            .expect("renders");
        assert_eq!(inked(&missing), 0);
        assert_eq!(renderer.take_missing_glyph_renders(), 1);
        assert_eq!(renderer.take_missing_glyph_renders(), 0);
        // A name in a bundled script is drawn and not counted, and the
        // letters around a missing character are still drawn.
        let drawn = renderer.render(&text_plan("நன்றி")).expect("renders");
        assert!(inked(&drawn) > 100);
        assert_eq!(renderer.take_missing_glyph_renders(), 0);
        let around = renderer.render(&text_plan("Ana\u{E000}")).expect("renders");
        let alone = renderer.render(&text_plan("Ana")).expect("renders");
        assert_eq!(inked(&around), inked(&alone));
        assert_eq!(renderer.take_missing_glyph_renders(), 1);
    }
}
