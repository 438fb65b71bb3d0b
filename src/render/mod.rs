//! Pixels: turns a [`RenderPlan`] into PNG or JPEG bytes.
//!
//! This module does no I/O and knows nothing of HTTP, Redis or recipients.
//! (Skeleton: the implementation lands with the renderer.)

mod plan;

use std::path::Path;

pub use plan::{
    Color, Fit, Frame, HorizontalAlign, ImageLayer, InvalidColor, Layer, OutputFormat, RectLayer,
    RenderKey, RenderPlan, TextLayer, TextStyle, VerticalAlign, Weight,
};

/// A bundled image, decoded once at template load.
#[derive(Debug)]
pub struct Asset {
    pub name: String,
    /// SHA-256 of the file's bytes; part of every render key that uses it.
    pub content_hash: [u8; 32],
    pub width: u32,
    pub height: u32,
}

impl Asset {
    /// Decodes an image file's bytes (PNG or JPEG).
    pub fn decode(name: &str, bytes: &[u8]) -> Result<Asset, RenderError> {
        let _ = bytes;
        Err(RenderError::Asset {
            name: name.to_string(),
            reason: "not implemented".into(),
        })
    }
}

/// The bundled fonts, by family and weight, with their fallback chains.
#[derive(Debug)]
pub struct FontBook {}

impl FontBook {
    /// Loads `fonts.toml` and the fonts it names from `dir`.
    pub fn load(dir: &Path) -> Result<FontBook, RenderError> {
        Err(RenderError::Font {
            reason: format!("{}: not implemented", dir.display()),
        })
    }
    pub fn has_family(&self, family: &str) -> bool {
        let _ = family;
        false
    }
    /// The characters of `text` that no font of the family's chain has.
    pub fn missing_chars(&self, family: &str, weight: Weight, text: &str) -> Vec<char> {
        let _ = (family, weight);
        text.chars().collect()
    }
}

/// Renders plans with a font book and a glyph cache. Shared by all threads.
#[derive(Debug)]
pub struct Renderer {
    fonts: FontBook,
}

impl Renderer {
    pub fn new(fonts: FontBook) -> Renderer {
        Renderer { fonts }
    }
    pub fn fonts(&self) -> &FontBook {
        &self.fonts
    }
    pub fn render(&self, plan: &RenderPlan) -> Result<Vec<u8>, RenderError> {
        let _ = plan;
        Err(RenderError::Encode {
            reason: "not implemented".into(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("asset {name}: {reason}")]
    Asset { name: String, reason: String },
    #[error("fonts: {reason}")]
    Font { reason: String },
    #[error("unknown font family {0:?}")]
    UnknownFamily(String),
    #[error("canvas {width}x{height} at {scale}x is too large")]
    TooLarge { width: u32, height: u32, scale: u32 },
    #[error("encoding failed: {reason}")]
    Encode { reason: String },
}
