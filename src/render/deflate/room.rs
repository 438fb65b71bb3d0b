//! Growing a block's room as it is written: a [`BlockWriter`] writes into
//! a slice (its position and pending bits stay in registers), so to give it
//! more room the caller pauses it, grows the buffer and resumes it.

use super::{BlockWriter, CodeTables, MAX_LITERAL_CODE_LENGTH};

/// Where a paused [`BlockWriter`] was.
pub(crate) struct Paused {
    at: usize,
    bits: u64,
    bit_count: u32,
}

impl<'a> BlockWriter<'a> {
    /// The bytes `raw_len` bytes of data take at most, with the block's
    /// end and the word the last flush stores: [`BlockWriter::room`]
    /// without the table.
    pub(super) fn data_room(raw_len: usize) -> usize {
        (raw_len * MAX_LITERAL_CODE_LENGTH as usize).div_ceil(8) + 16
    }

    /// Whether `out` has room for `raw_len` more bytes of data at their
    /// worst, and the block's end.
    pub(crate) fn has_room(&self, raw_len: usize) -> bool {
        self.at + BlockWriter::data_room(raw_len) <= self.out.len()
    }

    /// Stops writing to `out`, so that the caller can make it larger: what
    /// [`BlockWriter::resume`] needs to go on where this left off.
    pub(crate) fn pause(self) -> Paused {
        Paused {
            at: self.at,
            bits: self.bits,
            bit_count: self.bit_count,
        }
    }

    /// Goes on writing a paused block, with the same `tables`, into `out`,
    /// which holds what was written before it paused.
    pub(crate) fn resume(
        out: &'a mut [u8],
        tables: &CodeTables,
        paused: Paused,
    ) -> BlockWriter<'a> {
        let mut writer = BlockWriter::after_header(out, tables);
        writer.at = paused.at;
        writer.bits = paused.bits;
        writer.bit_count = paused.bit_count;
        writer
    }
}
