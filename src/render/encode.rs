//! Encoding the canvas as PNG or JPEG.
//!
//! Both encoders are set for speed: a render is encoded on every cache miss,
//! while the bytes it saves matter little for images of a few hundred pixels.
//! A PNG is written as RGB when every pixel is opaque (smaller and faster),
//! as straight-alpha RGBA otherwise; a JPEG, which has no alpha, shows the
//! canvas over white, as an email's background usually is.

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
    // Drop the alpha channel and check it in the same pass: cards are
    // nearly always opaque, and this pass is a fifth of a render's time.
    let mut rgb = vec![0u8; canvas.pixels.len() / 4 * 3];
    let mut all_alpha = 255u8;
    for (out, pixel) in rgb.chunks_exact_mut(3).zip(canvas.pixels.chunks_exact(4)) {
        out.copy_from_slice(&pixel[..3]);
        all_alpha &= pixel[3];
    }
    let (color, data) = if all_alpha == 255 {
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
    fn unpremultiply_restores_straight_colors() {
        let mut pixel = [64, 32, 0, 128];
        unpremultiply(&mut pixel);
        assert_eq!(pixel, [128, 64, 0, 128]);
        let mut clear = [0, 0, 0, 0];
        unpremultiply(&mut clear);
        assert_eq!(clear, [0, 0, 0, 0]);
    }
}
