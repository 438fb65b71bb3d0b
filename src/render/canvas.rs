//! The canvas: premultiplied RGBA pixels and source-over blending.
//!
//! Pixels are kept premultiplied in 8 bits, so that blending a layer over
//! whatever is below is two integer multiplies per channel and needs no
//! conversion of the whole canvas to floats and back. Straight alpha only
//! comes back at encoding, in `encode.rs`.

use crate::render::Color;

/// Bytes per pixel: red, green, blue and alpha.
pub(crate) const CHANNELS: usize = 4;

/// A premultiplied RGBA image being drawn, starting fully transparent.
pub(crate) struct Canvas {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) pixels: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32) -> Canvas {
        let len = width as usize * height as usize * CHANNELS;
        Canvas {
            width,
            height,
            pixels: vec![0; len],
        }
    }

    /// The pixels of row `y` from column `x` on, `len` pixels long.
    pub(crate) fn span_mut(&mut self, x: u32, y: u32, len: usize) -> &mut [u8] {
        let start = (y as usize * self.width as usize + x as usize) * CHANNELS;
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

#[cfg(test)]
mod tests {
    use super::*;

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
