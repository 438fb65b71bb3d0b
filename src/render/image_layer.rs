//! Drawing an `image` layer: an asset scaled into its frame, with rounded
//! corners and opacity.
//!
//! The frame is snapped to whole canvas pixels, so that the resized pixels
//! map one to one onto the canvas: the blit is then a copy (or one blend) per
//! pixel, and the costly resize happens once per asset and frame size.

use crate::render::ImageLayer;
use crate::render::canvas::{Canvas, blend_over, blend_over_with_coverage, mul_div255};
use crate::render::coverage::RoundedRect;

/// Draws the layer's asset at `scale` canvas pixels per 1x pixel.
pub(crate) fn draw_image(canvas: &mut Canvas, layer: &ImageLayer, scale: f32) {
    let opacity = (layer.opacity.clamp(0.0, 1.0) * 255.0).round() as u32;
    let frame = layer.frame;
    let edges = [
        frame.x,
        frame.y,
        frame.x + frame.width,
        frame.y + frame.height,
    ]
    .map(|value| (value * scale).round());
    if opacity == 0
        || edges
            .iter()
            .any(|edge| !edge.is_finite() || edge.abs() > 1e6)
    {
        return;
    }
    let [left, top, right, bottom] = edges.map(|edge| edge as i64);
    if right <= left || bottom <= top {
        return;
    }
    let resized = layer
        .asset
        .resized((right - left) as u32, (bottom - top) as u32, layer.fit);
    let (image_width, image_height) = resized.pixels.dimensions();
    let image_left = left + i64::from(resized.offset_x);
    let image_top = top + i64::from(resized.offset_y);
    let source = resized.pixels.as_raw();
    let source_stride = image_width as usize * 4;

    let plain = layer.radius <= 0.0 && opacity == 255;
    if plain {
        // The common case: copy rows, or blend them when the image has
        // transparency. Only the part on the canvas is visited.
        let x0 = image_left.max(0);
        let x1 = (image_left + i64::from(image_width)).min(i64::from(canvas.width));
        let rows = canvas.drawable_rows(image_top, image_top + i64::from(image_height));
        let (y0, y1) = (i64::from(rows.start), i64::from(rows.end));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let len = (x1 - x0) as usize;
        for y in y0..y1 {
            let row_start =
                (y - image_top) as usize * source_stride + (x0 - image_left) as usize * 4;
            let source_row = &source[row_start..row_start + len * 4];
            let span = canvas.span_mut(x0 as u32, y as u32, len);
            if resized.opaque {
                span.copy_from_slice(source_row);
            } else {
                for (pixel, source_pixel) in
                    span.chunks_exact_mut(4).zip(source_row.chunks_exact(4))
                {
                    blend_over(
                        pixel,
                        [
                            source_pixel[0],
                            source_pixel[1],
                            source_pixel[2],
                            source_pixel[3],
                        ],
                    );
                }
            }
        }
        return;
    }

    let shape = RoundedRect {
        left: image_left as f32,
        top: image_top as f32,
        right: (image_left + i64::from(image_width)) as f32,
        bottom: (image_top + i64::from(image_height)) as f32,
        radius: layer.radius * scale,
    };
    let (shape_top, shape_bottom) = shape.row_extent();
    let rows = canvas.drawable_rows(shape_top, shape_bottom);
    let canvas_width = canvas.width;
    shape.for_each_row(canvas_width, rows, |y, x, coverage| {
        let row_start = (i64::from(y) - image_top) as usize * source_stride
            + (i64::from(x) - image_left) as usize * 4;
        let source_row = &source[row_start..row_start + coverage.len() * 4];
        let span = canvas.span_mut(x, y, coverage.len());
        for ((pixel, source_pixel), &cover) in span
            .chunks_exact_mut(4)
            .zip(source_row.chunks_exact(4))
            .zip(coverage)
        {
            let cover = mul_div255(u32::from(cover), opacity);
            let source_pixel = [
                source_pixel[0],
                source_pixel[1],
                source_pixel[2],
                source_pixel[3],
            ];
            blend_over_with_coverage(pixel, source_pixel, cover);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::render::{Asset, Fit, Frame};

    /// An opaque white square asset, encoded as a PNG.
    fn white_square() -> Arc<Asset> {
        let image = image::RgbaImage::from_pixel(64, 64, image::Rgba([255, 255, 255, 255]));
        let mut bytes = Vec::new();
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .expect("encodes");
        Arc::new(Asset::decode("white.png", &bytes).expect("decodes"))
    }

    #[test]
    fn an_image_clipped_to_a_circle_has_soft_edges_at_every_scale() {
        for scale in [1u32, 2, 3] {
            let side = 40 * scale;
            let mut canvas = Canvas::new(side + 4, side + 4);
            let layer = ImageLayer {
                frame: Frame {
                    x: 1.0,
                    y: 1.0,
                    width: 40.0,
                    height: 40.0,
                },
                asset: white_square(),
                fit: Fit::Cover,
                radius: 20.0,
                opacity: 1.0,
            };
            draw_image(&mut canvas, &layer, scale as f32);
            let alpha = |x: u32, y: u32| canvas.pixels[((y * canvas.width + x) * 4 + 3) as usize];
            let center = scale + side / 2;
            assert_eq!(alpha(center, center), 255, "{scale}x: solid inside");
            assert_eq!(alpha(scale, scale), 0, "{scale}x: the corner is cut");
            // Along the circle, every row that crosses the edge has a pixel
            // between clear and solid: the edge is antialiased, not stepped.
            let stepped_rows = (scale + 2..scale + side - 2)
                .filter(|&y| {
                    let row: Vec<u8> = (0..canvas.width).map(|x| alpha(x, y)).collect();
                    !row.iter().any(|&value| value > 0 && value < 255)
                })
                .count();
            assert_eq!(stepped_rows, 0, "{scale}x");
        }
    }
}
