//! The ways loading fonts and assets, or rendering a plan, can fail.
//!
//! Every variant names the file, asset or limit at fault, because the people
//! who read these messages are template authors and operators fixing a
//! bundle, not the recipient who would only have seen a broken image.

/// Why a font, an asset or a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("asset {name}: {reason}")]
    Asset { name: String, reason: String },
    #[error("fonts: {reason}")]
    Font { reason: String },
    #[error("font file {file}: {reason}")]
    FontFile { file: String, reason: String },
    #[error("unknown font family {0:?}")]
    UnknownFamily(String),
    #[error("canvas {width}x{height} at {scale}x is too large")]
    TooLarge { width: u32, height: u32, scale: u32 },
    #[error("canvas {width}x{height} has no pixels")]
    EmptyCanvas { width: u32, height: u32 },
    #[error("scale {0} is not supported; use 1 or 2")]
    UnsupportedScale(u32),
    #[error("encoding failed: {reason}")]
    Encode { reason: String },
    #[error("timer: {reason}")]
    Timer { reason: String },
    /// A QR or Code 128 layer whose content cannot be encoded, or whose
    /// frame is too small to draw it at one canvas pixel per module or more.
    /// A scanner could not read a blurred or clipped code, so none is drawn.
    #[error("code: {reason}")]
    Code { reason: String },
}
