//! The font book: the bundled fonts and each family's fallback chains.
//!
//! `fonts.toml` names, for every family, a regular and a bold chain of font
//! files (with a face index for collections). Each grapheme (a letter with its
//! marks, an emoji sequence) is set in the first font of its chain that has
//! every glyph it needs, which is how a name in any bundled script never
//! shows a box and a mark never lands in a different font from its base.
//! Fonts are read and validated once, at load, so a bad bundle fails at
//! startup and not at the first open.
//!
//! A face is parsed twice over the same bytes: by rustybuzz, which shapes
//! (substitutes and positions glyphs from GSUB and GPOS), and by ab_glyph,
//! which draws outlines. `self_cell` keeps both borrows next to the bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ab_glyph::{Font, FontRef, GlyphId};
use serde::Deserialize;

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
    /// once, in order of first appearance. Whitespace, control characters
    /// and invisible format characters (joiners, variation selectors, bidi
    /// marks) are never drawn, so they are never missing. For an unknown
    /// family every drawable character is missing.
    pub fn missing_chars(&self, family: &str, weight: Weight, text: &str) -> Vec<char> {
        let chain = self.chain(family, weight);
        let mut missing = Vec::new();
        for c in text.chars() {
            if !needs_glyph(c) || missing.contains(&c) {
                continue;
            }
            let found = chain.is_some_and(|chain| {
                chain
                    .iter()
                    .any(|&face_id| self.face(face_id).glyph_index(c).is_some())
            });
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

    /// The face that sets `grapheme`: the first face of `chain` that has a
    /// glyph for every character it needs. `preferred`, the face of the
    /// grapheme before, wins when it has them all and the grapheme is
    /// punctuation, a digit or a space (no script of its own), so that the
    /// space between two Arabic words stays in the Arabic run (unless the
    /// face before is an emoji font). Emoji try the emoji faces first. When no face has them all, the face that has
    /// the first character is used, and when none has that either, the
    /// first face, whose missing glyph the drawing then leaves out.
    pub(crate) fn face_for(
        &self,
        chain: &[u16],
        grapheme: &str,
        preferred: Option<u16>,
        common: bool,
    ) -> u16 {
        let covers = |face_id: u16| {
            let face = self.face(face_id);
            grapheme
                .chars()
                .filter(|&c| needs_glyph(c))
                .all(|c| face.glyph_index(c).is_some())
        };
        // Emoji fonts' spaces and digits are emoji-wide, so they are never
        // kept for the space after an emoji.
        let keep_preferred = |face_id: u16| !self.face(face_id).emoji && covers(face_id);
        if common && let Some(face_id) = preferred.filter(|&face_id| keep_preferred(face_id)) {
            return face_id;
        }
        if is_emoji(grapheme)
            && let Some(&face_id) = chain
                .iter()
                .find(|&&face_id| self.face(face_id).emoji && covers(face_id))
        {
            return face_id;
        }
        if let Some(&face_id) = chain.iter().find(|&&face_id| covers(face_id)) {
            return face_id;
        }
        let first = grapheme.chars().find(|&c| needs_glyph(c));
        first
            .and_then(|c| {
                chain
                    .iter()
                    .copied()
                    .find(|&face_id| self.face(face_id).glyph_index(c).is_some())
            })
            .unwrap_or(chain.first().copied().unwrap_or(0))
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

/// One loaded face: its bytes, parsed for shaping and for drawing.
pub(crate) struct Face {
    /// `file#index`, for messages.
    pub(crate) label: String,
    parsed: ParsedFace,
    pub(crate) units_per_em: f32,
    /// Tried first for emoji (`emoji = true` in `fonts.toml`).
    pub(crate) emoji: bool,
    /// Its glyphs are color bitmaps (CBDT or sbix), not outlines.
    pub(crate) color: bool,
}

self_cell::self_cell!(
    /// The font file's bytes and the two parsers that borrow them.
    struct ParsedFace {
        owner: Vec<u8>,
        #[covariant]
        dependent: Parsers,
    }
);

struct Parsers<'a> {
    shaper: rustybuzz::Face<'a>,
    outlines: FontRef<'a>,
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
        let parsed = ParsedFace::try_new(bytes, |bytes| {
            let outlines = FontRef::try_from_slice_and_index(bytes, entry.index)
                .map_err(|e| fail(format!("face {}: {e}", entry.index)))?;
            let shaper = rustybuzz::Face::from_slice(bytes, entry.index)
                .ok_or_else(|| fail(format!("face {} cannot be shaped", entry.index)))?;
            Ok::<_, RenderError>(Parsers { shaper, outlines })
        })?;
        let units_per_em = parsed
            .borrow_dependent()
            .outlines
            .units_per_em()
            .filter(|units| *units > 0.0)
            .ok_or_else(|| fail(format!("face {} has no units per em", entry.index)))?;
        let tables = parsed.borrow_dependent().shaper.tables();
        let color = tables.cbdt.is_some() || tables.sbix.is_some();
        Ok(Face {
            label: format!("{}#{}", entry.file, entry.index),
            parsed,
            units_per_em,
            emoji: entry.emoji,
            color,
        })
    }

    /// The face as rustybuzz shapes with it.
    pub(crate) fn shaper(&self) -> &rustybuzz::Face<'_> {
        &self.parsed.borrow_dependent().shaper
    }

    /// The face as ab_glyph draws and measures it.
    pub(crate) fn outlines(&self) -> &FontRef<'_> {
        &self.parsed.borrow_dependent().outlines
    }

    /// The glyph for `c`, if the face has one.
    pub(crate) fn glyph_index(&self, c: char) -> Option<GlyphId> {
        let glyph = self.outlines().glyph_id(c);
        (glyph != GlyphId(0)).then_some(glyph)
    }

    /// Converts a distance in font units to em.
    pub(crate) fn em(&self, font_units: f32) -> f32 {
        font_units / self.units_per_em
    }
}

/// Whether `c` is drawn with a glyph of its own. Whitespace and controls
/// are not, and neither are the invisible format characters that only steer
/// shaping: joiners, variation selectors, bidi marks and emoji tag
/// characters. A font need not have these for a grapheme to be "covered".
pub(crate) fn needs_glyph(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{AD}'
                | '\u{34F}'
                | '\u{61C}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{E0000}'..='\u{E0FFF}'
        ))
}

/// Whether a grapheme should be set as emoji: it asks for emoji
/// presentation (U+FE0F), joins pictographs (U+200D), carries a skin tone,
/// or starts with a character from the emoji blocks, which text fonts only
/// have as plain symbols if at all.
fn is_emoji(grapheme: &str) -> bool {
    let mut chars = grapheme.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let pictographic_block = matches!(first, '\u{1F000}'..='\u{1FAFF}');
    pictographic_block
        || grapheme.chars().any(|c| {
            matches!(
                c,
                '\u{FE0F}' | '\u{200D}' | '\u{20E3}' | '\u{1F3FB}'..='\u{1F3FF}'
            )
        })
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
    #[serde(default)]
    emoji: bool,
}
