//! Text made ready for breaking: normalized, split into paragraphs at line
//! feeds, given each character's bidi level (unicode-bidi), cut into runs of
//! one level, one script and one font of the fallback chain, and shaped
//! (`shaping.rs`) into clusters, the smallest pieces layout handles. A
//! cluster's advance is in em, so it scales to any size for free.

use std::ops::Range;
use std::sync::Arc;

use unicode_bidi::{BidiInfo, Level};
use unicode_script::{Script, UnicodeScript};
use unicode_segmentation::UnicodeSegmentation;

use crate::render::fonts::FontBook;
use crate::render::text::breaks::break_opportunities;
use crate::render::text::shaping::{RunKey, ShapeCache, ShapedRun};
use crate::render::{TextDirection, TextStyle};

/// Text made ready for breaking: normalized, split into paragraphs, and
/// shaped into clusters.
#[derive(Debug)]
pub(super) struct ShapedText {
    /// The text as laid out: tabs made spaces, controls dropped, and line
    /// feeds either kept as paragraph ends or, without wrapping, made spaces.
    pub(super) text: String,
    pub(super) runs: Vec<PlacedRun>,
    /// Every cluster of every paragraph, in logical order.
    pub(super) clusters: Vec<Cluster>,
    pub(super) paragraphs: Vec<Paragraph>,
}

#[derive(Debug)]
pub(super) struct PlacedRun {
    pub(super) face: u16,
    pub(super) shaped: Arc<ShapedRun>,
}

/// The smallest piece of text layout handles: a character with its marks,
/// a conjunct, a ligature, an emoji sequence. Lines break only between
/// clusters, and letter spacing goes between them.
#[derive(Debug)]
pub(super) struct Cluster {
    /// Its bytes in [`ShapedText::text`].
    pub(super) text: Range<usize>,
    pub(super) run: usize,
    /// Its glyphs in the run, in visual order.
    pub(super) glyphs: Range<usize>,
    /// Sum of its glyphs' advances, in em.
    pub(super) advance: f32,
    pub(super) level: Level,
    /// A line may end after it.
    pub(super) break_after: bool,
    /// Drawn: not only whitespace.
    pub(super) visible: bool,
}

#[derive(Debug)]
pub(super) struct Paragraph {
    pub(super) clusters: Range<usize>,
    pub(super) right_to_left: bool,
}

/// Normalizes, splits, itemizes and shapes `text`.
pub(super) fn shape_text(
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

/// The script of text that is in none: punctuation, digits and spaces
/// alone, and the ellipsis.
pub(super) const COMMON: [u8; 4] = *b"Zyyy";

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

#[cfg(test)]
mod tests {
    use ab_glyph::GlyphId;

    use super::*;
    use crate::render::Weight;
    use crate::render::test_fonts::{font_book, style};
    use crate::render::text::layout::layout_text;
    use crate::render::text::test_layout::{frame, glyph_ids, lay_out, texts, x_of};

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
