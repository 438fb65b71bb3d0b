//! The reference card of the benchmarks and the profiling example: a
//! 600x200 PNG with a background image (cover) and two lines of text, the
//! shape of most open-time images, in three wordings. Shared by
//! `benches/render.rs` and `examples/render_cards.rs` so both measure the
//! same card.

use std::path::Path;
use std::sync::Arc;

use opentime::render::{
    Asset, Color, CountdownLayer, DigitBox, EmojiStyle, Fit, FontBook, Frame, HorizontalAlign,
    ImageLayer, Layer, OutputFormat, RectLayer, RenderPlan, TextDirection, TextLayer, TextStyle,
    TimeUnit, TimerPlan, VerticalAlign, Weight,
};
use opentime::words::plural::PluralForms;

pub fn fonts() -> FontBook {
    FontBook::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).expect("fonts load")
}

pub fn background() -> Arc<Asset> {
    decoded("assets/images/card-background.png")
}

/// The image at `path` in the repository, decoded.
fn decoded(path: &str) -> Arc<Asset> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let bytes = std::fs::read(&path).expect("the image exists");
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("");
    Arc::new(Asset::decode(name, &bytes).expect("decodes"))
}

/// `asset` covering a whole 600x200 card.
fn cover(asset: &Arc<Asset>) -> Layer {
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
    })
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
pub enum Wording {
    /// The reference card: Latin and Cyrillic.
    Reference,
    Arabic,
    Devanagari,
}

impl Wording {
    pub fn lines(self, n: u64) -> (String, String) {
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

/// The reference card's layout with `wording`.
pub fn card_in(
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
        fixed: vec![true, false, false],
        layers: vec![
            cover(asset),
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

/// The flat card: 600x200 of white with a fixed heading and one line
/// that names recipient `n`, both dark. Only the second line changes from
/// one recipient to the next, so an incremental render draws and
/// compresses only its rows.
pub fn flat_card(n: u64, scale: u32) -> RenderPlan {
    let dark = Color::rgba(31, 41, 55, 255);
    let heading = style(Weight::Bold, 32.0, dark, VerticalAlign::Bottom);
    let line = style(Weight::Regular, 22.0, dark, VerticalAlign::Top);
    let full = Frame {
        x: 0.0,
        y: 0.0,
        width: 600.0,
        height: 200.0,
    };
    RenderPlan {
        width: 600,
        height: 200,
        scale,
        format: OutputFormat::Png,
        fixed: vec![true, true, false],
        layers: vec![
            Layer::Rect(RectLayer {
                frame: full,
                fill: Color::WHITE,
                radius: 0.0,
            }),
            Layer::Text(TextLayer {
                frame: Frame {
                    x: 24.0,
                    y: 30.0,
                    width: 552.0,
                    height: 70.0,
                },
                text: "Your order is on its way".to_string(),
                style: heading,
            }),
            Layer::Text(TextLayer {
                frame: Frame {
                    x: 24.0,
                    y: 110.0,
                    width: 552.0,
                    height: 60.0,
                },
                text: format!("Thank you, Алёна {n}!"),
                style: line,
            }),
        ],
    }
}

/// The open spike's loyalty card (`assets/templates/loyalty.json`, its
/// member variant): a 600x200 gradient with soft lights, a translucent
/// panel, and four lines for recipient `n` (name, points, tier, points to
/// the next tier) that cover most of its rows.
pub fn loyalty_card(asset: &Arc<Asset>, n: u64) -> RenderPlan {
    let gold = Color::rgba(236, 190, 90, 255);
    let line = |weight, size: f32, min_size: f32, color, align| TextStyle {
        min_size,
        align,
        max_lines: None,
        wrap: false,
        ..style(weight, size, color, VerticalAlign::Top)
    };
    let text = |(x, y, width, height), text: String, style| {
        Layer::Text(TextLayer {
            frame: Frame {
                x,
                y,
                width,
                height,
            },
            text,
            style,
        })
    };
    let points = 100 + (n * 37) % 20_000;
    let to_gold = if points >= 10_000 {
        "Free shipping on every order".to_string()
    } else {
        format!("{} points to Gold", grouped(10_000 - points))
    };
    let tiers = ["MEMBER", "SILVER", "GOLD", "PLATINUM"];
    let left = HorizontalAlign::Left;
    RenderPlan {
        width: 600,
        height: 200,
        scale: 1,
        format: OutputFormat::Png,
        fixed: vec![true, true, false, false, false, false],
        layers: vec![
            cover(asset),
            Layer::Rect(RectLayer {
                frame: Frame {
                    x: 20.0,
                    y: 20.0,
                    width: 560.0,
                    height: 160.0,
                },
                fill: Color::rgba(255, 255, 255, 20),
                radius: 18.0,
            }),
            text(
                (44.0, 36.0, 380.0, 48.0),
                format!("Алёна Martin {n}"),
                line(Weight::Bold, 32.0, 18.0, Color::WHITE, left),
            ),
            text(
                (44.0, 92.0, 380.0, 60.0),
                format!("{} points", grouped(points)),
                line(Weight::Bold, 44.0, 24.0, gold, left),
            ),
            text(
                (380.0, 40.0, 176.0, 32.0),
                tiers[(n % 4) as usize].to_string(),
                TextStyle {
                    letter_spacing: 2.0,
                    ..line(Weight::Bold, 18.0, 18.0, gold, HorizontalAlign::Right)
                },
            ),
            text(
                (44.0, 150.0, 512.0, 24.0),
                to_gold,
                line(
                    Weight::Regular,
                    16.0,
                    16.0,
                    Color::rgba(230, 220, 240, 255),
                    left,
                ),
            ),
        ],
    }
}

/// `number` with a comma between groups of three digits, as the
/// template's `number` filter writes it in English.
fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The loyalty card's background, decoded.
pub fn loyalty_background() -> Arc<Asset> {
    decoded("assets/templates/images/loyalty-bg.png")
}

/// The reference timer: 600x150 on a flat background, days, hours, minutes
/// and seconds in boxes with labels, 60 frames, `remaining` seconds left.
pub fn sale_timer(remaining: i64) -> TimerPlan {
    sale_timer_with(remaining, 60, ["days", "hours", "minutes", "seconds"])
}

/// The reference timer with `frames` frames and the four units' `labels`.
pub fn sale_timer_with(remaining: i64, frames: u32, labels: [&str; 4]) -> TimerPlan {
    let digits = TextStyle {
        min_size: 48.0,
        max_lines: Some(1),
        wrap: false,
        ..style(Weight::Bold, 48.0, Color::WHITE, VerticalAlign::Middle)
    };
    let label_style = TextStyle {
        min_size: 16.0,
        ..style(
            Weight::Regular,
            16.0,
            Color::rgba(200, 210, 255, 255),
            VerticalAlign::Middle,
        )
    };
    TimerPlan {
        base: RenderPlan {
            width: 600,
            height: 150,
            scale: 1,
            format: OutputFormat::Png,
            fixed: Vec::new(),
            layers: vec![Layer::Rect(RectLayer {
                frame: Frame {
                    x: 0.0,
                    y: 0.0,
                    width: 600.0,
                    height: 150.0,
                },
                fill: Color::rgba(20, 24, 64, 255),
                radius: 0.0,
            })],
        },
        countdown: CountdownLayer {
            frame: Frame {
                x: 30.0,
                y: 15.0,
                width: 540.0,
                height: 120.0,
            },
            units: vec![
                TimeUnit::Days,
                TimeUnit::Hours,
                TimeUnit::Minutes,
                TimeUnit::Seconds,
            ],
            labels: labels
                .iter()
                .map(|label| PluralForms::plain(*label))
                .collect(),
            locale: String::new(),
            digits,
            label_style,
            digit_box: Some(DigitBox {
                fill: Color::rgba(60, 70, 160, 255),
                radius: 10.0,
            }),
            separator: ":".into(),
            pad: 2,
            gap: 24.0,
            hide_leading_zero_units: false,
        },
        remaining,
        frames,
        looping: true,
    }
}
