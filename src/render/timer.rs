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
//!
//! A countdown that hides its leading zero units ("05:12:09" rather than
//! "00 days 05:12:09") lays its row out for the units the first frame
//! shows. When a leading unit runs out during the animation (a day ends
//! at 1 day 00:00:00), the row is drawn again without it from that frame
//! on: its cells keep their width and the shorter row is centered, so the
//! numbers move over by half a cell once and never come back.

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
    let (under, mut missing_glyphs) = renderer.draw_layers(&plan.base)?;
    let remaining = plan.remaining.max(0);
    let (mut layout, static_missing) = Layout::draw(
        renderer,
        &under,
        countdown,
        hidden_units(remaining, countdown),
        scale,
    )?;
    missing_glyphs += static_missing;
    let mut canvas = duplicate(&layout.base);
    let plurals = PluralChooser::new(&read_locale_or_english(&countdown.locale));
    // Labels with plural forms change with their numbers: the first
    // frame's go into the palette's picture, over the saved base.
    let mut shown_labels: Vec<Option<&str>> = vec![None; layout.cells.len()];
    missing_glyphs += draw_plural_labels(
        renderer,
        &mut canvas,
        (&layout, &plurals, scale),
        (countdown, remaining),
        &mut shown_labels,
        &mut Vec::new(),
    )?;
    let ink = {
        let color = countdown.digits.color;
        [color.r, color.g, color.b]
    };
    let palette = Palette::build(&canvas, ink, &layout.number_areas);

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
    let whole_canvas = PixelRect {
        left: 0,
        top: 0,
        right: canvas.width,
        bottom: canvas.height,
    };
    let mut shown: Vec<Option<String>> = vec![None; layout.cells.len()];
    let mut dirty: Vec<PixelRect> = Vec::with_capacity(layout.cells.len() * 2);
    for frame_index in 0..frames {
        let left = remaining - i64::from(frame_index);
        dirty.clear();
        // A leading unit that has just run out leaves the row: the row is
        // laid out again, once, and stays so, since time only runs down.
        let hidden = hidden_units(left, countdown);
        if hidden != layout.hidden {
            let (relaid, static_missing) =
                Layout::draw(renderer, &under, countdown, hidden, scale)?;
            missing_glyphs += static_missing;
            layout = relaid;
            canvas = duplicate(&layout.base);
            shown = vec![None; layout.cells.len()];
            shown_labels = vec![None; layout.cells.len()];
            dirty.push(whole_canvas);
        }
        let numbers = unit_numbers(left, &countdown.units, countdown.pad);
        for (index, number) in numbers.into_iter().skip(layout.hidden).enumerate() {
            if shown[index].as_deref() == Some(number.as_str()) {
                continue;
            }
            restore(&mut canvas, &layout.base, layout.number_areas[index]);
            dirty.push(layout.number_areas[index]);
            // A label with plural forms is drawn again with its number,
            // after both areas are clean: they overlap by the margins
            // kept for antialiasing.
            if countdown
                .labels
                .get(layout.hidden + index)
                .is_some_and(|label| !label.is_plain())
            {
                restore(&mut canvas, &layout.base, layout.label_areas[index]);
                dirty.push(layout.label_areas[index]);
                shown_labels[index] = None;
            }
            // The digits are drawn from the digits' font alone, which has
            // them all: they are not counted.
            renderer.draw_text_layer(
                &mut canvas,
                &centered(layout.cells[index].number, &number, &countdown.digits),
                scale,
            )?;
            shown[index] = Some(number);
        }
        missing_glyphs += draw_plural_labels(
            renderer,
            &mut canvas,
            (&layout, &plurals, scale),
            (countdown, left),
            &mut shown_labels,
            &mut dirty,
        )?;
        gif.add_frame(&canvas, &dirty, FRAME_DELAY_CS)?;
    }
    // Every text an author or a recipient chose (the plan's layers, the
    // labels of every layout and every form) is in the count.
    renderer.count_missing_glyphs(missing_glyphs);
    Ok((gif.finish()?, frames))
}

/// How many of the countdown's leading units `seconds` left hides: none
/// unless the layer hides leading zero units, and then each leading unit
/// whose value is zero, but never the last. Time only runs down, so a
/// unit hidden at one second stays hidden at every later one.
fn hidden_units(seconds: i64, countdown: &CountdownLayer) -> usize {
    if !countdown.hide_leading_zero_units {
        return 0;
    }
    let values = unit_values(seconds, &countdown.units);
    let zeros = values.iter().take_while(|&&value| value == 0).count();
    zeros.min(values.len().saturating_sub(1))
}

/// The row of cells for one set of shown units, and the canvas with its
/// static part (boxes, plain labels, separators) drawn over the plan's
/// layers, which later frames restore from.
struct Layout {
    /// Leading units left out of this row.
    hidden: usize,
    /// The shown units' cells, largest unit first.
    cells: Vec<Cell>,
    base: Canvas,
    number_areas: Vec<PixelRect>,
    label_areas: Vec<PixelRect>,
}

impl Layout {
    /// Draws the static part of the row without its `hidden` leading units
    /// over `under`, and says how many glyphs its labels and separators
    /// left out.
    fn draw(
        renderer: &Renderer,
        under: &Canvas,
        countdown: &CountdownLayer,
        hidden: usize,
        scale: f32,
    ) -> Result<(Layout, usize), RenderError> {
        let cells = cell_frames(countdown, hidden);
        let mut base = duplicate(under);
        let mut missing_glyphs = 0;
        for (index, cell) in cells.iter().enumerate() {
            if let Some(digit_box) = countdown.digit_box {
                rect_layer::draw_rect(
                    &mut base,
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
                .get(hidden + index)
                .filter(|label| label.is_plain() && !label.is_empty())
            {
                missing_glyphs += renderer.draw_text_layer(
                    &mut base,
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
                    &mut base,
                    &centered(between, &countdown.separator, &countdown.digits),
                    scale,
                )?;
            }
        }
        let area = |frame: Frame| pixel_rect(frame, scale, base.width, base.height);
        let number_areas = cells.iter().map(|cell| area(cell.number)).collect();
        let label_areas = cells.iter().map(|cell| area(cell.label)).collect();
        Ok((
            Layout {
                hidden,
                cells,
                base,
                number_areas,
                label_areas,
            },
            missing_glyphs,
        ))
    }
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

/// Draws, for `left` seconds, each shown label with plural forms whose
/// form differs from the one `shown` (none: its area is clean already),
/// over the saved base pixels of its area, notes the area in `dirty`, and
/// says how many glyphs the words drawn left out. The form is the one of
/// the plural category of the unit's number (3, whatever its padding).
fn draw_plural_labels<'plan>(
    renderer: &Renderer,
    canvas: &mut Canvas,
    (layout, plurals, scale): (&Layout, &PluralChooser, f32),
    (countdown, left): (&'plan CountdownLayer, i64),
    shown: &mut [Option<&'plan str>],
    dirty: &mut Vec<PixelRect>,
) -> Result<usize, RenderError> {
    let values = unit_values(left, &countdown.units);
    let mut missing_glyphs = 0;
    let shown_labels = countdown.labels.iter().zip(values).skip(layout.hidden);
    for (index, (label, value)) in shown_labels.enumerate() {
        if label.is_plain() || index >= layout.cells.len() {
            continue;
        }
        let words = label.pick(plurals.category_of_count(value));
        if shown[index] == Some(words) {
            continue;
        }
        if shown[index].is_some() {
            restore(canvas, &layout.base, layout.label_areas[index]);
            dirty.push(layout.label_areas[index]);
        }
        if !words.is_empty() {
            missing_glyphs += renderer.draw_text_layer(
                canvas,
                &centered(layout.cells[index].label, words, &countdown.label_style),
                scale,
            )?;
        }
        shown[index] = Some(words);
    }
    Ok(missing_glyphs)
}

/// Where one unit's number and label go, in 1x pixels.
#[derive(Clone, Copy, Debug)]
struct Cell {
    number: Frame,
    label: Frame,
}

/// The cells of the units shown when the first `hidden` are left out, `gap`
/// apart; the numbers and labels together centered vertically. Every cell
/// has the width it has when all units show, so the boxes keep the size
/// the author chose, and a shorter row is centered in the layer's frame
/// rather than leaving a hole where a unit was.
fn cell_frames(countdown: &CountdownLayer, hidden: usize) -> Vec<Cell> {
    let frame = countdown.frame;
    let gap = countdown.gap.max(0.0);
    let count = countdown.units.len();
    let shown = count.saturating_sub(hidden).max(1);
    let width = ((frame.width - gap * (count as f32 - 1.0)) / count as f32).max(1.0);
    let row_width = shown as f32 * width + (shown as f32 - 1.0) * gap;
    let left = if shown == count {
        frame.x
    } else {
        frame.x + ((frame.width - row_width) / 2.0).max(0.0)
    };
    let has_labels = countdown.labels.iter().any(|label| !label.is_empty());
    let number_height = (countdown.digits.size * 1.4).min(frame.height);
    let label_height = if has_labels {
        (countdown.label_style.size * 1.4).min((frame.height - number_height).max(0.0))
    } else {
        0.0
    };
    let top = frame.y + (frame.height - number_height - label_height).max(0.0) / 2.0;
    (0..shown)
        .map(|index| {
            let x = left + index as f32 * (width + gap);
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

/// A copy of `canvas`, to draw on while keeping the original.
fn duplicate(canvas: &Canvas) -> Canvas {
    Canvas {
        pixels: canvas.pixels.clone(),
        ..Canvas::window(canvas.width, canvas.height, canvas.top, 0)
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
    use crate::words::plural::PluralForms;

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

    fn countdown(units: Vec<TimeUnit>, hide_leading_zero_units: bool) -> CountdownLayer {
        let style = crate::render::test_fonts::style(40.0);
        CountdownLayer {
            frame: Frame {
                x: 30.0,
                y: 10.0,
                width: 540.0,
                height: 120.0,
            },
            labels: units.iter().map(|_| PluralForms::plain("unit")).collect(),
            units,
            locale: String::new(),
            digits: style.clone(),
            label_style: style,
            digit_box: None,
            separator: ":".into(),
            pad: 2,
            gap: 20.0,
            hide_leading_zero_units,
        }
    }

    #[test]
    fn leading_zero_units_hide_but_never_the_last() {
        use TimeUnit::*;
        let hiding = countdown(vec![Days, Hours, Minutes, Seconds], true);
        let day = 86_400;
        assert_eq!(hidden_units(2 * day + 5, &hiding), 0);
        assert_eq!(hidden_units(day, &hiding), 0, "01 00 00 00 shows its day");
        assert_eq!(hidden_units(day - 1, &hiding), 1, "23:59:59");
        assert_eq!(hidden_units(5 * 3_600 + 12 * 60 + 9, &hiding), 1);
        assert_eq!(hidden_units(3_600, &hiding), 1, "01:00:00");
        assert_eq!(hidden_units(12 * 60 + 9, &hiding), 2, "12:09");
        assert_eq!(hidden_units(9, &hiding), 3, "09");
        assert_eq!(hidden_units(0, &hiding), 3, "the seconds stay at zero");
        assert_eq!(hidden_units(-40, &hiding), 3);
        // A zero in the middle stays: 1 day 00:05:00 is not 1 day 05:00.
        assert_eq!(hidden_units(day + 300, &hiding), 0);
        let showing = countdown(vec![Days, Hours, Minutes, Seconds], false);
        assert_eq!(hidden_units(9, &showing), 0, "off by default");
        let hours_first = countdown(vec![Hours, Minutes], true);
        assert_eq!(hidden_units(3 * day, &hours_first), 0, "72 hours");
        assert_eq!(hidden_units(59 * 60, &hours_first), 1);
        assert_eq!(hidden_units(0, &countdown(vec![Days], true)), 0);
    }

    #[test]
    fn a_shorter_row_keeps_its_cells_and_is_centered() {
        use TimeUnit::*;
        let layer = countdown(vec![Days, Hours, Minutes, Seconds], true);
        let all = cell_frames(&layer, 0);
        assert_eq!(all.len(), 4);
        // 540 px: four cells of 120 px, 20 px apart, edge to edge.
        assert_eq!(all[0].number.x, 30.0);
        assert_eq!(all[0].number.width, 120.0);
        assert_eq!(all[3].number.x + all[3].number.width, 570.0);
        let three = cell_frames(&layer, 1);
        assert_eq!(three.len(), 3);
        assert!(three.iter().all(|cell| cell.number.width == 120.0));
        // 400 px of row in 540: 70 px on each side.
        assert_eq!(three[0].number.x, 100.0);
        assert_eq!(three[2].number.x + three[2].number.width, 500.0);
        assert_eq!(three[1].number.y, all[1].number.y, "rows at one height");
        assert_eq!(three[1].label.y, all[1].label.y);
        let one = cell_frames(&layer, 3);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].number.x + one[0].number.width / 2.0, 300.0);
    }
}
