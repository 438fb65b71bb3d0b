//! Benchmarks of the renderer on the reference card: a 600x200 PNG with a
//! background image (cover) and two lines of text, the shape of most
//! open-time images.
//!
//! "cold render" is the steady state of a server: every iteration renders a
//! new text (so no render cache could answer, and the shaping cache misses
//! both lines) with the glyph cache and the asset's resize cache warm. The
//! Arabic and Devanagari cards are the same card in scripts that need
//! shaping. "fully cold" also starts from a fresh renderer
//! and a freshly decoded asset (font loading and decoding are left out of
//! the timing). Run with `cargo bench --bench render`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use opentime::render::{
    Asset, Color, EmojiStyle, Fit, FontBook, Frame, HorizontalAlign, ImageLayer, Layer,
    OutputFormat, RenderPlan, Renderer, TextDirection, TextLayer, TextStyle, VerticalAlign, Weight,
};

fn fonts() -> FontBook {
    FontBook::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).expect("fonts load")
}

fn background() -> Arc<Asset> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/images/card-background.png");
    let bytes = std::fs::read(path).expect("the background exists");
    Arc::new(Asset::decode("card-background.png", &bytes).expect("decodes"))
}

fn style(weight: Weight, size: f32, color: Color, vertical_align: VerticalAlign) -> TextStyle {
    TextStyle {
        family: "sans".into(),
        weight,
        size,
        min_size: size * 0.75,
        color,
        align: HorizontalAlign::Center,
        vertical_align,
        direction: TextDirection::Auto,
        emoji: EmojiStyle::Color,
        line_height: 1.25,
        letter_spacing: 0.0,
        max_lines: Some(2),
        wrap: true,
    }
}

/// The wording of a card in one language, for recipient number `n`.
#[derive(Clone, Copy)]
enum Wording {
    /// The reference card: Latin and Cyrillic.
    Reference,
    Arabic,
    Devanagari,
}

impl Wording {
    fn lines(self, n: u64) -> (String, String) {
        match self {
            Wording::Reference => (
                format!("Thank you, Алёна {n}!"),
                format!("Your renewal #{n} went through. See you next year."),
            ),
            Wording::Arabic => (
                format!("شكرًا لتجديد اشتراكك يا ليلى {n}!"),
                format!("تم تجديد اشتراكك رقم {n}. نراك في العام القادم."),
            ),
            Wording::Devanagari => (
                format!("धन्यवाद, प्रिया {n}!"),
                format!("आपका नवीनीकरण #{n} पूरा हुआ। अगले साल मिलते हैं।"),
            ),
        }
    }
}

/// The reference card, thanking recipient number `n`.
fn card(asset: &Arc<Asset>, n: u64, scale: u32, format: OutputFormat) -> RenderPlan {
    card_in(Wording::Reference, asset, n, scale, format)
}

/// The reference card's layout with `wording`.
fn card_in(
    wording: Wording,
    asset: &Arc<Asset>,
    n: u64,
    scale: u32,
    format: OutputFormat,
) -> RenderPlan {
    let (headline_text, subline_text) = wording.lines(n);
    let headline = style(Weight::Bold, 36.0, Color::WHITE, VerticalAlign::Bottom);
    let subline = style(
        Weight::Regular,
        20.0,
        Color::rgba(255, 255, 255, 220),
        VerticalAlign::Top,
    );
    RenderPlan {
        width: 600,
        height: 200,
        scale,
        format,
        layers: vec![
            Layer::Image(ImageLayer {
                frame: Frame {
                    x: 0.0,
                    y: 0.0,
                    width: 600.0,
                    height: 200.0,
                },
                asset: Arc::clone(asset),
                fit: Fit::Cover,
                radius: 0.0,
                opacity: 1.0,
            }),
            Layer::Text(TextLayer {
                frame: Frame {
                    x: 24.0,
                    y: 30.0,
                    width: 552.0,
                    height: 70.0,
                },
                text: headline_text,
                style: headline,
            }),
            Layer::Text(TextLayer {
                frame: Frame {
                    x: 24.0,
                    y: 110.0,
                    width: 552.0,
                    height: 60.0,
                },
                text: subline_text,
                style: subline,
            }),
        ],
    }
}

fn bench_render(c: &mut Criterion) {
    let renderer = Renderer::new(fonts());
    let asset = background();
    let mut group = c.benchmark_group("card 600x200");

    // The Arabic and Devanagari cards are the reference card set in
    // scripts that need shaping: joining forms, right to left and a number
    // inside; conjuncts and reordered vowel signs.
    for (name, wording, scale, format) in [
        ("cold render", Wording::Reference, 1, OutputFormat::Png),
        ("cold render 2x", Wording::Reference, 2, OutputFormat::Png),
        ("cold render jpeg", Wording::Reference, 1, OutputFormat::Jpeg),
        ("cold render arabic", Wording::Arabic, 1, OutputFormat::Png),
        ("cold render devanagari", Wording::Devanagari, 1, OutputFormat::Png),
    ] {
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                black_box(
                    renderer
                        .render(&card_in(wording, &asset, n, scale, format))
                        .expect("renders"),
                )
            })
        });
    }

    group.sample_size(20);
    let mut n = 0u64;
    group.bench_function("fully cold (fresh renderer and asset)", |b| {
        b.iter_batched(
            || {
                n += 1;
                let fresh_asset = background();
                (
                    Renderer::new(fonts()),
                    card(&fresh_asset, n, 1, OutputFormat::Png),
                )
            },
            |(renderer, plan)| black_box(renderer.render(&plan).expect("renders")),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
