//! A zlib stream writer made for filtered PNG rows: pixels of literals and
//! runs of zeros, Huffman-coded with a table fitted to the image.
//!
//! Encoding was most of a render's time with a general-purpose deflate, and
//! filtered rows of a card (gradients, flat fills, a little text) are mostly
//! pixels that did not change from the row above. So the only repeats this
//! writer codes are runs of zero bytes, as one literal zero and a match at
//! distance 1; every other pixel is a few literals. There is no hash table
//! and no search, a run of up to 259 zeros is one table look-up, and a
//! pixel's literals are joined and written at once, with no branch per byte;
//! in a photo's rows, with no branch per pixel either ([`BlockWriter::row`]).
//! Literal codes are at most [`MAX_LITERAL_CODE_LENGTH`] bits so that three
//! fit one write. The Huffman table is built from a histogram of the same
//! tokens (the caller takes it on a sample of the rows; `huffman.rs` fits
//! the code lengths), so a photo compresses about as well as a gradient.
//! The Adler-32 checksum is computed apart from the coding (`adler32.rs`).
//!
//! A stream is written in pieces that can be kept and joined: the zlib
//! header ([`ZLIB_HEADER`]), any number of dynamic blocks
//! ([`BlockWriter`]), each ended on a byte boundary by an empty stored
//! block, and the end ([`end_stream`]): an empty final block and the
//! Adler-32 of all the data, which [`Adler32::combine`] joins from each
//! block's own. So a PNG's rows can be compressed a stripe at a time, and
//! the stripes no recipient changes kept compressed (`png_writer.rs`). A
//! block written with the code of one kept before ([`BlockCode`]) can copy
//! that block's coded rows ([`BlockWriter::copy_bits`]) where its data is
//! the same. Each block is a pure function of its tokens and code, so
//! renders stay byte-for-byte deterministic.

use crate::render::adler32::Adler32;
use crate::render::huffman::code_lengths;

mod joins;
mod room;

pub(crate) use joins::{Checkpoint, CodeTables, KeptRow, SEGMENT_PIXELS};

/// Receives the tokens of the data to compress, in order. Implemented by the
/// [`Histogram`] that fits the table and by the [`BlockWriter`] that codes.
pub(crate) trait Tokens {
    /// One byte.
    fn literal(&mut self, byte: u8);
    /// The first `CHANNELS` bytes (3 or 4) of a little-endian pixel word, as
    /// literals.
    fn pixel<const CHANNELS: usize>(&mut self, pixel: u32);
    /// `count` zero bytes, at least one.
    fn zeros(&mut self, count: u32);
    /// The pixels of a row, given as little-endian RGBA words of which the
    /// first `CHANNELS` bytes (3 or 4) are kept: each pixel with a kept
    /// byte that is not zero as its kept bytes, literals all, and the
    /// pixels between them, all zeros, as runs of zeros. A run ends with
    /// its row. Writing a changed pixel whole, zero bytes and all, is
    /// cheaper than a branch per byte and costs little: a zero is the
    /// shortest literal.
    fn row<const CHANNELS: usize>(&mut self, pixels: &[[u8; 4]]);
}

/// The mask of the bytes of a little-endian pixel word that are written:
/// all but alpha, the top byte, for RGB.
const fn kept_bytes<const CHANNELS: usize>() -> u32 {
    if CHANNELS == 3 { 0x00ff_ffff } else { u32::MAX }
}

/// The zlib header: deflate with a 32 KiB window, no dictionary, the
/// "fastest" level mark.
pub(crate) const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];

/// Ends a zlib stream after its last [`BlockWriter`]: an empty final block
/// with fixed codes (its three header bits and the seven-bit end-of-block
/// code, padded: `03 00`), and the Adler-32 of all the data.
pub(crate) fn end_stream(out: &mut Vec<u8>, checksum: Adler32) {
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&checksum.value().to_be_bytes());
}

/// The longest literal code. Three literals (an RGB pixel) then take at most
/// 30 bits, one write; with 286 symbols, 10 bits leaves the code room.
const MAX_LITERAL_CODE_LENGTH: u32 = 10;

/// The longest run of zeros written with one look-up: a literal zero and the
/// longest match.
const MAX_SHORT_RUN: u32 = 1 + MAX_MATCH;

/// Counts how often each literal/length symbol would be written.
pub(crate) struct Histogram {
    counts: [u32; LITERAL_LENGTH_SYMBOLS],
    /// Pixels seen in rows, and how many of them were not zeros.
    pixels: usize,
    changed: usize,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            counts: [0; LITERAL_LENGTH_SYMBOLS],
            pixels: 0,
            changed: 0,
        }
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &Histogram) {
        for (count, &more) in self.counts.iter_mut().zip(&other.counts) {
            *count += more;
        }
        self.pixels += other.pixels;
        self.changed += other.changed;
    }
}

impl Tokens for Histogram {
    #[inline]
    fn literal(&mut self, byte: u8) {
        self.counts[usize::from(byte)] += 1;
    }

    fn zeros(&mut self, count: u32) {
        self.counts[0] += 1;
        let mut rest = count - 1;
        if rest > MAX_MATCH {
            let longest = (rest - 1) / MAX_MATCH;
            self.counts[LONGEST_MATCH_SYMBOL] += longest;
            rest -= longest * MAX_MATCH;
        }
        if rest >= MIN_MATCH {
            self.counts[usize::from(LENGTH_SYMBOLS[rest as usize])] += 1;
        } else {
            self.counts[0] += rest;
        }
    }

    #[inline]
    fn pixel<const CHANNELS: usize>(&mut self, pixel: u32) {
        for &byte in &pixel.to_le_bytes()[..CHANNELS] {
            self.counts[usize::from(byte)] += 1;
        }
        self.changed += 1;
    }

    /// The histogram is taken on a quarter of the rows, and there the
    /// mispredicted branches of a photo's rows cost less than the dependent
    /// additions of a count without branches (`docs/benchmarks.md`, "A
    /// photo's stripes without a branch per pixel").
    fn row<const CHANNELS: usize>(&mut self, pixels: &[[u8; 4]]) {
        self.pixels += pixels.len();
        row_with_branches::<CHANNELS>(self, pixels);
    }
}

/// [`Tokens::row`] with a branch per pixel, and one per two pixels that are
/// both zeros (most of a filtered card's pixels): the quickest way through
/// rows that are mostly zeros.
#[inline(always)]
fn row_with_branches<const CHANNELS: usize>(tokens: &mut impl Tokens, pixels: &[[u8; 4]]) {
    let mut zeros = 0u32;
    pixels_with_branches::<CHANNELS>(tokens, pixels, &mut zeros);
    if zeros > 0 {
        tokens.zeros(zeros);
    }
}

/// The pixels of [`row_with_branches`], carrying `zeros`, the run of zeros
/// pending before them and after them.
#[inline(always)]
fn pixels_with_branches<const CHANNELS: usize>(
    tokens: &mut impl Tokens,
    pixels: &[[u8; 4]],
    zeros: &mut u32,
) {
    let kept = kept_bytes::<CHANNELS>();
    let kept_pair = u64::from(kept) | (u64::from(kept) << 32);
    let mut pixel_after_zeros = |pixel: u32, zeros: &mut u32| {
        if pixel == 0 {
            *zeros += CHANNELS as u32;
        } else {
            if *zeros > 0 {
                tokens.zeros(*zeros);
                *zeros = 0;
            }
            tokens.pixel::<CHANNELS>(pixel);
        }
    };
    let (pairs, rest) = pixels.as_chunks::<2>();
    for [first, second] in pairs {
        let word = (u64::from(u32::from_le_bytes(*first))
            | u64::from(u32::from_le_bytes(*second)) << 32)
            & kept_pair;
        if word == 0 {
            *zeros += 2 * CHANNELS as u32;
            continue;
        }
        pixel_after_zeros(word as u32, zeros);
        pixel_after_zeros((word >> 32) as u32, zeros);
    }
    for pixel in rest {
        pixel_after_zeros(u32::from_le_bytes(*pixel) & kept, zeros);
    }
}

/// The Huffman code of a block's literals, lengths and end, kept as its
/// code lengths: all a block needs to be written again with the same codes,
/// which is what lets rows coded in one block be copied into another
/// ([`BlockWriter::copy_bits`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockCode {
    lengths: [u8; LITERAL_LENGTH_SYMBOLS],
    /// Whether changed pixels are common enough that rows are written
    /// without a branch per pixel ([`BlockWriter::row`]): speed only.
    dense: bool,
}

impl BlockCode {
    /// The code fitted to `histogram`. Every symbol gets a code, so data
    /// that the histogram did not see can still be written.
    pub(crate) fn fit(histogram: &Histogram) -> BlockCode {
        let mut counts = histogram.counts;
        counts[END_OF_BLOCK] = 1;
        for count in &mut counts {
            *count = count.saturating_add(1);
        }
        BlockCode {
            lengths: code_lengths(&counts, MAX_LITERAL_CODE_LENGTH),
            dense: histogram.changed * DENSE_SHARE >= histogram.pixels,
        }
    }

    /// Whether the rows this code was fitted to were a photo's, changed
    /// pixels and zeros mixed, rather than mostly zeros.
    pub(crate) fn is_dense(&self) -> bool {
        self.dense
    }

    /// The bits of the symbols `histogram` counted, coded with this code
    /// (a match's extra and distance bits left out: they are the same
    /// whatever the code).
    pub(crate) fn cost(&self, histogram: &Histogram) -> u64 {
        histogram
            .counts
            .iter()
            .zip(&self.lengths)
            .map(|(&count, &length)| u64::from(count) * u64::from(length))
            .sum()
    }
}

/// Two distance codes of one bit each, so that the distance code is
/// complete (some inflaters refuse an incomplete one); only the first,
/// distance 1, is ever used.
const DISTANCE_LENGTHS: [u8; 2] = [1, 1];

/// Writes one dynamic deflate block into a byte slice made large enough
/// for it ([`BlockWriter::room`]).
///
/// Bits are flushed without a branch: after each code the pending bits are
/// stored as a whole word at the write position, which then moves on by
/// the bytes completed. An unpredictable "is a word full?" test per code
/// cost more than these stores, and the position and pending bits stay in
/// registers where a `Vec`'s length would be reloaded through memory.
pub(crate) struct BlockWriter<'a> {
    out: &'a mut [u8],
    /// Where the next byte goes.
    at: usize,
    /// Bits not yet written, lowest first, and how many there are (< 8
    /// between calls; they are also stored at `out[at]`).
    bits: u64,
    bit_count: u32,
    /// Per literal byte: its bit-reversed code and its length.
    literals: [Code; 256],
    /// Per count from 0 to 258: how that many zeros that follow a zero are
    /// written (a match at distance 1 from 3 on, literal zeros below).
    zeros_after_zero: [Code; MAX_MATCH as usize + 1],
    /// Per count from 1 to [`MAX_SHORT_RUN`]: a whole run of zeros.
    runs: [Code; MAX_SHORT_RUN as usize + 1],
    end_of_block: Code,
    /// Whether changed pixels are common enough in the rows the histogram
    /// saw that rows are written without a branch per pixel
    /// ([`BlockWriter::row`]).
    dense: bool,
}

impl<'a> BlockWriter<'a> {
    /// The bytes a block of `raw_len` bytes of data can take at most: each
    /// byte is at most one literal of [`MAX_LITERAL_CODE_LENGTH`] bits (a run
    /// of zeros takes fewer), plus the table, the end and the word that the
    /// last flush stores.
    pub(crate) fn room(raw_len: usize) -> usize {
        BlockWriter::data_room(raw_len) + MAX_TABLE_BYTES
    }

    /// Starts a block with `code`, whose [`CodeTables`] are `tables`,
    /// written from the start of `out`, which has [`BlockWriter::room`] for
    /// the data to come: the block's header and its table of code lengths.
    pub(crate) fn new(out: &'a mut [u8], code: &BlockCode, tables: &CodeTables) -> BlockWriter<'a> {
        let mut writer = BlockWriter::after_header(out, tables);
        // BFINAL = 0, BTYPE = 2 (dynamic Huffman): more blocks follow.
        writer.put(Code {
            bits: 0b100,
            length: 3,
        });
        writer.write_table(&code.lengths, &DISTANCE_LENGTHS);
        writer
    }

    /// A block written with `tables` from the start of `out`, whose header
    /// and table of code lengths the caller writes (copied from a block
    /// with the same code, [`BlockWriter::copy_bits`]).
    pub(crate) fn after_header(out: &'a mut [u8], tables: &CodeTables) -> BlockWriter<'a> {
        BlockWriter {
            out,
            at: 0,
            bits: 0,
            bit_count: 0,
            literals: tables.literals,
            zeros_after_zero: tables.zeros_after_zero,
            runs: tables.runs,
            end_of_block: tables.end_of_block,
            dense: tables.dense,
        }
    }

    /// Ends the block, then pads to a byte boundary with an empty stored
    /// block (zlib's sync flush: three header bits, padding, and the
    /// lengths 0 and !0), so that the next block can be joined byte-wise.
    /// Returns the bytes written.
    pub(crate) fn finish(mut self) -> usize {
        self.put(self.end_of_block);
        // BFINAL = 0, BTYPE = 0 (stored).
        self.put(Code { bits: 0, length: 3 });
        // The last partial byte is already stored, its padding zeros.
        let end = self.at + usize::from(self.bit_count > 0);
        self.out[end..end + 4].copy_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        end + 4
    }

    /// Where the next bit goes, counted from the start of `out`.
    pub(crate) fn bit_position(&self) -> u64 {
        self.at as u64 * 8 + u64::from(self.bit_count)
    }

    /// Appends a code (at most 32 bits): stores the pending bits as a word
    /// and moves on by the whole bytes among them (at most 4 of the 39).
    #[inline(always)]
    fn put(&mut self, code: Code) {
        self.put_bits(u64::from(code.bits), code.length);
    }

    /// Appends `length` bits, at most [`MAX_PUT_BITS`], the same way.
    #[inline(always)]
    fn put_bits(&mut self, bits: u64, length: u32) {
        self.bits |= bits << self.bit_count;
        self.bit_count += length;
        self.out[self.at..self.at + 8].copy_from_slice(&self.bits.to_le_bytes());
        let whole_bytes = self.bit_count / 8;
        self.at += whole_bytes as usize;
        self.bits >>= whole_bytes * 8;
        self.bit_count -= whole_bytes * 8;
    }

    /// Writes the code lengths of the block header (RFC 1951, 3.2.7), each
    /// coded on its own: the run-length symbols 16 to 18 would save a few
    /// bytes of a table that is only a few hundred bytes long.
    fn write_table(&mut self, literal_lengths: &[u8], distance_lengths: &[u8]) {
        let all_lengths = || literal_lengths.iter().chain(distance_lengths);
        let mut counts = [0u32; CODE_LENGTH_SYMBOLS];
        for &length in all_lengths() {
            counts[usize::from(length)] += 1;
        }
        // A code of lengths must be complete, so it needs two symbols at least.
        if counts.iter().filter(|&&count| count > 0).count() < 2 {
            let unused = counts.iter().position(|&count| count == 0).unwrap_or(0);
            counts[unused] = 1;
        }
        let length_lengths = code_lengths(&counts, MAX_CODE_LENGTH_LENGTH);
        let length_codes = canonical_codes(&length_lengths);

        let field = |value: usize, length: u32| Code {
            bits: value as u32,
            length,
        };
        self.put(field(literal_lengths.len() - 257, 5));
        self.put(field(distance_lengths.len() - 1, 5));
        self.put(field(CODE_LENGTH_SYMBOLS - 4, 4));
        for &symbol in &CODE_LENGTH_ORDER {
            self.put(field(usize::from(length_lengths[symbol]), 3));
        }
        for &length in all_lengths() {
            self.put(length_codes[usize::from(length)]);
        }
    }
}

impl Tokens for BlockWriter<'_> {
    #[inline(always)]
    fn literal(&mut self, byte: u8) {
        self.put(self.literals[usize::from(byte)]);
    }

    #[inline(always)]
    fn pixel<const CHANNELS: usize>(&mut self, pixel: u32) {
        let bytes = pixel.to_le_bytes();
        // Three codes of at most 10 bits make one write; a fourth, a second.
        let mut code = Code::default();
        for &byte in &bytes[..CHANNELS.min(3)] {
            code = code.then(self.literals[usize::from(byte)]);
        }
        self.put(code);
        if CHANNELS == 4 {
            self.literal(bytes[3]);
        }
    }

    #[inline(always)]
    fn zeros(&mut self, count: u32) {
        if count <= MAX_SHORT_RUN {
            self.put(self.runs[count as usize]);
        } else {
            self.long_run(count);
        }
    }

    /// Writes a row where zeros and changes mix without a branch per pixel
    /// ([`BlockWriter::dense_pixels`]), or, in a block whose histogram saw
    /// mostly zeros, with one.
    #[inline(always)]
    fn row<const CHANNELS: usize>(&mut self, pixels: &[[u8; 4]]) {
        if !self.dense {
            return row_with_branches::<CHANNELS>(self, pixels);
        }
        let mut zeros = 0u32;
        self.dense_pixels::<CHANNELS>(pixels, &mut zeros);
        if zeros > 0 {
            self.zeros(zeros);
        }
    }
}

impl BlockWriter<'_> {
    /// Writes pixels of a row as [`Tokens::row`] does, carrying `zeros`,
    /// the run pending before them and after them.
    #[inline(always)]
    fn row_pixels<const CHANNELS: usize>(&mut self, pixels: &[[u8; 4]], zeros: &mut u32) {
        if self.dense {
            self.dense_pixels::<CHANNELS>(pixels, zeros);
        } else {
            pixels_with_branches::<CHANNELS>(self, pixels, zeros);
        }
    }

    /// Writes pixels of a row as [`Tokens::row`] does in a dense block,
    /// carrying `zeros`, the run pending before them and after them.
    ///
    /// In a photo's filtered rows about half the pixels are zeros, in no
    /// order the processor can predict, and a mispredicted branch costs
    /// more than writing a pixel. So here every pixel is written: the run
    /// of zeros before it and its own literals, both masked to an empty
    /// code when the pixel is zeros, and the run's length kept or
    /// restarted by the same mask. Eight pixels that are all zeros are
    /// still passed over with one test. Rows that are mostly zeros (a flat
    /// card's, with a line of text), as the histogram saw them, go the way
    /// with branches, which skips their zeros quicker.
    #[inline(always)]
    fn dense_pixels<const CHANNELS: usize>(&mut self, pixels: &[[u8; 4]], zeros: &mut u32) {
        let kept = kept_bytes::<CHANNELS>();
        let (octets, rest) = pixels.as_chunks::<8>();
        for octet in octets {
            let any = octet
                .iter()
                .fold(0, |any, pixel| any | u32::from_le_bytes(*pixel) & kept);
            if any == 0 {
                *zeros += 8 * CHANNELS as u32;
                continue;
            }
            for pixel in octet {
                self.masked_pixel::<CHANNELS>(u32::from_le_bytes(*pixel) & kept, zeros);
            }
        }
        for pixel in rest {
            self.masked_pixel::<CHANNELS>(u32::from_le_bytes(*pixel) & kept, zeros);
        }
    }
}

impl BlockWriter<'_> {
    /// One pixel of [`BlockWriter::dense_pixels`]': when it is not zeros, the run of
    /// zeros before it and its literals, else nothing; either way with no
    /// branch on which. A run too long for one look-up is the one branch,
    /// taken only where a long run ends.
    #[inline(always)]
    fn masked_pixel<const CHANNELS: usize>(&mut self, pixel: u32, zeros: &mut u32) {
        let written = u32::from(pixel != 0).wrapping_neg();
        if (*zeros > MAX_SHORT_RUN) & (pixel != 0) {
            self.long_run(*zeros);
            *zeros = 0;
        }
        let run = self.runs[(*zeros).min(MAX_SHORT_RUN) as usize].masked(written);
        let (mut bits, mut length) = (0u64, 0u32);
        for &byte in &pixel.to_le_bytes()[..CHANNELS] {
            let literal = self.literals[usize::from(byte)];
            bits |= u64::from(literal.bits) << length;
            length += literal.length;
        }
        // The same mask, 64 bits wide: four literals take up to 40 bits.
        let written_bits = u64::from(pixel != 0).wrapping_neg();
        let (bits, length) = (bits & written_bits, length & written);
        // The run and the pixel in one write, unless their codes are
        // longer than a write takes: possible, but not with a table fitted
        // to the data, where zeros have the shortest codes.
        if run.length + length <= MAX_PUT_BITS {
            self.put_bits(
                u64::from(run.bits) | bits << run.length,
                run.length + length,
            );
        } else {
            self.put(run);
            self.put_bits(bits, length);
        }
        *zeros = (*zeros + CHANNELS as u32) & !written;
    }

    /// A run too long for one look-up, kept out of line: it is rare.
    #[inline(never)]
    fn long_run(&mut self, count: u32) {
        self.put(self.literals[0]);
        let mut rest = count - 1;
        while rest > MAX_MATCH {
            self.put(self.zeros_after_zero[MAX_MATCH as usize]);
            rest -= MAX_MATCH;
        }
        self.put(self.zeros_after_zero[rest as usize]);
    }
}

/// A Huffman code, its bits reversed so that they can be written lowest
/// first as deflate wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Code {
    bits: u32,
    length: u32,
}

impl Code {
    /// This code where `mask` is all ones, the empty code where it is zero.
    #[inline(always)]
    fn masked(self, mask: u32) -> Code {
        Code {
            bits: self.bits & mask,
            length: self.length & mask,
        }
    }

    /// This code followed by `next`; the caller keeps the total within 32
    /// bits.
    #[inline(always)]
    fn then(self, next: Code) -> Code {
        Code {
            bits: self.bits | (next.bits << self.length),
            length: self.length + next.length,
        }
    }
}

/// A block is written without a branch per pixel when at least one pixel
/// in this many of its histogram's rows was not zeros
/// ([`BlockWriter::row`]).
const DENSE_SHARE: usize = 4;

/// The most bits one write appends: with fewer than 8 pending, they fit
/// the 64-bit word that is stored.
const MAX_PUT_BITS: u32 = 57;

/// Literals 0 to 255, end of block, lengths 257 to 285.
pub(super) const LITERAL_LENGTH_SYMBOLS: usize = 286;
const END_OF_BLOCK: usize = 256;
const LONGEST_MATCH_SYMBOL: usize = 285;
const MIN_MATCH: u32 = 3;
const MAX_MATCH: u32 = 258;
const CODE_LENGTH_SYMBOLS: usize = 19;
const MAX_CODE_LENGTH_LENGTH: u32 = 7;
/// The most a block's header and table take: 17 bits of header and counts,
/// 19 code-length lengths of 3 bits, and 288 lengths of at most 7 bits.
const MAX_TABLE_BYTES: usize = (17 + CODE_LENGTH_SYMBOLS * 3 + 288 * 7).div_ceil(8);
/// The order in which the code lengths of the code-length alphabet are sent.
const CODE_LENGTH_ORDER: [usize; CODE_LENGTH_SYMBOLS] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// The length symbol of each match length from 3 to 258 (RFC 1951, 3.2.5).
const LENGTH_SYMBOLS: [u16; MAX_MATCH as usize + 1] = length_symbols();

/// The extra bits that follow each match length's symbol.
const LENGTH_EXTRA: [Code; MAX_MATCH as usize + 1] = length_extra();

const fn length_extra() -> [Code; MAX_MATCH as usize + 1] {
    let mut table = [Code { bits: 0, length: 0 }; MAX_MATCH as usize + 1];
    let mut length = MIN_MATCH;
    while length <= MAX_MATCH {
        let (base, extra_bits) = length_base(LENGTH_SYMBOLS[length as usize] as usize);
        table[length as usize] = Code {
            bits: length - base,
            length: extra_bits,
        };
        length += 1;
    }
    table
}

const fn length_symbols() -> [u16; MAX_MATCH as usize + 1] {
    let mut table = [0u16; MAX_MATCH as usize + 1];
    let mut symbol = 257;
    while symbol < LONGEST_MATCH_SYMBOL {
        let (base, extra_bits) = length_base(symbol);
        let mut length = base;
        while length < base + (1 << extra_bits) {
            table[length as usize] = symbol as u16;
            length += 1;
        }
        symbol += 1;
    }
    // 258 has a symbol of its own, although 284 with all extra bits set
    // would reach it too.
    table[MAX_MATCH as usize] = LONGEST_MATCH_SYMBOL as u16;
    table
}

/// The shortest match length of a length symbol, and its extra bits.
const fn length_base(symbol: usize) -> (u32, u32) {
    if symbol == LONGEST_MATCH_SYMBOL {
        return (MAX_MATCH, 0);
    }
    // Symbols 257 to 264 are one length each; from 265 on, every group of
    // four symbols has one more extra bit than the group before.
    let mut base = MIN_MATCH;
    let mut current = 257;
    while current < symbol {
        base += 1 << extra_bits_of(current);
        current += 1;
    }
    (base, extra_bits_of(symbol))
}

const fn extra_bits_of(symbol: usize) -> u32 {
    if symbol < 265 {
        0
    } else {
        (symbol as u32 - 261) / 4
    }
}

/// The canonical codes of these lengths (RFC 1951, 3.2.2), bit-reversed.
fn canonical_codes<const N: usize>(lengths: &[u8; N]) -> [Code; N] {
    let mut length_counts = [0u32; 16];
    for &length in lengths {
        length_counts[usize::from(length)] += 1;
    }
    length_counts[0] = 0;
    let mut next_code = [0u32; 16];
    let mut code = 0;
    for length in 1..16 {
        code = (code + length_counts[length - 1]) << 1;
        next_code[length] = code;
    }
    let mut codes = [Code::default(); N];
    for (code, &length) in codes.iter_mut().zip(lengths) {
        if length > 0 {
            let next = &mut next_code[usize::from(length)];
            *code = Code {
                bits: next.reverse_bits() >> (32 - u32::from(length)),
                length: u32::from(length),
            };
            *next += 1;
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_symbols_follow_the_deflate_table() {
        let expected = [
            (3, 257, 3, 0),
            (10, 264, 10, 0),
            (11, 265, 11, 1),
            (12, 265, 11, 1),
            (19, 269, 19, 2),
            (130, 280, 115, 4),
            (227, 284, 227, 5),
            (257, 284, 227, 5),
            (258, 285, 258, 0),
        ];
        for (length, symbol, base, extra_bits) in expected {
            assert_eq!(usize::from(LENGTH_SYMBOLS[length]), symbol, "{length}");
            assert_eq!(length_base(symbol), (base, extra_bits), "{symbol}");
        }
    }

    #[test]
    fn canonical_codes_match_the_rfc_example() {
        // RFC 1951, 3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) give codes
        // 010, 011, 100, 101, 110, 00, 1110, 1111.
        let codes = canonical_codes(&[3, 3, 3, 3, 3, 2, 4, 4]);
        let expected = [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111];
        for (code, expected) in codes.iter().zip(expected) {
            let unreversed = code.bits.reverse_bits() >> (32 - code.length);
            assert_eq!(unreversed, expected);
        }
    }

    /// Rows of pixel words where zeros and changes mix in every way: runs
    /// of zero pixels of every length up to past the longest match, lone
    /// changes, noise, and words whose only change is the alpha byte.
    fn mixed_rows(width: usize) -> Vec<Vec<[u8; 4]>> {
        let mut state = 99u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        (0..24)
            .map(|row| {
                let mut pixels = Vec::with_capacity(width);
                while pixels.len() < width {
                    let zeros = match row % 3 {
                        0 => next() as usize % 4,
                        1 => next() as usize % 40,
                        _ => next() as usize % 400,
                    };
                    pixels.extend(std::iter::repeat_n([0; 4], zeros));
                    let word = match next() % 4 {
                        0 => [0, 0, 0, next() as u8 | 1],
                        1 => [1, 0, 0, 0],
                        _ => next().to_le_bytes(),
                    };
                    pixels.push(word);
                }
                pixels.truncate(width);
                pixels
            })
            .collect()
    }

    /// Each row as Up-filtered pixels of `channels` bytes.
    fn send_rows(tokens: &mut impl Tokens, rows: &[Vec<[u8; 4]>], channels: usize) {
        for pixels in rows {
            tokens.literal(2);
            if channels == 3 {
                tokens.row::<3>(pixels);
            } else {
                tokens.row::<4>(pixels);
            }
        }
    }

    #[test]
    fn rows_are_written_alike_with_or_without_a_branch_per_pixel() {
        for width in [1, 7, 8, 9, 300, 1001] {
            let rows = mixed_rows(width);
            for channels in [3, 4] {
                let mut histogram = Histogram::new();
                send_rows(&mut histogram, &rows, channels);
                let written = |dense: bool| {
                    let raw_len = rows.len() * (width * 4 + 1);
                    let mut out = vec![0; BlockWriter::room(raw_len)];
                    let code = BlockCode::fit(&histogram);
                    let mut block = BlockWriter::new(&mut out, &code, &CodeTables::new(&code));
                    block.dense = dense;
                    send_rows(&mut block, &rows, channels);
                    let len = block.finish();
                    out.truncate(len);
                    out
                };
                // The way with a branch per pixel is the one the PNG tests
                // decode on flat and gradient rows, noise goes the other.
                let (dense, sparse) = (written(true), written(false));
                assert!(dense == sparse, "{width} pixels, {channels} channels");
            }
        }
    }

    #[test]
    fn a_block_paused_to_grow_its_room_writes_the_same_bytes() {
        let rows = mixed_rows(300);
        let mut histogram = Histogram::new();
        send_rows(&mut histogram, &rows, 4);
        let code = BlockCode::fit(&histogram);
        let tables = CodeTables::new(&code);
        let row_len = 300 * 4 + 1;
        let raw_len = rows.len() * row_len;
        let mut whole = vec![0; BlockWriter::room(raw_len)];
        let mut block = BlockWriter::new(&mut whole, &code, &tables);
        send_rows(&mut block, &rows, 4);
        let len = block.finish();
        whole.truncate(len);
        // Room for two rows, grown a quarter row at a time whenever the
        // next row might not fit: many pauses and resumes.
        let mut grown = vec![0; BlockWriter::room(2 * row_len)];
        let mut block = BlockWriter::new(&mut grown, &code, &tables);
        let mut pauses = 0;
        for row in &rows {
            while !block.has_room(row_len) {
                let paused = block.pause();
                let room = grown.len() + row_len / 4;
                grown.resize(room, 0);
                block = BlockWriter::resume(&mut grown, &tables, paused);
                pauses += 1;
            }
            send_rows(&mut block, std::slice::from_ref(row), 4);
        }
        let len = block.finish();
        grown.truncate(len);
        assert!(pauses > 5, "{pauses} pauses");
        assert!(grown == whole);
    }
}
