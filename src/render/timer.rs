//! Countdown timers: an animated GIF of one frame a second, each showing the
//! true time left at that second.
//!
//! The static part is drawn once: the plan's layers, then each unit's box,
//! plain label and the separators. Each frame then redraws only the numbers
//! that changed since the frame before, and the labels with plural forms
//! whose form changed with them ("1 день", "2 дня"), over the static pixels
//! saved under them, and `gif_writer.rs` stores only the rectangle that
//! changed. The
//! first frame is the time left at the request, because Outlook on Windows
//! shows the first frame only, and the animation ends on zero, never past
//! it.

use crate::render::canvas::Canvas;
use crate::render::gif_writer::{GifWriter, Palette, PixelRect};
use crate::render::{
    CountdownLayer, Frame, HorizontalAlign, RectLayer, RenderError, Renderer, TextLayer, TextStyle,
    TimeUnit, TimerPlan, VerticalAlign, rect_layer,
};
use crate::words::plural::{PluralCategory, PluralChooser};
use crate::words::read_locale_or_english;

/// The most frames a timer may have: five minutes of animation. Sixty is
/// the usual; more only makes the file larger for recipients who watch.
pub const MAX_TIMER_FRAMES: u32 = 300;

/// Hundredths of a second per frame.
const FRAME_DELAY_CS: u16 = 100;

/// The largest countdown GIF served. Some mail clients refuse or clip
/// larger images, and a recipient on a phone should not download more.
pub const MAX_TIMER_BYTES: usize = 1024 * 1024;

/// Renders the countdown of `plan` as a GIF of at most [`MAX_TIMER_BYTES`]:
/// when all its frames would be larger, it keeps as many of the first
/// frames as fit (the first frame, the one that matters most, always).
/// Returns the GIF and how many frames it kept.
pub(crate) fn render_timer_within(
    renderer: &Renderer,
    plan: &TimerPlan,
) -> Result<(Vec<u8>, u32), RenderError> {
    let mut frames = plan.frames;
    loop {
        let trial = TimerPlan {
            frames,
            ..plan.clone()
        };
        let (bytes, shown) = render_timer_frames(renderer, &trial)?;
        if bytes.len() <= MAX_TIMER_BYTES || shown <= 1 {
            return Ok((bytes, shown));
        }
        // Frames cost about the same each: scale down, with a margin.
        let fitting =
            (u64::from(shown) * MAX_TIMER_BYTES as u64 * 9 / 10 / bytes.len() as u64) as u32;
        frames = fitting.clamp(1, shown - 1);
    }
}

/// Renders the countdown of `plan` as a GIF, whatever its size.
fn render_timer_frames(
    renderer: &Renderer,
    plan: &TimerPlan,
) -> Result<(Vec<u8>, u32), RenderError> {
    let countdown = &plan.countdown;
    if countdown.units.is_empty() {
        return Err(RenderError::Timer {
            reason: "a countdown needs at least one unit".into(),
        });
    }
    if plan.frames == 0 || plan.frames > MAX_TIMER_FRAMES {
        return Err(RenderError::Timer {
            reason: format!("frames must be 1 to {MAX_TIMER_FRAMES}"),
        });
    }
    for style in [&countdown.digits, &countdown.label_style] {
        if !renderer.fonts.has_family(&style.family) {
            return Err(RenderError::UnknownFamily(style.family.clone()));
        }
    }
    let scale = plan.base.scale as f32;
    let (mut canvas, mut missing_glyphs) = renderer.draw_layers(&plan.base)?;
    let cells = cell_frames(countdown.frame, countdown, countdown.units.len());

    // The static part: boxes, labels and separators.
    for (index, cell) in cells.iter().enumerate() {
        if let Some(digit_box) = countdown.digit_box {
            rect_layer::draw_rect(
                &mut canvas,
                &RectLayer {
                    frame: cell.number,
                    fill: digit_box.fill,
                    radius: digit_box.radius,
                },
                scale,
            );
        }
        if let Some(label) = countdown
            .labels
            .get(index)
            .filter(|label| label.is_plain() && !label.is_empty())
        {
            missing_glyphs += renderer.draw_text_layer(
                &mut canvas,
                &centered(
                    cell.label,
                    label.pick(PluralCategory::Other),
                    &countdown.label_style,
                ),
                scale,
            )?;
        }
        if index + 1 < cells.len() && !countdown.separator.is_empty() {
            let between = Frame {
                x: cell.number.x + cell.number.width,
                y: cell.number.y,
                width: countdown.gap,
                height: cell.number.height,
            };
            missing_glyphs += renderer.draw_text_layer(
                &mut canvas,
                &centered(between, &countdown.separator, &countdown.digits),
                scale,
            )?;
        }
    }
    // The digits are drawn from the digits' font alone; the static part
    // holds every text an author or a recipient chose.
    renderer.count_missing_glyphs(missing_glyphs);
    let base = Canvas {
        width: canvas.width,
        height: canvas.height,
        pixels: canvas.pixels.clone(),
    };
    let number_areas: Vec<PixelRect> = cells
        .iter()
        .map(|cell| pixel_rect(cell.number, scale, canvas.width, canvas.height))
        .collect();
    let label_areas: Vec<PixelRect> = cells
        .iter()
        .map(|cell| pixel_rect(cell.label, scale, canvas.width, canvas.height))
        .collect();
    let plurals = PluralChooser::new(&read_locale_or_english(&countdown.locale));
    let remaining = plan.remaining.max(0);
    // Labels with plural forms change with their numbers: the first
    // frame's go into the palette's picture, over the saved base.
    let mut shown_labels: Vec<Option<&str>> = vec![None; cells.len()];
    draw_plural_labels(
        renderer,
        &mut canvas,
        (&base, &label_areas),
        (&plurals, &cells, scale),
        (countdown, remaining),
        &mut shown_labels,
        &mut Vec::new(),
    )?;
    let ink = {
        let color = countdown.digits.color;
        [color.r, color.g, color.b]
    };
    let palette = Palette::build(&canvas, ink, &number_areas);

    // One frame a second, ending on zero.
    let frames = u32::try_from(remaining.saturating_add(1))
        .unwrap_or(u32::MAX)
        .min(plan.frames);
    let ends_on_zero = i64::from(frames) > remaining;
    let mut gif = GifWriter::new(
        canvas.width,
        canvas.height,
        palette,
        plan.looping && !ends_on_zero,
    )?;
    let mut shown: Vec<Option<String>> = vec![None; cells.len()];
    let mut dirty: Vec<PixelRect> = Vec::with_capacity(cells.len());
    for frame_index in 0..frames {
        let left = remaining - i64::from(frame_index);
        let numbers = unit_numbers(left, &countdown.units, countdown.pad);
        dirty.clear();
        for (index, number) in numbers.into_iter().enumerate() {
            if shown[index].as_deref() == Some(number.as_str()) {
                continue;
            }
            restore(&mut canvas, &base, number_areas[index]);
            dirty.push(number_areas[index]);
            // A label with plural forms is drawn again with its number,
            // after both areas are clean: they overlap by the margins
            // kept for antialiasing.
            if countdown
                .labels
                .get(index)
                .is_some_and(|label| !label.is_plain())
            {
                restore(&mut canvas, &base, label_areas[index]);
                dirty.push(label_areas[index]);
                shown_labels[index] = None;
            }
            renderer.draw_text_layer(
                &mut canvas,
                &centered(cells[index].number, &number, &countdown.digits),
                scale,
            )?;
            shown[index] = Some(number);
        }
        draw_plural_labels(
            renderer,
            &mut canvas,
            (&base, &label_areas),
            (&plurals, &cells, scale),
            (countdown, left),
            &mut shown_labels,
            &mut dirty,
        )?;
        gif.add_frame(&canvas, &dirty, FRAME_DELAY_CS)?;
    }
    Ok((gif.finish()?, frames))
}

/// The numbers shown for `seconds` left, one per unit, zero-padded to
/// `pad` digits. The largest unit takes what larger units would have held.
pub(crate) fn unit_numbers(seconds: i64, units: &[TimeUnit], pad: u8) -> Vec<String> {
    unit_values(seconds, units)
        .into_iter()
        .map(|value| format!("{value:0width$}", width = usize::from(pad)))
        .collect()
}

/// The value of each unit for `seconds` left, unpadded.
fn unit_values(seconds: i64, units: &[TimeUnit]) -> Vec<u64> {
    let mut rest = seconds.max(0);
    let mut values = Vec::with_capacity(units.len());
    for unit in units {
        values.push((rest / unit.seconds()) as u64);
        rest %= unit.seconds();
    }
    values
}

/// Draws, for `left` seconds, each label with plural forms whose form
/// differs from the one `shown` (none: its area is clean already), over
/// the saved `base` pixels of its area, and notes the area in `dirty`.
/// The form is the one of the plural category of the unit's number (3,
/// whatever its padding).
fn draw_plural_labels<'plan>(
    renderer: &Renderer,
    canvas: &mut Canvas,
    (base, label_areas): (&Canvas, &[PixelRect]),
    (plurals, cells, scale): (&PluralChooser, &[Cell], f32),
    (countdown, left): (&'plan CountdownLayer, i64),
    shown: &mut [Option<&'plan str>],
    dirty: &mut Vec<PixelRect>,
) -> Result<(), RenderError> {
    let values = unit_values(left, &countdown.units);
    for (index, (label, value)) in countdown.labels.iter().zip(values).enumerate() {
        if label.is_plain() || index >= cells.len() {
            continue;
        }
        let words = label.pick(plurals.category_of_count(value));
        if shown[index] == Some(words) {
            continue;
        }
        if shown[index].is_some() {
            restore(canvas, base, label_areas[index]);
            dirty.push(label_areas[index]);
        }
        if !words.is_empty() {
            renderer.draw_text_layer(
                canvas,
                &centered(cells[index].label, words, &countdown.label_style),
                scale,
            )?;
        }
        shown[index] = Some(words);
    }
    Ok(())
}

/// Where one unit's number and label go, in 1x pixels.
#[derive(Clone, Copy, Debug)]
struct Cell {
    number: Frame,
    label: Frame,
}

/// Cells of equal width side by side across `frame`, `gap` apart; the
/// numbers and labels together centered vertically.
fn cell_frames(frame: Frame, countdown: &CountdownLayer, count: usize) -> Vec<Cell> {
    let gap = countdown.gap.max(0.0);
    let count_f = count as f32;
    let width = ((frame.width - gap * (count_f - 1.0)) / count_f).max(1.0);
    let has_labels = countdown.labels.iter().any(|label| !label.is_empty());
    let number_height = (countdown.digits.size * 1.4).min(frame.height);
    let label_height = if has_labels {
        (countdown.label_style.size * 1.4).min((frame.height - number_height).max(0.0))
    } else {
        0.0
    };
    let top = frame.y + (frame.height - number_height - label_height).max(0.0) / 2.0;
    (0..count)
        .map(|index| {
            let x = frame.x + index as f32 * (width + gap);
            Cell {
                number: Frame {
                    x,
                    y: top,
                    width,
                    height: number_height,
                },
                label: Frame {
                    x,
                    y: top + number_height,
                    width,
                    height: label_height.max(1.0),
                },
            }
        })
        .collect()
}

/// One line of `text` centered in `frame`, shrunk to fit rather than cut.
fn centered(frame: Frame, text: &str, style: &TextStyle) -> TextLayer {
    TextLayer {
        frame,
        text: text.to_string(),
        style: TextStyle {
            align: HorizontalAlign::Center,
            vertical_align: VerticalAlign::Middle,
            wrap: false,
            max_lines: Some(1),
            min_size: (style.size / 2.0).min(style.min_size),
            ..style.clone()
        },
    }
}

/// The canvas pixels of a 1x frame, grown by two pixels for antialiasing
/// and glyph overhang, within the canvas.
fn pixel_rect(frame: Frame, scale: f32, width: u32, height: u32) -> PixelRect {
    let clamp = |value: f32, limit: u32| (value.max(0.0) as u32).min(limit);
    PixelRect {
        left: clamp((frame.x * scale).floor() - 2.0, width),
        top: clamp((frame.y * scale).floor() - 2.0, height),
        right: clamp(((frame.x + frame.width) * scale).ceil() + 2.0, width),
        bottom: clamp(((frame.y + frame.height) * scale).ceil() + 2.0, height),
    }
}

/// Copies `area` of `base` back onto `canvas`.
fn restore(canvas: &mut Canvas, base: &Canvas, area: PixelRect) {
    let row_bytes = (area.right - area.left) as usize * 4;
    for y in area.top..area.bottom {
        let start = (y as usize * canvas.width as usize + area.left as usize) * 4;
        canvas.pixels[start..start + row_bytes]
            .copy_from_slice(&base.pixels[start..start + row_bytes]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_unit_takes_the_overflow() {
        let all = [
            TimeUnit::Days,
            TimeUnit::Hours,
            TimeUnit::Minutes,
            TimeUnit::Seconds,
        ];
        let seconds = 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5;
        assert_eq!(unit_numbers(seconds, &all, 2), ["02", "03", "04", "05"]);
        assert_eq!(
            unit_numbers(seconds, &all[1..], 2),
            ["51", "04", "05"],
            "without days, hours hold them"
        );
        assert_eq!(unit_numbers(seconds, &all[..1], 1), ["2"]);
        assert_eq!(unit_numbers(-5, &all, 2), ["00", "00", "00", "00"]);
        assert_eq!(unit_numbers(400 * 86_400, &all[..1], 2), ["400"]);
    }
}
