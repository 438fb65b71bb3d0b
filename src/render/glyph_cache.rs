//! Rasterized glyphs, shared by every render.
//!
//! Outlining and rasterizing a glyph costs far more than blending it, and the
//! same few dozen glyphs at the same few sizes make up nearly every render,
//! so coverage masks are cached by face, glyph, size and subpixel offset. A
//! mask is a pure function of its key (the size and offset are the quantized
//! ones, never the exact layout values), so the cache cannot change a single
//! output byte: it only saves time.
//!
//! Color emoji have no outlines: their font (CBDT) holds a PNG per glyph at
//! one size. Those are decoded, scaled to the size asked for and kept as
//! premultiplied RGBA in the same cache, so a color glyph costs its decode
//! once.

use std::sync::Arc;

use ab_glyph::{Font, GlyphId, PxScale, point};
use image::imageops::FilterType;

use crate::render::canvas::mul_div255;
use crate::render::fonts::{Face, FontBook};

/// Subpixel positions per pixel along the baseline. Four keeps the spacing of
/// small text even without multiplying the cache by much.
pub(crate) const SUBPIXEL_STEPS: f32 = 4.0;

/// Sizes are quantized to 1/64 px, far below what anyone can see.
const SIZE_STEPS: f32 = 64.0;

/// The default byte budget of the cache: a 36 px glyph is about 1 KiB, so
/// this holds tens of thousands of glyphs, several scripts at several sizes.
pub const DEFAULT_GLYPH_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What identifies one rasterized glyph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GlyphKey {
    face: u16,
    glyph: u16,
    size_64ths: u32,
    subpixel_x: u8,
}

impl GlyphKey {
    /// The key of `glyph` of `face` at `size` px (the em), whose origin is
    /// `subpixel_x` (0 to 1) past a whole pixel.
    pub(crate) fn new(face: u16, glyph: GlyphId, size: f32, subpixel_x: f32) -> GlyphKey {
        GlyphKey {
            face,
            glyph: glyph.0,
            size_64ths: (size * SIZE_STEPS).round() as u32,
            subpixel_x: (subpixel_x * SUBPIXEL_STEPS)
                .round()
                .clamp(0.0, SUBPIXEL_STEPS - 1.0) as u8,
        }
    }
}

/// A glyph's pixels, positioned relative to its origin on the baseline.
#[derive(Debug)]
pub(crate) struct GlyphMask {
    /// Offset of the mask's top-left pixel from the origin; `top` is negative
    /// for the part above the baseline.
    pub(crate) left: i32,
    pub(crate) top: i32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) pixels: GlyphPixels,
}

/// What a glyph mask holds, row by row.
#[derive(Debug)]
pub(crate) enum GlyphPixels {
    /// Coverage, 0 to 255, one byte a pixel: drawn in the text's color.
    Coverage(Vec<u8>),
    /// Premultiplied RGBA, four bytes a pixel: a color glyph (an emoji)
    /// that keeps its own colors.
    Color(Vec<u8>),
}

impl GlyphPixels {
    fn len(&self) -> usize {
        match self {
            GlyphPixels::Coverage(bytes) | GlyphPixels::Color(bytes) => bytes.len(),
        }
    }
}

/// A bounded, thread-safe cache of glyph masks.
pub(crate) struct GlyphCache {
    masks: moka::sync::Cache<GlyphKey, Arc<GlyphMask>>,
}

impl GlyphCache {
    pub(crate) fn new(max_bytes: u64) -> GlyphCache {
        let masks = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key, mask: &Arc<GlyphMask>| {
                u32::try_from(mask.pixels.len() + 64).unwrap_or(u32::MAX)
            })
            .build();
        GlyphCache { masks }
    }

    /// Bytes of masks held now. moka counts lazily, so its pending
    /// bookkeeping is run first; this is for metrics scrapes, not renders.
    pub(crate) fn weighted_size(&self) -> u64 {
        self.masks.run_pending_tasks();
        self.masks.weighted_size()
    }

    /// The mask for `key`, rasterized now if it is not cached.
    pub(crate) fn mask(&self, fonts: &FontBook, key: GlyphKey) -> Arc<GlyphMask> {
        self.masks.get_with(key, || Arc::new(rasterize(fonts, key)))
    }
}

/// Rasterizes one glyph from its key alone.
fn rasterize(fonts: &FontBook, key: GlyphKey) -> GlyphMask {
    let face = fonts.face(key.face);
    let size = key.size_64ths as f32 / SIZE_STEPS;
    if face.color {
        return scale_bitmap(face, key, size).unwrap_or_else(empty_mask);
    }
    // ab_glyph's scale is the height from descender to ascender, not the em.
    let scale = size * face.outlines().height_unscaled() / face.units_per_em;
    let origin = point(f32::from(key.subpixel_x) / SUBPIXEL_STEPS, 0.0);
    let glyph = GlyphId(key.glyph).with_scale_and_position(PxScale::from(scale), origin);
    let Some(outlined) = face.outlines().outline_glyph(glyph) else {
        return empty_mask();
    };
    let bounds = outlined.px_bounds();
    let width = bounds.width().max(0.0) as u32;
    let height = bounds.height().max(0.0) as u32;
    let mut coverage = vec![0u8; width as usize * height as usize];
    outlined.draw(|x, y, amount| {
        if x < width && y < height {
            coverage[(y * width + x) as usize] = (amount.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        }
    });
    GlyphMask {
        left: bounds.min.x as i32,
        top: bounds.min.y as i32,
        width,
        height,
        pixels: GlyphPixels::Coverage(coverage),
    }
}

/// The color bitmap of a glyph, decoded and scaled from the font's strike
/// to `size` px per em. `None` when the glyph has no bitmap (a space) or
/// the bitmap does not decode.
fn scale_bitmap(face: &Face, key: GlyphKey, size: f32) -> Option<GlyphMask> {
    let wanted_ppem = size.ceil().clamp(1.0, f32::from(u16::MAX)) as u16;
    let raster = face
        .shaper()
        .glyph_raster_image(rustybuzz::ttf_parser::GlyphId(key.glyph), wanted_ppem)?;
    if raster.format != rustybuzz::ttf_parser::RasterImageFormat::PNG || raster.pixels_per_em == 0 {
        return None;
    }
    let decoded = image::load_from_memory_with_format(raster.data, image::ImageFormat::Png)
        .ok()?
        .into_rgba8();
    let scale = size / f32::from(raster.pixels_per_em);
    let width = ((decoded.width() as f32 * scale).round() as u32).max(1);
    let height = ((decoded.height() as f32 * scale).round() as u32).max(1);
    // Catmull-Rom keeps the outlines of a 136 px drawing crisp at 20 px,
    // where a box filter would smear them.
    let scaled = image::imageops::resize(&decoded, width, height, FilterType::CatmullRom);
    let mut pixels = scaled.into_raw();
    for pixel in pixels.chunks_exact_mut(4) {
        let alpha = u32::from(pixel[3]);
        for channel in &mut pixel[..3] {
            *channel = mul_div255(u32::from(*channel), alpha);
        }
    }
    // The strike's offsets are in its pixels, y up from the baseline to
    // the bitmap's bottom edge.
    let left = (f32::from(raster.x) * scale).round() as i32;
    let bottom = (f32::from(raster.y) * scale).round() as i32;
    Some(GlyphMask {
        left,
        top: -(bottom + height as i32),
        width,
        height,
        pixels: GlyphPixels::Color(pixels),
    })
}

fn empty_mask() -> GlyphMask {
    GlyphMask {
        left: 0,
        top: 0,
        width: 0,
        height: 0,
        pixels: GlyphPixels::Coverage(Vec::new()),
    }
}
