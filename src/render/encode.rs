//! Encoding the canvas as PNG, JPEG or a one-frame GIF.
//!
//! Both encoders are set for speed: a render is encoded on every cache miss,
//! while the bytes it saves matter little for images of a few hundred pixels.
//! PNGs are written by our own `png_writer.rs`, which reads the canvas in
//! place instead of copying it to packed rows first.
//! A PNG is written as RGB when every pixel is opaque (smaller and faster),
//! as straight-alpha RGBA otherwise; a JPEG, which has no alpha, shows the
//! canvas over white, as an email's background usually is.

use crate::render::canvas::Canvas;
use crate::render::gif_writer::{GifWriter, Palette};
use crate::render::png_writer::{
    EncodedStripe, PngColor, StripeCoding, StripeToCode, encode_run, encode_stripe, write_png,
};
use crate::render::{OutputFormat, RenderError};

/// JPEG quality: high enough that text edges keep no visible ringing.
const JPEG_QUALITY: u8 = 90;

pub(crate) fn encode(canvas: &Canvas, format: OutputFormat) -> Result<Vec<u8>, RenderError> {
    match format {
        OutputFormat::Png => encode_png(canvas),
        OutputFormat::Jpeg => encode_jpeg(canvas),
        OutputFormat::Gif => encode_gif(canvas),
    }
}

/// A still GIF: what a countdown template shows once its deadline has
/// passed, in the format its URL asked for.
fn encode_gif(canvas: &Canvas) -> Result<Vec<u8>, RenderError> {
    let palette = Palette::build(canvas, [0, 0, 0], &[]);
    let mut gif = GifWriter::new(canvas.width, canvas.height, palette, false)?;
    gif.add_frame(canvas, &[], 0)?;
    gif.finish()
}

fn encode_png(canvas: &Canvas) -> Result<Vec<u8>, RenderError> {
    if is_opaque(&canvas.pixels) {
        // Opaque premultiplied pixels are already straight: the writer reads
        // the canvas as it is and leaves alpha out.
        return Ok(write_png(
            &canvas.pixels,
            canvas.width,
            canvas.height,
            PngColor::Rgb,
        ));
    }
    let mut straight = canvas.pixels.clone();
    for pixel in straight.chunks_exact_mut(4) {
        unpremultiply(pixel);
    }
    Ok(write_png(
        &straight,
        canvas.width,
        canvas.height,
        PngColor::Rgba,
    ))
}

/// One stripe of a PNG (`png_writer.rs`) from premultiplied rows: as they
/// are for RGB, made straight first for RGBA. (Rows the same before
/// unpremultiplying are the same after, so a [`StripeCoding::Over`]'s
/// comparison may be of either.)
pub(crate) fn png_stripe(
    pixels: &[u8],
    width: u32,
    first: bool,
    color: PngColor,
    coding: StripeCoding<'_>,
) -> EncodedStripe {
    match color {
        PngColor::Rgb => encode_stripe(pixels, width, first, color, coding),
        PngColor::Rgba => encode_stripe(&straight(pixels), width, first, color, coding),
    }
}

/// A run of adjacent stripes of a PNG (`png_writer::encode_run`) from
/// premultiplied rows, as [`png_stripe`] takes one.
pub(crate) fn png_run(
    stripes: &[StripeToCode<'_>],
    width: u32,
    color: PngColor,
) -> Vec<EncodedStripe> {
    match color {
        PngColor::Rgb => encode_run(stripes, width, color),
        PngColor::Rgba => {
            let straight: Vec<Vec<u8>> = stripes
                .iter()
                .map(|stripe| straight(stripe.pixels))
                .collect();
            let stripes: Vec<StripeToCode<'_>> = stripes
                .iter()
                .zip(&straight)
                .map(|(stripe, pixels)| StripeToCode { pixels, ..*stripe })
                .collect();
            encode_run(&stripes, width, color)
        }
    }
}

/// Premultiplied RGBA pixels made straight, as PNG stores them.
fn straight(pixels: &[u8]) -> Vec<u8> {
    let mut straight = pixels.to_vec();
    for pixel in straight.chunks_exact_mut(4) {
        unpremultiply(pixel);
    }
    straight
}

/// Whether every pixel's alpha is 255. The pixels are ANDed together eight
/// bytes at a time, which the compiler vectorizes, and the alpha bytes of the
/// result checked once.
pub(crate) fn is_opaque(pixels: &[u8]) -> bool {
    let (words, rest) = pixels.as_chunks::<8>();
    let all = words
        .iter()
        .fold(u64::MAX, |all, word| all & u64::from_le_bytes(*word));
    let alpha = 0xff00_0000_ff00_0000;
    all & alpha == alpha && rest.chunks_exact(4).all(|pixel| pixel[3] == 255)
}

fn encode_jpeg(canvas: &Canvas) -> Result<Vec<u8>, RenderError> {
    let mut rgb = vec![0u8; canvas.pixels.len() / 4 * 3];
    for (out, pixel) in rgb.chunks_exact_mut(3).zip(canvas.pixels.chunks_exact(4)) {
        // Premultiplied source-over white: color + white * (1 - alpha).
        let white = 255 - pixel[3];
        for (channel, &color) in out.iter_mut().zip(&pixel[..3]) {
            *channel = color.saturating_add(white);
        }
    }
    let failed = |reason: String| RenderError::Encode { reason };
    // The canvas is at most 4096 px a side, well within JPEG's 65535.
    let width = u16::try_from(canvas.width).map_err(|e| failed(e.to_string()))?;
    let height = u16::try_from(canvas.height).map_err(|e| failed(e.to_string()))?;
    let mut bytes = Vec::with_capacity(rgb.len() / 8);
    jpeg_encoder::Encoder::new(&mut bytes, JPEG_QUALITY)
        .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|error| failed(error.to_string()))?;
    Ok(bytes)
}

/// Turns a premultiplied pixel back into straight alpha, rounding to nearest.
fn unpremultiply(pixel: &mut [u8]) {
    let alpha = u32::from(pixel[3]);
    if alpha == 0 {
        pixel[..3].fill(0);
    } else if alpha != 255 {
        for channel in &mut pixel[..3] {
            *channel = ((u32::from(*channel) * 255 + alpha / 2) / alpha).min(255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opacity_is_seen_in_any_pixel() {
        let mut pixels = vec![255u8; 5 * 4];
        assert!(is_opaque(&pixels));
        for pixel in 0..5 {
            pixels[pixel * 4 + 3] = 254;
            assert!(!is_opaque(&pixels), "pixel {pixel}");
            pixels[pixel * 4 + 3] = 255;
        }
    }

    #[test]
    fn unpremultiply_restores_straight_colors() {
        let mut pixel = [64, 32, 0, 128];
        unpremultiply(&mut pixel);
        assert_eq!(pixel, [128, 64, 0, 128]);
        let mut clear = [0, 0, 0, 0];
        unpremultiply(&mut clear);
        assert_eq!(clear, [0, 0, 0, 0]);
    }
}
