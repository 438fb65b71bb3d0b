//! Text layers: layout (where each glyph goes) and drawing (blending the
//! cached glyph masks onto the canvas).

mod draw;
mod layout;

pub(crate) use draw::draw_text;
