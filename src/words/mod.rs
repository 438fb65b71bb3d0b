//! Words that agree with the reader's language, from CLDR: plural forms,
//! numbers, amounts of money and dates, each spelled the way a locale
//! spells them ("3 дня", "1.234,50 €", "8 декабря").
//!
//! The data is CLDR's, baked into the binary by ICU4X (`compiled_data`),
//! so nothing is read from disk. Everything here is a pure function of a
//! locale and a value; the expression helpers (`expr/`) and the countdown's
//! labels (`render/timer.rs`) call it.
//!
//! A locale nobody can read (not BCP 47, or a language CLDR does not have)
//! never fails a text: it reads as English, is counted
//! ([`locale_fallbacks`]) and logged at debug level, because it usually
//! comes from a recipient's profile, where a typo must not cost an image.

pub mod dates;
pub mod money;
pub mod numbers;
pub mod plural;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use icu_calendar::{Date, Gregorian};
use icu_datetime::FixedCalendarDateTimeFormatter;
use icu_datetime::fieldsets::MD;
pub use icu_locale_core::Locale;

/// How many locales have read as English because CLDR could not read
/// them, since the process started.
pub fn locale_fallbacks() -> u64 {
    LOCALE_FALLBACKS.load(Ordering::Relaxed)
}

/// Reads a locale as authors and profiles write it: `"ru"`, `"en-GB"`,
/// `"pt_BR"` (underscores are common in profile data), any case. One that
/// is not BCP 47, or whose language CLDR has no words for, reads as
/// English and is counted.
pub fn read_locale(text: &str) -> Locale {
    match known_locale(text) {
        Some(locale) => locale,
        None => {
            LOCALE_FALLBACKS.fetch_add(1, Ordering::Relaxed);
            let shown: String = text.chars().take(32).collect();
            tracing::debug!(locale = %shown, "a locale CLDR cannot read: English words instead");
            english()
        }
    }
}

/// [`read_locale`], with English for an empty text (a locale nobody gave,
/// which is not a fallback worth counting).
pub fn read_locale_or_english(text: &str) -> Locale {
    if text.trim().is_empty() {
        english()
    } else {
        read_locale(text)
    }
}

/// The locale of `text` if CLDR can read it, else `None`; nothing counted.
/// Template checks use it to refuse a fixed locale that would fall back.
pub fn known_locale(text: &str) -> Option<Locale> {
    let normalized = text.trim().replace('_', "-");
    let locale = Locale::try_from_str(&normalized).ok()?;
    has_cldr_words(&locale).then_some(locale)
}

/// English, the locale of last resort.
pub fn english() -> Locale {
    icu_locale_core::locale!("en")
}

static LOCALE_FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Languages already looked up, and whether CLDR has them; bounded, since
/// the names come from profiles. Past the bound a language is looked up
/// each time, which costs microseconds, not memory.
static KNOWN_LANGUAGES: Mutex<Option<HashMap<String, bool>>> = Mutex::new(None);
const MAX_REMEMBERED_LANGUAGES: usize = 512;

/// Whether CLDR has words for the locale's language. ICU4X answers an
/// unknown language with the root locale's data rather than an error, and
/// root writes months as numbers ("M12 8"): a language whose day and month
/// read the same as root's has no words of its own.
fn has_cldr_words(locale: &Locale) -> bool {
    if locale.id.language.is_unknown() {
        return false;
    }
    let language = locale.id.language.as_str().to_string();
    if let Ok(mut remembered) = KNOWN_LANGUAGES.lock()
        && let Some(known) = remembered.get_or_insert_with(HashMap::new).get(&language)
    {
        return *known;
    }
    let probe = |locale: &Locale| {
        let date = Date::try_new_gregorian(2000, 12, 8).expect("a valid date");
        FixedCalendarDateTimeFormatter::<Gregorian, _>::try_new(locale.into(), MD::long())
            .map(|formatter| formatter.format(&date).to_string())
            .ok()
    };
    let bare = Locale::from(locale.id.language);
    let known = probe(&bare) != probe(&Locale::UNKNOWN);
    if let Ok(mut remembered) = KNOWN_LANGUAGES.lock() {
        let remembered = remembered.get_or_insert_with(HashMap::new);
        if remembered.len() < MAX_REMEMBERED_LANGUAGES {
            remembered.insert(language, known);
        }
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_read_as_written_and_unknown_ones_as_english() {
        assert_eq!(read_locale("ru").to_string(), "ru");
        assert_eq!(read_locale(" en_GB ").to_string(), "en-GB");
        assert_eq!(read_locale("HI-in").to_string(), "hi-IN");
        let before = locale_fallbacks();
        for unreadable in ["", "not a locale", "xx", "tlh", "und", "en--GB"] {
            assert_eq!(read_locale(unreadable).to_string(), "en", "{unreadable:?}");
        }
        assert!(locale_fallbacks() >= before + 6);
        assert!(known_locale("xx").is_none());
        assert!(known_locale("pl").is_some());
    }
}
