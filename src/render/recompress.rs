//! A second, slower encoding of a finished PNG, for images that are served
//! again and again: the same rows, filtered row by row with whichever of
//! PNG's five filters suits each, and compressed at zlib's level 6.
//!
//! The render path writes PNGs with `png_writer.rs`, which spends as
//! little CPU as it can on the first open (one filter for every row, a
//! quick tokenizer): about a third more bytes than a careful encoder. Once
//! an image has shown that it is wanted, the render cache spends a few
//! milliseconds more, once, off the request path, so that every later open
//! downloads less. The pixels do not change, only their encoding.
//!
//! Only the PNGs our own writer makes are re-encoded: 8-bit truecolour or
//! grey, with or without alpha, not interlaced, and no chunk but `IHDR`,
//! `IDAT` and `IEND`. Anything else (a palette, text, a colour profile)
//! would have to be carried over, and is left as it is instead.

use std::io::Cursor;

/// The eight bytes every PNG starts with.
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// zlib's default level, and Pillow's. On the benchmarks' reference card
/// (`examples/compact_card.rs`, `docs/benchmarks.md`) it writes 47.7 KB
/// where the render path writes 67.1 KB, in about 19 renders' time; level
/// 9 saves 3 KB more for 3.3 times the CPU, a render slot held that much
/// longer, and level 3 takes a third of the time for 51.0 KB.
const COMPACT_LEVEL: u8 = 6;

/// `png`, re-encoded at [`COMPACT_LEVEL`] with a filter chosen for each
/// row, if that is smaller; `None` when it is not, or when `png` is not
/// a PNG this module re-encodes (see the module's documentation).
pub fn compact_png(png: &[u8]) -> Option<Vec<u8>> {
    if !only_critical_chunks(png) {
        return None;
    }
    let mut decoder = png::Decoder::new(Cursor::new(png));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().ok()?;
    let mut rows = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut rows).ok()?;
    rows.truncate(frame.buffer_size());
    let reencodable = frame.bit_depth == png::BitDepth::Eight
        && frame.color_type != png::ColorType::Indexed
        && !reader.info().interlaced;
    if !reencodable {
        return None;
    }
    let compact = encode(&frame, &rows).ok()?;
    (compact.len() < png.len()).then_some(compact)
}

/// Whether `bytes` start like a PNG: what the render cache checks before it
/// offers an image to [`compact_png`].
pub fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(PNG_SIGNATURE)
}

/// The rows of `frame`, written at [`COMPACT_LEVEL`], each row with the
/// filter whose output has the least entropy: on the reference card 1%
/// smaller than the sum-of-differences rule, in the same time.
fn encode(frame: &png::OutputInfo, rows: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut compact = Vec::with_capacity(rows.len() / 4);
    let mut encoder = png::Encoder::new(&mut compact, frame.width, frame.height);
    encoder.set_color(frame.color_type);
    encoder.set_depth(frame.bit_depth);
    encoder.set_deflate_compression(png::DeflateCompression::Level(COMPACT_LEVEL));
    encoder.set_filter(png::Filter::MinEntropy);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rows)?;
    writer.finish()?;
    Ok(compact)
}

/// Whether `png` is a PNG whose chunks are all `IHDR`, `IDAT` or `IEND`:
/// the only ones a re-encoding reproduces. The decoder checks the rest
/// (lengths, checksums, the compressed stream).
fn only_critical_chunks(png: &[u8]) -> bool {
    let Some(mut rest) = png.strip_prefix(PNG_SIGNATURE.as_slice()) else {
        return false;
    };
    while rest.len() >= 12 {
        let (head, after_head) = rest.split_at(8);
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if !matches!(&head[4..8], b"IHDR" | b"IDAT" | b"IEND") {
            return false;
        }
        // The data, then the four bytes of the chunk's CRC.
        let Some(after_chunk) = after_head.get(length.saturating_add(4)..) else {
            return false;
        };
        rest = after_chunk;
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG with every checksum verified: its colour type and rows.
    fn decode(png: &[u8]) -> (png::ColorType, Vec<u8>) {
        let mut decoder = png::Decoder::new(Cursor::new(png));
        decoder.set_transformations(png::Transformations::IDENTITY);
        let mut reader = decoder.read_info().expect("a valid PNG");
        let mut rows = vec![0; reader.output_buffer_size().expect("a small image")];
        let frame = reader.next_frame(&mut rows).expect("its rows decode");
        rows.truncate(frame.buffer_size());
        (frame.color_type, rows)
    }

    /// The benchmarks' photo background as the render path writes it
    /// (`test_fonts::photo_plan`).
    fn fast_png(radius: f32) -> Vec<u8> {
        use crate::render::test_fonts::photo_plan;
        use crate::render::{FontBook, Renderer};
        let fonts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts");
        Renderer::new(FontBook::load(&fonts).expect("bundled fonts load"))
            .render(&photo_plan(radius))
            .expect("the photo renders")
    }

    #[test]
    fn compact_bytes_are_smaller_and_decode_to_the_same_pixels() {
        for (radius, color) in [(0.0, png::ColorType::Rgb), (16.0, png::ColorType::Rgba)] {
            let fast = fast_png(radius);
            assert_eq!(decode(&fast).0, color, "the case covers {color:?}");
            let compact = compact_png(&fast).expect("the fast PNG can be made smaller");
            assert!(
                compact.len() < fast.len(),
                "{color:?}: {} >= {}",
                compact.len(),
                fast.len()
            );
            assert_eq!(decode(&compact), decode(&fast), "{color:?}");
        }
    }

    #[test]
    fn only_our_own_kind_of_png_is_reencoded() {
        let fast = fast_png(0.0);
        assert!(is_png(&fast));
        assert!(!is_png(b"GIF89a"));
        assert_eq!(compact_png(b"GIF89a......"), None);
        assert_eq!(compact_png(&fast[..fast.len() - 5]), None, "cut short");
        // A text chunk before the image data would be lost: left as it is.
        let mut with_text = fast[..33].to_vec();
        with_text.extend_from_slice(&[0, 0, 0, 1]);
        with_text.extend_from_slice(b"tEXt");
        with_text.push(b'x');
        with_text.extend_from_slice(&crc32fast::hash(b"tEXtx").to_be_bytes());
        with_text.extend_from_slice(&fast[33..]);
        assert_eq!(decode(&with_text), decode(&fast), "the test's PNG is valid");
        assert_eq!(compact_png(&with_text), None);
    }
}
