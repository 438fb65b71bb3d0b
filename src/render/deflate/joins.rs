//! Rows of a kept block joined into a new one. A block written with the
//! code of a block kept before can copy that block's bits wherever its data
//! is the same: whole rows, or segments of rows between the checkpoints the
//! kept block noted. `png_writer.rs` decides which rows and segments are
//! the same; this file keeps the coding in step with the kept block's.

use std::ops::Range;

use super::{
    BlockCode, BlockWriter, Code, END_OF_BLOCK, LENGTH_EXTRA, LENGTH_SYMBOLS, MAX_MATCH,
    MAX_SHORT_RUN, MIN_MATCH, Tokens, canonical_codes,
};

/// Where the coding of a row stood before one of its segments of
/// [`SEGMENT_PIXELS`]: the bits written (counted in the chunk the block is
/// kept in) and the zeros pending, not yet written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) bit: u64,
    pub(crate) zeros: u32,
}

/// Pixels from one [`Checkpoint`] to the next: where a row coded again can
/// go back to copying the kept row's bits. Small enough that the gap
/// before a line of text is copied, large enough that the checkpoints
/// cost little to keep.
pub(crate) const SEGMENT_PIXELS: usize = 32;

/// A row of a kept block: its bits (the chunk it is kept in), its
/// checkpoints, one per segment, and where its bits end.
pub(crate) struct KeptRow<'a> {
    pub(crate) bits: &'a [u8],
    pub(crate) checkpoints: &'a [Checkpoint],
    pub(crate) end: u64,
}

impl BlockWriter<'_> {
    /// Writes a row as [`Tokens::row`] does, noting a
    /// [`Checkpoint`] before each segment (bits counted from `origin`, where
    /// this block starts in its chunk), so that a block written later with
    /// the same code can copy any segment of it ([`BlockWriter::row_over`]).
    pub(crate) fn row_noting<const CHANNELS: usize>(
        &mut self,
        pixels: &[[u8; 4]],
        origin: u64,
        checkpoints: &mut Vec<Checkpoint>,
    ) {
        let mut zeros = 0u32;
        for segment in pixels.chunks(SEGMENT_PIXELS) {
            checkpoints.push(Checkpoint {
                bit: origin + self.bit_position(),
                zeros,
            });
            self.row_pixels::<CHANNELS>(segment, &mut zeros);
        }
        if zeros > 0 {
            self.zeros(zeros);
        }
    }

    /// Writes a row, with the code `kept`'s block was written with, whose
    /// filtered pixels are `kept`'s in the segments `same` says. A segment
    /// is copied when it is the same and the coding is in step with the
    /// kept row's, the same zeros pending at its start: then what follows
    /// codes to the same bits. Other segments are coded, and the coding is
    /// back in step at the first checkpoint where its pending zeros are the
    /// kept row's (a pixel that is not zeros in both ends their runs).
    pub(crate) fn row_over<const CHANNELS: usize>(
        &mut self,
        pixels: &[[u8; 4]],
        kept: &KeptRow<'_>,
        same: impl Fn(usize) -> bool,
    ) {
        let mut zeros = 0u32;
        let mut in_step = true;
        for (index, segment) in pixels.chunks(SEGMENT_PIXELS).enumerate() {
            let next = kept.checkpoints.get(index + 1);
            if in_step && same(index) {
                let end = next.map_or(kept.end, |next| next.bit);
                self.copy_bits(kept.bits, kept.checkpoints[index].bit..end);
                // The last segment's copy ends the row, its zeros written.
                zeros = next.map_or(0, |next| next.zeros);
                continue;
            }
            self.row_pixels::<CHANNELS>(segment, &mut zeros);
            in_step = next.is_some_and(|next| next.zeros == zeros);
        }
        if zeros > 0 {
            self.zeros(zeros);
        }
    }

    /// Appends the bits `bits` of `source`, counted as
    /// [`BlockWriter::bit_position`] counts them: data coded before in a
    /// block with the same [`BlockCode`], which this block would code to the
    /// same bits. A copy takes 48 bits a step, where coding takes a look-up
    /// and a write per pixel.
    pub(crate) fn copy_bits(&mut self, source: &[u8], bits: Range<u64>) {
        const STEP: u64 = 48;
        let mut at = bits.start;
        while at < bits.end {
            let take = (bits.end - at).min(STEP);
            let first = (at / 8) as usize;
            let mut word = [0u8; 8];
            let available = source.len().saturating_sub(first).min(8);
            word[..available].copy_from_slice(&source[first..first + available]);
            let value = (u64::from_le_bytes(word) >> (at % 8)) & ((1 << take) - 1);
            self.put_bits(value, take as u32);
            at += take;
        }
    }
}

/// What a [`BlockWriter`] writes with, worked out from a [`BlockCode`]: each
/// literal's code, each run of zeros', the end's. A kept stripe keeps its
/// own, for the stripes later coded over it with its code.
#[derive(Clone, Debug)]
pub(crate) struct CodeTables {
    pub(super) literals: [Code; 256],
    pub(super) zeros_after_zero: [Code; MAX_MATCH as usize + 1],
    pub(super) runs: [Code; MAX_SHORT_RUN as usize + 1],
    pub(super) end_of_block: Code,
    pub(super) dense: bool,
}

impl CodeTables {
    pub(crate) fn new(code: &BlockCode) -> CodeTables {
        let literal_codes = canonical_codes(&code.lengths);
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
        let mut literals = [Code::default(); 256];
        literals.copy_from_slice(&literal_codes[..256]);
        CodeTables {
            literals,
            zeros_after_zero,
            runs,
            end_of_block: literal_codes[END_OF_BLOCK],
            dense: code.dense,
        }
    }
}
