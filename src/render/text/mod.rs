//! Text layers: line breaking (where a line may end), shaping (which glyphs
//! set a run of text), layout (where each glyph goes: `layout.rs` runs it,
//! from the paragraphs' clusters through the lines to the painter that
//! places their glyphs) and drawing (blending the cached glyph masks onto
//! the canvas).

mod breaks;
mod draw;
mod layout;
mod lines;
mod painter;
mod paragraphs;
mod shaping;
#[cfg(test)]
mod test_layout;

pub(crate) use draw::{PreparedText, draw_text, prepare_text};
pub use shaping::DEFAULT_SHAPE_CACHE_BYTES;
pub(crate) use shaping::ShapeCache;
