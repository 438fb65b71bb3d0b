//! A zlib stream writer made for filtered PNG rows: pixels of literals and
//! runs of zeros, Huffman-coded with a table fitted to the image.
//!
//! Encoding was most of a render's time with a general-purpose deflate, and
//! filtered rows of a card (gradients, flat fills, a little text) are mostly
//! pixels that did not change from the row above. So the only repeats this
//! writer codes are runs of zero bytes, as one literal zero and a match at
//! distance 1; every other pixel is a few literals. There is no hash table
//! and no search, a run of up to 259 zeros is one table look-up, and a
//! pixel's literals are joined and written at once, with no branch per byte.
//! Literal codes are at most [`MAX_LITERAL_CODE_LENGTH`] bits so that three
//! fit one write. The Huffman table is built from a histogram of the same
//! tokens (the caller takes it on a sample of the rows), so a photo
//! compresses about as well as a gradient. The Adler-32 checksum is
//! computed apart from the coding, a block of pixels at a time (see
//! [`Adler32::pixels`]).
//!
//! A stream is written in pieces that can be kept and joined: the zlib
//! header ([`ZLIB_HEADER`]), any number of dynamic blocks
//! ([`BlockWriter`]), each ended on a byte boundary by an empty stored
//! block, and the end ([`end_stream`]): an empty final block and the
//! Adler-32 of all the data, which [`Adler32::combine`] joins from each
//! block's own. So a PNG's rows can be compressed a stripe at a time, and
//! the stripes no recipient changes kept compressed (`png_writer.rs`).
//! Each block is a pure function of its tokens and histogram, so renders
//! stay byte-for-byte deterministic.

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
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            counts: [0; LITERAL_LENGTH_SYMBOLS],
        }
    }
}

impl Tokens for Histogram {
    #[inline]
    fn literal(&mut self, byte: u8) {
        self.counts[usize::from(byte)] += 1;
    }

    #[inline]
    fn pixel<const CHANNELS: usize>(&mut self, pixel: u32) {
        for &byte in &pixel.to_le_bytes()[..CHANNELS] {
            self.counts[usize::from(byte)] += 1;
        }
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
}

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
}

impl<'a> BlockWriter<'a> {
    /// The bytes a block of `raw_len` bytes of data can take at most: each
    /// byte is at most one literal of [`MAX_LITERAL_CODE_LENGTH`] bits (a run
    /// of zeros takes fewer), plus the table, the end and the word that the
    /// last flush stores.
    pub(crate) fn room(raw_len: usize) -> usize {
        (raw_len * MAX_LITERAL_CODE_LENGTH as usize).div_ceil(8) + MAX_TABLE_BYTES + 16
    }

    /// Starts a block whose Huffman table fits `histogram`, written from the
    /// start of `out`, which has [`BlockWriter::room`] for the data to
    /// come. Every symbol gets a code, so data that the histogram did not
    /// see can still be written.
    pub(crate) fn new(out: &'a mut [u8], histogram: &Histogram) -> BlockWriter<'a> {
        let mut counts = histogram.counts;
        counts[END_OF_BLOCK] = 1;
        for count in &mut counts {
            *count = count.saturating_add(1);
        }
        let literal_lengths = code_lengths(&counts, MAX_LITERAL_CODE_LENGTH);
        let literal_codes = canonical_codes(&literal_lengths);
        // Two distance codes of one bit each, so that the distance code is
        // complete (some inflaters refuse an incomplete one); only the first,
        // distance 1, is ever used.
        let distance_lengths = [1u8, 1];
        let distance_one = Code { bits: 0, length: 1 };

        let zero = literal_codes[0];
        let mut zeros_after_zero = [Code::default(); MAX_MATCH as usize + 1];
        for (count, code) in zeros_after_zero.iter_mut().enumerate() {
            let count = count as u32;
            *code = if count >= MIN_MATCH {
                literal_codes[usize::from(LENGTH_SYMBOLS[count as usize])]
                    .then(LENGTH_EXTRA[count as usize])
                    .then(distance_one)
            } else {
                (0..count).fold(Code::default(), |code, _| code.then(zero))
            };
        }
        let mut runs = [Code::default(); MAX_SHORT_RUN as usize + 1];
        for (count, code) in runs.iter_mut().enumerate().skip(1) {
            *code = zero.then(zeros_after_zero[count - 1]);
        }

        let mut writer = BlockWriter {
            out,
            at: 0,
            bits: 0,
            bit_count: 0,
            literals: [Code::default(); 256],
            zeros_after_zero,
            runs,
            end_of_block: literal_codes[END_OF_BLOCK],
        };
        writer.literals.copy_from_slice(&literal_codes[..256]);

        // zlib header: deflate with a 32 KiB window, no dictionary, the
        // "fastest" level hint, and the check bits that make it divisible by 31.
        // BFINAL = 0, BTYPE = 2 (dynamic Huffman): more blocks follow.
        writer.put(Code {
            bits: 0b100,
            length: 3,
        });
        writer.write_table(&literal_lengths, &distance_lengths);
        writer
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

    /// Appends a code (at most 32 bits): stores the pending bits as a word
    /// and moves on by the whole bytes among them (at most 4 of the 39).
    #[inline(always)]
    fn put(&mut self, code: Code) {
        self.bits |= u64::from(code.bits) << self.bit_count;
        self.bit_count += code.length;
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
}

impl BlockWriter<'_> {
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

/// The Adler-32 checksum that ends a zlib stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Adler32 {
    low: u32,
    high: u32,
}

impl Adler32 {
    pub(crate) fn new() -> Adler32 {
        Adler32 { low: 1, high: 0 }
    }

    pub(crate) fn byte(&mut self, byte: u8) {
        self.low = (self.low + u32::from(byte)) % ADLER_MODULUS;
        self.high = (self.high + self.low) % ADLER_MODULUS;
    }

    /// Adds the first `CHANNELS` bytes (3 or 4) of each pixel.
    ///
    /// Byte by byte, the checksum is two dependent additions per byte. Over
    /// a block of `n` bytes it is also `low + sum` and `high + n * low +` the
    /// sum of each byte times `n` minus its index, and that sum splits into
    /// per-pixel terms without a chain from one pixel to the next: the pixel
    /// sums, the pixel sums times the pixel index, and each byte times its
    /// channel. This keeps the checksum out of the coding loop.
    pub(crate) fn pixels<const CHANNELS: usize>(&mut self, pixels: &[[u8; 4]]) {
        // 1024 pixels keep every block sum within 32 bits.
        for block in pixels.chunks(1024) {
            let (mut sum, mut by_pixel, mut by_channel) = (0u32, 0u32, 0u32);
            for (index, pixel) in block.iter().enumerate() {
                let [red, green, blue, alpha] = pixel.map(u32::from);
                let (pixel_sum, channel_sum) = if CHANNELS == 4 {
                    (red + green + blue + alpha, green + 2 * blue + 3 * alpha)
                } else {
                    (red + green + blue, green + 2 * blue)
                };
                sum += pixel_sum;
                by_pixel += index as u32 * pixel_sum;
                by_channel += channel_sum;
            }
            let len = (block.len() * CHANNELS) as u64;
            let weighted = len * u64::from(sum)
                - CHANNELS as u64 * u64::from(by_pixel)
                - u64::from(by_channel);
            let (low, high) = (u64::from(self.low), u64::from(self.high));
            self.high = ((high + len * low + weighted) % u64::from(ADLER_MODULUS)) as u32;
            self.low = ((low + u64::from(sum)) % u64::from(ADLER_MODULUS)) as u32;
        }
    }

    /// The checksum of this data followed by `next`'s `next_len` bytes,
    /// from `next`'s own checksum. Appending `n` bytes whose own sums are
    /// `low' = 1 + S` and `high' = n + sum of the running S` adds `S` to
    /// `low` and `n * low + sum of the running S` to `high`, so:
    /// `low + low' - 1` and `high + high' + n * (low - 1)`.
    pub(crate) fn combine(self, next: Adler32, next_len: u64) -> Adler32 {
        let modulus = u64::from(ADLER_MODULUS);
        let (low, high) = (u64::from(self.low), u64::from(self.high));
        let (next_low, next_high) = (u64::from(next.low), u64::from(next.high));
        let shifted = (next_len % modulus) * ((low + modulus - 1) % modulus);
        Adler32 {
            low: ((low + next_low + modulus - 1) % modulus) as u32,
            high: ((high + next_high + shifted) % modulus) as u32,
        }
    }

    pub(crate) fn value(self) -> u32 {
        (self.high << 16) | self.low
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

/// Literals 0 to 255, end of block, lengths 257 to 285.
const LITERAL_LENGTH_SYMBOLS: usize = 286;
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
const ADLER_MODULUS: u32 = 65521;

/// The longest code of any table (RFC 1951), and the most nodes a Huffman
/// tree of the literal/length alphabet has.
const MAX_CODE_LENGTH: usize = 15;
const MAX_NODES: usize = 2 * LITERAL_LENGTH_SYMBOLS;

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

/// Huffman code lengths for symbols with these counts, none longer than
/// `limit`; a symbol that never occurs gets no code (length 0). When the
/// optimal code is too deep, codes are moved between lengths until the code
/// is complete again within the limit, and the lengths handed out anew, the
/// shortest to the most frequent symbols: the rare symbols pay.
///
/// Every stripe of a PNG builds two tables, so this works in arrays on the
/// stack, not in vectors.
fn code_lengths<const N: usize>(counts: &[u32; N], limit: u32) -> [u8; N] {
    let (mut lengths, by_weight) = huffman_lengths(counts);
    let by_weight = &by_weight.symbols[..by_weight.len];
    let limit_length = limit as u8;
    if lengths.iter().all(|&length| length <= limit_length) {
        return lengths;
    }
    let mut codes_of_length = [0u64; MAX_CODE_LENGTH + 1];
    for &symbol in by_weight {
        codes_of_length[usize::from(lengths[usize::from(symbol)].min(limit_length))] += 1;
    }
    // The Kraft sum in units of 2^-limit: a complete code sums to 2^limit.
    let complete = 1u64 << limit;
    let mut kraft: u64 = (1..=limit as usize)
        .map(|length| codes_of_length[length] << (limit as usize - length))
        .sum();
    let limit = limit as usize;
    while kraft > complete {
        // One code at the limit goes, and a shorter code becomes two one
        // bit longer: the same number of codes, and the sum one unit less.
        // While the longest shorter code is one bit short of the limit,
        // each such step moves one code down to the limit, so those steps
        // are taken together.
        match (1..limit).rev().find(|&length| codes_of_length[length] > 0) {
            Some(length) if length == limit - 1 => {
                let steps = codes_of_length[length].min(kraft - complete);
                codes_of_length[length] -= steps;
                codes_of_length[limit] += steps;
                kraft -= steps;
            }
            Some(length) => {
                codes_of_length[limit] -= 1;
                codes_of_length[length] -= 1;
                codes_of_length[length + 1] += 2;
                kraft -= 1;
            }
            None => {
                codes_of_length[limit] -= kraft - complete;
                kraft = complete;
            }
        }
    }
    let mut heaviest_first = by_weight.iter().rev();
    for (length, &count) in codes_of_length.iter().enumerate().take(limit + 1).skip(1) {
        for &symbol in heaviest_first.by_ref().take(count as usize) {
            lengths[usize::from(symbol)] = length as u8;
        }
    }
    lengths
}

/// The symbols that occur, from the lightest to the heaviest.
struct ByWeight<const N: usize> {
    symbols: [u16; N],
    len: usize,
}

/// Optimal (unlimited) Huffman code lengths, and the symbols that occur from
/// the lightest to the heaviest. Ties are broken by symbol, so the same
/// counts always give the same code.
fn huffman_lengths<const N: usize>(counts: &[u32; N]) -> ([u8; N], ByWeight<N>) {
    let mut lengths = [0u8; N];
    // Each leaf as its count above its symbol: sorting the numbers sorts
    // by count, then by symbol. The leaves of count 1 (most of a table fitted
    // to a stripe of text on a plain ground, where every symbol not seen
    // counts 1) come first and already in order; only the others are sorted.
    let mut leaves = [0u64; N];
    let mut leaf_count = 0;
    for (symbol, &count) in counts.iter().enumerate() {
        if count == 1 {
            leaves[leaf_count] = (1 << 16) | symbol as u64;
            leaf_count += 1;
        }
    }
    let rarest = leaf_count;
    for (symbol, &count) in counts.iter().enumerate() {
        if count > 1 {
            leaves[leaf_count] = (u64::from(count) << 16) | symbol as u64;
            leaf_count += 1;
        }
    }
    let leaves = &mut leaves[..leaf_count];
    leaves[rarest..].sort_unstable();
    let mut by_weight = ByWeight {
        symbols: [0; N],
        len: leaf_count,
    };
    for (slot, &leaf) in by_weight.symbols.iter_mut().zip(leaves.iter()) {
        *slot = leaf as u16;
    }
    if leaf_count < 2 {
        for &symbol in &by_weight.symbols[..leaf_count] {
            lengths[usize::from(symbol)] = 1;
        }
        return (lengths, by_weight);
    }
    // Nodes 0..leaf_count are the sorted leaves; each new internal node joins
    // the two lightest of the leaves and internal nodes not yet joined. The
    // internal nodes come out in order of weight, so two queues suffice.
    let node_count = 2 * leaf_count - 1;
    let mut node_weight = [0u64; MAX_NODES];
    let mut parent = [0u16; MAX_NODES];
    for (weight, &leaf) in node_weight.iter_mut().zip(leaves.iter()) {
        *weight = leaf >> 16;
    }
    let (mut next_leaf, mut next_internal) = (0, leaf_count);
    for node in leaf_count..node_count {
        let mut lightest = || {
            let take_leaf = next_leaf < leaf_count
                && (next_internal >= node || node_weight[next_leaf] <= node_weight[next_internal]);
            if take_leaf {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_internal += 1;
                next_internal - 1
            }
        };
        let (first, second) = (lightest(), lightest());
        node_weight[node] = node_weight[first] + node_weight[second];
        parent[first] = node as u16;
        parent[second] = node as u16;
    }
    // A parent always comes after its children, so depths fill in from the
    // root down.
    let mut depth = [0u8; MAX_NODES];
    for node in (0..node_count - 1).rev() {
        depth[node] = depth[usize::from(parent[node])].saturating_add(1);
    }
    for (leaf, &symbol) in by_weight.symbols[..leaf_count].iter().enumerate() {
        lengths[usize::from(symbol)] = depth[leaf];
    }
    (lengths, by_weight)
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
    fn code_lengths_are_limited_and_complete() {
        // Fibonacci counts make the deepest possible unlimited code.
        let mut counts = vec![1u32, 1];
        while counts.len() < 40 {
            let next = counts[counts.len() - 1] + counts[counts.len() - 2];
            counts.push(next);
        }
        let counts: [u32; 40] = counts.try_into().expect("40 counts");
        for limit in [7, 10, 15] {
            let lengths = code_lengths(&counts, limit);
            assert!(
                lengths
                    .iter()
                    .all(|&length| (1..=limit).contains(&u32::from(length)))
            );
            let kraft: f64 = lengths
                .iter()
                .map(|&length| 0.5f64.powi(i32::from(length)))
                .sum();
            assert!((kraft - 1.0).abs() < 1e-12, "a complete code, not {kraft}");
            // The most frequent symbol keeps the shortest code.
            assert_eq!(lengths[39], *lengths.iter().min().expect("40 symbols"));
        }
    }

    #[test]
    fn adler32_joined_from_pieces_is_the_checksum_of_the_whole() {
        let bytes: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let of = |piece: &[u8]| {
            let mut adler = Adler32::new();
            for &byte in piece {
                adler.byte(byte);
            }
            adler
        };
        let whole = of(&bytes).value();
        // Pieces past the modulus in length, empty ones, and ones of a byte.
        for cuts in [
            vec![0],
            vec![1],
            vec![65_521],
            vec![3, 3, 70_000, 199_999],
            vec![100_000],
        ] {
            let mut joined = Adler32::new();
            let mut start = 0;
            for end in cuts.into_iter().chain([bytes.len()]) {
                let piece = &bytes[start..end];
                joined = joined.combine(of(piece), piece.len() as u64);
                start = end;
            }
            assert_eq!(joined.value(), whole);
        }
    }

    #[test]
    fn adler32_of_pixels_matches_the_byte_by_byte_definition() {
        let mut state = 12345u64;
        let pixels: Vec<[u8; 4]> = (0..3000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 32) as u32).to_le_bytes()
            })
            .collect();
        for len in [0, 1, 7, 1024, 1025, 3000] {
            let pixels = &pixels[..len];
            for channels in [3, 4] {
                let (mut low, mut high) = (1u32, 0u32);
                for byte in std::iter::once(9u8)
                    .chain(pixels.iter().flat_map(|pixel| pixel[..channels].to_vec()))
                {
                    low = (low + u32::from(byte)) % 65521;
                    high = (high + low) % 65521;
                }
                let mut adler = Adler32::new();
                adler.byte(9);
                if channels == 3 {
                    adler.pixels::<3>(pixels);
                } else {
                    adler.pixels::<4>(pixels);
                }
                assert_eq!(adler.value(), (high << 16) | low, "{len} x {channels}");
            }
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
}
