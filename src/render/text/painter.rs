//! Placing a line's glyphs: a pen that walks the line from left to right,
//! putting each cluster's glyphs at their shaped offsets, and the ellipsis
//! that ends a line layout had to cut.

use std::sync::Arc;

use ab_glyph::GlyphId;

use crate::render::fonts::FontBook;
use crate::render::text::layout::PlacedGlyph;
use crate::render::text::paragraphs::{COMMON, ShapedText};
use crate::render::text::shaping::{RunKey, ShapeCache, ShapedGlyph, ShapedRun};

/// The character that marks a cut line.
pub(super) const ELLIPSIS: &str = "\u{2026}";

/// The ellipsis that marks a cut line, shaped in the chain's first font.
pub(super) struct Ellipsis {
    face: u16,
    run: Arc<ShapedRun>,
    /// In em.
    pub(super) advance: f32,
}

impl Ellipsis {
    pub(super) fn shape(fonts: &FontBook, shapes: &ShapeCache, face: u16) -> Ellipsis {
        let run = shapes.shape(
            fonts,
            RunKey {
                face,
                right_to_left: false,
                script: COMMON,
                text: ELLIPSIS.into(),
            },
        );
        let units: i32 = run.glyphs.iter().map(|glyph| glyph.x_advance).sum();
        Ellipsis {
            face,
            advance: fonts.face(face).em(units as f32),
            run,
        }
    }
}

/// Places glyphs along one line, left to right.
pub(super) struct LinePainter<'a> {
    pub(super) fonts: &'a FontBook,
    pub(super) size: f32,
    pub(super) baseline: f32,
    pub(super) pen: f32,
    pub(super) glyphs: &'a mut Vec<PlacedGlyph>,
}

impl LinePainter<'_> {
    pub(super) fn place_cluster(&mut self, shaped: &ShapedText, index: usize) {
        let cluster = &shaped.clusters[index];
        let run = &shaped.runs[cluster.run];
        self.place(
            run.face,
            &run.shaped.glyphs[cluster.glyphs.clone()],
            cluster.visible,
            cluster.text.start as u32,
        );
    }

    pub(super) fn place_ellipsis(&mut self, ellipsis: &Ellipsis) {
        self.place(ellipsis.face, &ellipsis.run.glyphs, true, u32::MAX);
    }

    fn place(&mut self, face_id: u16, glyphs: &[ShapedGlyph], visible: bool, cluster: u32) {
        let units_to_pixels = self.size / self.fonts.face(face_id).units_per_em;
        for glyph in glyphs {
            if visible {
                self.glyphs.push(PlacedGlyph {
                    face: face_id,
                    glyph: GlyphId(glyph.glyph),
                    x: self.pen + glyph.x_offset as f32 * units_to_pixels,
                    y: self.baseline - glyph.y_offset as f32 * units_to_pixels,
                    cluster,
                });
            }
            self.pen += glyph.x_advance as f32 * units_to_pixels;
        }
    }
}

#[cfg(test)]
mod tests {
    use ab_glyph::Font;

    use crate::render::test_fonts::{font_book, style};
    use crate::render::text::layout::PlacedGlyph;
    use crate::render::text::test_layout::{frame, lay_out};

    #[test]
    fn thai_marks_stack_on_their_base() {
        // ที่: a consonant with a vowel sign and a tone mark above it. The
        // marks take no room on the line, and the tone mark sits above
        // the vowel sign rather than beside it.
        let base = lay_out("ท", &style(40.0), frame(300.0, 100.0)).lines[0].width;
        let stacked = lay_out("ที่", &style(40.0), frame(300.0, 100.0));
        assert_eq!(stacked.glyphs.len(), 3);
        assert!((stacked.lines[0].width - base).abs() < 0.01);
        let fonts = font_book();
        let top = |glyph: &PlacedGlyph| {
            let face = fonts.face(glyph.face).outlines();
            let outline = face
                .outline_glyph(glyph.glyph.with_scale(40.0))
                .expect("marks have outlines");
            glyph.y + outline.px_bounds().min.y
        };
        assert!(top(&stacked.glyphs[2]) < top(&stacked.glyphs[1]));
    }
}
