//! Where a line may break: the opportunities of Unicode's line breaking
//! algorithm (UAX #14, from unicode-linebreak), plus the word boundaries
//! inside Thai, Lao, Khmer and Myanmar text, which is written without spaces
//! and which UAX #14 leaves to a dictionary (its class SA). ICU4X's
//! dictionary segmenter finds those words.
//!
//! Layout only breaks at the end of a shaped cluster, so an opportunity that
//! falls inside one (a conjunct, a ligature, a base and its marks) is never
//! taken even when it is listed here.

use std::sync::LazyLock;

use icu_segmenter::LineSegmenter;
use icu_segmenter::options::LineBreakOptions;
use unicode_linebreak::{BreakClass, BreakOpportunity, break_property, linebreaks};

/// The dictionary segmenter, built once from the data compiled into the
/// binary.
static DICTIONARY: LazyLock<icu_segmenter::LineSegmenterBorrowed<'static>> =
    LazyLock::new(|| LineSegmenter::new_dictionary(LineBreakOptions::default()));

/// The byte offsets in `text` (one paragraph, without line feeds) after
/// which a line may end, in increasing order. The end of the text is not
/// listed.
pub(crate) fn break_opportunities(text: &str) -> Vec<usize> {
    let mut breaks: Vec<usize> = linebreaks(text)
        .filter(|&(offset, opportunity)| {
            offset < text.len() && opportunity == BreakOpportunity::Allowed
        })
        .map(|(offset, _)| offset)
        .collect();
    let before = breaks.len();
    for (start, end) in dictionary_runs(text) {
        let run = &text[start..end];
        breaks.extend(
            DICTIONARY
                .segment_str(run)
                .filter(|&offset| offset > 0 && offset < run.len())
                .map(|offset| start + offset),
        );
    }
    if breaks.len() > before {
        breaks.sort_unstable();
        breaks.dedup();
    }
    breaks
}

/// The byte ranges of `text` made of characters of class SA (scripts
/// written without spaces between words), each at least two characters.
fn dictionary_runs(text: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    let mut count = 0;
    for (offset, c) in text.char_indices() {
        let southeast_asian = break_property(c as u32) == BreakClass::ComplexContext;
        match (southeast_asian, start) {
            (true, None) => {
                start = Some(offset);
                count = 1;
            }
            (true, Some(_)) => count += 1,
            (false, Some(run_start)) => {
                if count > 1 {
                    runs.push((run_start, offset));
                }
                start = None;
            }
            (false, None) => {}
        }
    }
    if let Some(run_start) = start
        && count > 1
    {
        runs.push((run_start, text.len()));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        let mut pieces = Vec::new();
        let mut start = 0;
        for offset in break_opportunities(text) {
            pieces.push(&text[start..offset]);
            start = offset;
        }
        pieces.push(&text[start..]);
        pieces
    }

    #[test]
    fn spaces_and_cjk_characters_are_opportunities() {
        assert_eq!(pieces("Thank you, Anna"), ["Thank ", "you, ", "Anna"]);
        assert_eq!(pieces("感谢您"), ["感", "谢", "您"]);
    }

    #[test]
    fn thai_breaks_between_dictionary_words() {
        // "Thank you for renewing": four words with no space between them.
        let text = "ขอบคุณที่ต่ออายุ";
        let pieces = pieces(text);
        assert!(pieces.len() >= 3, "{pieces:?}");
        assert_eq!(pieces.concat(), text);
        assert!(pieces.contains(&"ขอบคุณ"), "{pieces:?}");
    }

    #[test]
    fn a_break_never_falls_inside_a_character() {
        let text = "สวัสดีครับ คุณสมชาย 😀 مرحبا";
        for offset in break_opportunities(text) {
            assert!(text.is_char_boundary(offset));
            assert!(offset > 0 && offset < text.len());
        }
    }
}
