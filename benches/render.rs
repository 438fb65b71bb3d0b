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
//! the timing). "flat" is a white card whose heading is fixed and whose
//! second line names the recipient; "loyalty" is the open spike's loyalty
//! card (`loadtest/spike.sh`); "whole" renders a card with no layer
//! marked fixed, every layer drawn and every row compressed, beside the
//! incremental render of the same card. Run with `cargo bench --bench
//! render`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use opentime::render::{OutputFormat, Renderer};

#[path = "support/cards.rs"]
mod cards;

use cards::{
    Wording, background, card_in, flat_card, fonts, loyalty_background, loyalty_card, sale_timer,
};

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
        (
            "cold render jpeg",
            Wording::Reference,
            1,
            OutputFormat::Jpeg,
        ),
        ("cold render arabic", Wording::Arabic, 1, OutputFormat::Png),
        (
            "cold render devanagari",
            Wording::Devanagari,
            1,
            OutputFormat::Png,
        ),
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

    // The flat card: white, a fixed heading, one line that changes.
    let mut n = 0u64;
    group.bench_function("cold render flat", |b| {
        b.iter(|| {
            n += 1;
            black_box(renderer.render(&flat_card(n, 1)).expect("renders"))
        })
    });

    // The open spike's loyalty card: four personalized lines over a
    // gradient and a translucent panel, most of its rows drawn anew.
    let loyalty_asset = loyalty_background();
    let mut n = 0u64;
    group.bench_function("cold render loyalty", |b| {
        b.iter(|| {
            n += 1;
            black_box(
                renderer
                    .render(&loyalty_card(&loyalty_asset, n))
                    .expect("renders"),
            )
        })
    });

    // The same two cards drawn whole: no layer marked fixed, so every
    // layer is drawn and every stripe compressed, as before incremental
    // renders; side by side with the two above in one run.
    let mut n = 0u64;
    group.bench_function("cold render whole", |b| {
        b.iter(|| {
            n += 1;
            let mut plan = card_in(Wording::Reference, &asset, n, 1, OutputFormat::Png);
            plan.fixed.clear();
            black_box(renderer.render(&plan).expect("renders"))
        })
    });
    let mut n = 0u64;
    group.bench_function("cold render flat whole", |b| {
        b.iter(|| {
            n += 1;
            let mut plan = flat_card(n, 1);
            plan.fixed.clear();
            black_box(renderer.render(&plan).expect("renders"))
        })
    });

    // A countdown GIF: 60 frames of the reference timer, each iteration a
    // new starting second, so no cache could answer.
    let mut remaining = 3 * 86_400 + 7_000i64;
    group.bench_function("timer 600x150, 60 frames", |b| {
        b.iter(|| {
            remaining -= 1;
            black_box(
                renderer
                    .render_timer(&sale_timer(remaining))
                    .expect("renders"),
            )
        })
    });

    group.sample_size(20);
    let mut n = 0u64;
    group.bench_function("fully cold (fresh renderer and asset)", |b| {
        b.iter_batched(
            || {
                n += 1;
                let fresh_asset = background();
                (
                    Renderer::new(fonts()),
                    card_in(Wording::Reference, &fresh_asset, n, 1, OutputFormat::Png),
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
