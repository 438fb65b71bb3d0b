//! Drawing a laid-out text layer: each glyph's cached coverage mask blended
//! onto the canvas in the layer's color.

use crate::render::canvas::{Canvas, Premultiplied, blend_over_with_coverage};
use crate::render::fonts::FontBook;
use crate::render::glyph_cache::{GlyphCache, GlyphKey, SUBPIXEL_STEPS};
use crate::render::text::layout::layout_text;
use crate::render::text::shaping::ShapeCache;
use crate::render::{RenderError, TextLayer};

/// Lays out and draws the layer at `scale` canvas pixels per 1x pixel.
pub(crate) fn draw_text(
    canvas: &mut Canvas,
    fonts: &FontBook,
    shapes: &ShapeCache,
    glyphs: &GlyphCache,
    layer: &TextLayer,
    scale: f32,
) -> Result<(), RenderError> {
    let style = &layer.style;
    let chain = fonts
        .chain(&style.family, style.weight)
        .ok_or_else(|| RenderError::UnknownFamily(style.family.clone()))?;
    let color = Premultiplied::from_color(style.color);
    if color.0[3] == 0 {
        return Ok(());
    }
    let layout = layout_text(fonts, shapes, chain, &layer.text, style, layer.frame, scale);
    for placed in &layout.glyphs {
        // The origin snaps to a quarter pixel; the mask for that offset is
        // cached, so nearby positions share it.
        let mut whole_x = placed.x.floor();
        let mut steps = ((placed.x - whole_x) * SUBPIXEL_STEPS).round();
        if steps >= SUBPIXEL_STEPS {
            whole_x += 1.0;
            steps = 0.0;
        }
        let key = GlyphKey::new(
            placed.face,
            placed.glyph,
            layout.size,
            steps / SUBPIXEL_STEPS,
        );
        let mask = glyphs.mask(fonts, key);
        blend_mask(
            canvas,
            &mask,
            whole_x as i64,
            placed.y.round() as i64,
            color,
        );
    }
    Ok(())
}

/// Blends `color` through a glyph mask whose origin is at (`x`, `y`),
/// leaving out what falls off the canvas.
fn blend_mask(
    canvas: &mut Canvas,
    mask: &crate::render::glyph_cache::GlyphMask,
    x: i64,
    y: i64,
    color: Premultiplied,
) {
    let left = x + i64::from(mask.left);
    let top = y + i64::from(mask.top);
    let column_start = (-left).max(0);
    let column_end = i64::from(mask.width).min(i64::from(canvas.width) - left);
    let row_start = (-top).max(0);
    let row_end = i64::from(mask.height).min(i64::from(canvas.height) - top);
    if column_start >= column_end || row_start >= row_end {
        return;
    }
    let len = (column_end - column_start) as usize;
    for row in row_start..row_end {
        let mask_start = row as usize * mask.width as usize + column_start as usize;
        let coverage = &mask.coverage[mask_start..mask_start + len];
        let span = canvas.span_mut((left + column_start) as u32, (top + row) as u32, len);
        for (pixel, &cover) in span.chunks_exact_mut(4).zip(coverage) {
            blend_over_with_coverage(pixel, color.0, cover);
        }
    }
}
