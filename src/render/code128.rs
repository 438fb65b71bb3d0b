//! Code 128: from ASCII text to the bars and spaces of a linear barcode.
//!
//! The encoder follows the code set rules of ISO/IEC 15417, annex E, which
//! till scanners and label printers expect: code set C (two digits a
//! symbol) for runs of four or more digits, an even number of them, and
//! code sets B (printable ASCII and lowercase) or A (capitals and control
//! characters) for the rest, with a shift for a single character of the
//! other set. The symbol is the start character, the data, a modulo-103
//! checksum and the stop pattern; the drawing, with its quiet zones, is in
//! `code_layer.rs`.

/// The longest content a Code 128 layer takes, in characters. A till reads
/// a coupon code or an order number; past this the symbol is too wide to
/// scan from a phone screen at a module width a scanner resolves, and a QR
/// code is the better choice.
pub(crate) const MAX_CHARS: usize = 80;

/// Modules of light space each side of the bars, which scanners need to
/// find where the symbol starts (ISO/IEC 15417 asks for ten).
pub(crate) const QUIET_ZONE_MODULES: u32 = 10;

/// An encoded symbol: its characters' values from the start character to
/// the checksum, without the stop pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Barcode {
    values: Vec<u8>,
}

impl Barcode {
    /// The width of the bars and spaces between the quiet zones, in modules.
    pub(crate) fn module_count(&self) -> u32 {
        self.values.len() as u32 * SYMBOL_MODULES + STOP_MODULES
    }

    /// The widths, in modules, of the symbol's elements from left to right:
    /// a bar, a space, a bar and so on, ending on the stop pattern's last
    /// bar.
    pub(crate) fn element_widths(&self) -> impl Iterator<Item = u8> + '_ {
        self.values
            .iter()
            .flat_map(|&value| PATTERNS[usize::from(value)])
            .chain(STOP_PATTERN)
    }
}

/// Checks that `content` fits Code 128 and this renderer's limit, with the
/// reason for a template author when it does not.
pub(crate) fn check_content(content: &str) -> Result<(), String> {
    if content.is_empty() {
        return Err("a Code 128 barcode needs some content; it is empty".into());
    }
    if let Some((position, character)) = content
        .chars()
        .enumerate()
        .find(|(_, character)| !character.is_ascii())
    {
        return Err(format!(
            "Code 128 encodes ASCII characters only; character {} ({character:?}) is not one",
            position + 1
        ));
    }
    if content.len() > MAX_CHARS {
        return Err(format!(
            "a Code 128 barcode holds at most {MAX_CHARS} characters here, this content has {}; \
             use a QR code for longer contents",
            content.len()
        ));
    }
    Ok(())
}

/// Encodes `content`, or says why it cannot be (see [`check_content`]).
pub(crate) fn encode(content: &str) -> Result<Barcode, String> {
    check_content(content)?;
    let text = content.as_bytes();
    let mut values = Vec::with_capacity(text.len() + 4);
    let leading_digits = digit_run(text, 0);
    // Rule 1: start in C when the data opens with four or more digits (or
    // is exactly two), so they take half the width; otherwise in A or B.
    let mut set = if leading_digits >= 4 || (leading_digits == 2 && text.len() == 2) {
        values.push(START_C);
        CodeSet::C
    } else {
        let set = letter_set_from(text, 0);
        values.push(if set == CodeSet::A { START_A } else { START_B });
        set
    };
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        if set == CodeSet::C {
            if digit_run(text, index) >= 2 {
                values.push((byte - b'0') * 10 + (text[index + 1] - b'0'));
                index += 2;
                continue;
            }
            // Rules 2 and 6: a lone last digit or any other character
            // leaves C for A or B, whichever the text ahead needs.
            set = letter_set_from(text, index);
            values.push(if set == CodeSet::A { CODE_A } else { CODE_B });
            continue;
        }
        let digits = digit_run(text, index);
        if digits >= 4 {
            // Rule 3: an odd run leaves its first digit in A or B, so that
            // C gets an even number.
            if digits % 2 == 1 {
                values.push(value_in(set, byte));
                index += 1;
            }
            values.push(CODE_C);
            set = CodeSet::C;
            continue;
        }
        if fits(set, byte) {
            values.push(value_in(set, byte));
            index += 1;
            continue;
        }
        // Rules 4 and 5: a character only the other letter set has. When
        // the next such character ahead is one of the current set's own, a
        // shift encodes this one alone; otherwise switch.
        let other = if set == CodeSet::A {
            CodeSet::B
        } else {
            CodeSet::A
        };
        if next_letter_set(text, index + 1) == Some(set) {
            values.push(SHIFT);
            values.push(value_in(other, byte));
            index += 1;
        } else {
            values.push(if other == CodeSet::A { CODE_A } else { CODE_B });
            set = other;
        }
    }
    let checksum = values
        .iter()
        .enumerate()
        .map(|(position, &value)| position.max(1) as u32 * u32::from(value))
        .sum::<u32>()
        % 103;
    values.push(checksum as u8);
    Ok(Barcode { values })
}

/// Code 128's three character sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeSet {
    /// Capitals, digits, punctuation and the ASCII control characters.
    A,
    /// Capitals, digits, punctuation and lowercase letters.
    B,
    /// Pairs of digits, 00 to 99.
    C,
}

const START_A: u8 = 103;
const START_B: u8 = 104;
const START_C: u8 = 105;
/// In A or B: the next character is of the other of the two.
const SHIFT: u8 = 98;
/// The switches between sets. 99 is Code C in A and B; 100 is Code B in A
/// and C, and 101 Code A in B and C. (In the one set each is not a switch
/// in, it is FNC4 or, for 99 in C, a pair of digits; a set never switches
/// to itself, so those meanings never arise here.)
const CODE_C: u8 = 99;
const CODE_B: u8 = 100;
const CODE_A: u8 = 101;

/// Every character but the stop is eleven modules wide.
const SYMBOL_MODULES: u32 = 11;
/// The stop pattern: a character's eleven modules and a final two-module
/// bar.
const STOP_MODULES: u32 = 13;

/// How many digits follow from `from` on.
fn digit_run(text: &[u8], from: usize) -> usize {
    text[from..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count()
}

/// A or B for the text from `from` on: A when a control character comes
/// before any character only B has (rules 1c and 1d), B otherwise.
fn letter_set_from(text: &[u8], from: usize) -> CodeSet {
    next_letter_set(text, from).unwrap_or(CodeSet::B)
}

/// The set of the first character from `from` on that only one of A and B
/// has: a control character (A) or a lowercase letter or `` ` ``, `{`,
/// `|`, `}`, `~`, DEL (B). None when every character left is in both.
fn next_letter_set(text: &[u8], from: usize) -> Option<CodeSet> {
    text.get(from..)
        .unwrap_or_default()
        .iter()
        .find_map(|&byte| match byte {
            0..=31 => Some(CodeSet::A),
            96..=127 => Some(CodeSet::B),
            _ => None,
        })
}

/// Whether `byte` is in code set `set` (A or B).
fn fits(set: CodeSet, byte: u8) -> bool {
    match set {
        CodeSet::A => byte < 96,
        CodeSet::B => (32..128).contains(&byte),
        CodeSet::C => false,
    }
}

/// The value of `byte` in code set A or B; the caller checked [`fits`].
fn value_in(set: CodeSet, byte: u8) -> u8 {
    match (set, byte) {
        (CodeSet::A, 0..=31) => byte + 64,
        _ => byte - 32,
    }
}

/// The bar and space widths of each character value, 0 to 105, bar first.
/// From the Code 128 specification's symbol table; the tests check that
/// every pattern is eleven modules with an even number of bar modules, and
/// `tests/code_render.rs` reads the drawn symbols back with a decoder.
const PATTERNS: [[u8; 6]; 106] = [
    [2, 1, 2, 2, 2, 2],
    [2, 2, 2, 1, 2, 2],
    [2, 2, 2, 2, 2, 1],
    [1, 2, 1, 2, 2, 3],
    [1, 2, 1, 3, 2, 2],
    [1, 3, 1, 2, 2, 2],
    [1, 2, 2, 2, 1, 3],
    [1, 2, 2, 3, 1, 2],
    [1, 3, 2, 2, 1, 2],
    [2, 2, 1, 2, 1, 3],
    [2, 2, 1, 3, 1, 2],
    [2, 3, 1, 2, 1, 2],
    [1, 1, 2, 2, 3, 2],
    [1, 2, 2, 1, 3, 2],
    [1, 2, 2, 2, 3, 1],
    [1, 1, 3, 2, 2, 2],
    [1, 2, 3, 1, 2, 2],
    [1, 2, 3, 2, 2, 1],
    [2, 2, 3, 2, 1, 1],
    [2, 2, 1, 1, 3, 2],
    [2, 2, 1, 2, 3, 1],
    [2, 1, 3, 2, 1, 2],
    [2, 2, 3, 1, 1, 2],
    [3, 1, 2, 1, 3, 1],
    [3, 1, 1, 2, 2, 2],
    [3, 2, 1, 1, 2, 2],
    [3, 2, 1, 2, 2, 1],
    [3, 1, 2, 2, 1, 2],
    [3, 2, 2, 1, 1, 2],
    [3, 2, 2, 2, 1, 1],
    [2, 1, 2, 1, 2, 3],
    [2, 1, 2, 3, 2, 1],
    [2, 3, 2, 1, 2, 1],
    [1, 1, 1, 3, 2, 3],
    [1, 3, 1, 1, 2, 3],
    [1, 3, 1, 3, 2, 1],
    [1, 1, 2, 3, 1, 3],
    [1, 3, 2, 1, 1, 3],
    [1, 3, 2, 3, 1, 1],
    [2, 1, 1, 3, 1, 3],
    [2, 3, 1, 1, 1, 3],
    [2, 3, 1, 3, 1, 1],
    [1, 1, 2, 1, 3, 3],
    [1, 1, 2, 3, 3, 1],
    [1, 3, 2, 1, 3, 1],
    [1, 1, 3, 1, 2, 3],
    [1, 1, 3, 3, 2, 1],
    [1, 3, 3, 1, 2, 1],
    [3, 1, 3, 1, 2, 1],
    [2, 1, 1, 3, 3, 1],
    [2, 3, 1, 1, 3, 1],
    [2, 1, 3, 1, 1, 3],
    [2, 1, 3, 3, 1, 1],
    [2, 1, 3, 1, 3, 1],
    [3, 1, 1, 1, 2, 3],
    [3, 1, 1, 3, 2, 1],
    [3, 3, 1, 1, 2, 1],
    [3, 1, 2, 1, 1, 3],
    [3, 1, 2, 3, 1, 1],
    [3, 3, 2, 1, 1, 1],
    [3, 1, 4, 1, 1, 1],
    [2, 2, 1, 4, 1, 1],
    [4, 3, 1, 1, 1, 1],
    [1, 1, 1, 2, 2, 4],
    [1, 1, 1, 4, 2, 2],
    [1, 2, 1, 1, 2, 4],
    [1, 2, 1, 4, 2, 1],
    [1, 4, 1, 1, 2, 2],
    [1, 4, 1, 2, 2, 1],
    [1, 1, 2, 2, 1, 4],
    [1, 1, 2, 4, 1, 2],
    [1, 2, 2, 1, 1, 4],
    [1, 2, 2, 4, 1, 1],
    [1, 4, 2, 1, 1, 2],
    [1, 4, 2, 2, 1, 1],
    [2, 4, 1, 2, 1, 1],
    [2, 2, 1, 1, 1, 4],
    [4, 1, 3, 1, 1, 1],
    [2, 4, 1, 1, 1, 2],
    [1, 3, 4, 1, 1, 1],
    [1, 1, 1, 2, 4, 2],
    [1, 2, 1, 1, 4, 2],
    [1, 2, 1, 2, 4, 1],
    [1, 1, 4, 2, 1, 2],
    [1, 2, 4, 1, 1, 2],
    [1, 2, 4, 2, 1, 1],
    [4, 1, 1, 2, 1, 2],
    [4, 2, 1, 1, 1, 2],
    [4, 2, 1, 2, 1, 1],
    [2, 1, 2, 1, 4, 1],
    [2, 1, 4, 1, 2, 1],
    [4, 1, 2, 1, 2, 1],
    [1, 1, 1, 1, 4, 3],
    [1, 1, 1, 3, 4, 1],
    [1, 3, 1, 1, 4, 1],
    [1, 1, 4, 1, 1, 3],
    [1, 1, 4, 3, 1, 1],
    [4, 1, 1, 1, 1, 3],
    [4, 1, 1, 3, 1, 1],
    [1, 1, 3, 1, 4, 1],
    [1, 1, 4, 1, 3, 1],
    [3, 1, 1, 1, 4, 1],
    [4, 1, 1, 1, 3, 1],
    [2, 1, 1, 4, 1, 2],
    [2, 1, 1, 2, 1, 4],
    [2, 1, 1, 2, 3, 2],
];

/// The stop character and its final bar.
const STOP_PATTERN: [u8; 7] = [2, 3, 3, 1, 1, 1, 2];

#[cfg(test)]
mod tests {
    use super::*;

    fn values(content: &str) -> Vec<u8> {
        encode(content).expect("encodes").values
    }

    #[test]
    fn every_pattern_is_eleven_modules_with_even_bars_and_all_differ() {
        for (value, pattern) in PATTERNS.iter().enumerate() {
            let modules: u8 = pattern.iter().sum();
            let bars: u8 = pattern.iter().step_by(2).sum();
            assert_eq!(modules, 11, "value {value}");
            assert_eq!(bars % 2, 0, "value {value}");
        }
        let mut sorted = PATTERNS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), PATTERNS.len());
        assert_eq!(STOP_PATTERN.iter().sum::<u8>(), STOP_MODULES as u8);
    }

    #[test]
    fn digits_go_in_pairs_and_letters_in_b() {
        // Start C, 12 34 56 78, and the checksum: (105 + 1*12 + 2*34 +
        // 3*56 + 4*78) mod 103 = 665 mod 103 = 47.
        assert_eq!(values("12345678"), [START_C, 12, 34, 56, 78, 47]);
        // Two digits alone are one symbol in C; two among letters stay in B.
        assert_eq!(values("42")[..2], [START_C, 42]);
        assert_eq!(values("SAVE20")[..7], [START_B, 51, 33, 54, 37, 18, 16]);
    }

    #[test]
    fn a_run_of_four_digits_or_more_switches_to_c() {
        // A B, then Code C before an even run.
        assert_eq!(
            values("AB1234567890")[..9],
            [START_B, 33, 34, CODE_C, 12, 34, 56, 78, 90]
        );
        // An odd run keeps its first digit in B.
        assert_eq!(values("AB12345")[..6], [START_B, 33, 34, 17, CODE_C, 23]);
        // Opening with an odd run: C for the pairs, B for the last digit.
        assert_eq!(values("12345X")[..6], [START_C, 12, 34, CODE_B, 21, 56]);
        // Three digits are cheaper in B.
        assert_eq!(values("123")[..4], [START_B, 17, 18, 19]);
    }

    #[test]
    fn control_characters_take_code_set_a_or_a_shift() {
        // A tab before any lowercase letter: start in A.
        assert_eq!(values("A\tB")[..4], [START_A, 33, 9 + 64, 34]);
        // A lone tab between lowercase letters: shift, stay in B.
        assert_eq!(values("a\tb")[..5], [START_B, 65, SHIFT, 73, 66]);
        // Several control characters after the last lowercase letter:
        // switch to A for good.
        assert_eq!(values("ab\t\r")[..6], [START_B, 65, 66, CODE_A, 73, 77]);
    }

    #[test]
    fn contents_a_barcode_cannot_hold_are_refused_with_a_reason() {
        assert!(check_content("").unwrap_err().contains("empty"));
        let accented = check_content("CAFÉ10").unwrap_err();
        assert!(
            accented.contains("ASCII") && accented.contains('É'),
            "{accented}"
        );
        let long = "X".repeat(MAX_CHARS + 1);
        assert!(check_content(&long).unwrap_err().contains("at most 80"));
        assert!(check_content(&"X".repeat(MAX_CHARS)).is_ok());
    }

    #[test]
    fn the_symbol_width_counts_every_character_and_the_stop() {
        let barcode = encode("12345678").expect("encodes");
        let widths: u32 = barcode.element_widths().map(u32::from).sum();
        assert_eq!(widths, barcode.module_count());
        assert_eq!(barcode.module_count(), 6 * 11 + 13);
    }
}
