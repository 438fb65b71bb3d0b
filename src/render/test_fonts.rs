//! The bundled font book, loaded once for all unit tests of this module.

use std::path::Path;
use std::sync::OnceLock;

use crate::render::{
    Color, EmojiStyle, FontBook, HorizontalAlign, TextDirection, TextStyle, VerticalAlign, Weight,
};

/// The font book of `fonts/`, shared because loading it reads 40 MB.
pub(crate) fn font_book() -> &'static FontBook {
    static BOOK: OnceLock<FontBook> = OnceLock::new();
    BOOK.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts");
        FontBook::load(&dir).expect("the bundled fonts load")
    })
}

/// A plain style: `sans` regular at `size`, no shrinking, wrapping on.
pub(crate) fn style(size: f32) -> TextStyle {
    TextStyle {
        family: "sans".into(),
        weight: Weight::Regular,
        size,
        min_size: size,
        color: Color::rgba(0, 0, 0, 255),
        align: HorizontalAlign::Start,
        vertical_align: VerticalAlign::Top,
        direction: TextDirection::Auto,
        emoji: EmojiStyle::Color,
        line_height: 1.2,
        letter_spacing: 0.0,
        max_lines: None,
        wrap: true,
    }
}
