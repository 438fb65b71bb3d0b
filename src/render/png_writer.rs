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
//! A stripe that a personalized layer draws over a kept photo (or over a
//! gradient whose table fits it nearly as well) is coded with the kept
//! stripe's table instead, and the rows and segments of rows it shares
//! with it copied ([`StripeCoding::Over`]). So a file is a pure function
//! of its pixels and, for a render with fixed layers, of the fixed
//! layers' pixels.

use std::borrow::Cow;

use crate::render::adler32::Adler32;
use crate::render::deflate::{
    BlockCode, BlockWriter, Checkpoint, CodeTables, Histogram, KeptRow, SEGMENT_PIXELS, Tokens,
    ZLIB_HEADER, end_stream,
};

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
    /// How the rows were coded, so that a stripe coded over this one
    /// ([`StripeCoding::Over`]) can copy what it shares: the block's code,
    /// where each row's bits start in `chunk` (and, last, where the rows
    /// end), and for a kept stripe each row's own Adler-32 and
    /// checkpoints, one per segment, row after row.
    code: BlockCode,
    /// For a kept stripe, what its code writes with.
    tables: Option<Box<CodeTables>>,
    /// Where the block starts in `chunk`, in bits: its header and table of
    /// code lengths run from there to the first row.
    origin: u64,
    row_bits: [u64; STRIPE_ROWS as usize + 1],
    row_checksums: [Adler32; STRIPE_ROWS as usize],
    checkpoints: Vec<Checkpoint>,
}

impl EncodedStripe {
    /// Whether stripes coded over this one may copy from it: it was coded
    /// to be kept ([`StripeCoding::Kept`]).
    pub(crate) fn is_joinable(&self) -> bool {
        !self.checkpoints.is_empty()
    }

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
            encode_stripe(bytes, width, index == 0, color, StripeCoding::Alone)
        })
        .collect();
    assemble(width, height, color, stripes.iter())
}

/// How a stripe is coded.
#[derive(Clone, Copy)]
pub(crate) enum StripeCoding<'a> {
    /// On its own, with a Huffman code fitted to its rows.
    Alone,
    /// On its own, to be kept: its rows also note their checkpoints, so
    /// that stripes coded over this one can copy any segment of them.
    Kept,
    /// Over `kept`, the same stripe of a personalized render's fixed
    /// layers; `drawn` and `kept_drawn` are the two stripes' pixels as
    /// drawn, compared to find the rows and segments they share.
    ///
    /// Over a photo (a kept stripe with a dense code) the stripe is coded
    /// with the kept stripe's Huffman code, not one fitted to its own rows.
    /// Then a row, or a segment of a row, whose filtered bytes are the kept
    /// one's codes to the kept bits for it, and those are copied: a line of
    /// text reaches only some rows of a stripe and some of each row, and a
    /// photo's pixels are the dearest to code. The cost is a code fitted to
    /// the photo alone, which the text's few colors barely lengthen. Over
    /// rows of mostly zeros (a gradient, a flat card) the kept codes are
    /// used only where they code the sampled rows of the run of stripes
    /// ([`encode_run`]) within [`JOIN_COST_SHARE`] of a code fitted to
    /// them; text over a flat color needs literals that a flat color's
    /// code makes long, and is coded with the run's fitted code.
    Over {
        kept: &'a EncodedStripe,
        drawn: &'a [u8],
        kept_drawn: &'a [u8],
    },
}

/// The most a kept sparse code may cost over a fitted one, as a fraction
/// (1/16, 6.25%), for a stripe to be coded with it and join the kept rows.
/// The spike's loyalty card (text over a gradient) has its stripes within
/// 2% to 5%, so joined; text over a flat color, 5% to 25%, is coded alone.
const JOIN_COST_SHARE: u64 = 16;

/// Compresses one stripe: `pixels` holds its rows, RGBA; `first` says
/// whether it is the image's first stripe, whose chunk carries the zlib
/// header.
pub(crate) fn encode_stripe(
    pixels: &[u8],
    width: u32,
    first: bool,
    color: PngColor,
    coding: StripeCoding<'_>,
) -> EncodedStripe {
    if let StripeCoding::Over { .. } = coding {
        let stripe = StripeToCode {
            pixels,
            first,
            coding,
        };
        let mut coded = encode_run(&[stripe], width, color);
        if let Some(stripe) = coded.pop() {
            return stripe;
        }
    }
    let rows = stripe_row_slices(pixels, width);
    let histogram = sampled_histogram(&rows, width, color, 4);
    let code = BlockCode::fit(&histogram);
    let writing = match coding {
        StripeCoding::Kept => Writing::Noted,
        _ => Writing::Coded,
    };
    write_stripe(&rows, first, color, code, None, writing)
}

/// One stripe of a run for [`encode_run`], as [`encode_stripe`] takes it.
#[derive(Clone, Copy)]
pub(crate) struct StripeToCode<'a> {
    pub(crate) pixels: &'a [u8],
    pub(crate) first: bool,
    pub(crate) coding: StripeCoding<'a>,
}

/// Compresses a run of adjacent stripes that a personalized render drew
/// anew, each over its kept stripe ([`StripeCoding::Over`]). One over a
/// photo is joined to its kept stripe. The others are decided together,
/// on the histogram of the run's sampled rows: joined to their kept
/// stripes if the kept codes cost those rows at most [`JOIN_COST_SHARE`]
/// more than one code fitted to them all, else each coded alone with that
/// one code. A line of text crosses several stripes, alike in what they
/// hold, and fitting a code costs about as much as coding a stripe's
/// changed rows, so a run fits one code, not one a stripe.
pub(crate) fn encode_run(
    stripes: &[StripeToCode<'_>],
    width: u32,
    color: PngColor,
) -> Vec<EncodedStripe> {
    // A stripe alone samples every fourth row; a run, alike from stripe to
    // stripe, every eighth.
    let run_sampling = if stripes.len() > 1 { 8 } else { 4 };
    let mut histogram = Histogram::new();
    let mut kept_cost = 0u64;
    let mut joinable = true;
    for stripe in stripes.iter().filter(|stripe| !over_photo(&stripe.coding)) {
        let rows = stripe_row_slices(stripe.pixels, width);
        let sampled = sampled_histogram(&rows, width, color, run_sampling);
        match stripe.coding {
            StripeCoding::Over { kept, .. } if kept.is_joinable() => {
                kept_cost += kept.code.cost(&sampled);
            }
            _ => joinable = false,
        }
        histogram.add(&sampled);
    }
    // Over photos only, no code is fitted.
    let mut code = stripes
        .iter()
        .any(|stripe| !over_photo(&stripe.coding))
        .then(|| BlockCode::fit(&histogram));
    let join = joinable
        && code.as_ref().is_some_and(|code| {
            kept_cost * JOIN_COST_SHARE <= code.cost(&histogram) * (JOIN_COST_SHARE + 1)
        });
    // The run's code's tables, worked out once for all its stripes coded
    // alone.
    let mut tables = None;
    let mut coded = Vec::with_capacity(stripes.len());
    for stripe in stripes {
        let rows = stripe_row_slices(stripe.pixels, width);
        coded.push(match stripe.coding {
            StripeCoding::Over {
                kept,
                drawn,
                kept_drawn,
            } if join || over_photo(&stripe.coding) => {
                let same = SameAsKept::compare(drawn, kept_drawn, width);
                let writing = Writing::Joined { kept, same: &same };
                let code = kept.code.clone();
                write_stripe(&rows, stripe.first, color, code, None, writing)
            }
            _ => {
                let code = code.get_or_insert_with(|| BlockCode::fit(&histogram));
                let tables = tables.get_or_insert_with(|| CodeTables::new(code));
                let (code, writing) = (code.clone(), Writing::Coded);
                write_stripe(&rows, stripe.first, color, code, Some(tables), writing)
            }
        });
    }
    coded
}

/// Whether a stripe is coded over a kept photo: a kept stripe whose code
/// is dense, which it is always joined to.
fn over_photo(coding: &StripeCoding<'_>) -> bool {
    matches!(coding, StripeCoding::Over { kept, .. } if kept.is_joinable() && kept.code.is_dense())
}

/// The histogram of a stripe's Huffman table: its first row and every
/// `every`th after it (every row of a short stripe).
fn sampled_histogram(rows: &[&[u8]], width: u32, color: PngColor, every: usize) -> Histogram {
    let mut difference = vec![0u8; width as usize * 4];
    let sample_every = if rows.len() >= 8 { every } else { 1 };
    let mut histogram = Histogram::new();
    for index in (0..rows.len()).step_by(sample_every) {
        let kind = filter(rows, index, &mut difference);
        tokenize_row(kind, &difference, color, &mut histogram);
    }
    histogram
}

/// How [`write_stripe`] writes rows.
#[derive(Clone, Copy)]
enum Writing<'a> {
    /// Each row coded.
    Coded,
    /// Each row coded, its checkpoints and checksum noted.
    Noted,
    /// Rows and segments the same as `kept`'s copied, the rest coded.
    Joined {
        kept: &'a EncodedStripe,
        same: &'a SameAsKept,
    },
}

/// Which segments ([`SEGMENT_PIXELS`]) of a stripe's rows hold the same
/// pixels as the kept stripe's.
pub(crate) struct SameAsKept {
    segments: usize,
    /// Row after row, a flag per segment.
    same: Vec<bool>,
}

impl SameAsKept {
    /// Compares two stripes' rows of `width` pixels of four bytes: a row
    /// at once, and segment by segment where it differs.
    pub(crate) fn compare(pixels: &[u8], kept_pixels: &[u8], width: u32) -> SameAsKept {
        let segments = (width as usize).div_ceil(SEGMENT_PIXELS);
        let row_len = (width as usize * 4).max(1);
        let mut same = Vec::with_capacity(pixels.len() / row_len * segments);
        for (row, kept_row) in pixels
            .chunks_exact(row_len)
            .zip(kept_pixels.chunks_exact(row_len))
        {
            if row == kept_row {
                same.resize(same.len() + segments, true);
                continue;
            }
            let segment_bytes = SEGMENT_PIXELS * 4;
            same.extend(
                row.chunks(segment_bytes)
                    .zip(kept_row.chunks(segment_bytes))
                    .map(|(segment, kept_segment)| segment == kept_segment),
            );
        }
        SameAsKept { segments, same }
    }

    fn pixels(&self, row: usize, segment: usize) -> bool {
        self.same
            .get(row * self.segments + segment)
            .copied()
            .unwrap_or(false)
    }

    /// Whether a segment's filtered bytes are the kept stripe's: its
    /// pixels are, and those the filter reads, the row above's for Up, for
    /// the first row's Sub the pixel to the left (its segment's, to keep
    /// this simple).
    fn filtered(&self, row: usize, segment: usize) -> bool {
        self.pixels(row, segment)
            && match row {
                0 => segment == 0 || self.pixels(0, segment - 1),
                _ => self.pixels(row - 1, segment),
            }
    }

    fn filtered_row(&self, row: usize) -> bool {
        (0..self.segments).all(|segment| self.filtered(row, segment))
    }
}

/// The rows of a stripe's RGBA pixels.
fn stripe_row_slices(pixels: &[u8], width: u32) -> Vec<&[u8]> {
    pixels.chunks_exact((width as usize * 4).max(1)).collect()
}

/// Filters row `index` of a stripe into `difference`, returning the filter
/// type: Sub for the first row, Up for the rest.
fn filter(rows: &[&[u8]], index: usize, difference: &mut [u8]) -> u8 {
    if index == 0 {
        sub_difference(rows[0], difference);
        FILTER_SUB
    } else {
        up_difference(rows[index], rows[index - 1], difference);
        FILTER_UP
    }
}

/// Writes a stripe's chunk with `code` as `writing` says: each row filtered
/// and coded, or copied from the kept stripe where its filtered bytes are
/// the kept one's, whole or segment by segment. `tables` are `code`'s, if
/// the caller has worked them out already.
fn write_stripe(
    rows: &[&[u8]],
    first: bool,
    color: PngColor,
    code: BlockCode,
    tables: Option<&CodeTables>,
    writing: Writing<'_>,
) -> EncodedStripe {
    let channels = match color {
        PngColor::Rgb => 3,
        PngColor::Rgba => 4,
    };
    let row_len = rows.first().map_or(0, |row| row.len());
    let raw_row_len = (row_len / 4 * channels + 1) as u64;
    let raw_len = raw_row_len * rows.len() as u64;
    let mut difference = vec![0u8; row_len];
    let mut chunk = Vec::new();
    let mut checksum = Adler32::new();
    let mut row_bits = [0u64; STRIPE_ROWS as usize + 1];
    let mut row_checksums = [Adler32::new(); STRIPE_ROWS as usize];
    let mut checkpoints = Vec::new();
    if let Writing::Noted = writing {
        checkpoints.reserve(rows.len() * (row_len / 4).div_ceil(SEGMENT_PIXELS));
    }
    // Over a kept stripe, its code's tables are kept with it, and its
    // block's header and table of code lengths are copied.
    let kept_tables = match writing {
        Writing::Joined { kept, .. } => kept.tables.as_deref().map(|tables| (kept, tables)),
        _ => None,
    };
    let tables = match (kept_tables, tables) {
        (Some((_, tables)), _) | (None, Some(tables)) => Cow::Borrowed(tables),
        (None, None) => Cow::Owned(CodeTables::new(&code)),
    };
    let mut origin = 0;
    write_chunk(&mut chunk, *b"IDAT", |out| {
        if first {
            out.extend_from_slice(&ZLIB_HEADER);
        }
        let start = out.len();
        // The block's room starts at what a stripe of few changes takes and
        // grows to the worst case (every byte a longest code) only when a
        // row might not fit: zeroing the worst case at once took a tenth of
        // a flat card's render, for blocks a few times smaller.
        let row_len = raw_row_len as usize;
        out.resize(start + BlockWriter::room(raw_len as usize / 4 + row_len), 0);
        origin = start as u64 * 8;
        let mut block = match kept_tables {
            Some((kept, tables)) => {
                let mut block = BlockWriter::after_header(&mut out[start..], tables);
                block.copy_bits(&kept.chunk, kept.origin..kept.row_bits[0]);
                block
            }
            None => BlockWriter::new(&mut out[start..], &code, &tables),
        };
        for index in 0..rows.len() {
            if !block.has_room(row_len) {
                let paused = block.pause();
                out.resize(start + BlockWriter::room(raw_len as usize), 0);
                block = BlockWriter::resume(&mut out[start..], &tables, paused);
            }
            row_bits[index] = origin + block.bit_position();
            match writing {
                Writing::Joined { kept, same } if same.filtered_row(index) => {
                    let bits = kept.row_bits[index]..kept.row_bits[index + 1];
                    block.copy_bits(&kept.chunk, bits);
                    checksum = checksum.combine(kept.row_checksums[index], raw_row_len);
                }
                // A row the same as the one above, as most of a flat
                // card's are: its Up filter is all zeros, coded and summed
                // as a run of them, the same bytes as coding it, with no
                // pass over the row but the comparison.
                Writing::Coded
                    if index > 0 && raw_row_len > 1 && rows[index] == rows[index - 1] =>
                {
                    let zeros = raw_row_len - 1;
                    block.literal(FILTER_UP);
                    block.zeros(zeros as u32);
                    checksum.byte(FILTER_UP);
                    checksum.zeros(zeros);
                }
                _ => {
                    let kind = filter(rows, index, &mut difference);
                    block.literal(kind);
                    let (pixels, _) = difference.as_chunks::<4>();
                    // A kept stripe keeps each row's own checksum, for the
                    // rows later copied from it; the others add each row to
                    // the stripe's at once.
                    let noting = matches!(writing, Writing::Noted);
                    let mut row_checksum = Adler32::new();
                    let sum = if noting {
                        &mut row_checksum
                    } else {
                        &mut checksum
                    };
                    sum.byte(kind);
                    let row = CodedRow {
                        index,
                        writing,
                        origin,
                    };
                    match color {
                        PngColor::Rgb => {
                            row.write::<3>(&mut block, pixels, &mut checkpoints);
                            sum.pixels::<3>(pixels);
                        }
                        PngColor::Rgba => {
                            row.write::<4>(&mut block, pixels, &mut checkpoints);
                            sum.pixels::<4>(pixels);
                        }
                    }
                    if noting {
                        row_checksums[index] = row_checksum;
                        checksum = checksum.combine(row_checksum, raw_row_len);
                    }
                }
            }
        }
        row_bits[rows.len()] = origin + block.bit_position();
        let written = block.finish();
        out.truncate(start + written);
    });
    let tables = matches!(writing, Writing::Noted).then(|| Box::new(tables.into_owned()));
    EncodedStripe {
        chunk,
        checksum,
        raw_len,
        code,
        tables,
        origin,
        row_bits,
        row_checksums,
        checkpoints,
    }
}

/// A row of a stripe to code, after its filter type.
struct CodedRow<'a> {
    index: usize,
    writing: Writing<'a>,
    /// Where the block starts in its chunk, in bits.
    origin: u64,
}

impl CodedRow<'_> {
    fn write<const CHANNELS: usize>(
        &self,
        block: &mut BlockWriter<'_>,
        pixels: &[[u8; 4]],
        checkpoints: &mut Vec<Checkpoint>,
    ) {
        match self.writing {
            Writing::Noted => block.row_noting::<CHANNELS>(pixels, self.origin, checkpoints),
            Writing::Joined { kept, same } => {
                let segments = same.segments;
                let row_checkpoints = kept
                    .checkpoints
                    .get(self.index * segments..(self.index + 1) * segments);
                match row_checkpoints {
                    Some(checkpoints) => {
                        let kept_row = KeptRow {
                            bits: &kept.chunk,
                            checkpoints,
                            end: kept.row_bits[self.index + 1],
                        };
                        block.row_over::<CHANNELS>(pixels, &kept_row, |segment| {
                            same.filtered(self.index, segment)
                        });
                    }
                    None => block.row::<CHANNELS>(pixels),
                }
            }
            Writing::Coded => block.row::<CHANNELS>(pixels),
        }
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

    /// A stripe coded over a kept one copies the rows and segments they
    /// share, and the copies are the bits coding them gives: the bytes
    /// equal those of the stripe coded pixel by pixel with the kept
    /// stripe's code, and decode to the stripe's own pixels. A change
    /// makes the pixels under it coded too (the Up filter reads them), and
    /// the segment to its right in a first row (Sub reads to the left).
    /// Over a photo (a dense code) and over a gradient (a sparse one).
    #[test]
    fn stripes_over_a_kept_one_copy_what_coding_would_write() {
        let width = 150u32;
        let row_len = width as usize * 4;
        let mut joined_sparse = 0;
        for rows in [16usize, 5, 1] {
            // Changes as (row, first byte, last byte, value): none, over a
            // segment's edge, at the row's start and end, one pixel, whole
            // rows.
            let changes: [Vec<(usize, usize, usize, u8)>; 8] = [
                vec![],
                vec![(0, 100, 160, 255)],
                vec![(rows / 2, 120, 140, 255), (rows / 2, 400, 420, 255)],
                vec![(rows - 1, 0, 4, 255), (rows - 1, 596, 600, 255)],
                (0..rows)
                    .step_by(2)
                    .map(|row| (row, 252, 256, 255))
                    .collect(),
                (0..rows).map(|row| (row, 0, 600, 255)).collect(),
                vec![(rows - 1, 300, 600, 255)],
                vec![(rows / 2, 256, 260, 1)],
            ];
            // A photo's rows with flat stretches (zeros and changes mixed,
            // runs pending at some checkpoints), and a gradient across the
            // rows, a step every eight pixels, with a speck (mostly zeros).
            let photo: Vec<u8> = noise(rows as u64 + 3, rows * row_len)
                .iter()
                .enumerate()
                .map(|(at, &byte)| if (at / 96) % 3 == 1 { 7 } else { byte })
                .collect();
            let mut gradient: Vec<u8> = (0..rows * row_len)
                .map(|at| (at % row_len / 32 * 5) as u8)
                .collect();
            gradient[40] = 90;
            for (first, color) in [(true, PngColor::Rgb), (false, PngColor::Rgba)] {
                for (name, kept_pixels) in [("photo", &photo), ("gradient", &gradient)] {
                    let kept = encode_stripe(kept_pixels, width, first, color, StripeCoding::Kept);
                    assert_eq!(kept.code.is_dense(), name == "photo");
                    assert_eq!(kept.checkpoints.len(), rows * 5);
                    let unlike: Vec<u8> = kept_pixels.iter().map(|byte| !byte).collect();
                    for changed in &changes {
                        let mut pixels = kept_pixels.clone();
                        for &(row, start, end, value) in changed {
                            pixels[row * row_len + start..row * row_len + end].fill(value);
                        }
                        let over = |kept_drawn| {
                            let coding = StripeCoding::Over {
                                kept: &kept,
                                drawn: &pixels,
                                kept_drawn,
                            };
                            encode_stripe(&pixels, width, first, color, coding)
                        };
                        // Compared with pixels unlike all of its own, the
                        // stripe is coded pixel by pixel.
                        let (copied, coded) = (over(kept_pixels), over(&unlike));
                        let case = format!("{name}, {rows} rows, {color:?}, changed {changed:?}");
                        assert!(
                            copied.chunk == coded.chunk,
                            "{case}: copies differ from coding"
                        );
                        assert_eq!(copied.checksum.value(), coded.checksum.value(), "{case}");
                        joined_sparse +=
                            usize::from(name == "gradient" && copied.code == kept.code);
                        if first {
                            let png = assemble(width, rows as u32, color, std::iter::once(&copied));
                            let (_, decoded) = decode(&png);
                            let expected: Vec<u8> = pixels
                                .chunks_exact(4)
                                .flat_map(|pixel| pixel[..3].to_vec())
                                .collect();
                            assert!(decoded == expected, "{case}: decodes to other pixels");
                        }
                    }
                }
            }
        }
        assert!(joined_sparse > 0, "no stripe joined a gradient's rows");
    }

    /// A row the same as the one above is written as its run of zeros
    /// without being filtered: the bytes and checksum are those of coding
    /// every row's filtered bytes.
    #[test]
    fn rows_like_the_one_above_code_as_their_filtered_zeros_would() {
        let width = 37u32;
        let row_len = width as usize * 4;
        // Flat rows, a row of text-like specks, the same again, and flat.
        let mut pixels = vec![255u8; 16 * row_len];
        let specks = noise(3, row_len);
        for row in [4, 5, 6, 11] {
            pixels[row * row_len..(row + 1) * row_len].copy_from_slice(&specks);
        }
        for (first, color) in [(true, PngColor::Rgb), (false, PngColor::Rgba)] {
            let stripe = encode_stripe(&pixels, width, first, color, StripeCoding::Alone);
            let rows = stripe_row_slices(&pixels, width);
            let tables = CodeTables::new(&stripe.code);
            let channels = if color == PngColor::Rgb { 3 } else { 4 };
            let raw_row_len = width as usize * channels + 1;
            let mut expected = vec![0; BlockWriter::room(rows.len() * raw_row_len)];
            let mut block = BlockWriter::new(&mut expected, &stripe.code, &tables);
            let mut difference = vec![0; row_len];
            let mut checksum = Adler32::new();
            for index in 0..rows.len() {
                let kind = filter(&rows, index, &mut difference);
                tokenize_row(kind, &difference, color, &mut block);
                checksum.byte(kind);
                match color {
                    PngColor::Rgb => checksum.pixels::<3>(difference.as_chunks::<4>().0),
                    PngColor::Rgba => checksum.pixels::<4>(difference.as_chunks::<4>().0),
                }
            }
            let written = block.finish();
            let header = if first { ZLIB_HEADER.len() } else { 0 };
            let data = &stripe.chunk[8 + header..stripe.chunk.len() - 4];
            assert!(data == &expected[..written], "{color:?}: other bytes");
            assert_eq!(stripe.checksum.value(), checksum.value(), "{color:?}");
        }
    }

    /// A run of stripes over flat kept ones is coded with one code, fitted
    /// to the run, not one a stripe; the stripes join into a PNG that
    /// decodes to their pixels.
    #[test]
    fn a_run_over_flat_kept_stripes_is_coded_with_one_code() {
        let (width, rows) = (600u32, 16usize);
        let row_len = width as usize * 4;
        let kept_pixels = vec![255u8; rows * row_len];
        let kept: Vec<EncodedStripe> = (0..3)
            .map(|index| {
                let coding = StripeCoding::Kept;
                encode_stripe(&kept_pixels, width, index == 0, PngColor::Rgb, coding)
            })
            .collect();
        // Each stripe's "text" in colors of its own.
        let drawn: Vec<Vec<u8>> = (0..3)
            .map(|index| {
                let mut pixels = kept_pixels.clone();
                for row in 2..14 {
                    let line = &mut pixels[row * row_len + 400..row * row_len + 1600];
                    for (at, byte) in line.iter_mut().enumerate() {
                        *byte = [31, 96, 180, 230][(at * 7 + index) % 4] + index as u8 * 7;
                    }
                }
                pixels
            })
            .collect();
        let run: Vec<StripeToCode<'_>> = (0..3)
            .map(|index| StripeToCode {
                pixels: &drawn[index],
                first: index == 0,
                coding: StripeCoding::Over {
                    kept: &kept[index],
                    drawn: &drawn[index],
                    kept_drawn: &kept_pixels,
                },
            })
            .collect();
        let coded = encode_run(&run, width, PngColor::Rgb);
        assert_eq!(coded.len(), 3);
        assert!(coded.iter().all(|stripe| stripe.code == coded[0].code));
        assert!(coded[0].code != kept[0].code);
        let alone = encode_stripe(&drawn[1], width, false, PngColor::Rgb, StripeCoding::Alone);
        assert!(alone.code != coded[1].code, "the run's code is the run's");
        let png = assemble(width, 3 * rows as u32, PngColor::Rgb, coded.iter());
        let (color, decoded) = decode(&png);
        assert_eq!(color, png::ColorType::Rgb);
        let expected: Vec<u8> = drawn
            .concat()
            .chunks_exact(4)
            .flat_map(|pixel| pixel[..3].to_vec())
            .collect();
        assert!(decoded == expected);
    }

    /// Over a kept stripe of a flat color, a line of text is coded alone,
    /// with a code fitted to it, as a full render codes it: the flat
    /// color's code would make its literals long, where one fitted to the
    /// few colors of text in one color makes them short.
    #[test]
    fn text_over_a_flat_kept_stripe_is_coded_as_on_its_own() {
        let width = 600u32;
        let row_len = width as usize * 4;
        let kept_pixels = vec![255u8; 16 * row_len];
        let kept = encode_stripe(
            &kept_pixels,
            width,
            false,
            PngColor::Rgb,
            StripeCoding::Kept,
        );
        assert!(!kept.code.is_dense());
        let mut pixels = kept_pixels.clone();
        for row in 3..12 {
            for (at, byte) in pixels[row * row_len + 400..row * row_len + 880]
                .iter_mut()
                .enumerate()
            {
                *byte = [31, 31, 96, 180, 255][at * 7 % 5];
            }
        }
        let coding = StripeCoding::Over {
            kept: &kept,
            drawn: &pixels,
            kept_drawn: &kept_pixels,
        };
        let over = encode_stripe(&pixels, width, false, PngColor::Rgb, coding);
        let alone = encode_stripe(&pixels, width, false, PngColor::Rgb, StripeCoding::Alone);
        assert!(over.chunk == alone.chunk);
    }

    #[test]
    fn flat_images_compress_to_almost_nothing() {
        let pixels = vec![90u8; 600 * 200 * 4];
        let bytes = write_png(&pixels, 600, 200, PngColor::Rgb);
        // Under 1% of the 360 KB of raw RGB.
        assert!(bytes.len() < 3_600, "{} bytes", bytes.len());
    }
}
