//! Text layout: from a string and a style to glyphs placed in a frame.
//!
//! Layout works in canvas pixels (the 1x frame times the scale), so that a
//! 2x render places glyphs at real double resolution. It runs in five steps:
//! - split the text into paragraphs at line feeds, and find each
//!   paragraph's direction and the bidi level of every character
//!   (unicode-bidi, in `paragraphs.rs`);
//! - cut each paragraph into runs of one level, one script and one font of
//!   the fallback chain, and shape each run (`shaping.rs`), which gives
//!   clusters: the smallest pieces of text, each with its glyphs and advance
//!   in em, so they scale to any size for free (`paragraphs.rs`);
//! - break lines greedily at the UAX #14 opportunities (`breaks.rs`) that
//!   fall at the end of a cluster (`lines.rs`);
//! - shrink the size in half-pixel steps until the text fits the frame, its
//!   height and `max_lines`, and when it still does not fit at the minimum
//!   size, break long words between clusters and end the last kept line with
//!   an ellipsis (here);
//! - put each line's clusters in visual order (bidi rule L2) and place their
//!   glyphs (`painter.rs`), aligned to the paragraph's start unless the
//!   template says otherwise (here).

use ab_glyph::{Font, GlyphId};
use unicode_bidi::{BidiInfo, Level};

use crate::render::fonts::FontBook;
use crate::render::text::lines::{EPSILON, Setter};
use crate::render::text::painter::{ELLIPSIS, Ellipsis, LinePainter};
use crate::render::text::paragraphs::shape_text;
use crate::render::text::shaping::ShapeCache;
use crate::render::{EmojiStyle, Frame, HorizontalAlign, TextStyle, VerticalAlign};

/// The steps of shrink-to-fit, in 1x pixels.
const SHRINK_STEP: f32 = 0.5;

/// Text laid out in its frame, in canvas pixels.
#[derive(Debug)]
pub(crate) struct TextLayout {
    /// The font size (the em) that was chosen, in canvas pixels.
    pub(crate) size: f32,
    pub(crate) lines: Vec<LineBox>,
    /// Every glyph to draw, line by line, each line from left to right.
    /// Whitespace has no glyph here.
    pub(crate) glyphs: Vec<PlacedGlyph>,
}

/// One line as laid out: what it says and where it is. Drawing only needs
/// the glyphs; the lines are what tests check the layout with.
#[derive(Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "read by the layout tests"))]
pub(crate) struct LineBox {
    /// The characters kept on the line in logical (reading) order, with the
    /// ellipsis if there is one.
    pub(crate) text: String,
    /// Left edge of the line's ink advance.
    pub(crate) x: f32,
    pub(crate) width: f32,
    /// The baseline, on a whole pixel so that every line's text is equally
    /// crisp.
    pub(crate) baseline: f32,
    pub(crate) right_to_left: bool,
}

/// A glyph and the point of its origin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlacedGlyph {
    pub(crate) face: u16,
    pub(crate) glyph: GlyphId,
    pub(crate) x: f32,
    /// The origin's height: the baseline, moved by the shaper for marks.
    pub(crate) y: f32,
    /// The byte offset, in the laid-out text, of the cluster the glyph
    /// sets; `u32::MAX` for the ellipsis.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the layout tests"))]
    pub(crate) cluster: u32,
}

/// Lays out `text` with `style` in `frame` (1x coordinates) at `scale`,
/// with the fonts of `chain`.
pub(crate) fn layout_text(
    fonts: &FontBook,
    shapes: &ShapeCache,
    chain: &[u16],
    text: &str,
    style: &TextStyle,
    frame: Frame,
    scale: f32,
) -> TextLayout {
    let empty = TextLayout {
        size: 0.0,
        lines: Vec::new(),
        glyphs: Vec::new(),
    };
    let frame_numbers = [
        frame.x,
        frame.y,
        frame.width,
        frame.height,
        style.size,
        scale,
    ];
    if chain.is_empty()
        || frame_numbers.iter().any(|value| !value.is_finite())
        || style.size <= 0.0
        || frame.width <= 0.0
        || frame.height <= 0.0
    {
        return empty;
    }
    // Monochrome emoji: the color fonts leave the chain, so emoji fall
    // through to the outline emoji font and take the text's color.
    let mono_chain: Vec<u16>;
    let chain = match style.emoji {
        EmojiStyle::Color => chain,
        EmojiStyle::Mono => {
            mono_chain = chain
                .iter()
                .copied()
                .filter(|&face| !fonts.face(face).color)
                .collect();
            &mono_chain
        }
    };
    if chain.is_empty() {
        return empty;
    }
    let shaped = shape_text(fonts, shapes, chain, text, style);
    let ellipsis = Ellipsis::shape(fonts, shapes, chain[0]);
    let setter = Setter {
        text: &shaped,
        letter_spacing: finite_or(style.letter_spacing, 0.0) * scale,
        max_width: frame.width * scale,
        wrap: style.wrap,
    };
    let line_height_ratio = match style.line_height {
        ratio if ratio.is_finite() && ratio > 0.0 => ratio,
        _ => 1.2,
    };
    let max_lines = style
        .max_lines
        .map_or(usize::MAX, |lines| lines.max(1) as usize);
    let lines_allowed = |size: f32| {
        let by_height = ((frame.height * scale + EPSILON) / (line_height_ratio * size)) as usize;
        by_height.min(max_lines)
    };

    // Shrink-to-fit: the largest size on the half-pixel grid between `size`
    // and `min_size` at which the text fits without breaking inside a word.
    let min_size = if style.min_size.is_finite() {
        style.min_size.clamp(style.size.min(1.0), style.size)
    } else {
        style.size
    };
    let mut size_1x = style.size;
    let mut fitted = None;
    loop {
        let size = size_1x * scale;
        let lines = setter.break_lines(size, false);
        let allowed = lines_allowed(size);
        if !lines.overflow && allowed >= 1 && lines.spans.len() <= allowed {
            fitted = Some(lines.spans);
            break;
        }
        if size_1x <= min_size {
            break;
        }
        size_1x = (size_1x - SHRINK_STEP).max(min_size);
    }
    let size = size_1x * scale;

    // At the minimum size and still too big: break words as a last resort,
    // keep what fits, and mark the cut with an ellipsis.
    let (spans, truncated) = match fitted {
        Some(spans) => (spans, false),
        None => {
            let lines = setter.break_lines(size, true);
            let keep = lines_allowed(size).max(1);
            let truncated = lines.spans.len() > keep || lines.overflow;
            let mut spans = lines.spans;
            spans.truncate(keep);
            (spans, truncated)
        }
    };

    let primary = fonts.face(chain[0]).outlines();
    let ascent = primary.ascent_unscaled() / fonts.face(chain[0]).units_per_em * size;
    let descent = primary.descent_unscaled() / fonts.face(chain[0]).units_per_em * size;
    let line_height = line_height_ratio * size;
    let block_height = spans.len() as f32 * line_height;
    let (frame_x, frame_y) = (frame.x * scale, frame.y * scale);
    let (frame_width, frame_height) = (frame.width * scale, frame.height * scale);
    let top = frame_y
        + match style.vertical_align {
            VerticalAlign::Top => 0.0,
            VerticalAlign::Middle => (frame_height - block_height) / 2.0,
            VerticalAlign::Bottom => frame_height - block_height,
        };
    // Half the leading goes above the line's ascent and half below its
    // descent, as in CSS, so one line sits centered in its line height.
    let half_leading = (line_height - (ascent - descent)) / 2.0;

    let mut layout = TextLayout {
        size,
        lines: Vec::new(),
        glyphs: Vec::new(),
    };
    let last = spans.len().saturating_sub(1);
    for (index, span) in spans.iter().enumerate() {
        let with_ellipsis = truncated && index == last;
        let end = if with_ellipsis {
            setter.end_before_ellipsis(span, size, ellipsis.advance * size)
        } else {
            setter.trim_end(span.start, span.end)
        };
        let mut width = setter.measure(span.start, end, size);
        if with_ellipsis {
            width += ellipsis.advance * size;
            if end > span.start {
                width += setter.letter_spacing;
            }
        }
        let right_to_left = shaped.paragraphs[span.paragraph].right_to_left;
        let align = match (style.align, right_to_left) {
            (HorizontalAlign::Start, false) | (HorizontalAlign::End, true) => HorizontalAlign::Left,
            (HorizontalAlign::Start, true) | (HorizontalAlign::End, false) => {
                HorizontalAlign::Right
            }
            (explicit, _) => explicit,
        };
        let x = frame_x
            + match align {
                HorizontalAlign::Center => (frame_width - width) / 2.0,
                HorizontalAlign::Right => frame_width - width,
                _ => 0.0,
            };
        let baseline = (top + index as f32 * line_height + half_leading + ascent).round();
        let mut line = LinePainter {
            fonts,
            size,
            baseline,
            pen: x,
            glyphs: &mut layout.glyphs,
        };
        // The ellipsis ends the line in its reading direction: on the left
        // of a right-to-left paragraph.
        if with_ellipsis && right_to_left {
            line.place_ellipsis(&ellipsis);
            if end > span.start {
                line.pen += setter.letter_spacing;
            }
        }
        let levels: Vec<Level> = shaped.clusters[span.start..end]
            .iter()
            .map(|cluster| cluster.level)
            .collect();
        let visual_order = BidiInfo::reorder_visual(&levels);
        for (position, &logical) in visual_order.iter().enumerate() {
            if position > 0 {
                line.pen += setter.letter_spacing;
            }
            line.place_cluster(&shaped, span.start + logical);
        }
        if with_ellipsis && !right_to_left {
            if end > span.start {
                line.pen += setter.letter_spacing;
            }
            line.place_ellipsis(&ellipsis);
        }
        let mut line_text = String::new();
        if end > span.start {
            let start_byte = shaped.clusters[span.start].text.start;
            let end_byte = shaped.clusters[end - 1].text.end;
            line_text.push_str(&shaped.text[start_byte..end_byte]);
        }
        if with_ellipsis {
            line_text.push_str(ELLIPSIS);
        }
        layout.lines.push(LineBox {
            text: line_text,
            x,
            width,
            baseline,
            right_to_left,
        });
    }
    layout
}

fn finite_or(value: f32, fallback: f32) -> f32 {
    if value.is_finite() { value } else { fallback }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::test_fonts::{font_book, style};
    use crate::render::text::test_layout::{frame, lay_out, texts, x_of};

    #[test]
    fn max_lines_cuts_with_an_ellipsis_that_fits() {
        let mut two_lines = style(20.0);
        two_lines.max_lines = Some(2);
        let text = "one two three four five six seven eight nine ten eleven twelve";
        let layout = lay_out(text, &two_lines, frame(120.0, 500.0));
        let lines = texts(&layout);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(!lines[0].ends_with('…'));
        assert!(lines[1].ends_with('…'), "{lines:?}");
        assert!(
            layout
                .lines
                .iter()
                .all(|line| line.width <= 120.0 + EPSILON)
        );
    }

    #[test]
    fn text_that_fits_gets_no_ellipsis() {
        let mut two_lines = style(20.0);
        two_lines.max_lines = Some(2);
        let layout = lay_out("one two", &two_lines, frame(120.0, 500.0));
        assert_eq!(texts(&layout), ["one two"]);
    }

    #[test]
    fn shrink_to_fit_reduces_the_size_until_the_line_fits() {
        let mut shrinking = style(40.0);
        shrinking.min_size = 8.0;
        shrinking.wrap = false;
        let text = "Thank you, Alexandra!";
        let layout = lay_out(text, &shrinking, frame(200.0, 60.0));
        assert!(layout.size < 40.0 && layout.size >= 8.0, "{}", layout.size);
        assert_eq!(texts(&layout), [text]);
        assert!(layout.lines[0].width <= 200.0 + EPSILON);
        // Half a pixel larger would not have fit.
        let mut larger = shrinking.clone();
        larger.size = layout.size + SHRINK_STEP;
        larger.min_size = larger.size;
        let larger_layout = lay_out(text, &larger, frame(200.0, 60.0));
        assert!(larger_layout.lines[0].text.ends_with('…'));
    }

    #[test]
    fn shrink_to_fit_stops_at_min_size_and_then_cuts() {
        let mut shrinking = style(40.0);
        shrinking.min_size = 30.0;
        shrinking.wrap = false;
        let layout = lay_out("Thank you, Alexandra!", &shrinking, frame(200.0, 60.0));
        assert_eq!(layout.size, 30.0);
        assert!(layout.lines[0].text.ends_with('…'), "{:?}", layout.lines);
        assert!(layout.lines[0].width <= 200.0 + EPSILON);
    }

    #[test]
    fn shrink_to_fit_prefers_a_smaller_size_to_breaking_a_word() {
        let mut shrinking = style(40.0);
        shrinking.min_size = 10.0;
        let layout = lay_out("Supercalifragilistic", &shrinking, frame(150.0, 200.0));
        assert_eq!(texts(&layout), ["Supercalifragilistic"]);
        assert!(layout.size < 40.0);
    }

    #[test]
    fn lines_align_left_center_and_right() {
        let frame = frame(300.0, 100.0);
        let mut aligned = style(20.0);
        let left = &lay_out("Hello", &aligned, frame).lines[0];
        assert_eq!(left.x, frame.x);
        aligned.align = HorizontalAlign::Right;
        let right = &lay_out("Hello", &aligned, frame).lines[0];
        assert!((right.x + right.width - (frame.x + frame.width)).abs() < 0.01);
        aligned.align = HorizontalAlign::Center;
        let center = &lay_out("Hello", &aligned, frame).lines[0];
        let margin_left = center.x - frame.x;
        let margin_right = frame.x + frame.width - (center.x + center.width);
        assert!((margin_left - margin_right).abs() < 0.01);
        assert!(left.x < center.x && center.x < right.x);
    }

    #[test]
    fn blocks_align_top_middle_and_bottom() {
        let frame = frame(300.0, 200.0);
        let mut aligned = style(20.0);
        let baseline = |aligned: &TextStyle| lay_out("Hello", aligned, frame).lines[0].baseline;
        let top = baseline(&aligned);
        aligned.vertical_align = VerticalAlign::Middle;
        let middle = baseline(&aligned);
        aligned.vertical_align = VerticalAlign::Bottom;
        let bottom = baseline(&aligned);
        // One 24 px line: its baseline moves by (200 - 24) / 2 and 200 - 24.
        assert!((middle - top - 88.0).abs() <= 1.0, "{top} {middle}");
        assert!((bottom - top - 176.0).abs() <= 1.0, "{top} {bottom}");
        assert!(top > frame.y && top < frame.y + 24.0);
    }

    #[test]
    fn line_height_and_letter_spacing_move_glyphs() {
        let mut spaced = style(20.0);
        let plain = lay_out("ab\ncd", &spaced, frame(300.0, 300.0));
        spaced.line_height = 2.0;
        spaced.letter_spacing = 5.0;
        let loose = lay_out("ab\ncd", &spaced, frame(300.0, 300.0));
        let gap = |layout: &TextLayout| layout.lines[1].baseline - layout.lines[0].baseline;
        assert_eq!(gap(&plain), 24.0);
        assert_eq!(gap(&loose), 40.0);
        assert!((loose.lines[0].width - plain.lines[0].width - 5.0).abs() < 0.01);
    }

    #[test]
    fn right_to_left_text_runs_from_right_to_left_and_aligns_right() {
        let text = "שלום נועה";
        let layout = lay_out(text, &style(20.0), frame(300.0, 100.0));
        let line = &layout.lines[0];
        assert!(line.right_to_left);
        // Start alignment puts the line against the right edge.
        assert!((line.x + line.width - 310.0).abs() < 0.01, "{line:?}");
        // Each letter sits left of the one before it.
        let xs: Vec<f32> = text
            .char_indices()
            .filter(|(_, c)| !c.is_whitespace())
            .map(|(byte, _)| x_of(&layout, byte))
            .collect();
        assert!(xs.windows(2).all(|pair| pair[1] < pair[0]), "{xs:?}");
    }

    #[test]
    fn an_explicit_alignment_wins_over_the_direction() {
        let mut left = style(20.0);
        left.align = HorizontalAlign::Left;
        let layout = lay_out("שלום", &left, frame(300.0, 100.0));
        assert_eq!(layout.lines[0].x, 10.0);
        left.align = HorizontalAlign::End;
        let layout = lay_out("שלום", &left, frame(300.0, 100.0));
        assert_eq!(layout.lines[0].x, 10.0);
    }

    #[test]
    fn numbers_inside_right_to_left_text_read_left_to_right() {
        // "Order 4521 shipped", in Arabic: an RTL paragraph whose number
        // keeps its digits in order.
        let text = "تم شحن الطلب 4521";
        let layout = lay_out(text, &style(20.0), frame(400.0, 100.0));
        assert!(layout.lines[0].right_to_left);
        let digit = |d: char| x_of(&layout, text.find(d).expect("digit"));
        assert!(digit('4') < digit('5') && digit('5') < digit('2') && digit('2') < digit('1'));
        // The number comes last in reading order, so it is on the left.
        let first_letter = x_of(&layout, 0);
        assert!(digit('1') < first_letter);
    }

    #[test]
    fn a_mixed_line_keeps_each_direction_in_its_own_order() {
        let text = "Order #4521 — تم الشحن";
        let layout = lay_out(text, &style(20.0), frame(500.0, 100.0));
        let line = &layout.lines[0];
        // The first strong letter is Latin, so the paragraph is LTR and
        // aligned left.
        assert!(!line.right_to_left);
        assert_eq!(line.x, 10.0);
        let at = |needle: &str| x_of(&layout, text.find(needle).expect("in text"));
        assert!(at("O") < at("#") && at("#") < at("4") && at("4") < at("1"));
        // The Arabic words come after the dash, right to left: "تم" is the
        // first word read, so it is on the right of "الشحن".
        assert!(at("—") < at("الشحن"));
        assert!(at("الشحن") < at("تم"));
    }

    #[test]
    fn emoji_are_in_color_unless_the_layer_asks_for_mono() {
        let fonts = font_book();
        let party = |emoji: EmojiStyle| {
            let mut styled = style(20.0);
            styled.emoji = emoji;
            let layout = lay_out("🎉", &styled, frame(300.0, 100.0));
            let glyph = layout.glyphs[0];
            let face = fonts.face(glyph.face);
            assert!(face.emoji, "{}", face.label);
            face.color
        };
        assert!(party(EmojiStyle::Color));
        assert!(!party(EmojiStyle::Mono));
    }

    #[test]
    fn odd_and_hostile_text_lays_out_without_panicking() {
        let long_thai = "ก่".repeat(3000);
        let many_emoji = "👨\u{200D}👩\u{200D}👧🇫🇷".repeat(500);
        let texts = [
            "",
            "\n\n\n",
            "\r\n\t\u{0B}\u{0C}\u{85}\u{2028}\u{2029}",
            "\u{0301}\u{0301}\u{0E48}",
            "\u{202E}abc\u{202C} \u{2067}שלום\u{2069}\u{200F}",
            "\u{FEFF}\u{200D}\u{FE0F}\u{E0001}\u{E0041}",
            "\u{10FFFD}\u{E000}\u{0}\u{1B}[31m",
            "ل\u{0651}\u{064E}\u{0651}\u{064E}\u{0651}\u{064E}ا",
            long_thai.as_str(),
            many_emoji.as_str(),
        ];
        for text in texts {
            for (width, wrap) in [(400.0, true), (3.0, true), (400.0, false)] {
                let mut styled = style(20.0);
                styled.wrap = wrap;
                styled.max_lines = Some(3);
                let layout = lay_out(text, &styled, frame(width, 100.0));
                assert!(layout.lines.len() <= 3, "{text:?}");
                for glyph in &layout.glyphs {
                    assert!(glyph.x.is_finite() && glyph.y.is_finite(), "{text:?}");
                }
            }
        }
    }
}
