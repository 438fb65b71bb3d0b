//! PNG files written straight from the canvas's rows: chunks, filters and
//! the tokens of `deflate.rs`, in one pass over the pixels.
//!
//! A general PNG encoder takes packed rows, so an opaque canvas had to be
//! copied to RGB first, then filtered into another buffer, then compressed
//! into a third. Here each row's difference from the row above is taken on
//! the RGBA words as they are (a loop the compiler vectorizes), and the
//! tokenizer reads it two pixels at a time, skipping the alpha byte when
//! writing RGB. Two pixels that did not change from the row above, which is
//! most of a card, cost one test.
//!
//! The rows are compressed in stripes of [`STRIPE_ROWS`], each stripe its
//! own deflate block ending on a byte boundary, in its own IDAT chunk, with
//! its own Adler-32: a stripe's bytes depend on its pixels alone. So an
//! incremental render keeps the stripes that no personalized layer touches
//! compressed, compresses only the others, and joins them (`assemble`):
//! the checksums combine, nothing is compressed twice. A stripe's first row
//! uses the Sub filter (it must not refer to the stripe above), every other
//! row the Up filter: cards are gradients, flat fills and images that change
//! little from one row to the next, and one fixed filter avoids trying all
//! five per row. Each stripe's Huffman table is fitted to every fourth row
//! of it, which is close enough to the stripe and a quarter of the work.
//! The file is a pure function of the pixels: the same pixels give the same
//! bytes whichever stripes were kept.

use crate::render::deflate::{Adler32, BlockWriter, Histogram, Tokens, ZLIB_HEADER, end_stream};

/// Rows per stripe: small enough that a line of text re-encodes little
/// more than its own rows, large enough that the per-stripe costs (a
/// Huffman table of about 80 bytes, a chunk's 12) stay a few percent.
pub(crate) const STRIPE_ROWS: u32 = 16;

/// What the pixels of a row hold, and how they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PngColor {
    /// RGBA rows written as RGB: the alpha byte is left out.
    Rgb,
    /// RGBA rows written as they are.
    Rgba,
}

/// One stripe of rows, compressed: a whole IDAT chunk (the first stripe's
/// starts with the zlib header), and the Adler-32 and length of the
/// filtered bytes it holds.
#[derive(Debug, Clone)]
pub(crate) struct EncodedStripe {
    chunk: Vec<u8>,
    checksum: Adler32,
    raw_len: u64,
}

impl EncodedStripe {
    /// Bytes held, for a cache's bound.
    pub(crate) fn len(&self) -> usize {
        self.chunk.len()
    }

    /// Frees the room left over from compressing, for a stripe that is kept.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.chunk.shrink_to_fit();
    }
}

/// How many stripes an image of `height` rows has.
pub(crate) fn stripe_count(height: u32) -> usize {
    height.div_ceil(STRIPE_ROWS) as usize
}

/// The image rows of stripe `index`.
pub(crate) fn stripe_rows(index: usize, height: u32) -> std::ops::Range<u32> {
    let start = index as u32 * STRIPE_ROWS;
    start..(start + STRIPE_ROWS).min(height)
}

/// Writes `pixels`, `width` x `height` RGBA pixels row by row, as a PNG.
pub(crate) fn write_png(pixels: &[u8], width: u32, height: u32, color: PngColor) -> Vec<u8> {
    let row_len = width as usize * 4;
    debug_assert_eq!(pixels.len(), row_len * height as usize);
    let stripes: Vec<EncodedStripe> = (0..stripe_count(height))
        .map(|index| {
            let rows = stripe_rows(index, height);
            let bytes = &pixels[rows.start as usize * row_len..rows.end as usize * row_len];
            encode_stripe(bytes, width, index == 0, color)
        })
        .collect();
    assemble(width, height, color, stripes.iter())
}

/// Compresses one stripe: `pixels` holds its rows, RGBA; `first` says
/// whether it is the image's first stripe, whose chunk carries the zlib
/// header.
pub(crate) fn encode_stripe(
    pixels: &[u8],
    width: u32,
    first: bool,
    color: PngColor,
) -> EncodedStripe {
    let row_len = width as usize * 4;
    let rows: Vec<&[u8]> = pixels.chunks_exact(row_len.max(1)).collect();
    let mut difference = vec![0u8; row_len];
    let filter = |index: usize, difference: &mut [u8]| match index {
        0 => {
            sub_difference(rows[0], difference);
            FILTER_SUB
        }
        _ => {
            up_difference(rows[index], rows[index - 1], difference);
            FILTER_UP
        }
    };

    // The Huffman table, from the first row and every fourth after it
    // (every row of a short stripe).
    let sample_every = if rows.len() >= 8 { 4 } else { 1 };
    let mut histogram = Histogram::new();
    for index in (0..rows.len()).step_by(sample_every) {
        let kind = filter(index, &mut difference);
        tokenize_row(kind, &difference, color, &mut histogram);
    }

    let channels = match color {
        PngColor::Rgb => 3,
        PngColor::Rgba => 4,
    };
    let raw_len = ((width as usize * channels + 1) * rows.len()) as u64;
    let mut chunk = Vec::new();
    let mut checksum = Adler32::new();
    write_chunk(&mut chunk, *b"IDAT", |out| {
        if first {
            out.extend_from_slice(&ZLIB_HEADER);
        }
        let start = out.len();
        out.resize(start + BlockWriter::room(raw_len as usize), 0);
        let mut block = BlockWriter::new(&mut out[start..], &histogram);
        for index in 0..rows.len() {
            let kind = filter(index, &mut difference);
            tokenize_row(kind, &difference, color, &mut block);
            checksum.byte(kind);
            let (pixels, _) = difference.as_chunks::<4>();
            match color {
                PngColor::Rgb => checksum.pixels::<3>(pixels),
                PngColor::Rgba => checksum.pixels::<4>(pixels),
            }
        }
        let written = block.finish();
        out.truncate(start + written);
    });
    EncodedStripe {
        chunk,
        checksum,
        raw_len,
    }
}

/// The PNG of a `width` x `height` image from its stripes, in order: the
/// header chunks, each stripe's chunk as it is, and a last IDAT chunk that
/// ends the zlib stream with the checksum joined from the stripes'.
pub(crate) fn assemble<'a>(
    width: u32,
    height: u32,
    color: PngColor,
    stripes: impl Iterator<Item = &'a EncodedStripe> + Clone,
) -> Vec<u8> {
    let data_len: usize = stripes.clone().map(EncodedStripe::len).sum();
    let mut out = Vec::with_capacity(data_len + 64);
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
    let mut checksum = Adler32::new();
    for stripe in stripes {
        out.extend_from_slice(&stripe.chunk);
        checksum = checksum.combine(stripe.checksum, stripe.raw_len);
    }
    write_chunk(&mut out, *b"IDAT", |out| end_stream(out, checksum));
    write_chunk(&mut out, *b"IEND", |_| {});
    out
}

/// The PNG filter types used: Sub for a stripe's first row, Up for the rest.
const FILTER_SUB: u8 = 1;
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

/// `row` minus the pixel to its left, channel by channel (the Sub filter:
/// on RGBA words this is also RGB's Sub once alpha is left out); the first
/// pixel has nothing to its left.
fn sub_difference(row: &[u8], difference: &mut [u8]) {
    difference[..4.min(row.len())].copy_from_slice(&row[..4.min(row.len())]);
    for ((out, &byte), &left) in difference[4..].iter_mut().zip(&row[4..]).zip(row) {
        *out = byte.wrapping_sub(left);
    }
}

/// `row` minus the row above it, byte by byte (the Up filter).
fn up_difference(row: &[u8], above: &[u8], difference: &mut [u8]) {
    for ((out, &byte), &up) in difference.iter_mut().zip(row).zip(above) {
        *out = byte.wrapping_sub(up);
    }
}

/// Sends one filtered row, given as RGBA differences, to `tokens`: the filter
/// type, then the bytes of each pixel (without alpha for RGB), with runs of
/// zeros as runs.
fn tokenize_row(filter: u8, difference: &[u8], color: PngColor, tokens: &mut impl Tokens) {
    tokens.literal(filter);
    let (pixels, _) = difference.as_chunks::<4>();
    match color {
        PngColor::Rgb => tokens.row::<3>(pixels),
        PngColor::Rgba => tokens.row::<4>(pixels),
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
        for (width, height) in [
            (1, 1),
            (1, 7),
            (7, 1),
            (5, 3),
            (3, 16),
            (9, 33),
            (33, 20),
            (600, 40),
        ] {
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
