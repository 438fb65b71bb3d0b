//! Animated GIFs for countdowns: one palette for the whole animation, and
//! each frame stored as the smallest rectangle that changed.
//!
//! A countdown's frames differ only where digits change, so after the first
//! frame most frames are the two seconds digits. The palette is built once,
//! from the colors of the first frame plus the antialiasing ramps between
//! the digits' color and every color under the digits, so later frames map
//! to it exactly and nothing is quantized per frame. When the first frame
//! has more colors than fit (a photo or a gradient behind the timer), it is
//! quantized once with NeuQuant and the ramps are added after.

use std::collections::HashMap;

use crate::render::RenderError;
use crate::render::canvas::Canvas;

/// Steps of each antialiasing ramp between the digits' color and a color
/// under them. Coverage is 8-bit, but 16 steps are indistinguishable on
/// digits and leave room in the palette.
const RAMP_STEPS: u32 = 16;

/// Colors at most, GIF's limit.
const MAX_COLORS: usize = 256;

/// A GIF's palette, and the index of every color seen so far.
pub(crate) struct Palette {
    /// RGB triples.
    colors: Vec<[u8; 3]>,
    index: HashMap<[u8; 3], u8>,
    /// The index of fully transparent pixels, if the image has any.
    transparent: Option<u8>,
}

impl Palette {
    /// The palette of an animation whose first frame is `first` and whose
    /// later frames draw `ink` (straight RGB) over the pixels inside
    /// `ink_areas` (canvas rectangles) of the first frame.
    pub(crate) fn build(first: &Canvas, ink: [u8; 3], ink_areas: &[PixelRect]) -> Palette {
        let mut under_ink: Vec<[u8; 3]> = Vec::new();
        for area in ink_areas {
            for y in area.top..area.bottom {
                for x in area.left..area.right {
                    if let Some(color) = opaque_rgb(pixel(first, x, y))
                        && !under_ink.contains(&color)
                    {
                        under_ink.push(color);
                        if under_ink.len() > 8 {
                            break;
                        }
                    }
                }
            }
        }
        under_ink.truncate(8);
        let mut ramps: Vec<[u8; 3]> = Vec::new();
        for &under in &under_ink {
            for step in 1..RAMP_STEPS {
                let color = mix(under, ink, step, RAMP_STEPS);
                if !ramps.contains(&color) {
                    ramps.push(color);
                }
            }
        }
        ramps.push(ink);

        let has_transparency = first.pixels.chunks_exact(4).any(|pixel| pixel[3] < 128);
        let room = MAX_COLORS - ramps.len() - usize::from(has_transparency);
        let mut seen: Vec<[u8; 3]> = Vec::new();
        let mut lookup: HashMap<[u8; 3], ()> = HashMap::new();
        for pixel in first.pixels.chunks_exact(4) {
            if let Some(color) = opaque_rgb(pixel)
                && lookup.insert(color, ()).is_none()
            {
                seen.push(color);
                if seen.len() > room {
                    break;
                }
            }
        }
        let mut colors: Vec<[u8; 3]> = if seen.len() <= room {
            seen
        } else {
            quantize(first, room)
        };
        for color in ramps {
            if !colors.contains(&color) && colors.len() < MAX_COLORS {
                colors.push(color);
            }
        }
        let transparent = if has_transparency && colors.len() < MAX_COLORS {
            colors.push([0, 0, 0]);
            Some((colors.len() - 1) as u8)
        } else {
            None
        };
        let mut index = HashMap::with_capacity(colors.len() * 2);
        for (position, &color) in colors.iter().enumerate() {
            if Some(position as u8) != transparent {
                index.entry(color).or_insert(position as u8);
            }
        }
        Palette {
            colors,
            index,
            transparent,
        }
    }

    /// The palette's index for a premultiplied canvas pixel: its own color
    /// when the palette has it, else the nearest one (remembered).
    fn index_of(&mut self, pixel: &[u8]) -> u8 {
        let Some(color) = opaque_rgb(pixel) else {
            return self.transparent.unwrap_or(0);
        };
        if let Some(&index) = self.index.get(&color) {
            return index;
        }
        let nearest = self
            .colors
            .iter()
            .enumerate()
            .filter(|(position, _)| Some(*position as u8) != self.transparent)
            .min_by_key(|(_, candidate)| distance(**candidate, color))
            .map_or(0, |(position, _)| position as u8);
        self.index.insert(color, nearest);
        nearest
    }
}

/// A rectangle of canvas pixels, right and bottom exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PixelRect {
    pub(crate) left: u32,
    pub(crate) top: u32,
    pub(crate) right: u32,
    pub(crate) bottom: u32,
}

impl PixelRect {
    fn union(self, other: PixelRect) -> PixelRect {
        PixelRect {
            left: self.left.min(other.left),
            top: self.top.min(other.top),
            right: self.right.max(other.right),
            bottom: self.bottom.max(other.bottom),
        }
    }
}

/// Writes frames one at a time into a GIF.
pub(crate) struct GifWriter {
    encoder: gif::Encoder<Vec<u8>>,
    palette: Palette,
    width: u32,
    /// The indices of the last frame written, to find what changed.
    shown: Vec<u8>,
    frames: u32,
}

impl GifWriter {
    pub(crate) fn new(
        width: u32,
        height: u32,
        palette: Palette,
        looping: bool,
    ) -> Result<GifWriter, RenderError> {
        let (Ok(gif_width), Ok(gif_height)) = (u16::try_from(width), u16::try_from(height)) else {
            return Err(RenderError::Encode {
                reason: "the GIF is too large".into(),
            });
        };
        let mut flat = Vec::with_capacity(palette.colors.len() * 3);
        for color in &palette.colors {
            flat.extend_from_slice(color);
        }
        // GIF palettes hold a power of two colors; the encoder pads.
        let mut encoder =
            gif::Encoder::new(Vec::new(), gif_width, gif_height, &flat).map_err(|e| {
                RenderError::Encode {
                    reason: e.to_string(),
                }
            })?;
        if looping {
            encoder
                .set_repeat(gif::Repeat::Infinite)
                .map_err(|e| RenderError::Encode {
                    reason: e.to_string(),
                })?;
        }
        Ok(GifWriter {
            encoder,
            palette,
            width,
            shown: Vec::new(),
            frames: 0,
        })
    }

    /// Adds `canvas` as the next frame, shown for `delay_cs` hundredths of
    /// a second. Only the pixels inside `dirty` can have changed since the
    /// frame before (the whole canvas for the first frame). The first frame
    /// is stored whole; each later one as the rectangle where its indices
    /// differ from the frame before, or as one pixel when nothing changed.
    pub(crate) fn add_frame(
        &mut self,
        canvas: &Canvas,
        dirty: &[PixelRect],
        delay_cs: u16,
    ) -> Result<(), RenderError> {
        let height = canvas.height;
        let first = self.shown.is_empty();
        let rect = if first {
            self.shown = vec![0; canvas.width as usize * height as usize];
            let whole = PixelRect {
                left: 0,
                top: 0,
                right: self.width,
                bottom: height,
            };
            self.map_area(canvas, whole);
            whole
        } else {
            let mut changed: Option<PixelRect> = None;
            for &area in dirty {
                if let Some(area_changed) = self.map_area(canvas, area) {
                    changed = Some(match changed {
                        None => area_changed,
                        Some(seen) => seen.union(area_changed),
                    });
                }
            }
            changed.unwrap_or(PixelRect {
                left: 0,
                top: 0,
                right: 1,
                bottom: 1,
            })
        };
        let mut buffer =
            Vec::with_capacity(((rect.right - rect.left) * (rect.bottom - rect.top)) as usize);
        for y in rect.top..rect.bottom {
            let start = (y * self.width + rect.left) as usize;
            let end = (y * self.width + rect.right) as usize;
            buffer.extend_from_slice(&self.shown[start..end]);
        }
        let frame = gif::Frame {
            delay: delay_cs,
            dispose: gif::DisposalMethod::Keep,
            transparent: if first {
                self.palette.transparent
            } else {
                None
            },
            left: rect.left as u16,
            top: rect.top as u16,
            width: (rect.right - rect.left) as u16,
            height: (rect.bottom - rect.top) as u16,
            buffer: std::borrow::Cow::Owned(buffer),
            ..gif::Frame::default()
        };
        self.encoder
            .write_frame(&frame)
            .map_err(|e| RenderError::Encode {
                reason: e.to_string(),
            })?;
        self.frames += 1;
        Ok(())
    }

    /// Maps `area` of `canvas` to palette indices in `shown`, and returns
    /// the rectangle within it whose indices changed.
    fn map_area(&mut self, canvas: &Canvas, area: PixelRect) -> Option<PixelRect> {
        let mut changed: Option<PixelRect> = None;
        // Neighboring pixels are mostly the same color: remember the last.
        let mut last: Option<([u8; 4], u8)> = None;
        for y in area.top..area.bottom {
            for x in area.left..area.right {
                let at = (y * self.width + x) as usize;
                let pixel = &canvas.pixels[at * 4..at * 4 + 4];
                let key = [pixel[0], pixel[1], pixel[2], pixel[3]];
                let index = match last {
                    Some((seen, index)) if seen == key => index,
                    _ => {
                        let index = self.palette.index_of(pixel);
                        last = Some((key, index));
                        index
                    }
                };
                if self.shown[at] != index {
                    self.shown[at] = index;
                    let here = PixelRect {
                        left: x,
                        top: y,
                        right: x + 1,
                        bottom: y + 1,
                    };
                    changed = Some(changed.map_or(here, |seen| seen.union(here)));
                }
            }
        }
        changed
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, RenderError> {
        self.encoder.into_inner().map_err(|e| RenderError::Encode {
            reason: e.to_string(),
        })
    }
}

fn pixel(canvas: &Canvas, x: u32, y: u32) -> &[u8] {
    let start = (y as usize * canvas.width as usize + x as usize) * 4;
    &canvas.pixels[start..start + 4]
}

/// The straight RGB of a premultiplied pixel, or `None` when it is mostly
/// transparent (GIF has one transparent index and no partial alpha).
fn opaque_rgb(pixel: &[u8]) -> Option<[u8; 3]> {
    let alpha = u32::from(pixel[3]);
    if alpha < 128 {
        return None;
    }
    if alpha == 255 {
        return Some([pixel[0], pixel[1], pixel[2]]);
    }
    let unpremultiply =
        |channel: u8| ((u32::from(channel) * 255 + alpha / 2) / alpha).min(255) as u8;
    Some([
        unpremultiply(pixel[0]),
        unpremultiply(pixel[1]),
        unpremultiply(pixel[2]),
    ])
}

/// `step / steps` of the way from `from` to `to`.
fn mix(from: [u8; 3], to: [u8; 3], step: u32, steps: u32) -> [u8; 3] {
    let channel = |a: u8, b: u8| {
        ((u32::from(a) * (steps - step) + u32::from(b) * step + steps / 2) / steps) as u8
    };
    [
        channel(from[0], to[0]),
        channel(from[1], to[1]),
        channel(from[2], to[2]),
    ]
}

fn distance(a: [u8; 3], b: [u8; 3]) -> u32 {
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| {
            let d = i32::from(x) - i32::from(y);
            (d * d) as u32
        })
        .sum()
}

/// `count` colors for a frame with too many, by NeuQuant.
fn quantize(canvas: &Canvas, count: usize) -> Vec<[u8; 3]> {
    let mut rgba = Vec::with_capacity(canvas.pixels.len());
    for pixel in canvas.pixels.chunks_exact(4) {
        let [r, g, b] = opaque_rgb(pixel).unwrap_or([0, 0, 0]);
        rgba.extend_from_slice(&[r, g, b, 255]);
    }
    let quantizer = color_quant::NeuQuant::new(10, count.max(2), &rgba);
    quantizer
        .color_map_rgb()
        .chunks_exact(3)
        .map(|color| [color[0], color[1], color[2]])
        .collect()
}
