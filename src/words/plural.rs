//! Plural forms: which of a language's forms a number takes, by CLDR's
//! cardinal plural rules. Russian says "1 день", "3 дня", "5 дней", "21
//! день"; Arabic has six forms; Japanese one.
//!
//! [`PluralForms`] are the words an author gives, one per category, with
//! `other` always there: a category the author left out takes `other`.

use icu_decimal::input::Decimal;
use icu_plurals::PluralRules;

use super::Locale;

/// CLDR's plural categories. Which ones a language uses is its rules'
/// business: English has `one` and `other`, Polish `one`, `few`, `many`
/// and `other`, Arabic all six.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluralCategory {
    Zero,
    One,
    Two,
    Few,
    Many,
    Other,
}

impl PluralCategory {
    pub const ALL: [PluralCategory; 6] = [
        PluralCategory::Zero,
        PluralCategory::One,
        PluralCategory::Two,
        PluralCategory::Few,
        PluralCategory::Many,
        PluralCategory::Other,
    ];

    /// The name authors write: `zero`, `one`, `two`, `few`, `many`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            PluralCategory::Zero => "zero",
            PluralCategory::One => "one",
            PluralCategory::Two => "two",
            PluralCategory::Few => "few",
            PluralCategory::Many => "many",
            PluralCategory::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<PluralCategory> {
        PluralCategory::ALL
            .into_iter()
            .find(|category| category.name() == name)
    }

    fn from_icu(category: icu_plurals::PluralCategory) -> PluralCategory {
        match category {
            icu_plurals::PluralCategory::Zero => PluralCategory::Zero,
            icu_plurals::PluralCategory::One => PluralCategory::One,
            icu_plurals::PluralCategory::Two => PluralCategory::Two,
            icu_plurals::PluralCategory::Few => PluralCategory::Few,
            icu_plurals::PluralCategory::Many => PluralCategory::Many,
            icu_plurals::PluralCategory::Other => PluralCategory::Other,
        }
    }
}

/// A locale's cardinal plural rules, ready to classify many numbers (a
/// countdown asks once per frame and unit).
#[derive(Debug)]
pub struct PluralChooser {
    /// `None` only if CLDR had no rules at all, which compiled data rules
    /// out; every number is then `other`.
    rules: Option<PluralRules>,
}

impl PluralChooser {
    pub fn new(locale: &Locale) -> PluralChooser {
        PluralChooser {
            rules: PluralRules::try_new_cardinal(locale.into()).ok(),
        }
    }

    /// The category of a whole number ("3" in "3 дня").
    pub fn category_of_count(&self, count: u64) -> PluralCategory {
        self.rules.as_ref().map_or(PluralCategory::Other, |rules| {
            PluralCategory::from_icu(rules.category_for(count))
        })
    }

    /// The category of a number as it is written: its visible fraction
    /// digits count, so "1" is `one` in English and "1.0" is `other`.
    pub fn category_of(&self, number: &Decimal) -> PluralCategory {
        self.rules.as_ref().map_or(PluralCategory::Other, |rules| {
            PluralCategory::from_icu(rules.category_for(number))
        })
    }
}

/// The words for each plural category; `other` is the one that must be
/// there, and stands in for any category left out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluralForms {
    /// In [`PluralCategory::ALL`] order; `other` (the last) is always
    /// `Some`.
    forms: [Option<String>; 6],
}

impl PluralForms {
    /// Forms from (category, words) pairs; `None` without an `other`.
    pub fn new(forms: impl IntoIterator<Item = (PluralCategory, String)>) -> Option<PluralForms> {
        let mut slots: [Option<String>; 6] = Default::default();
        for (category, words) in forms {
            slots[category as usize] = Some(words);
        }
        slots[PluralCategory::Other as usize]
            .is_some()
            .then_some(PluralForms { forms: slots })
    }

    /// One text for every number: a label without plural forms.
    pub fn plain(words: impl Into<String>) -> PluralForms {
        let mut forms: [Option<String>; 6] = Default::default();
        forms[PluralCategory::Other as usize] = Some(words.into());
        PluralForms { forms }
    }

    /// Whether every number gets the same words.
    pub fn is_plain(&self) -> bool {
        self.given().count() == 1
    }

    /// Whether every form is empty: nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.given().all(|(_, words)| words.is_empty())
    }

    /// The words for `category`, or `other`'s when the author gave none.
    pub fn pick(&self, category: PluralCategory) -> &str {
        self.forms[category as usize]
            .as_deref()
            .or(self.forms[PluralCategory::Other as usize].as_deref())
            .unwrap_or_default()
    }

    /// The forms given, in category order.
    pub fn given(&self) -> impl Iterator<Item = (PluralCategory, &str)> {
        PluralCategory::ALL
            .into_iter()
            .zip(&self.forms)
            .filter_map(|(category, words)| Some((category, words.as_deref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::read_locale;

    fn categories(locale: &str, counts: &[u64]) -> Vec<&'static str> {
        let chooser = PluralChooser::new(&read_locale(locale));
        counts
            .iter()
            .map(|count| chooser.category_of_count(*count).name())
            .collect()
    }

    #[test]
    fn whole_numbers_take_their_languages_categories() {
        // Hand-checked against CLDR's plural rules (plurals.xml).
        let counts = [0, 1, 2, 3, 5, 11, 12, 21, 22, 25, 100, 101, 102, 111];
        let cases: &[(&str, [&str; 14])] = &[
            (
                "en",
                [
                    "other", "one", "other", "other", "other", "other", "other", "other", "other",
                    "other", "other", "other", "other", "other",
                ],
            ),
            (
                "de",
                [
                    "other", "one", "other", "other", "other", "other", "other", "other", "other",
                    "other", "other", "other", "other", "other",
                ],
            ),
            // Russian: one for 1, 21, 101 but not 11; few for 2-4, 22 but
            // not 12; many for the rest of the whole numbers.
            (
                "ru",
                [
                    "many", "one", "few", "few", "many", "many", "many", "one", "few", "many",
                    "many", "one", "few", "many",
                ],
            ),
            // Polish: one only for 1 itself; 21 is many, 22 few.
            (
                "pl",
                [
                    "many", "one", "few", "few", "many", "many", "many", "many", "few", "many",
                    "many", "many", "few", "many",
                ],
            ),
            // Arabic: zero, one, two; few for 3-10 (and 103-110); many for
            // 11-99 (and 111...); other for 100-102.
            (
                "ar",
                [
                    "zero", "one", "two", "few", "few", "many", "many", "many", "many", "many",
                    "other", "other", "other", "many",
                ],
            ),
            (
                "ja",
                [
                    "other", "other", "other", "other", "other", "other", "other", "other",
                    "other", "other", "other", "other", "other", "other",
                ],
            ),
            // Hindi: one for 0 and 1.
            (
                "hi",
                [
                    "one", "one", "other", "other", "other", "other", "other", "other", "other",
                    "other", "other", "other", "other", "other",
                ],
            ),
        ];
        for (locale, expected) in cases {
            assert_eq!(categories(locale, &counts), expected, "{locale}");
        }
    }

    #[test]
    fn visible_fraction_digits_change_the_category() {
        let english = PluralChooser::new(&read_locale("en"));
        let one: Decimal = "1".parse().expect("a decimal");
        let one_point_zero: Decimal = "1.0".parse().expect("a decimal");
        assert_eq!(english.category_of(&one), PluralCategory::One);
        assert_eq!(english.category_of(&one_point_zero), PluralCategory::Other);
        let russian = PluralChooser::new(&read_locale("ru"));
        let one_and_a_half: Decimal = "1.5".parse().expect("a decimal");
        assert_eq!(russian.category_of(&one_and_a_half), PluralCategory::Other);
    }

    #[test]
    fn a_missing_form_takes_other_and_other_is_required() {
        let forms = PluralForms::new([
            (PluralCategory::One, "день".to_string()),
            (PluralCategory::Other, "дня".to_string()),
        ])
        .expect("other is given");
        assert_eq!(forms.pick(PluralCategory::One), "день");
        assert_eq!(forms.pick(PluralCategory::Many), "дня");
        assert!(PluralForms::new([(PluralCategory::One, "день".to_string())]).is_none());
    }
}
