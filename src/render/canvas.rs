//! The canvas: premultiplied RGBA pixels and source-over blending.
//!
//! Pixels are kept premultiplied in 8 bits, so that blending a layer over
//! whatever is below is two integer multiplies per channel and needs no
//! conversion of the whole canvas to floats and back. Straight alpha only
//! comes back at encoding, in `encode.rs`.

use std::ops::Range;

use crate::render::Color;

/// Bytes per pixel: red, green, blue and alpha.
pub(crate) const CHANNELS: usize = 4;

/// A premultiplied RGBA image being drawn, starting fully transparent.
///
/// A canvas may hold only a window of the image's rows (`top` and the rows
/// after it): an incremental render draws just the rows its personalized
/// layers touch. Drawing code clips to [`Canvas::drawable_rows`], never to
/// `height` alone, and writes through [`Canvas::span_mut`] in image
/// coordinates.
#[derive(Clone)]
pub(crate) struct Canvas {
    /// The image's width, in pixels.
    pub(crate) width: u32,
    /// The image's height, in pixels (the window may hold fewer rows).
    pub(crate) height: u32,
    /// The first image row the window holds.
    pub(crate) top: u32,
    /// The window's rows, each `width` pixels.
    pub(crate) pixels: Vec<u8>,
    /// Set while a layer is drawn that must fit the window: one that would
    /// draw rows outside it marks the canvas `spilled`.
    pub(crate) watching: bool,
    /// A watched layer reached rows outside the window, so the window's
    /// rows alone do not show it.
    pub(crate) spilled: bool,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32) -> Canvas {
        Canvas::window(width, height, 0, height)
    }

    /// A canvas for `rows` rows of a `width` x `height` image, from row
    /// `top` on.
    pub(crate) fn window(width: u32, height: u32, top: u32, rows: u32) -> Canvas {
        let len = width as usize * rows as usize * CHANNELS;
        Canvas {
            width,
            height,
            top,
            pixels: vec![0; len],
            watching: false,
            spilled: false,
        }
    }

    /// The rows this canvas holds, in image coordinates.
    pub(crate) fn rows(&self) -> Range<u32> {
        let row_len = self.width as usize * CHANNELS;
        let held = self.pixels.len().checked_div(row_len).unwrap_or(0) as u32;
        self.top..self.top + held
    }

    /// The rows of `start..end` (image rows, possibly off the image) that
    /// can be drawn here: on the image and in the window. A watched layer
    /// whose rows on the image leave the window marks the canvas spilled.
    pub(crate) fn drawable_rows(&mut self, start: i64, end: i64) -> Range<u32> {
        let height = i64::from(self.height);
        let (on_start, on_end) = (start.clamp(0, height), end.clamp(0, height));
        let window = self.rows();
        let (window_start, window_end) = (i64::from(window.start), i64::from(window.end));
        if self.watching && on_start < on_end && (on_start < window_start || on_end > window_end) {
            self.spilled = true;
        }
        let (first, last) = (on_start.max(window_start), on_end.min(window_end));
        if first >= last {
            return 0..0;
        }
        first as u32..last as u32
    }

    /// The pixels of image row `y` (which the window holds) from column `x`
    /// on, `len` pixels long.
    pub(crate) fn span_mut(&mut self, x: u32, y: u32, len: usize) -> &mut [u8] {
        let start = ((y - self.top) as usize * self.width as usize + x as usize) * CHANNELS;
        &mut self.pixels[start..start + len * CHANNELS]
    }
}

/// A color premultiplied by its alpha, ready to blend.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Premultiplied(pub(crate) [u8; 4]);

impl Premultiplied {
    pub(crate) fn from_color(color: Color) -> Premultiplied {
        let alpha = u32::from(color.a);
        Premultiplied([
            mul_div255(u32::from(color.r), alpha),
            mul_div255(u32::from(color.g), alpha),
            mul_div255(u32::from(color.b), alpha),
            color.a,
        ])
    }

    /// This color with its alpha scaled by `coverage` (0 to 255).
    #[inline]
    pub(crate) fn with_coverage(self, coverage: u8) -> Premultiplied {
        let coverage = u32::from(coverage);
        let [r, g, b, a] = self.0;
        Premultiplied([
            mul_div255(u32::from(r), coverage),
            mul_div255(u32::from(g), coverage),
            mul_div255(u32::from(b), coverage),
            mul_div255(u32::from(a), coverage),
        ])
    }
}

/// `a * b / 255`, rounded to nearest, for `a` and `b` in 0..=255.
#[inline]
pub(crate) fn mul_div255(a: u32, b: u32) -> u8 {
    let product = a * b + 128;
    ((product + (product >> 8)) >> 8) as u8
}

/// Draws a premultiplied `source` pixel over `destination` (source-over).
#[inline]
pub(crate) fn blend_over(destination: &mut [u8], source: [u8; 4]) {
    let source_alpha = source[3];
    if source_alpha == 255 {
        destination.copy_from_slice(&source);
    } else if source_alpha != 0 {
        let keep = 255 - u32::from(source_alpha);
        for (d, s) in destination.iter_mut().zip(source) {
            *d = s + mul_div255(u32::from(*d), keep);
        }
    }
}

/// Draws a premultiplied `source` pixel over `destination`, first scaled by
/// `coverage` (0 to 255).
#[inline]
pub(crate) fn blend_over_with_coverage(destination: &mut [u8], source: [u8; 4], coverage: u8) {
    match coverage {
        255 => blend_over(destination, source),
        0 => {}
        _ => blend_over(destination, Premultiplied(source).with_coverage(coverage).0),
    }
}

/// Draws a premultiplied `color` over a span of pixels, each scaled by its
/// `coverage`: the bytes [`blend_over_with_coverage`] gives pixel by pixel,
/// without its branches. A glyph's mask mixes every coverage, so those
/// branches mispredict; one formula for all lets the compiler blend
/// several pixels at once. It covers the branches' cases because a
/// premultiplied channel is at most its alpha: a coverage of 0 or an alpha
/// scaled to 0 adds nothing and keeps the pixel, and an alpha of 255 keeps
/// nothing of it.
///
/// The sums are done in 16 bits ([`mul_div255_u16`]), which fits them, so
/// that a vector register blends twice the channels it would in 32.
pub(crate) fn blend_span_with_coverage(span: &mut [u8], color: Premultiplied, coverage: &[u8]) {
    debug_assert!(color.0[..3].iter().all(|&channel| channel <= color.0[3]));
    let source = color.0.map(u16::from);
    let (pixels, _) = span.as_chunks_mut::<4>();
    for (pixel, &cover) in pixels.iter_mut().zip(coverage) {
        let cover = u16::from(cover);
        let keep = 255 - mul_div255_u16(source[3], cover);
        for (destination, &source) in pixel.iter_mut().zip(&source) {
            let drawn = mul_div255_u16(source, cover);
            *destination = (drawn + mul_div255_u16(u16::from(*destination), keep)) as u8;
        }
    }
}

/// [`mul_div255`] in 16 bits: `a * b + 128` is at most 65,153 and the
/// sum after it at most 65,407, so nothing overflows.
#[inline]
fn mul_div255_u16(a: u16, b: u16) -> u16 {
    let product = a * b + 128;
    (product + (product >> 8)) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_blends_to_the_bytes_of_pixel_by_pixel_blending() {
        let colors = [
            Color::rgba(31, 41, 55, 255),
            Color::rgba(255, 255, 255, 220),
            Color::rgba(200, 10, 90, 1),
            Color::rgba(0, 0, 0, 0),
            Color::rgba(255, 0, 128, 128),
        ];
        let under = [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [12, 200, 99, 255],
            [50, 60, 70, 80],
        ];
        for straight in colors {
            let color = Premultiplied::from_color(straight);
            for pixel in under {
                let coverage: Vec<u8> = (0..=255).collect();
                let mut span: Vec<u8> = coverage.iter().flat_map(|_| pixel).collect();
                let mut expected = span.clone();
                for (pixel, &cover) in expected.chunks_exact_mut(4).zip(&coverage) {
                    blend_over_with_coverage(pixel, color.0, cover);
                }
                blend_span_with_coverage(&mut span, color, &coverage);
                assert!(span == expected, "{straight:?} over {pixel:?}");
            }
        }
    }

    #[test]
    fn the_16_bit_mul_div255_is_the_32_bit_one() {
        for a in 0..=255u16 {
            for b in 0..=255u16 {
                assert_eq!(
                    mul_div255_u16(a, b),
                    u16::from(mul_div255(u32::from(a), u32::from(b)))
                );
            }
        }
    }

    #[test]
    fn mul_div255_rounds_like_exact_division() {
        for a in 0..=255u32 {
            for b in 0..=255u32 {
                let exact = (a * b) as f64 / 255.0;
                assert_eq!(
                    u32::from(mul_div255(a, b)),
                    exact.round() as u32,
                    "{a} * {b}"
                );
            }
        }
    }

    #[test]
    fn half_transparent_red_over_blue_mixes_both() {
        let mut pixel = [0, 0, 255, 255];
        blend_over(
            &mut pixel,
            Premultiplied::from_color(Color::rgba(255, 0, 0, 128)).0,
        );
        assert_eq!(pixel, [128, 0, 127, 255]);
    }
}
