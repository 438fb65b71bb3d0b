//! Decoding fetched images within a limit of decodes at once and a budget
//! of decoded bytes.
//!
//! A PNG of a few kilobytes can declare 4096 x 4096 pixels and cost 64 MiB
//! once decoded, and a URL from state can name thousands of them, each its
//! own cache entry. So a decode first reads the header, which gives the
//! size before any pixel is allocated, and reserves from a budget every
//! byte the decode will hold at its peak; an image that could never fit
//! the budget, or is larger than any canvas, is refused outright (and
//! cached as a failure like any other), and one that must wait for others
//! to finish waits at most [`DECODE_WAIT`]. The decoder is then held to
//! exactly what was reserved, so a header that lies about its size cannot
//! make it allocate more.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use image::{ColorType, ImageDecoder, ImageFormat, ImageReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::remote::RemoteImageError;
use crate::render::{Asset, MAX_PIXELS, RenderError};

/// How long a decode waits for a slot and its share of the budget before
/// the open goes on without the image (its placeholder shows). Decoding a
/// product photo takes a few tens of milliseconds, so this lets a burst of
/// real opens queue through; when the limit is full because someone is
/// sending bombs, each open still gets its image answer this soon after the
/// fetch instead of queueing behind the attack.
pub(crate) const DECODE_WAIT: Duration = Duration::from_millis(250);

/// The budget is counted in units of this many bytes, since tokio's
/// semaphore takes at most `u32::MAX` permits at once.
const BUDGET_UNIT: u64 = 1024;

/// Bytes per pixel a JPEG decoder may keep besides its output: a
/// progressive JPEG holds every coefficient of the picture, two bytes for
/// each of up to four components, until its last scan.
const JPEG_WORKING_BYTES_PER_PIXEL: u64 = 8;

/// What a decoder allocates besides pixels: row buffers, the inflate
/// window, the file's metadata. Counted once per decode.
const DECODER_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// Decodes fetched images within the configured limits; shared by every
/// fetch of one [`RemoteImages`](crate::remote::RemoteImages).
pub(crate) struct Decoder {
    /// One permit per decode that may run at once. Decoding is CPU work on
    /// the blocking pool, which renders also use; a handful at a time keeps
    /// a flood of distinct URLs from taking every core.
    slots: Arc<Semaphore>,
    /// One permit per [`BUDGET_UNIT`] of decoded bytes that may be held at
    /// once by decodes in progress, from header to finished asset.
    budget: Arc<Semaphore>,
    budget_bytes: u64,
}

impl Decoder {
    pub(crate) fn new(max_concurrent_decodes: usize, budget_bytes: u64) -> Decoder {
        let units = usize::try_from(budget_bytes / BUDGET_UNIT)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Decoder {
            slots: Arc::new(Semaphore::new(max_concurrent_decodes)),
            budget: Arc::new(Semaphore::new(units)),
            budget_bytes,
        }
    }

    /// Decodes `bytes` into an asset named `name`. `TooLarge` when the image
    /// alone exceeds the limits, `Busy` when no slot or budget was free
    /// within [`DECODE_WAIT`].
    pub(crate) async fn decode(
        &self,
        name: String,
        bytes: Vec<u8>,
    ) -> Result<Asset, RemoteImageError> {
        // The header is a few dozen bytes into the file; reading it here
        // allocates no pixels.
        let header = read_header(&bytes)?;
        // More pixels than the largest canvas could only be shrunk; and the
        // pixel count bounds the products below.
        if header.pixels() > MAX_PIXELS {
            return Err(RemoteImageError::TooLarge);
        }
        let cost = header.peak_bytes();
        if cost > self.budget_bytes {
            return Err(RemoteImageError::TooLarge);
        }
        let units = u32::try_from(cost.div_ceil(BUDGET_UNIT)).unwrap_or(u32::MAX);
        let permits = tokio::time::timeout(DECODE_WAIT, self.reserve(units))
            .await
            .map_err(|_| RemoteImageError::Busy)??;
        // The permits go with the work: if the open that asked is dropped,
        // the decode still finishes on the blocking pool, and only then is
        // its memory given back.
        tokio::task::spawn_blocking(move || {
            let _permits = permits;
            decode_within(&name, &bytes, &header)
        })
        .await
        .map_err(|e| RemoteImageError::Decode(format!("the decode task ended abnormally: {e}")))?
    }

    /// A decode slot, then `units` of the budget. The slot comes first, so
    /// only decodes about to run hold a reservation.
    async fn reserve(&self, units: u32) -> Result<Permits, RemoteImageError> {
        // The semaphores are never closed; a closed one would only mean the
        // decoder is going away, and the image is then simply not had.
        let closed = |_| RemoteImageError::Busy;
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(closed)?;
        let reservation = Arc::clone(&self.budget)
            .acquire_many_owned(units)
            .await
            .map_err(closed)?;
        Ok(Permits {
            _slot: slot,
            _reservation: reservation,
        })
    }
}

/// A decode slot and a reservation, released together when dropped.
struct Permits {
    _slot: OwnedSemaphorePermit,
    _reservation: OwnedSemaphorePermit,
}

/// What the header says about the pixels to come.
#[derive(Debug, Clone, Copy)]
struct Header {
    format: ImageFormat,
    width: u32,
    height: u32,
    color: ColorType,
}

impl Header {
    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The decoder's share of the peak: its output buffer, its working
    /// memory and its overhead. This is what the decoder's own limit allows.
    fn decoder_bytes(&self) -> u64 {
        let working = match self.format {
            ImageFormat::Jpeg => JPEG_WORKING_BYTES_PER_PIXEL,
            _ => 0,
        };
        self.pixels() * (u64::from(self.color.bytes_per_pixel()) + working) + DECODER_OVERHEAD_BYTES
    }

    /// The most the decode holds at once: the decoder's share and, unless
    /// the output is already 8-bit RGBA, the RGBA copy made from it while it
    /// is still alive.
    fn peak_bytes(&self) -> u64 {
        let copy = if self.color == ColorType::Rgba8 {
            0
        } else {
            self.pixels() * 4
        };
        self.decoder_bytes() + copy
    }
}

fn read_header(bytes: &[u8]) -> Result<Header, RemoteImageError> {
    let format = image::guess_format(bytes).map_err(|e| RemoteImageError::Decode(e.to_string()))?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
        return Err(RemoteImageError::Decode(format!(
            "{format:?} is not PNG or JPEG"
        )));
    }
    let decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(|e| RemoteImageError::Decode(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    Ok(Header {
        format,
        width,
        height,
        color: decoder.color_type(),
    })
}

/// Decodes on the calling thread, with the decoder held to the header's
/// size and to its share of the bytes reserved (the RGBA copy is made
/// after the decoder is done, from the rest).
fn decode_within(name: &str, bytes: &[u8], header: &Header) -> Result<Asset, RemoteImageError> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(header.width);
    limits.max_image_height = Some(header.height);
    limits.max_alloc = Some(header.decoder_bytes());
    Asset::decode_within(name, bytes, limits).map_err(|error| match error {
        RenderError::Asset { reason, .. } => RemoteImageError::Decode(reason),
        other => RemoteImageError::Decode(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(format: ImageFormat, color: ColorType) -> Header {
        Header {
            format,
            width: 1000,
            height: 500,
            color,
        }
    }

    /// The peak counts bytes, not pixels: the decoder's output in its own
    /// layout, the RGBA copy when one is made, and a JPEG's coefficients.
    #[test]
    fn the_peak_counts_every_buffer_a_decode_holds() {
        let pixels = 500_000;
        let cases = [
            (ImageFormat::Png, ColorType::Rgba8, pixels * 4),
            (ImageFormat::Png, ColorType::Rgb8, pixels * (3 + 4)),
            (ImageFormat::Png, ColorType::Rgba16, pixels * (8 + 4)),
            (ImageFormat::Png, ColorType::L8, pixels * (1 + 4)),
            (ImageFormat::Jpeg, ColorType::Rgb8, pixels * (3 + 8 + 4)),
        ];
        for (format, color, pixel_bytes) in cases {
            assert_eq!(
                header(format, color).peak_bytes(),
                pixel_bytes + DECODER_OVERHEAD_BYTES,
                "{format:?} {color:?}"
            );
        }
    }
}
