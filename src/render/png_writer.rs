//! PNG files written straight from the canvas's rows: chunks, the Up filter
//! and the tokens of `deflate.rs`, in one pass over the pixels.
//!
//! A general PNG encoder takes packed rows, so an opaque canvas had to be
//! copied to RGB first, then filtered into another buffer, then compressed
//! into a third. Here each row's difference from the row above is taken on
//! the RGBA words as they are (a loop the compiler vectorizes), and the
//! tokenizer reads it two pixels at a time, skipping the alpha byte when
//! writing RGB. Two pixels that did not change from the row above, which is
//! most of a card, cost one test.
//!
//! Every row uses the Up filter: cards are gradients, flat fills and images
//! that change little from one row to the next, and one fixed filter avoids
//! trying all five per row. The Huffman table is fitted to every fourth row,
//! which is close enough to the whole image and a quarter of the work.

use crate::render::deflate::{Adler32, Histogram, Tokens, ZlibWriter};

/// What the pixels of a row hold, and how they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PngColor {
    /// RGBA rows written as RGB: the alpha byte is left out.
    Rgb,
    /// RGBA rows written as they are.
    Rgba,
}

/// Writes `pixels`, `width` x `height` RGBA pixels row by row, as a PNG.
pub(crate) fn write_png(pixels: &[u8], width: u32, height: u32, color: PngColor) -> Vec<u8> {
    let row_len = width as usize * 4;
    debug_assert_eq!(pixels.len(), row_len * height as usize);
    let rows: Vec<&[u8]> = pixels.chunks_exact(row_len.max(1)).collect();
    let mut difference = vec![0u8; row_len];

    // The Huffman table, from every fourth row (every row of a small image;
    // a one-row image gets a flat table, which is just as valid).
    let sample_every = if height >= 16 { 4 } else { 1 };
    let mut histogram = Histogram::new();
    for (index, row) in rows.iter().enumerate().skip(1).step_by(sample_every) {
        up_difference(row, Some(rows[index - 1]), &mut difference);
        tokenize_row(&difference, color, &mut histogram);
    }

    let channels = match color {
        PngColor::Rgb => 3,
        PngColor::Rgba => 4,
    };
    // Cards compress to a fifth of their raw size or better; the vector grows
    // if an image does not.
    let raw_len = (width as usize * channels + 1) * height as usize;
    let mut out = Vec::with_capacity(raw_len / 4 + 1024);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut header = [0u8; 13];
    header[..4].copy_from_slice(&width.to_be_bytes());
    header[4..8].copy_from_slice(&height.to_be_bytes());
    // 8 bits per channel, truecolor (2) or truecolor with alpha (6), deflate,
    // standard filters, no interlacing.
    header[8] = 8;
    header[9] = match color {
        PngColor::Rgb => 2,
        PngColor::Rgba => 6,
    };
    write_chunk(&mut out, *b"IHDR", |out| out.extend_from_slice(&header));
    write_chunk(&mut out, *b"IDAT", |out| {
        let mut zlib = ZlibWriter::new(out, &histogram);
        let mut checksum = Adler32::new();
        let mut above = None;
        for row in &rows {
            up_difference(row, above, &mut difference);
            tokenize_row(&difference, color, &mut zlib);
            checksum.byte(FILTER_UP);
            let (pixels, _) = difference.as_chunks::<4>();
            match color {
                PngColor::Rgb => checksum.pixels::<3>(pixels),
                PngColor::Rgba => checksum.pixels::<4>(pixels),
            }
            above = Some(row);
        }
        zlib.finish(checksum);
    });
    write_chunk(&mut out, *b"IEND", |_| {});
    out
}

/// The PNG filter type of every row.
const FILTER_UP: u8 = 2;

/// Appends a chunk whose data `write` appends, with its length and CRC.
fn write_chunk(out: &mut Vec<u8>, kind: [u8; 4], write: impl FnOnce(&mut Vec<u8>)) {
    let length_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&kind);
    write(out);
    // PNG caps a chunk at 2^31 - 1 bytes; the largest canvas is 64 MiB raw.
    let data_len = (out.len() - length_at - 8) as u32;
    out[length_at..length_at + 4].copy_from_slice(&data_len.to_be_bytes());
    let crc = crc32fast::hash(&out[length_at + 4..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// `row` minus the row above it, byte by byte (the Up filter); the first row
/// has nothing above, so it is its own difference.
fn up_difference(row: &[u8], above: Option<&[u8]>, difference: &mut [u8]) {
    match above {
        Some(above) => {
            for ((out, &byte), &up) in difference.iter_mut().zip(row).zip(above) {
                *out = byte.wrapping_sub(up);
            }
        }
        None => difference.copy_from_slice(row),
    }
}

/// Sends one filtered row, given as RGBA differences, to `tokens`: the filter
/// type, then the bytes of each pixel (without alpha for RGB), with runs of
/// zeros as runs.
fn tokenize_row(difference: &[u8], color: PngColor, tokens: &mut impl Tokens) {
    match color {
        PngColor::Rgb => tokenize_pixels::<3>(difference, tokens),
        PngColor::Rgba => tokenize_pixels::<4>(difference, tokens),
    }
}

fn tokenize_pixels<const CHANNELS: usize>(difference: &[u8], tokens: &mut impl Tokens) {
    // The bytes kept of a little-endian pixel word: all but alpha, the top
    // byte, for RGB.
    let kept: u32 = if CHANNELS == 3 { 0x00ff_ffff } else { u32::MAX };
    let kept_pair = u64::from(kept) | (u64::from(kept) << 32);
    tokens.literal(FILTER_UP);
    let mut zeros = 0u32;
    let (pairs, rest) = difference.as_chunks::<8>();
    for pair in pairs {
        let word = u64::from_le_bytes(*pair) & kept_pair;
        if word == 0 {
            zeros += 2 * CHANNELS as u32;
            continue;
        }
        push_pixel::<CHANNELS>(word as u32, &mut zeros, tokens);
        push_pixel::<CHANNELS>((word >> 32) as u32, &mut zeros, tokens);
    }
    let (pixels, _) = rest.as_chunks::<4>();
    for pixel in pixels {
        push_pixel::<CHANNELS>(u32::from_le_bytes(*pixel) & kept, &mut zeros, tokens);
    }
    if zeros > 0 {
        tokens.zeros(zeros);
    }
}

/// A pixel that did not change extends the run of zeros; one that did is
/// written whole, zero bytes and all, which is cheaper than a branch per
/// byte and costs little: a zero is the shortest literal.
#[inline(always)]
fn push_pixel<const CHANNELS: usize>(pixel: u32, zeros: &mut u32, tokens: &mut impl Tokens) {
    if pixel == 0 {
        *zeros += CHANNELS as u32;
    } else {
        if *zeros > 0 {
            tokens.zeros(*zeros);
            *zeros = 0;
        }
        tokens.pixel::<CHANNELS>(pixel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG with every checksum verified, as RGB or RGBA bytes.
    fn decode(bytes: &[u8]) -> (png::ColorType, Vec<u8>) {
        let mut options = png::DecodeOptions::default();
        options.set_ignore_adler32(false);
        options.set_ignore_crc(false);
        let decoder = png::Decoder::new_with_options(std::io::Cursor::new(bytes), options);
        let mut reader = decoder.read_info().expect("a valid header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut pixels).expect("valid image data");
        pixels.truncate(info.buffer_size());
        (info.color_type, pixels)
    }

    /// Deterministic pseudo-random bytes, so the test needs no extra crate.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect()
    }

    /// Canvases that exercise runs of every length, every byte value, odd
    /// widths and single rows or columns.
    fn canvases() -> Vec<(u32, u32, Vec<u8>)> {
        let mut cases = Vec::new();
        for (width, height) in [(1, 1), (1, 7), (7, 1), (5, 3), (33, 20), (600, 40)] {
            let len = width as usize * height as usize * 4;
            cases.push((width, height, noise(u64::from(width * height), len)));
            cases.push((width, height, vec![200; len]));
            // A gradient with noisy specks: long runs broken at random places.
            let specks = noise(7, len);
            let gradient = (0..len)
                .map(|index| {
                    let y = index / (width as usize * 4);
                    if specks[index] > 250 {
                        specks[index]
                    } else {
                        (y * 3) as u8
                    }
                })
                .collect();
            cases.push((width, height, gradient));
        }
        cases
    }

    #[test]
    fn rgb_pngs_decode_to_the_pixels_without_alpha() {
        for (width, height, pixels) in canvases() {
            let bytes = write_png(&pixels, width, height, PngColor::Rgb);
            let (color, decoded) = decode(&bytes);
            assert_eq!(color, png::ColorType::Rgb);
            let expected: Vec<u8> = pixels
                .chunks_exact(4)
                .flat_map(|pixel| pixel[..3].to_vec())
                .collect();
            assert!(decoded == expected, "{width}x{height} differs");
        }
    }

    #[test]
    fn rgba_pngs_decode_to_the_same_pixels() {
        for (width, height, pixels) in canvases() {
            let bytes = write_png(&pixels, width, height, PngColor::Rgba);
            let (color, decoded) = decode(&bytes);
            assert_eq!(color, png::ColorType::Rgba);
            assert!(decoded == pixels, "{width}x{height} differs");
        }
    }

    #[test]
    fn flat_images_compress_to_almost_nothing() {
        let pixels = vec![90u8; 600 * 200 * 4];
        let bytes = write_png(&pixels, 600, 200, PngColor::Rgb);
        // Under 1% of the 360 KB of raw RGB.
        assert!(bytes.len() < 3_600, "{} bytes", bytes.len());
    }
}
