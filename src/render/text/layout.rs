//! Text layout: from a string and a style to glyphs placed in a frame.
//!
//! Layout works in canvas pixels (the 1x frame times the scale), so that a
//! 2x render places glyphs at real double resolution. It runs in four steps:
//! shape each character once (font of the fallback chain, glyph, advance and
//! kerning, in em, so they scale to any size for free); break lines greedily
//! at the UAX #14 opportunities; shrink the size in half-pixel steps until
//! the text fits the frame, its height and `max_lines`; and, when it still
//! does not fit at the minimum size, break long words by characters and end
//! the last kept line with an ellipsis.

use ab_glyph::{Font, GlyphId};
use unicode_linebreak::{BreakOpportunity, linebreaks};

use crate::render::fonts::FontBook;
use crate::render::{Frame, HorizontalAlign, TextStyle, VerticalAlign};

/// The steps of shrink-to-fit, in 1x pixels.
const SHRINK_STEP: f32 = 0.5;

/// Slack when comparing lengths, so that float noise never breaks a line
/// that fits exactly.
const EPSILON: f32 = 0.01;

const ELLIPSIS: char = '\u{2026}';

/// Text laid out in its frame, in canvas pixels.
#[derive(Debug)]
pub(crate) struct TextLayout {
    /// The font size (the em) that was chosen, in canvas pixels.
    pub(crate) size: f32,
    pub(crate) lines: Vec<LineBox>,
    /// Every glyph to draw, in order. Whitespace has no glyph here.
    pub(crate) glyphs: Vec<PlacedGlyph>,
}

/// One line as laid out: what it says and where it is. Drawing only needs
/// the glyphs; the lines are what tests check the layout with.
#[derive(Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "read by the layout tests"))]
pub(crate) struct LineBox {
    /// The characters kept on the line, with the ellipsis if there is one.
    pub(crate) text: String,
    /// Left edge of the line's ink advance.
    pub(crate) x: f32,
    pub(crate) width: f32,
    /// The baseline, on a whole pixel so that every line's text is equally
    /// crisp.
    pub(crate) baseline: f32,
}

/// A glyph and the point of its origin on the baseline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlacedGlyph {
    pub(crate) face: u16,
    pub(crate) glyph: GlyphId,
    pub(crate) x: f32,
    pub(crate) baseline: f32,
}

/// Lays out `text` with `style` in `frame` (1x coordinates) at `scale`,
/// setting each character in the first face of `chain` that has it.
pub(crate) fn layout_text(
    fonts: &FontBook,
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
    let chars = shape(fonts, chain, text, style.wrap);
    let ellipsis = shape(fonts, chain, &ELLIPSIS.to_string(), false);
    let setter = Setter {
        chars: &chars,
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

    let primary = fonts.face(chain[0]);
    let ascent = primary.em(primary.font.ascent_unscaled()) * size;
    let descent = primary.em(primary.font.descent_unscaled()) * size;
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
            setter.end_before_ellipsis(span, size, ellipsis[0].advance * size)
        } else {
            setter.trim_end(span.start, span.end)
        };
        let mut width = setter.measure(span.start, end, size);
        if with_ellipsis {
            width += ellipsis[0].advance * size;
            if end > span.start {
                width += setter.letter_spacing;
            }
        }
        let x = frame_x
            + match style.align {
                HorizontalAlign::Left => 0.0,
                HorizontalAlign::Center => (frame_width - width) / 2.0,
                HorizontalAlign::Right => frame_width - width,
            };
        let baseline = (top + index as f32 * line_height + half_leading + ascent).round();
        let mut pen = x;
        let mut line_text = String::new();
        for (offset, shaped) in chars[span.start..end].iter().enumerate() {
            if offset > 0 {
                pen += shaped.kern * size;
            }
            if shaped.visible {
                layout.glyphs.push(PlacedGlyph {
                    face: shaped.face,
                    glyph: shaped.glyph,
                    x: pen,
                    baseline,
                });
            }
            if !shaped.is_newline {
                line_text.push(shaped.ch);
            }
            pen += shaped.advance * size + setter.letter_spacing;
        }
        if with_ellipsis {
            let mark = &ellipsis[0];
            layout.glyphs.push(PlacedGlyph {
                face: mark.face,
                glyph: mark.glyph,
                x: pen,
                baseline,
            });
            line_text.push(ELLIPSIS);
        }
        layout.lines.push(LineBox {
            text: line_text,
            x,
            width,
            baseline,
        });
    }
    layout
}

/// One character, shaped: its font, glyph and metrics in em.
#[derive(Clone, Copy, Debug)]
struct ShapedChar {
    ch: char,
    face: u16,
    glyph: GlyphId,
    advance: f32,
    /// Kerning with the previous character; applies only when both are on
    /// the same line.
    kern: f32,
    /// Whether a line may or must end after this character.
    break_after: Option<BreakOpportunity>,
    /// Drawn (not whitespace or a control character).
    visible: bool,
    is_newline: bool,
}

/// Shapes `text` along `chain`. Without wrapping, line feeds are set as
/// spaces and no break is recorded, so the text stays on one line.
fn shape(fonts: &FontBook, chain: &[u16], text: &str, wrap: bool) -> Vec<ShapedChar> {
    let mut breaks = linebreaks(text).peekable();
    let mut chars: Vec<ShapedChar> = Vec::with_capacity(text.len());
    for (start, original) in text.char_indices() {
        let end = start + original.len_utf8();
        let mut break_after = None;
        while let Some(&(position, opportunity)) = breaks.peek() {
            if position > end {
                break;
            }
            if position == end && end < text.len() {
                break_after = Some(opportunity);
            }
            breaks.next();
        }
        let is_newline = matches!(original, '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}');
        let (ch, break_after) = match (wrap, is_newline) {
            (false, true) => (' ', None),
            (false, false) => (original, None),
            (true, _) => (original, break_after),
        };
        let invisible = ch.is_whitespace() || ch.is_control();
        let (face_id, glyph) = fonts.resolve(chain, if ch.is_control() { ' ' } else { ch });
        let face = fonts.face(face_id);
        let advance = if (wrap && is_newline) || ch.is_control() {
            0.0
        } else {
            face.em(face.font.h_advance_unscaled(glyph))
        };
        let kern = match chars.last() {
            Some(previous) if previous.face == face_id && !invisible && previous.visible => {
                face.em(face.kern_unscaled(previous.glyph, glyph))
            }
            _ => 0.0,
        };
        chars.push(ShapedChar {
            ch,
            face: face_id,
            glyph,
            advance,
            kern,
            break_after,
            visible: !invisible,
            is_newline: wrap && is_newline,
        });
    }
    chars
}

/// The lines a text breaks into at one size.
struct Lines {
    /// Character ranges, each with its trailing whitespace.
    spans: Vec<Span>,
    /// Some line is wider than the frame (a word that could not be broken).
    overflow: bool,
}

#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
}

/// Breaks and measures shaped characters.
struct Setter<'a> {
    chars: &'a [ShapedChar],
    /// In canvas pixels.
    letter_spacing: f32,
    max_width: f32,
    wrap: bool,
}

impl Setter<'_> {
    /// The width of characters `start..end` set on one line at `size`, up to
    /// the end of the last one that is drawn: trailing whitespace and the
    /// last character's letter spacing do not count.
    fn measure(&self, start: usize, end: usize, size: f32) -> f32 {
        let end = self.trim_end(start, end);
        if end == start {
            return 0.0;
        }
        let mut width = 0.0;
        for (offset, shaped) in self.chars[start..end].iter().enumerate() {
            if offset > 0 {
                width += shaped.kern * size;
            }
            width += shaped.advance * size + self.letter_spacing;
        }
        width - self.letter_spacing
    }

    /// `end`, moved back past trailing whitespace and line feeds.
    fn trim_end(&self, start: usize, mut end: usize) -> usize {
        while end > start && !self.chars[end - 1].visible {
            end -= 1;
        }
        end
    }

    fn fits(&self, start: usize, end: usize, size: f32) -> bool {
        self.measure(start, end, size) <= self.max_width + EPSILON
    }

    /// Greedy line breaking at `size`: each line takes as many segments
    /// (the text between two break opportunities) as fit. A segment wider
    /// than the frame is broken by characters when `split_words` is set, and
    /// makes the result overflow otherwise.
    fn break_lines(&self, size: f32, split_words: bool) -> Lines {
        let count = self.chars.len();
        if !self.wrap {
            let overflow = !self.fits(0, count, size);
            return Lines {
                spans: vec![Span {
                    start: 0,
                    end: count,
                }],
                overflow,
            };
        }
        let mut spans = Vec::new();
        let mut overflow = false;
        let mut line_start = 0;
        let mut line_end = 0;
        let mut segment_start = 0;
        for index in 0..count {
            let shaped = &self.chars[index];
            let segment_end = index + 1;
            if shaped.break_after.is_none() && segment_end < count {
                continue;
            }
            if line_end > line_start && !self.fits(line_start, segment_end, size) {
                spans.push(Span {
                    start: line_start,
                    end: line_end,
                });
                line_start = segment_start;
            }
            line_end = segment_end;
            if !self.fits(line_start, line_end, size) {
                if split_words {
                    // Keep at least one character per line, so that even a
                    // glyph wider than the frame makes progress.
                    while !self.fits(line_start, line_end, size) {
                        let mut cut = line_start + 1;
                        while cut < line_end && self.fits(line_start, cut + 1, size) {
                            cut += 1;
                        }
                        spans.push(Span {
                            start: line_start,
                            end: cut,
                        });
                        line_start = cut;
                    }
                } else {
                    overflow = true;
                }
            }
            if shaped.break_after == Some(BreakOpportunity::Mandatory) {
                spans.push(Span {
                    start: line_start,
                    end: line_end,
                });
                line_start = line_end;
            }
            segment_start = segment_end;
        }
        if line_start < count || spans.is_empty() {
            spans.push(Span {
                start: line_start,
                end: count,
            });
        }
        Lines { spans, overflow }
    }

    /// Where a cut line must end so that it, the letter spacing and an
    /// ellipsis `ellipsis_width` wide fit the frame.
    fn end_before_ellipsis(&self, span: &Span, size: f32, ellipsis_width: f32) -> usize {
        let mut end = self.trim_end(span.start, span.end);
        while end > span.start
            && self.measure(span.start, end, size) + self.letter_spacing + ellipsis_width
                > self.max_width + EPSILON
        {
            end = self.trim_end(span.start, end - 1);
        }
        end
    }
}

fn finite_or(value: f32, fallback: f32) -> f32 {
    if value.is_finite() { value } else { fallback }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::test_fonts::{font_book, style};
    use crate::render::{FontBook, Weight};

    fn frame(width: f32, height: f32) -> Frame {
        Frame {
            x: 10.0,
            y: 20.0,
            width,
            height,
        }
    }

    fn lay_out(text: &str, style: &TextStyle, frame: Frame) -> TextLayout {
        let fonts: &FontBook = font_book();
        let chain = fonts
            .chain(&style.family, style.weight)
            .expect("sans exists");
        layout_text(fonts, chain, text, style, frame, 1.0)
    }

    fn texts(layout: &TextLayout) -> Vec<&str> {
        layout
            .lines
            .iter()
            .map(|line| line.text.trim_end())
            .collect()
    }

    #[test]
    fn wraps_at_spaces_and_keeps_words_whole() {
        let layout = lay_out(
            "Thank you for renewing your plan",
            &style(20.0),
            frame(150.0, 500.0),
        );
        let lines = texts(&layout);
        assert!(lines.len() >= 3, "{lines:?}");
        assert_eq!(lines.join(" "), "Thank you for renewing your plan");
        for line in &layout.lines {
            assert!(line.width <= 150.0 + EPSILON, "{line:?}");
        }
    }

    #[test]
    fn breaks_between_cjk_characters() {
        let text = "感谢您续订我们的服务欢迎回来";
        let layout = lay_out(text, &style(20.0), frame(100.0, 500.0));
        let lines = texts(&layout);
        assert!(lines.len() >= 3, "{lines:?}");
        assert_eq!(lines.concat(), text);
        assert!(
            layout
                .lines
                .iter()
                .all(|line| line.width <= 100.0 + EPSILON)
        );
        // Full lines hold as many 20 px characters as fit in 100 px.
        assert_eq!(lines[0].chars().count(), 5, "{lines:?}");
    }

    #[test]
    fn a_line_feed_forces_a_break() {
        let layout = lay_out("Hello\nAlice", &style(20.0), frame(500.0, 500.0));
        assert_eq!(texts(&layout), ["Hello", "Alice"]);
    }

    #[test]
    fn without_wrapping_a_line_feed_is_a_space() {
        let mut one_line = style(20.0);
        one_line.wrap = false;
        let layout = lay_out("Hello\nAlice", &one_line, frame(500.0, 500.0));
        assert_eq!(texts(&layout), ["Hello Alice"]);
    }

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
    fn a_word_wider_than_the_frame_is_broken_as_a_last_resort() {
        let layout = lay_out("Supercalifragilistic", &style(20.0), frame(80.0, 500.0));
        let lines = texts(&layout);
        assert!(lines.len() >= 2, "{lines:?}");
        assert_eq!(lines.concat(), "Supercalifragilistic");
        assert!(layout.lines.iter().all(|line| line.width <= 80.0 + EPSILON));
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
    fn kerning_from_the_font_changes_the_advance_of_a_pair() {
        let fonts = font_book();
        let chain = fonts.chain("sans", Weight::Regular).expect("sans exists");
        let face = fonts.face(chain[0]);
        let (a, v) = (face.font.glyph_id('A'), face.font.glyph_id('V'));
        let kern = face.em(face.kern_unscaled(a, v)) * 100.0;
        let width = |text: &str| lay_out(text, &style(100.0), frame(900.0, 300.0)).lines[0].width;
        let separate = face.em(face.font.h_advance_unscaled(a)) * 100.0 + width("V");
        // Noto Sans kerns "AV" in GPOS only: a visible tightening, not noise.
        assert!(kern < -2.0, "AV kerning at 100 px is {kern}");
        assert!((width("AV") - (separate + kern)).abs() < 0.01);
        // Pairs the font does not kern keep their advances.
        let (h, o) = (face.font.glyph_id('H'), face.font.glyph_id('o'));
        assert_eq!(face.kern_unscaled(h, o), 0.0);
    }

    #[test]
    fn every_bundled_script_is_set_without_missing_glyphs() {
        let layout = lay_out(
            "Alena Алёна Ελένη 王芳 さくら 김민지",
            &style(20.0),
            frame(900.0, 50.0),
        );
        assert_eq!(layout.glyphs.len(), 23);
        assert!(layout.glyphs.iter().all(|glyph| glyph.glyph != GlyphId(0)));
    }
}
