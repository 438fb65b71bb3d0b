//! Text layout: from a string and a style to glyphs placed in a frame.
//!
//! Layout works in canvas pixels (the 1x frame times the scale), so that a
//! 2x render places glyphs at real double resolution. It runs in five steps:
//! - split the text into paragraphs at line feeds, and find each
//!   paragraph's direction and the bidi level of every character
//!   (unicode-bidi);
//! - cut each paragraph into runs of one level, one script and one font of
//!   the fallback chain, and shape each run (`shaping.rs`), which gives
//!   clusters: the smallest pieces of text, each with its glyphs and advance
//!   in em, so they scale to any size for free;
//! - break lines greedily at the UAX #14 opportunities (`breaks.rs`) that
//!   fall at the end of a cluster;
//! - shrink the size in half-pixel steps until the text fits the frame, its
//!   height and `max_lines`, and when it still does not fit at the minimum
//!   size, break long words between clusters and end the last kept line with
//!   an ellipsis;
//! - put each line's clusters in visual order (bidi rule L2) and place their
//!   glyphs, aligned to the paragraph's start unless the template says
//!   otherwise.

use std::ops::Range;
use std::sync::Arc;

use ab_glyph::{Font, GlyphId};
use unicode_bidi::{BidiInfo, Level};
use unicode_script::{Script, UnicodeScript};
use unicode_segmentation::UnicodeSegmentation;

use crate::render::fonts::FontBook;
use crate::render::text::breaks::break_opportunities;
use crate::render::text::shaping::{RunKey, ShapeCache, ShapedRun};
use crate::render::{EmojiStyle, Frame, HorizontalAlign, TextDirection, TextStyle, VerticalAlign};

/// The steps of shrink-to-fit, in 1x pixels.
const SHRINK_STEP: f32 = 0.5;

/// Slack when comparing lengths, so that float noise never breaks a line
/// that fits exactly.
const EPSILON: f32 = 0.01;

const ELLIPSIS: &str = "\u{2026}";

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

/// Text made ready for breaking: normalized, split into paragraphs, and
/// shaped into clusters.
#[derive(Debug)]
struct ShapedText {
    /// The text as laid out: tabs made spaces, controls dropped, and line
    /// feeds either kept as paragraph ends or, without wrapping, made spaces.
    text: String,
    runs: Vec<PlacedRun>,
    /// Every cluster of every paragraph, in logical order.
    clusters: Vec<Cluster>,
    paragraphs: Vec<Paragraph>,
}

#[derive(Debug)]
struct PlacedRun {
    face: u16,
    shaped: Arc<ShapedRun>,
}

/// The smallest piece of text layout handles: a character with its marks,
/// a conjunct, a ligature, an emoji sequence. Lines break only between
/// clusters, and letter spacing goes between them.
#[derive(Debug)]
struct Cluster {
    /// Its bytes in [`ShapedText::text`].
    text: Range<usize>,
    run: usize,
    /// Its glyphs in the run, in visual order.
    glyphs: Range<usize>,
    /// Sum of its glyphs' advances, in em.
    advance: f32,
    level: Level,
    /// A line may end after it.
    break_after: bool,
    /// Drawn: not only whitespace.
    visible: bool,
}

#[derive(Debug)]
struct Paragraph {
    clusters: Range<usize>,
    right_to_left: bool,
}

/// Normalizes, splits, itemizes and shapes `text`.
fn shape_text(
    fonts: &FontBook,
    shapes: &ShapeCache,
    chain: &[u16],
    text: &str,
    style: &TextStyle,
) -> ShapedText {
    let normalized = normalize(text, style.wrap);
    let mut shaped = ShapedText {
        text: String::new(),
        runs: Vec::new(),
        clusters: Vec::new(),
        paragraphs: Vec::new(),
    };
    let default_level = match style.direction {
        TextDirection::Auto => None,
        TextDirection::Ltr => Some(Level::ltr()),
        TextDirection::Rtl => Some(Level::rtl()),
    };
    let mut paragraph_start = 0;
    for paragraph in normalized.split('\n') {
        let first_cluster = shaped.clusters.len();
        let (levels, right_to_left) = bidi_levels(paragraph, default_level);
        // Without wrapping the text is one line: no opportunity is taken.
        let breaks = if style.wrap {
            break_opportunities(paragraph)
        } else {
            Vec::new()
        };
        for run in itemize(fonts, chain, paragraph, &levels) {
            let key = RunKey {
                face: run.face,
                right_to_left: run.level.is_rtl(),
                script: run.script,
                text: paragraph[run.text.clone()].into(),
            };
            let run_index = shaped.runs.len();
            shaped.runs.push(PlacedRun {
                face: run.face,
                shaped: shapes.shape(fonts, key),
            });
            let face = fonts.face(run.face);
            let placed = &shaped.runs[run_index];
            let mut run_clusters = group_clusters(&placed.shaped);
            if run.level.is_rtl() {
                run_clusters.reverse();
            }
            for (index, (offset, glyphs, advance)) in run_clusters.iter().enumerate() {
                let start = run.text.start + *offset as usize;
                let end = run_clusters
                    .get(index + 1)
                    .map_or(run.text.end, |next| run.text.start + next.0 as usize);
                let piece = &paragraph[start..end];
                shaped.clusters.push(Cluster {
                    text: paragraph_start + start..paragraph_start + end,
                    run: run_index,
                    glyphs: glyphs.clone(),
                    advance: face.em(*advance as f32),
                    level: levels.get(start).copied().unwrap_or(run.level),
                    break_after: breaks.binary_search(&end).is_ok(),
                    visible: piece.chars().any(|c| !c.is_whitespace()),
                });
            }
        }
        shaped.paragraphs.push(Paragraph {
            clusters: first_cluster..shaped.clusters.len(),
            right_to_left,
        });
        paragraph_start += paragraph.len() + 1;
    }
    shaped.text = normalized;
    shaped
}

/// The bidi level of every byte of `paragraph`, and whether the paragraph
/// runs right to left. Text with nothing before U+0590 (Latin, Cyrillic,
/// Greek and the rest of most names) has no right-to-left letter, number or
/// control, so unless the layer forces right to left it is all level 0 and
/// the bidi algorithm, which allocates several tables per byte, is skipped.
fn bidi_levels(paragraph: &str, default_level: Option<Level>) -> (Vec<Level>, bool) {
    let forced_right_to_left = default_level.is_some_and(|level| level.is_rtl());
    if !forced_right_to_left && paragraph.chars().all(|c| c < '\u{0590}') {
        return (vec![Level::ltr(); paragraph.len()], false);
    }
    let bidi = BidiInfo::new(paragraph, default_level);
    let right_to_left = bidi
        .paragraphs
        .first()
        .map_or(forced_right_to_left, |info| info.level.is_rtl());
    (bidi.levels, right_to_left)
}

/// Tabs become spaces and other control characters go. Line breaks of
/// every kind become `\n` when wrapping, which then ends a paragraph, and
/// spaces when not, so the text stays on one line.
fn normalize(text: &str, wrap: bool) -> String {
    let mut normalized = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                normalized.push(if wrap { '\n' } else { ' ' });
            }
            '\t' => normalized.push(' '),
            c if c.is_control() => {}
            c => normalized.push(c),
        }
    }
    normalized
}

/// A piece of a paragraph that one font sets in one direction and script.
struct ItemRun {
    text: Range<usize>,
    face: u16,
    level: Level,
    script: [u8; 4],
}

/// Cuts `paragraph` into runs: each grapheme gets its face from the chain
/// and its level from the bidi algorithm; punctuation, digits and spaces
/// take the script of the letters around them; a run ends where the face,
/// the level or the script changes, and after the spaces that end a word.
fn itemize(fonts: &FontBook, chain: &[u16], paragraph: &str, levels: &[Level]) -> Vec<ItemRun> {
    let mut runs: Vec<ItemRun> = Vec::new();
    let mut previous_face = None;
    let mut after_space = false;
    for (start, grapheme) in paragraph.grapheme_indices(true) {
        // A word ends after its spaces: the next word starts a run of its
        // own, so words are shaped and cached one by one.
        let is_space = grapheme.chars().all(char::is_whitespace);
        let word_starts = after_space && !is_space;
        after_space = is_space;
        let script = grapheme
            .chars()
            .map(|c| c.script())
            .find(|script| !matches!(script, Script::Common | Script::Inherited));
        let face = fonts.face_for(chain, grapheme, previous_face, script.is_none());
        previous_face = Some(face);
        let level = levels.get(start).copied().unwrap_or_else(Level::ltr);
        let end = start + grapheme.len();
        if let Some(run) = runs.last_mut()
            && !word_starts
            && run.face == face
            && run.level == level
            && (script.is_none() || run.script == COMMON || script_tag(script) == run.script)
        {
            run.text.end = end;
            if run.script == COMMON {
                run.script = script_tag(script);
            }
            continue;
        }
        runs.push(ItemRun {
            text: start..end,
            face,
            level,
            script: script_tag(script),
        });
    }
    runs
}

const COMMON: [u8; 4] = *b"Zyyy";

fn script_tag(script: Option<Script>) -> [u8; 4] {
    let Some(script) = script else {
        return COMMON;
    };
    let name = script.short_name().as_bytes();
    match name {
        [a, b, c, d] => [*a, *b, *c, *d],
        _ => COMMON,
    }
}

/// A run's glyphs grouped by cluster, in the order the shaper gave them
/// (visual): each cluster's offset in the run, glyph range and advance in
/// font units.
fn group_clusters(run: &ShapedRun) -> Vec<(u32, Range<usize>, i32)> {
    let mut groups: Vec<(u32, Range<usize>, i32)> = Vec::new();
    for (index, glyph) in run.glyphs.iter().enumerate() {
        match groups.last_mut() {
            Some((cluster, glyphs, advance)) if *cluster == glyph.cluster => {
                glyphs.end = index + 1;
                *advance += glyph.x_advance;
            }
            _ => groups.push((glyph.cluster, index..index + 1, glyph.x_advance)),
        }
    }
    groups
}

/// The ellipsis that marks a cut line, shaped in the chain's first font.
struct Ellipsis {
    face: u16,
    run: Arc<ShapedRun>,
    /// In em.
    advance: f32,
}

impl Ellipsis {
    fn shape(fonts: &FontBook, shapes: &ShapeCache, face: u16) -> Ellipsis {
        let run = shapes.shape(
            fonts,
            RunKey {
                face,
                right_to_left: false,
                script: COMMON,
                text: ELLIPSIS.into(),
            },
        );
        let units: i32 = run.glyphs.iter().map(|glyph| glyph.x_advance).sum();
        Ellipsis {
            face,
            advance: fonts.face(face).em(units as f32),
            run,
        }
    }
}

/// Places glyphs along one line, left to right.
struct LinePainter<'a> {
    fonts: &'a FontBook,
    size: f32,
    baseline: f32,
    pen: f32,
    glyphs: &'a mut Vec<PlacedGlyph>,
}

impl LinePainter<'_> {
    fn place_cluster(&mut self, shaped: &ShapedText, index: usize) {
        let cluster = &shaped.clusters[index];
        let run = &shaped.runs[cluster.run];
        self.place(
            run.face,
            &run.shaped.glyphs[cluster.glyphs.clone()],
            cluster.visible,
            cluster.text.start as u32,
        );
    }

    fn place_ellipsis(&mut self, ellipsis: &Ellipsis) {
        self.place(ellipsis.face, &ellipsis.run.glyphs, true, u32::MAX);
    }

    fn place(
        &mut self,
        face_id: u16,
        glyphs: &[crate::render::text::shaping::ShapedGlyph],
        visible: bool,
        cluster: u32,
    ) {
        let units_to_pixels = self.size / self.fonts.face(face_id).units_per_em;
        for glyph in glyphs {
            if visible {
                self.glyphs.push(PlacedGlyph {
                    face: face_id,
                    glyph: GlyphId(glyph.glyph),
                    x: self.pen + glyph.x_offset as f32 * units_to_pixels,
                    y: self.baseline - glyph.y_offset as f32 * units_to_pixels,
                    cluster,
                });
            }
            self.pen += glyph.x_advance as f32 * units_to_pixels;
        }
    }
}

/// The lines a text breaks into at one size.
struct Lines {
    spans: Vec<Span>,
    /// Some line is wider than the frame (a word that could not be broken).
    overflow: bool,
}

/// A line: a range of clusters of one paragraph, with its trailing
/// whitespace.
#[derive(Clone, Copy, Debug)]
struct Span {
    paragraph: usize,
    start: usize,
    end: usize,
}

/// Breaks and measures shaped clusters.
struct Setter<'a> {
    text: &'a ShapedText,
    /// In canvas pixels.
    letter_spacing: f32,
    max_width: f32,
    /// Lines break only at line feeds (there are none without wrapping).
    wrap: bool,
}

impl Setter<'_> {
    /// The width of clusters `start..end` set on one line at `size`, up to
    /// the end of the last one that is drawn: trailing whitespace and the
    /// last cluster's letter spacing do not count.
    fn measure(&self, start: usize, end: usize, size: f32) -> f32 {
        let end = self.trim_end(start, end);
        if end == start {
            return 0.0;
        }
        let advances: f32 = self.text.clusters[start..end]
            .iter()
            .map(|cluster| cluster.advance * size)
            .sum();
        advances + self.letter_spacing * (end - start - 1) as f32
    }

    /// `end`, moved back past trailing whitespace.
    fn trim_end(&self, start: usize, mut end: usize) -> usize {
        while end > start && !self.text.clusters[end - 1].visible {
            end -= 1;
        }
        end
    }

    fn fits(&self, start: usize, end: usize, size: f32) -> bool {
        self.measure(start, end, size) <= self.max_width + EPSILON
    }

    /// Greedy line breaking at `size`, paragraph by paragraph: each line
    /// takes as many segments (the clusters between two break
    /// opportunities) as fit. A segment wider than the frame is broken
    /// between clusters when `split_words` is set, and makes the result
    /// overflow otherwise.
    fn break_lines(&self, size: f32, split_words: bool) -> Lines {
        let mut spans = Vec::new();
        let mut overflow = false;
        for (paragraph_index, paragraph) in self.text.paragraphs.iter().enumerate() {
            let Range { start, end } = paragraph.clusters.clone();
            let span = |start: usize, end: usize| Span {
                paragraph: paragraph_index,
                start,
                end,
            };
            let mut line_start = start;
            let mut line_end = start;
            let mut segment_start = start;
            for index in start..end {
                let segment_end = index + 1;
                if !self.text.clusters[index].break_after && segment_end < end {
                    continue;
                }
                if line_end > line_start && !self.fits(line_start, segment_end, size) {
                    spans.push(span(line_start, line_end));
                    line_start = segment_start;
                }
                line_end = segment_end;
                if !self.fits(line_start, line_end, size) {
                    if split_words && self.wrap {
                        // Keep at least one cluster per line, so that even a
                        // glyph wider than the frame makes progress.
                        while !self.fits(line_start, line_end, size) {
                            let mut cut = line_start + 1;
                            while cut < line_end && self.fits(line_start, cut + 1, size) {
                                cut += 1;
                            }
                            spans.push(span(line_start, cut));
                            line_start = cut;
                        }
                    } else {
                        overflow = true;
                    }
                }
                segment_start = segment_end;
            }
            if line_start < end || line_start == start {
                spans.push(span(line_start, end));
            }
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
        let shapes = ShapeCache::new(1 << 20);
        layout_text(fonts, &shapes, chain, text, style, frame, 1.0)
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
        let width = |text: &str| lay_out(text, &style(100.0), frame(900.0, 300.0)).lines[0].width;
        // Noto Sans kerns "AV" in GPOS: a visible tightening, not noise.
        let kern = width("AV") - (width("A") + width("V"));
        assert!(kern < -2.0, "AV kerning at 100 px is {kern}");
        // Pairs the font does not kern keep their advances.
        assert!((width("Ho") - (width("H") + width("o"))).abs() < 0.01);
    }

    #[test]
    fn every_bundled_script_is_set_without_missing_glyphs() {
        let names = [
            "Alena",
            "Алёна",
            "Ελένη",
            "王芳",
            "さくら",
            "김민지",
            "محمد",
            "נועה",
            "प्रिया",
            "สมชาย",
            "Zoë 🎉",
            "👩🏽‍💻",
        ];
        let fonts = font_book();
        for name in names {
            let layout = lay_out(name, &style(20.0), frame(900.0, 50.0));
            assert!(!layout.glyphs.is_empty(), "{name}");
            for glyph in &layout.glyphs {
                assert!(
                    glyph.glyph != GlyphId(0),
                    "{name}: a missing glyph in {}",
                    fonts.face(glyph.face).label
                );
            }
        }
    }

    /// The glyph ids of `text` laid out on one line, left to right.
    fn glyph_ids(text: &str) -> Vec<u16> {
        let layout = lay_out(text, &style(40.0), frame(900.0, 100.0));
        layout.glyphs.iter().map(|glyph| glyph.glyph.0).collect()
    }

    /// The x of the first glyph of the cluster at `byte` of the line.
    fn x_of(layout: &TextLayout, byte: usize) -> f32 {
        layout
            .glyphs
            .iter()
            .find(|glyph| glyph.cluster as usize == byte)
            .unwrap_or_else(|| panic!("no glyph at byte {byte}"))
            .x
    }

    #[test]
    fn latin_gets_the_fonts_ligatures() {
        // Noto Sans sets "ffi" as one glyph, and a line never breaks or
        // spaces letters inside it.
        assert_eq!(glyph_ids("office").len(), 4);
        assert_eq!(glyph_ids("fi").len(), 1);
        let mut spaced = style(40.0);
        spaced.letter_spacing = 10.0;
        let layout = lay_out("ffi", &spaced, frame(300.0, 100.0));
        assert_eq!(layout.glyphs.len(), 1);
        let plain = lay_out("ffi", &style(40.0), frame(300.0, 100.0));
        assert!((layout.lines[0].width - plain.lines[0].width).abs() < 0.01);
    }

    #[test]
    fn arabic_letters_take_their_joining_forms() {
        // The same four letters, once as a word and once apart: joined, the
        // first takes its initial form, the middle ones medial forms and the
        // last its final form, so no glyph is the isolated one.
        let word = glyph_ids("محمد");
        let apart = glyph_ids("م ح م د");
        assert_eq!(word.len(), 4, "{word:?}");
        let isolated: Vec<u16> = apart.clone();
        assert_eq!(isolated.len(), 4, "{isolated:?}");
        // Right to left: the word's last glyph on the left is the final dal.
        let (word_right_to_left, isolated_right_to_left): (Vec<u16>, Vec<u16>) = (
            word.iter().rev().copied().collect(),
            isolated.iter().rev().copied().collect(),
        );
        for (index, (joined, alone)) in word_right_to_left
            .iter()
            .zip(&isolated_right_to_left)
            .enumerate()
            .take(3)
        {
            assert_ne!(joined, alone, "letter {index} kept its isolated form");
        }
        // Lam followed by alef becomes one ligature glyph.
        assert_eq!(glyph_ids("لا").len(), 1);
        assert_eq!(glyph_ids("ل ا").len(), 2);
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
    fn a_forced_direction_moves_neutral_punctuation() {
        let mut right_to_left = style(20.0);
        right_to_left.direction = TextDirection::Rtl;
        let text = "Hello!";
        let layout = lay_out(text, &right_to_left, frame(300.0, 100.0));
        assert!(layout.lines[0].right_to_left);
        // In an RTL paragraph the final "!" ends the line on the left.
        assert!(x_of(&layout, 5) < x_of(&layout, 0));
    }

    #[test]
    fn devanagari_forms_conjuncts_and_moves_the_i_sign_before_its_consonant() {
        // क् + ष: three characters, one conjunct glyph.
        assert_eq!(glyph_ids("क्ष").len(), 1);
        // कि is क then the i sign, but the sign is drawn on the left.
        let text = "कि";
        let layout = lay_out(text, &style(40.0), frame(300.0, 100.0));
        let ids: Vec<u16> = layout.glyphs.iter().map(|glyph| glyph.glyph.0).collect();
        let ka = glyph_ids("क")[0];
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(ids[1], ka, "the consonant comes second: {ids:?}");
        assert!(layout.glyphs[0].x <= layout.glyphs[1].x);
    }

    #[test]
    fn thai_marks_stack_on_their_base() {
        // ที่: a consonant with a vowel sign and a tone mark above it. The
        // marks take no room on the line, and the tone mark sits above
        // the vowel sign rather than beside it.
        let base = lay_out("ท", &style(40.0), frame(300.0, 100.0)).lines[0].width;
        let stacked = lay_out("ที่", &style(40.0), frame(300.0, 100.0));
        assert_eq!(stacked.glyphs.len(), 3);
        assert!((stacked.lines[0].width - base).abs() < 0.01);
        let fonts = font_book();
        let top = |glyph: &PlacedGlyph| {
            let face = fonts.face(glyph.face).outlines();
            let outline = face
                .outline_glyph(glyph.glyph.with_scale(40.0))
                .expect("marks have outlines");
            glyph.y + outline.px_bounds().min.y
        };
        assert!(top(&stacked.glyphs[2]) < top(&stacked.glyphs[1]));
    }

    #[test]
    fn thai_wraps_between_words_without_spaces() {
        // "Thank you for renewing your membership", with no spaces.
        let text = "ขอบคุณที่ต่ออายุสมาชิก";
        let layout = lay_out(text, &style(20.0), frame(120.0, 500.0));
        let lines = texts(&layout);
        assert!(lines.len() >= 2, "{lines:?}");
        assert_eq!(lines.concat(), text);
        // Every line ends between two of its words.
        let words = ["ขอบคุณ", "ที่", "ต่อ", "อายุ", "สมาชิก"];
        let word_ends: Vec<usize> = words
            .iter()
            .scan(0, |end, word| {
                *end += word.len();
                Some(*end)
            })
            .collect();
        let mut line_end = 0;
        for line in &lines {
            line_end += line.len();
            assert!(word_ends.contains(&line_end), "{lines:?}");
        }
    }

    #[test]
    fn lines_never_break_inside_a_cluster() {
        // A frame so narrow that words must be broken: every piece still
        // starts with a base letter, never with a mark or a vowel sign.
        let marks = |c: char| {
            matches!(c, '\u{0E31}' | '\u{0E34}'..='\u{0E3A}' | '\u{0E47}'..='\u{0E4E}')
                || matches!(c, '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}')
        };
        for text in ["ที่นี่ที่นั่น", "प्रियंकाक्षत्रिय"]
        {
            let layout = lay_out(text, &style(40.0), frame(45.0, 1000.0));
            let lines = texts(&layout);
            assert!(lines.len() >= 2, "{lines:?}");
            assert_eq!(lines.concat(), text);
            for line in &lines {
                let first = line.chars().next().expect("no empty line");
                assert!(!marks(first), "{lines:?}");
            }
        }
    }

    #[test]
    fn a_base_and_its_marks_come_from_one_font() {
        // Noto Sans has the digit but not the combining keycap; choosing
        // per character would draw a plain "1" with a frame from another
        // font. Per grapheme, both come from the emoji font, as one keycap.
        let fonts = font_book();
        let sans = fonts.chain("sans", Weight::Regular).expect("sans")[0];
        assert!(fonts.face(sans).glyph_index('1').is_some());
        assert!(fonts.face(sans).glyph_index('\u{20E3}').is_none());
        let layout = lay_out("1\u{20E3}", &style(30.0), frame(300.0, 100.0));
        assert_eq!(layout.glyphs.len(), 1, "{:?}", layout.glyphs);
        assert!(fonts.face(layout.glyphs[0].face).emoji);
        // The same holds for a Thai consonant and its marks, and a
        // Devanagari conjunct: every glyph of each from one face.
        for text in ["ที่", "क्षि"] {
            let layout = lay_out(text, &style(30.0), frame(300.0, 100.0));
            let first = layout.glyphs[0].face;
            assert!(
                layout.glyphs.iter().all(|glyph| glyph.face == first),
                "{text}"
            );
        }
    }

    #[test]
    fn emoji_use_the_emoji_font_and_sequences_make_one_glyph() {
        let fonts = font_book();
        let layout = lay_out("Zoë 🎉", &style(20.0), frame(300.0, 100.0));
        let party = layout.glyphs.last().expect("glyphs");
        assert!(fonts.face(party.face).emoji);
        // Woman, zero-width joiner, laptop: one technologist glyph; and a
        // family of three people joined the same way.
        assert_eq!(glyph_ids("👩\u{200D}💻").len(), 1);
        assert_eq!(glyph_ids("👨\u{200D}👩\u{200D}👧").len(), 1);
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

    #[test]
    fn shaping_is_cached_across_sizes_and_words() {
        let fonts = font_book();
        let shapes = ShapeCache::new(1 << 20);
        let chain = fonts.chain("sans", Weight::Regular).expect("sans");
        let lay_out_cached = |text: &str, size: f32| {
            layout_text(
                fonts,
                &shapes,
                chain,
                text,
                &style(size),
                frame(900.0, 100.0),
                1.0,
            );
            shapes.entry_count()
        };
        // Words and the ellipsis: "Thank ", "you, ", "محمد", "…".
        let first = lay_out_cached("Thank you, محمد", 20.0);
        assert_eq!(first, 4);
        // Other sizes shape nothing new.
        assert_eq!(lay_out_cached("Thank you, محمد", 36.0), first);
        assert_eq!(lay_out_cached("Thank you, محمد", 12.5), first);
        // Another name shapes only the name.
        assert_eq!(lay_out_cached("Thank you, Anna", 20.0), first + 1);
    }
}
