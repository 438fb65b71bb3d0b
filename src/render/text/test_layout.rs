//! Helpers for the text layout tests: lay a string out in a frame with the
//! bundled fonts, and read back its lines and where its glyphs went.

use crate::render::test_fonts::{font_book, style};
use crate::render::text::layout::{TextLayout, layout_text};
use crate::render::text::shaping::ShapeCache;
use crate::render::{FontBook, Frame, TextStyle};

/// A `width` by `height` frame away from the canvas's corner, so that
/// tests see the frame's offset applied.
pub(super) fn frame(width: f32, height: f32) -> Frame {
    Frame {
        x: 10.0,
        y: 20.0,
        width,
        height,
    }
}

/// Lays `text` out at 1x in the bundled fonts, with a cache of its own.
pub(super) fn lay_out(text: &str, style: &TextStyle, frame: Frame) -> TextLayout {
    let fonts: &FontBook = font_book();
    let chain = fonts
        .chain(&style.family, style.weight)
        .expect("sans exists");
    let shapes = ShapeCache::new(1 << 20);
    layout_text(fonts, &shapes, chain, text, style, frame, 1.0)
}

/// What each line says, without its trailing whitespace.
pub(super) fn texts(layout: &TextLayout) -> Vec<&str> {
    layout
        .lines
        .iter()
        .map(|line| line.text.trim_end())
        .collect()
}

/// The glyph ids of `text` laid out on one line, left to right.
pub(super) fn glyph_ids(text: &str) -> Vec<u16> {
    let layout = lay_out(text, &style(40.0), frame(900.0, 100.0));
    layout.glyphs.iter().map(|glyph| glyph.glyph.0).collect()
}

/// The x of the first glyph of the cluster at `byte` of the line.
pub(super) fn x_of(layout: &TextLayout, byte: usize) -> f32 {
    layout
        .glyphs
        .iter()
        .find(|glyph| glyph.cluster as usize == byte)
        .unwrap_or_else(|| panic!("no glyph at byte {byte}"))
        .x
}
