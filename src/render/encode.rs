//! Encoding the canvas as PNG or JPEG.
//!
//! Both encoders are set for speed: a render is encoded on every cache miss,
//! while the bytes it saves matter little for images of a few hundred pixels.
//! A PNG is written as RGB when every pixel is opaque (smaller and faster),
//! as straight-alpha RGBA otherwise; a JPEG, which has no alpha, shows the
//! canvas over white, as an email's background usually is.

use image::ImageEncoder;
use image::codecs::jpeg::JpegEncoder;

use crate::render::canvas::Canvas;
use crate::render::{OutputFormat, RenderError};

/// JPEG quality: high enough that text edges keep no visible ringing.
const JPEG_QUALITY: u8 = 90;

pub(crate) fn encode(canvas: &Canvas, format: OutputFormat) -> Result<Vec<u8>, RenderError> {
    match format {
        OutputFormat::Png => encode_png(canvas),
        OutputFormat::Jpeg => encode_jpeg(canvas),
    }
}

fn encode_png(canvas: &Canvas) -> Result<Vec<u8>, RenderError> {
    let opaque = canvas.pixels.chunks_exact(4).all(|pixel| pixel[3] == 255);
    let (color, data) = if opaque {
        let mut rgb = Vec::with_capacity(canvas.pixels.len() / 4 * 3);
        for pixel in canvas.pixels.chunks_exact(4) {
            rgb.extend_from_slice(&pixel[..3]);
        }
        (png::ColorType::Rgb, rgb)
    } else {
        let mut rgba = canvas.pixels.clone();
        for pixel in rgba.chunks_exact_mut(4) {
            unpremultiply(pixel);
        }
        (png::ColorType::Rgba, rgba)
    };
    let mut bytes = Vec::with_capacity(data.len() / 4);
    let failed = |error: png::EncodingError| RenderError::Encode {
        reason: error.to_string(),
    };
    let mut encoder = png::Encoder::new(&mut bytes, canvas.width, canvas.height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    // One fixed filter instead of trying all five on every row: smooth
    // gradients and flat fills, which is what cards are made of, compress
    // well with it.
    encoder.set_filter(png::Filter::Up);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&data).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(bytes)
}

fn encode_jpeg(canvas: &Canvas) -> Result<Vec<u8>, RenderError> {
    let mut rgb = Vec::with_capacity(canvas.pixels.len() / 4 * 3);
    for pixel in canvas.pixels.chunks_exact(4) {
        // Premultiplied source-over white: color + white * (1 - alpha).
        let white = 255 - pixel[3];
        rgb.extend_from_slice(&[
            pixel[0].saturating_add(white),
            pixel[1].saturating_add(white),
            pixel[2].saturating_add(white),
        ]);
    }
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .write_image(
            &rgb,
            canvas.width,
            canvas.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|error| RenderError::Encode {
            reason: error.to_string(),
        })?;
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
    fn unpremultiply_restores_straight_colors() {
        let mut pixel = [64, 32, 0, 128];
        unpremultiply(&mut pixel);
        assert_eq!(pixel, [128, 64, 0, 128]);
        let mut clear = [0, 0, 0, 0];
        unpremultiply(&mut clear);
        assert_eq!(clear, [0, 0, 0, 0]);
    }
}
