//! Setting lines: greedy line breaking of shaped clusters at one size, at
//! the break opportunities that fall at the end of a cluster, and the
//! measuring it needs (a line's width, where a cut line must end to leave
//! room for its ellipsis).

use std::ops::Range;

use crate::render::text::paragraphs::ShapedText;

/// Slack when comparing lengths, so that float noise never breaks a line
/// that fits exactly.
pub(super) const EPSILON: f32 = 0.01;

/// The lines a text breaks into at one size.
pub(super) struct Lines {
    pub(super) spans: Vec<Span>,
    /// Some line is wider than the frame (a word that could not be broken).
    pub(super) overflow: bool,
}

/// A line: a range of clusters of one paragraph, with its trailing
/// whitespace.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) paragraph: usize,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Breaks and measures shaped clusters.
pub(super) struct Setter<'a> {
    pub(super) text: &'a ShapedText,
    /// In canvas pixels.
    pub(super) letter_spacing: f32,
    pub(super) max_width: f32,
    /// Lines break only at line feeds (there are none without wrapping).
    pub(super) wrap: bool,
}

impl Setter<'_> {
    /// The width of clusters `start..end` set on one line at `size`, up to
    /// the end of the last one that is drawn: trailing whitespace and the
    /// last cluster's letter spacing do not count.
    pub(super) fn measure(&self, start: usize, end: usize, size: f32) -> f32 {
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
    pub(super) fn trim_end(&self, start: usize, mut end: usize) -> usize {
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
    pub(super) fn break_lines(&self, size: f32, split_words: bool) -> Lines {
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
    pub(super) fn end_before_ellipsis(&self, span: &Span, size: f32, ellipsis_width: f32) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::test_fonts::style;
    use crate::render::text::test_layout::{frame, lay_out, texts};

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
    fn a_word_wider_than_the_frame_is_broken_as_a_last_resort() {
        let layout = lay_out("Supercalifragilistic", &style(20.0), frame(80.0, 500.0));
        let lines = texts(&layout);
        assert!(lines.len() >= 2, "{lines:?}");
        assert_eq!(lines.concat(), "Supercalifragilistic");
        assert!(layout.lines.iter().all(|line| line.width <= 80.0 + EPSILON));
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
}
