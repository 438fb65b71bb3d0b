//! Drawing a `rect` layer: a filled, optionally rounded, rectangle.

use crate::render::RectLayer;
use crate::render::canvas::{Canvas, Premultiplied, blend_over_with_coverage};
use crate::render::coverage::RoundedRect;

/// Fills the layer's frame, at `scale` canvas pixels per 1x pixel.
pub(crate) fn draw_rect(canvas: &mut Canvas, layer: &RectLayer, scale: f32) {
    let color = Premultiplied::from_color(layer.fill);
    if color.0[3] == 0 {
        return;
    }
    let frame = layer.frame;
    let shape = RoundedRect {
        left: frame.x * scale,
        top: frame.y * scale,
        right: (frame.x + frame.width) * scale,
        bottom: (frame.y + frame.height) * scale,
        radius: layer.radius * scale,
    };
    let (top, bottom) = shape.row_extent();
    let rows = canvas.drawable_rows(top, bottom);
    let width = canvas.width;
    shape.for_each_row(width, rows, |y, x, coverage| {
        let span = canvas.span_mut(x, y, coverage.len());
        for (pixel, &cover) in span.chunks_exact_mut(4).zip(coverage) {
            blend_over_with_coverage(pixel, color.0, cover);
        }
    });
}
