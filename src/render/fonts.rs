//! The font book: the bundled fonts and each family's fallback chains.
//!
//! `fonts.toml` names, for every family, a regular and a bold chain of font
//! files (with a face index for collections). A character is set in the first
//! font of its chain that has a glyph for it, which is how a name in Latin,
//! Cyrillic, Greek, Chinese, Japanese or Korean never shows a box. Fonts are
//! read and validated once, at load, so a bad bundle fails at startup and not
//! at the first open.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ab_glyph::{Font, FontVec, GlyphId};
use serde::Deserialize;

use crate::render::kerning::GposKerning;
use crate::render::{RenderError, Weight};

/// The bundled fonts, by family and weight, with their fallback chains.
pub struct FontBook {
    faces: Vec<Face>,
    families: BTreeMap<String, Family>,
}

impl FontBook {
    /// Loads `fonts.toml` and the fonts it names from `dir`.
    pub fn load(dir: &Path) -> Result<FontBook, RenderError> {
        let manifest_path = dir.join("fonts.toml");
        let manifest_text =
            std::fs::read_to_string(&manifest_path).map_err(|error| RenderError::FontFile {
                file: manifest_path.display().to_string(),
                reason: error.to_string(),
            })?;
        let manifest: Manifest =
            toml::from_str(&manifest_text).map_err(|error| RenderError::FontFile {
                file: manifest_path.display().to_string(),
                reason: error.to_string(),
            })?;
        if manifest.families.is_empty() {
            return Err(RenderError::FontFile {
                file: manifest_path.display().to_string(),
                reason: "declares no font family".into(),
            });
        }

        let mut book = FontBook {
            faces: Vec::new(),
            families: BTreeMap::new(),
        };
        // The same face may appear in several chains; it is loaded once.
        let mut loaded: BTreeMap<(String, u32), u16> = BTreeMap::new();
        for (family_name, family) in &manifest.families {
            let mut chains = Family {
                regular: Vec::new(),
                bold: Vec::new(),
            };
            for (weight_name, entries, chain) in [
                ("regular", &family.regular, &mut chains.regular),
                ("bold", &family.bold, &mut chains.bold),
            ] {
                if entries.is_empty() {
                    return Err(RenderError::Font {
                        reason: format!("family {family_name:?} has an empty {weight_name} chain"),
                    });
                }
                for entry in entries {
                    let key = (entry.file.clone(), entry.index);
                    let face_id = match loaded.get(&key) {
                        Some(&face_id) => face_id,
                        None => {
                            let face = Face::load(dir, entry)?;
                            let face_id =
                                u16::try_from(book.faces.len()).map_err(|_| RenderError::Font {
                                    reason: "too many font faces".into(),
                                })?;
                            book.faces.push(face);
                            loaded.insert(key, face_id);
                            face_id
                        }
                    };
                    chain.push(face_id);
                }
            }
            book.families.insert(family_name.clone(), chains);
        }
        Ok(book)
    }

    pub fn has_family(&self, family: &str) -> bool {
        self.families.contains_key(family)
    }

    /// The characters of `text` that no font of the family's chain has, each
    /// once, in order of first appearance. Whitespace and control characters
    /// are never drawn, so they are never missing. For an unknown family
    /// every drawable character is missing.
    pub fn missing_chars(&self, family: &str, weight: Weight, text: &str) -> Vec<char> {
        let chain = self.chain(family, weight);
        let mut missing = Vec::new();
        for c in text.chars() {
            if c.is_whitespace() || c.is_control() || missing.contains(&c) {
                continue;
            }
            let found = chain.is_some_and(|chain| self.resolve(chain, c).1 != GlyphId(0));
            if !found {
                missing.push(c);
            }
        }
        missing
    }

    /// The fallback chain of a family and weight, as face ids.
    pub(crate) fn chain(&self, family: &str, weight: Weight) -> Option<&[u16]> {
        let family = self.families.get(family)?;
        Some(match weight {
            Weight::Regular => &family.regular,
            Weight::Bold => &family.bold,
        })
    }

    pub(crate) fn face(&self, face_id: u16) -> &Face {
        &self.faces[usize::from(face_id)]
    }

    /// The face and glyph that set `c`: the first face of the chain that has
    /// it, or the first face's missing-glyph box when none does.
    pub(crate) fn resolve(&self, chain: &[u16], c: char) -> (u16, GlyphId) {
        for &face_id in chain {
            let glyph = self.face(face_id).font.glyph_id(c);
            if glyph != GlyphId(0) {
                return (face_id, glyph);
            }
        }
        (chain.first().copied().unwrap_or(0), GlyphId(0))
    }
}

impl fmt::Debug for FontBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faces: Vec<&str> = self.faces.iter().map(|face| face.label.as_str()).collect();
        f.debug_struct("FontBook")
            .field("families", &self.families.keys().collect::<Vec<_>>())
            .field("faces", &faces)
            .finish()
    }
}

/// One loaded face, with the metrics layout needs in em units.
pub(crate) struct Face {
    /// `file#index`, for messages.
    pub(crate) label: String,
    pub(crate) font: FontVec,
    pub(crate) units_per_em: f32,
    kerning: GposKerning,
}

impl Face {
    fn load(dir: &Path, entry: &FaceEntry) -> Result<Face, RenderError> {
        let fail = |reason: String| RenderError::FontFile {
            file: entry.file.clone(),
            reason,
        };
        // A font is named by its file name alone, so fonts.toml cannot reach
        // outside the fonts directory.
        let plain_name = Path::new(&entry.file)
            .file_name()
            .is_some_and(|name| name == entry.file.as_str());
        if !plain_name || entry.file.starts_with('.') {
            return Err(fail(
                "must be a plain file name inside the fonts directory".into(),
            ));
        }
        let bytes = std::fs::read(dir.join(&entry.file)).map_err(|e| fail(e.to_string()))?;
        let font = FontVec::try_from_vec_and_index(bytes, entry.index)
            .map_err(|e| fail(format!("face {}: {e}", entry.index)))?;
        let units_per_em = font
            .units_per_em()
            .filter(|units| *units > 0.0)
            .ok_or_else(|| fail(format!("face {} has no units per em", entry.index)))?;
        let kerning = GposKerning::load(font.as_slice(), entry.index);
        Ok(Face {
            label: format!("{}#{}", entry.file, entry.index),
            font,
            units_per_em,
            kerning,
        })
    }

    /// The kerning between two glyphs set one after the other, in font
    /// units: from GPOS when the font has a `kern` feature there, from the
    /// legacy `kern` table otherwise.
    pub(crate) fn kern_unscaled(&self, first: GlyphId, second: GlyphId) -> f32 {
        if self.kerning.is_present() {
            f32::from(self.kerning.pair(self.font.as_slice(), first, second))
        } else {
            self.font.kern_unscaled(first, second)
        }
    }

    /// Converts a distance in font units to em.
    pub(crate) fn em(&self, font_units: f32) -> f32 {
        font_units / self.units_per_em
    }
}

/// A family's two chains, as face ids into [`FontBook::faces`].
struct Family {
    regular: Vec<u16>,
    bold: Vec<u16>,
}

/// The shape of `fonts.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    families: BTreeMap<String, FamilyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyEntry {
    regular: Vec<FaceEntry>,
    bold: Vec<FaceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaceEntry {
    file: String,
    #[serde(default)]
    index: u32,
}
