//! Bundled images: decoded once, and kept resized per frame size.
//!
//! An asset's pixels are stored premultiplied, because that is what the
//! canvas blends in and because resizing premultiplied pixels keeps the
//! colors of transparent regions from bleeding into their edges. Resizing is
//! by far the most expensive step of an image layer, and a template draws the
//! same asset into the same frame for every recipient, so each asset keeps
//! its recent resizes and the second render with it is only a blit.

use std::fmt;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use image::imageops::FilterType;
use image::{ImageFormat, ImageReader, RgbaImage};
use sha2::{Digest, Sha256};

use crate::render::{Fit, RenderError};

/// How many resized versions of one asset are kept. A template uses an asset
/// in one or two frames, at one or two scales; a few more than that covers
/// previews without letting a misuse grow memory without bound.
const RESIZED_PER_ASSET: usize = 8;

/// The largest image accepted, a side and in total, so that a hostile or
/// mistaken file cannot make the decoder allocate gigabytes.
const MAX_SIDE: u32 = 8192;
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// A bundled image, decoded once at template load.
pub struct Asset {
    pub name: String,
    /// SHA-256 of the file's bytes; part of every render key that uses it.
    pub content_hash: [u8; 32],
    pub width: u32,
    pub height: u32,
    /// The decoded pixels, premultiplied RGBA.
    pixels: RgbaImage,
    /// Recent resizes, oldest first.
    resized: Mutex<Vec<(ResizeKey, Arc<ResizedImage>)>>,
}

impl Asset {
    /// Decodes an image file's bytes (PNG or JPEG).
    pub fn decode(name: &str, bytes: &[u8]) -> Result<Asset, RenderError> {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        Asset::decode_within(name, bytes, limits)
    }

    /// Decodes like [`Asset::decode`], within the caller's decoder limits
    /// instead of the bundled images' ones: a remote image's decode may
    /// allocate only what it reserved from its budget.
    pub fn decode_within(
        name: &str,
        bytes: &[u8],
        limits: image::Limits,
    ) -> Result<Asset, RenderError> {
        let fail = |reason: String| RenderError::Asset {
            name: name.to_string(),
            reason,
        };
        let format = image::guess_format(bytes).map_err(|e| fail(e.to_string()))?;
        if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
            return Err(fail(format!(
                "{format:?} is not supported; use PNG or JPEG"
            )));
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(limits);
        let decoded = reader.decode().map_err(|e| fail(e.to_string()))?;
        let mut pixels = decoded.into_rgba8();
        if pixels.width() == 0 || pixels.height() == 0 {
            return Err(fail("the image has no pixels".into()));
        }
        premultiply(&mut pixels);
        Ok(Asset {
            name: name.to_string(),
            content_hash: Sha256::digest(bytes).into(),
            width: pixels.width(),
            height: pixels.height(),
            pixels,
            resized: Mutex::new(Vec::new()),
        })
    }

    /// The asset scaled for a frame of `width` x `height` canvas pixels with
    /// `fit`, from the asset's cache when it was resized this way before.
    pub(crate) fn resized(&self, width: u32, height: u32, fit: Fit) -> Arc<ResizedImage> {
        let key = ResizeKey { width, height, fit };
        // A poisoned lock only means another render panicked mid-insert; the
        // list itself is always valid, so carry on with it.
        let lookup = |list: &Vec<(ResizeKey, Arc<ResizedImage>)>| {
            list.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, image)| Arc::clone(image))
        };
        if let Some(image) = lookup(&self.resized.lock().unwrap_or_else(|e| e.into_inner())) {
            return image;
        }
        // Resizing runs without the lock, so renders of other frames are not
        // held up; two renders racing on the same key compute the same pixels.
        let image = Arc::new(self.resize(width, height, fit));
        let mut list = self.resized.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = lookup(&list) {
            return existing;
        }
        if list.len() >= RESIZED_PER_ASSET {
            list.remove(0);
        }
        list.push((key, Arc::clone(&image)));
        image
    }

    fn resize(&self, frame_width: u32, frame_height: u32, fit: Fit) -> ResizedImage {
        let (source_width, source_height) = (self.width as f64, self.height as f64);
        let (frame_w, frame_h) = (frame_width as f64, frame_height as f64);
        let scaled_size = |factor: f64, limit_w: u32, limit_h: u32, grow: bool| {
            let w = ((source_width * factor).round() as u32).max(1);
            let h = ((source_height * factor).round() as u32).max(1);
            if grow {
                (w.max(limit_w), h.max(limit_h))
            } else {
                (w.min(limit_w), h.min(limit_h))
            }
        };
        match fit {
            Fit::Fill => {
                let pixels = self.scaled_pixels(frame_width, frame_height);
                ResizedImage::new(pixels, 0, 0)
            }
            Fit::Contain => {
                let factor = (frame_w / source_width).min(frame_h / source_height);
                let (w, h) = scaled_size(factor, frame_width, frame_height, false);
                let pixels = self.scaled_pixels(w, h);
                ResizedImage::new(pixels, (frame_width - w) / 2, (frame_height - h) / 2)
            }
            Fit::Cover => {
                let factor = (frame_w / source_width).max(frame_h / source_height);
                let (w, h) = scaled_size(factor, frame_width, frame_height, true);
                let scaled = self.scaled_pixels(w, h);
                let (crop_x, crop_y) = ((w - frame_width) / 2, (h - frame_height) / 2);
                let cropped =
                    image::imageops::crop_imm(&scaled, crop_x, crop_y, frame_width, frame_height)
                        .to_image();
                ResizedImage::new(cropped, 0, 0)
            }
        }
    }

    fn scaled_pixels(&self, width: u32, height: u32) -> RgbaImage {
        if (width, height) == (self.width, self.height) {
            return self.pixels.clone();
        }
        // The triangle filter widens with the reduction, so downscaling
        // averages every source pixel instead of skipping some, and it never
        // overshoots, so premultiplied colors stay within their alpha.
        image::imageops::resize(&self.pixels, width, height, FilterType::Triangle)
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Asset")
            .field("name", &self.name)
            .field("content_hash", &hex::encode(self.content_hash))
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// An asset resized for one frame: premultiplied pixels and where they sit
/// inside the frame (only `contain` leaves a margin).
pub(crate) struct ResizedImage {
    pub(crate) pixels: RgbaImage,
    pub(crate) offset_x: u32,
    pub(crate) offset_y: u32,
    /// True when every pixel is opaque, so that a plain blit can copy rows.
    pub(crate) opaque: bool,
}

impl ResizedImage {
    fn new(pixels: RgbaImage, offset_x: u32, offset_y: u32) -> ResizedImage {
        let opaque = pixels.as_raw().chunks_exact(4).all(|pixel| pixel[3] == 255);
        ResizedImage {
            pixels,
            offset_x,
            offset_y,
            opaque,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct ResizeKey {
    width: u32,
    height: u32,
    fit: Fit,
}

fn premultiply(pixels: &mut RgbaImage) {
    for pixel in pixels.chunks_exact_mut(4) {
        let alpha = u32::from(pixel[3]);
        if alpha != 255 {
            for channel in &mut pixel[..3] {
                *channel = crate::render::canvas::mul_div255(u32::from(*channel), alpha);
            }
        }
    }
}
