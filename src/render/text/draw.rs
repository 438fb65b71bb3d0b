//! Drawing a laid-out text layer: each glyph's cached coverage mask blended
//! onto the canvas in the layer's color, and each color glyph (an emoji)
//! blended in its own colors, faded by the layer color's alpha. A glyph
//! the shaper could not find (glyph 0, a font's missing-glyph box) is never
//! drawn: the character keeps its room on the line and is reported.

use std::sync::Arc;

use ab_glyph::GlyphId;

use crate::render::canvas::{
    Canvas, Premultiplied, blend_over, blend_span_with_coverage, mul_div255,
};
use crate::render::fonts::FontBook;
use crate::render::glyph_cache::{GlyphCache, GlyphKey, GlyphMask, GlyphPixels, SUBPIXEL_STEPS};
use crate::render::text::layout::layout_text;
use crate::render::text::shaping::ShapeCache;
use crate::render::{RenderError, TextLayer};

/// Lays out and draws the layer at `scale` canvas pixels per 1x pixel, and
/// says how many glyphs it left out because no font of the chain had them.
pub(crate) fn draw_text(
    canvas: &mut Canvas,
    fonts: &FontBook,
    shapes: &ShapeCache,
    glyphs: &GlyphCache,
    layer: &TextLayer,
    scale: f32,
) -> Result<usize, RenderError> {
    let text = prepare_text(fonts, shapes, glyphs, layer, scale)?;
    text.draw(canvas);
    Ok(text.missing)
}

/// A text layer laid out: its glyphs' masks at their canvas positions, so
/// that it can be drawn onto several windows of a canvas, and the rows its
/// ink covers known before it is drawn.
pub(crate) struct PreparedText {
    /// Each glyph's mask and the canvas position of its origin.
    glyphs: Vec<(Arc<GlyphMask>, i64, i64)>,
    color: Premultiplied,
    /// Glyphs no font of the chain had, left out.
    pub(crate) missing: usize,
}

/// Lays out the layer and fetches its glyphs' masks.
pub(crate) fn prepare_text(
    fonts: &FontBook,
    shapes: &ShapeCache,
    glyphs: &GlyphCache,
    layer: &TextLayer,
    scale: f32,
) -> Result<PreparedText, RenderError> {
    let style = &layer.style;
    let chain = fonts
        .chain(&style.family, style.weight)
        .ok_or_else(|| RenderError::UnknownFamily(style.family.clone()))?;
    let color = Premultiplied::from_color(style.color);
    let layout = layout_text(fonts, shapes, chain, &layer.text, style, layer.frame, scale);
    let missing = layout
        .glyphs
        .iter()
        .filter(|placed| placed.glyph == MISSING_GLYPH)
        .count();
    let mut prepared = PreparedText {
        glyphs: Vec::new(),
        color,
        missing,
    };
    if color.0[3] == 0 {
        return Ok(prepared);
    }
    prepared.glyphs.reserve(layout.glyphs.len());
    for placed in &layout.glyphs {
        if placed.glyph == MISSING_GLYPH {
            continue;
        }
        // The origin snaps to a quarter pixel; the mask for that offset is
        // cached, so nearby positions share it.
        let mut whole_x = placed.x.floor();
        let mut steps = ((placed.x - whole_x) * SUBPIXEL_STEPS).round();
        if steps >= SUBPIXEL_STEPS {
            whole_x += 1.0;
            steps = 0.0;
        }
        // A bitmap is scaled, not drawn at an offset: it snaps to the
        // nearest whole pixel and has one cache entry per size.
        if fonts.face(placed.face).color {
            whole_x = placed.x.round();
            steps = 0.0;
        }
        let key = GlyphKey::new(
            placed.face,
            placed.glyph,
            layout.size,
            steps / SUBPIXEL_STEPS,
        );
        let mask = glyphs.mask(fonts, key);
        prepared
            .glyphs
            .push((mask, whole_x as i64, placed.y.round() as i64));
    }
    Ok(prepared)
}

impl PreparedText {
    /// The canvas rows the text's ink covers, `start..end`; empty when it
    /// draws nothing.
    pub(crate) fn rows(&self) -> (i64, i64) {
        let ink = self
            .glyphs
            .iter()
            .filter(|(mask, _, _)| mask.width > 0 && mask.height > 0)
            .map(|(mask, _, y)| {
                let top = y + i64::from(mask.top);
                (top, top + i64::from(mask.height))
            });
        ink.reduce(|(start, end), (top, bottom)| (start.min(top), end.max(bottom)))
            .unwrap_or((0, 0))
    }

    /// Blends every glyph onto `canvas` (the rows it holds).
    pub(crate) fn draw(&self, canvas: &mut Canvas) {
        for (mask, x, y) in &self.glyphs {
            blend_mask(canvas, mask, *x, *y, self.color);
        }
    }
}

/// Glyph 0, which every font keeps for the characters it lacks (`.notdef`,
/// mostly drawn as a box).
const MISSING_GLYPH: GlyphId = GlyphId(0);

/// Blends a glyph mask whose origin is at (`x`, `y`), leaving out what
/// falls off the canvas: a coverage mask in `color`, a color glyph in its
/// own colors with `color`'s alpha.
fn blend_mask(canvas: &mut Canvas, mask: &GlyphMask, x: i64, y: i64, color: Premultiplied) {
    let left = x + i64::from(mask.left);
    let top = y + i64::from(mask.top);
    let column_start = (-left).max(0);
    let column_end = i64::from(mask.width).min(i64::from(canvas.width) - left);
    let rows = canvas.drawable_rows(top, top + i64::from(mask.height));
    let (row_start, row_end) = (i64::from(rows.start) - top, i64::from(rows.end) - top);
    if column_start >= column_end || row_start >= row_end {
        return;
    }
    let len = (column_end - column_start) as usize;
    for row in row_start..row_end {
        let mask_start = row as usize * mask.width as usize + column_start as usize;
        let span = canvas.span_mut((left + column_start) as u32, (top + row) as u32, len);
        match &mask.pixels {
            GlyphPixels::Coverage(coverage) => {
                blend_span_with_coverage(span, color, &coverage[mask_start..mask_start + len]);
            }
            GlyphPixels::Color(rgba) => {
                let rgba = &rgba[mask_start * 4..(mask_start + len) * 4];
                let opacity = u32::from(color.0[3]);
                for (pixel, source) in span.chunks_exact_mut(4).zip(rgba.chunks_exact(4)) {
                    let faded = [
                        mul_div255(u32::from(source[0]), opacity),
                        mul_div255(u32::from(source[1]), opacity),
                        mul_div255(u32::from(source[2]), opacity),
                        mul_div255(u32::from(source[3]), opacity),
                    ];
                    blend_over(pixel, faded);
                }
            }
        }
    }
}
