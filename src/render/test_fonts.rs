//! What the renderer's unit tests (and the render cache's) share: the
//! bundled font book, loaded once, a plain text style, the photo card.

use std::path::Path;
use std::sync::OnceLock;

use std::sync::Arc;

use crate::render::{
    Asset, Color, EmojiStyle, Fit, FontBook, Frame, HorizontalAlign, ImageLayer, Layer,
    OutputFormat, RenderPlan, TextDirection, TextStyle, VerticalAlign, Weight,
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

/// The benchmarks' photo background alone, 600x200, with corners of
/// `radius` (0: opaque, written as RGB; rounded: transparent corners,
/// RGBA): a PNG that re-encodes smaller.
pub(crate) fn photo_plan(radius: f32) -> RenderPlan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let photo = std::fs::read(root.join("assets/images/card-background.png"))
        .expect("the photo is in the repository");
    let asset = Asset::decode("card-background.png", &photo).expect("the photo decodes");
    RenderPlan {
        width: 600,
        height: 200,
        scale: 1,
        format: OutputFormat::Png,
        fixed: Vec::new(),
        layers: vec![Layer::Image(ImageLayer {
            frame: Frame {
                x: 0.0,
                y: 0.0,
                width: 600.0,
                height: 200.0,
            },
            asset: Arc::new(asset),
            fit: Fit::Cover,
            radius,
            opacity: 1.0,
        })],
    }
}
