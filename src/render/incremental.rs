//! Incremental PNG renders: draw and compress only the rows that change
//! between recipients.
//!
//! Most of a personalized card is the same for everyone who sees its
//! variant: the background, the fixed words, the frame. A plan says which
//! of its layers are fixed ([`RenderPlan::fixed`]). The first render of a
//! set of fixed layers draws them alone onto a canvas, the [`Base`], kept
//! in a cache bounded in bytes with its stripes' compressed rows
//! (`png_writer.rs`). A render then finds the stripes the other layers
//! touch and makes a window of each run of them: a copy of what the fixed
//! layers under the first varying one drew, then every later layer that
//! reaches those rows drawn in order (so each pixel is blended exactly as
//! a full render blends it). It compresses those stripes and joins them to
//! the kept ones. With every stripe touched the window is the whole image,
//! still started from the kept canvas.
//!
//! Which rows a layer touches is known before it is drawn: a text layer is
//! laid out first and its glyphs' ink measured, any other layer covers its
//! frame. Should a layer still reach past its window (a code's quiet zone,
//! say), the window's canvas notices and the render is done whole. Either
//! way the pixels are those of a full render of the same plan. A stripe
//! drawn over a kept photo is coded with the kept stripe's Huffman code,
//! and the rows no layer changed are copied from it
//! (`png_writer::StripeCoding::Over`); so the bytes depend on which layers
//! are fixed, and the same plan always gives the same bytes.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use crate::render::canvas::Canvas;
use crate::render::deflate::CodeTables;
use crate::render::encode::{is_opaque, png_run, png_stripe};
use crate::render::png_writer::{
    EncodedStripe, PngColor, StripeCoding, StripeToCode, assemble, stripe_count, stripe_rows,
};
use crate::render::text::PreparedText;
use crate::render::{Frame, Layer, RenderError, RenderPlan, Renderer};

/// Bytes of bases kept: a 600x200 card at 2x is 1.9 MB of pixels, weighed
/// at 3 MB with its stripes ([`Base::weight`]), so about twenty
/// variants' bases at 2x, more at 1x.
pub const DEFAULT_BASE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The fixed layers of a plan drawn alone, and their stripes compressed
/// (each color type on first need: the whole image's opacity decides it).
pub(crate) struct Base {
    canvas: Canvas,
    /// The fixed layers under the first one that varies
    /// ([`RenderPlan::leading_fixed`]) drawn alone, where fixed layers also
    /// lie above one that varies: a window starts as a copy of its rows.
    /// `None` when that is `canvas` itself.
    under: Option<Canvas>,
    /// Whether each stripe's pixels are all opaque.
    opaque: Vec<bool>,
    rgb: Vec<OnceLock<EncodedStripe>>,
    rgba: Vec<OnceLock<EncodedStripe>>,
    /// Glyphs the fixed text layers left out.
    missing_glyphs: usize,
}

impl Base {
    /// Bytes a base holds, for the cache's bound: its pixels, half as much
    /// again at most for its compressed stripes and their checkpoints (16
    /// bytes for every 32 pixels of a photo's rows), and each stripe's code
    /// tables.
    pub(crate) fn weight(&self) -> u32 {
        let under = self.under.as_ref().map_or(0, |under| under.pixels.len());
        let pixels = self.canvas.pixels.len() + under;
        let tables = self.opaque.len() * size_of::<CodeTables>();
        u32::try_from(pixels.saturating_mul(3) / 2 + tables).unwrap_or(u32::MAX)
    }

    /// A window of `rows` showing what lies under the layers that vary.
    fn window(&self, rows: Range<u32>) -> Canvas {
        let under = self.under.as_ref().unwrap_or(&self.canvas);
        let mut window = Canvas::window(under.width, under.height, rows.start, 0);
        window.pixels = row_bytes(under, rows).to_vec();
        window
    }

    fn stripe(&self, index: usize, color: PngColor) -> &EncodedStripe {
        let kept = match color {
            PngColor::Rgb => &self.rgb[index],
            PngColor::Rgba => &self.rgba[index],
        };
        kept.get_or_init(|| {
            let rows = stripe_rows(index, self.canvas.height);
            let mut stripe = png_stripe(
                row_bytes(&self.canvas, rows),
                self.canvas.width,
                index == 0,
                color,
                StripeCoding::Kept,
            );
            stripe.shrink_to_fit();
            stripe
        })
    }
}

/// The bytes of `rows` (which the canvas holds).
fn row_bytes(canvas: &Canvas, rows: Range<u32>) -> &[u8] {
    let row_len = canvas.width as usize * 4;
    let start = (rows.start - canvas.top) as usize * row_len;
    &canvas.pixels[start..start + rows.len() * row_len]
}

/// A layer that varies, ready to draw: a text layer laid out once for all
/// windows, any other as it is.
enum Varying<'p> {
    Text(PreparedText),
    Other(&'p Layer),
}

impl Renderer {
    /// Renders a PNG plan with fixed layers incrementally; `None` when the
    /// plan is better (or only) rendered whole: no fixed layer, or a layer
    /// that reached past the rows its layout claimed.
    pub(crate) fn render_png_incrementally(
        &self,
        plan: &RenderPlan,
        (width, height): (u32, u32),
    ) -> Option<Result<Vec<u8>, RenderError>> {
        if !plan.has_fixed() {
            return None;
        }
        let scale = plan.scale as f32;
        let mut varying = Vec::new();
        let mut touched = vec![false; stripe_count(height)];
        for (index, layer) in plan.layers.iter().enumerate() {
            if plan.is_fixed(index) {
                continue;
            }
            let (layer, (start, end)) = match layer {
                Layer::Text(text) => match self.prepare_text_layer(text, scale) {
                    Ok(prepared) => {
                        let rows = prepared.rows();
                        (Varying::Text(prepared), rows)
                    }
                    Err(error) => return Some(Err(error)),
                },
                other => (Varying::Other(other), frame_rows(layer_frame(other), scale)),
            };
            mark_stripes(&mut touched, start, end, height);
            varying.push((index, layer, start..end));
        }
        // With every stripe touched the render still starts from the kept
        // canvas of the layers below the first personalized one (a
        // background photo is not drawn again) and draws its texts as
        // laid out above (not laid out again by a whole render).
        let base = match self.base(plan, (width, height)) {
            Ok(base) => base,
            Err(error) => return Some(Err(error)),
        };
        let mut missing_glyphs = base.missing_glyphs;
        let mut windows = Vec::new();
        for stripes in runs(&touched) {
            let rows =
                stripe_rows(stripes.start, height).start..stripe_rows(stripes.end - 1, height).end;
            let window = i64::from(rows.start)..i64::from(rows.end);
            let mut canvas = base.window(rows);
            let mut next_varying = varying.iter().peekable();
            for (index, layer) in plan.layers.iter().enumerate().skip(plan.leading_fixed()) {
                let drawn = match next_varying.next_if(|(at, ..)| *at == index) {
                    // A personalized layer whose rows are all in another
                    // window draws nothing here; drawn watched, it would
                    // count as spilling out of this one.
                    Some((.., reach)) if reach.end <= window.start || reach.start >= window.end => {
                        Ok(0)
                    }
                    Some((_, Varying::Text(text), _)) => {
                        canvas.watching = true;
                        text.draw(&mut canvas);
                        Ok(0)
                    }
                    Some((_, Varying::Other(layer), _)) => {
                        canvas.watching = true;
                        self.draw_layer(&mut canvas, layer, plan.scale)
                    }
                    None => {
                        canvas.watching = false;
                        self.draw_layer(&mut canvas, layer, plan.scale)
                    }
                };
                // Glyphs left out are counted from the base and from the
                // laid-out texts, not once per window.
                if let Err(error) = drawn {
                    return Some(Err(error));
                }
            }
            if canvas.spilled {
                return None;
            }
            windows.push((stripes, canvas));
        }
        missing_glyphs += varying
            .iter()
            .map(|(_, layer, _)| match layer {
                Varying::Text(text) => text.missing,
                Varying::Other(_) => 0,
            })
            .sum::<usize>();
        self.count_missing_glyphs(missing_glyphs);

        let opaque = touched
            .iter()
            .zip(&base.opaque)
            .all(|(&touched, &opaque)| touched || opaque)
            && windows.iter().all(|(_, canvas)| is_opaque(&canvas.pixels));
        let color = if opaque {
            PngColor::Rgb
        } else {
            PngColor::Rgba
        };
        let mut drawn: Vec<Option<EncodedStripe>> = vec![None; touched.len()];
        for (stripes, canvas) in &windows {
            let run: Vec<StripeToCode<'_>> = stripes
                .clone()
                .map(|index| {
                    let rows = stripe_rows(index, height);
                    let pixels = row_bytes(canvas, rows.clone());
                    StripeToCode {
                        pixels,
                        first: index == 0,
                        coding: StripeCoding::Over {
                            kept: base.stripe(index, color),
                            drawn: pixels,
                            kept_drawn: row_bytes(&base.canvas, rows),
                        },
                    }
                })
                .collect();
            for (index, stripe) in stripes.clone().zip(png_run(&run, width, color)) {
                drawn[index] = Some(stripe);
            }
        }
        let stripes = drawn
            .iter()
            .enumerate()
            .map(|(index, stripe)| stripe.as_ref().unwrap_or_else(|| base.stripe(index, color)));
        self.incremental_renders.fetch_add(1, Ordering::Relaxed);
        Some(Ok(assemble(width, height, color, stripes)))
    }

    /// The base of the plan's fixed layers: kept, or drawn now and kept.
    fn base(
        &self,
        plan: &RenderPlan,
        (width, height): (u32, u32),
    ) -> Result<Arc<Base>, RenderError> {
        let key = plan.fixed_key();
        if let Some(base) = self.bases.get(&key) {
            return Ok(base);
        }
        let mut canvas = Canvas::new(width, height);
        let mut missing_glyphs = 0;
        let leading = plan.leading_fixed();
        let mut under = None;
        for (index, layer) in plan.layers.iter().enumerate() {
            if index == leading && (leading..plan.layers.len()).any(|later| plan.is_fixed(later)) {
                under = Some(canvas.clone());
            }
            if plan.is_fixed(index) {
                missing_glyphs += self.draw_layer(&mut canvas, layer, plan.scale)?;
            }
        }
        let stripes = stripe_count(height);
        let opaque = (0..stripes)
            .map(|index| is_opaque(row_bytes(&canvas, stripe_rows(index, height))))
            .collect();
        let base = Arc::new(Base {
            canvas,
            under,
            opaque,
            rgb: (0..stripes).map(|_| OnceLock::new()).collect(),
            rgba: (0..stripes).map(|_| OnceLock::new()).collect(),
            missing_glyphs,
        });
        self.bases.insert(key, Arc::clone(&base));
        Ok(base)
    }
}

/// The frame of a layer that is not text.
fn layer_frame(layer: &Layer) -> Frame {
    match layer {
        Layer::Rect(rect) => rect.frame,
        Layer::Image(image) => image.frame,
        Layer::Text(text) => text.frame,
        Layer::Code(code) => code.frame,
    }
}

/// The canvas rows a frame covers at `scale`, a pixel wider each way for
/// rounding; a frame that is not finite covers everything.
fn frame_rows(frame: Frame, scale: f32) -> (i64, i64) {
    let (top, bottom) = (frame.y * scale, (frame.y + frame.height) * scale);
    if !(top.is_finite() && bottom.is_finite()) || top.abs() > 1e9 || bottom.abs() > 1e9 {
        return (i64::MIN / 2, i64::MAX / 2);
    }
    (top.floor() as i64 - 1, bottom.ceil() as i64 + 1)
}

/// Marks the stripes that rows `start..end` of an image `height` tall reach.
fn mark_stripes(touched: &mut [bool], start: i64, end: i64, height: u32) {
    let (start, end) = (
        start.clamp(0, i64::from(height)),
        end.clamp(0, i64::from(height)),
    );
    if start >= end {
        return;
    }
    let stripe_of = |row: i64| row as usize / crate::render::png_writer::STRIPE_ROWS as usize;
    for stripe in &mut touched[stripe_of(start)..=stripe_of(end - 1)] {
        *stripe = true;
    }
}

/// The runs of consecutive touched stripes, as ranges of stripe indexes.
fn runs(touched: &[bool]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (index, &is_touched) in touched.iter().chain([&false]).enumerate() {
        match (is_touched, start) {
            (true, None) => start = Some(index),
            (false, Some(first)) => {
                runs.push(first..index);
                start = None;
            }
            _ => {}
        }
    }
    runs
}
