//! The Adler-32 checksum that ends a zlib stream (RFC 1950, 8.2), computed
//! a block of pixels at a time apart from the coding, and joined from the
//! checksums of pieces, so that stripes compressed apart (`png_writer.rs`)
//! and rows copied from a kept stripe make one stream.

const ADLER_MODULUS: u32 = 65521;

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

    /// Adds `count` zero bytes: joins the checksum of that many zeros
    /// (their sum stays 1, their high half counts them).
    pub(crate) fn zeros(&mut self, count: u64) {
        let zeros = Adler32 {
            low: 1,
            high: (count % u64::from(ADLER_MODULUS)) as u32,
        };
        *self = self.combine(zeros, count);
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn adler32_of_zeros_matches_the_byte_by_byte_definition() {
        for count in [0u64, 1, 1800, 65_520, 65_521, 65_522, 200_001] {
            let mut by_byte = Adler32::new();
            let mut at_once = Adler32::new();
            for adler in [&mut by_byte, &mut at_once] {
                adler.byte(200);
                adler.byte(7);
            }
            for _ in 0..count {
                by_byte.byte(0);
            }
            at_once.zeros(count);
            assert_eq!(at_once.value(), by_byte.value(), "{count} zeros");
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
}
