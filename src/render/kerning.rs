//! Pair kerning from a font's GPOS table: the pair adjustments of its `kern`
//! feature.
//!
//! ab_glyph only reads the legacy `kern` table, and Noto Sans, like most
//! fonts made in the last fifteen years, keeps its kerning in GPOS only, so
//! without this "AV" or "To" were set as loose as the glyphs' advances. Only
//! what a line of plain text needs is read: pair adjustment lookups (format
//! 1, glyph pairs, and format 2, class pairs), and of their value records
//! only the first glyph's advance. Every `kern` lookup applies once, the first
//! of its subtables that matches the pair deciding, and the lookups add up.
//!
//! Asking ttf-parser walks the lookup list and binary-searches coverage
//! tables, which is too slow for every pair of every render; each face keeps
//! the pairs it was asked for, and a text uses few distinct pairs.

use std::collections::HashMap;
use std::sync::RwLock;

use ab_glyph::GlyphId;
use ttf_parser::gpos::{PairAdjustment, PositioningSubtable};
use ttf_parser::opentype_layout::LayoutTable;

/// Pairs kept per face before the memo starts over: far more than the
/// scripts of a template use, few enough that a stream of odd characters
/// cannot grow memory without bound.
const MAX_REMEMBERED_PAIRS: usize = 64 * 1024;

/// The GPOS kerning of one face, and the pairs already looked up.
pub(crate) struct GposKerning {
    face_index: u32,
    /// The lookups of the `kern` feature, in lookup-list order, which is the
    /// order they apply in. Empty when the font has no GPOS kerning.
    lookups: Vec<u16>,
    /// Adjustments already looked up, in font units, by glyph pair.
    pairs: RwLock<HashMap<(u16, u16), i16>>,
}

impl GposKerning {
    /// Reads which lookups the `kern` feature uses, for face `face_index` of
    /// the font file `data`.
    pub(crate) fn load(data: &[u8], face_index: u32) -> GposKerning {
        let mut lookups = Vec::new();
        if let Ok(face) = ttf_parser::Face::parse(data, face_index)
            && let Some(gpos) = face.tables().gpos
        {
            // Every script and language system may name its own `kern`
            // feature; for plain pair kerning their lookups are taken
            // together.
            let kern = ttf_parser::Tag::from_bytes(b"kern");
            for feature in gpos.features.into_iter().filter(|f| f.tag == kern) {
                lookups.extend(feature.lookup_indices);
            }
            lookups.sort_unstable();
            lookups.dedup();
        }
        GposKerning {
            face_index,
            lookups,
            pairs: RwLock::new(HashMap::new()),
        }
    }

    /// Whether the font has a GPOS `kern` feature (when not, the legacy
    /// `kern` table is the one to read).
    pub(crate) fn is_present(&self) -> bool {
        !self.lookups.is_empty()
    }

    /// The change to the first glyph's advance when `second` follows it, in
    /// font units. `data` is the font file this was loaded from.
    pub(crate) fn pair(&self, data: &[u8], first: GlyphId, second: GlyphId) -> i16 {
        if self.lookups.is_empty() {
            return 0;
        }
        let key = (first.0, second.0);
        // A poisoned lock only means a thread panicked while inserting; the
        // map itself is always valid.
        if let Some(&adjustment) = self
            .pairs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return adjustment;
        }
        let adjustment = ttf_parser::Face::parse(data, self.face_index)
            .ok()
            .and_then(|face| face.tables().gpos)
            .map_or(0, |gpos| self.look_up(&gpos, first, second));
        let mut pairs = self.pairs.write().unwrap_or_else(|e| e.into_inner());
        if pairs.len() >= MAX_REMEMBERED_PAIRS {
            pairs.clear();
        }
        pairs.insert(key, adjustment);
        adjustment
    }

    fn look_up(&self, gpos: &LayoutTable<'_>, first: GlyphId, second: GlyphId) -> i16 {
        let (first, second) = (ttf_parser::GlyphId(first.0), ttf_parser::GlyphId(second.0));
        let mut total = 0i16;
        for &index in &self.lookups {
            let Some(lookup) = gpos.lookups.get(index) else {
                continue;
            };
            let adjustment = lookup
                .subtables
                .into_iter::<PositioningSubtable>()
                .find_map(|subtable| match subtable {
                    PositioningSubtable::Pair(pair) => pair_advance(&pair, first, second),
                    _ => None,
                });
            total = total.saturating_add(adjustment.unwrap_or(0));
        }
        total
    }
}

/// The first glyph's advance adjustment of a pair adjustment subtable, or
/// `None` when the subtable does not cover the pair (and the next one should
/// be tried).
fn pair_advance(
    pair: &PairAdjustment<'_>,
    first: ttf_parser::GlyphId,
    second: ttf_parser::GlyphId,
) -> Option<i16> {
    match pair {
        PairAdjustment::Format1 { coverage, sets } => {
            let (value, _) = sets.get(coverage.get(first)?)?.get(second)?;
            Some(value.x_advance)
        }
        PairAdjustment::Format2 {
            coverage,
            classes,
            matrix,
        } => {
            // A covered first glyph makes the subtable apply, whatever the
            // classes (class 0 is "every other glyph").
            coverage.get(first)?;
            let (value, _) = matrix.get((classes.0.get(first), classes.1.get(second)))?;
            Some(value.x_advance)
        }
    }
}
