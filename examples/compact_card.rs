//! What re-encoding a hot PNG (`render::recompress`) gains and costs on the
//! benchmarks' reference card: renders it `count` times, each for another
//! recipient, re-encodes each, checks the pixels are the same, and prints
//! the median bytes of both encodings and the median time of each, as one
//! line of JSON.
//!
//! ```text
//! cargo run --release --example compact_card -- 50
//! cargo run --release --example compact_card -- 20 levels
//! ```
//!
//! With `levels`, it also prints a line for each zlib level and row-filter
//! rule the `png` crate offers (the same decode, another encoder setting):
//! what `render::recompress` chose its setting from.

use std::time::Instant;

use opentime::render::recompress::compact_png;
use opentime::render::{OutputFormat, Renderer};

// The shared file also builds the timer and the other wordings, which only
// the benchmarks use.
#[allow(dead_code)]
#[path = "../benches/support/cards.rs"]
mod cards;

use cards::{Wording, background, card_in, fonts};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|count| count.parse().expect("the count is a number"))
        .unwrap_or(50);
    let renderer = Renderer::new(fonts());
    let asset = background();
    let (mut fast_bytes, mut compact_bytes) = (Vec::new(), Vec::new());
    let (mut render_ms, mut compact_ms) = (Vec::new(), Vec::new());
    for n in 0..count as u64 {
        let plan = card_in(Wording::Reference, &asset, n, 1, OutputFormat::Png);
        let started = Instant::now();
        let fast = renderer.render(&plan).expect("the card renders");
        render_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let compact = compact_png(&fast).expect("the card can be made smaller");
        compact_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(pixels(&compact), pixels(&fast), "card {n}: the same pixels");
        fast_bytes.push(fast.len() as f64);
        compact_bytes.push(compact.len() as f64);
    }
    println!(
        "{{\"cards\":{count},\"fast_bytes\":{},\"compact_bytes\":{},\"render_ms\":{:.3},\"compact_ms\":{:.3}}}",
        median(fast_bytes),
        median(compact_bytes),
        median(render_ms),
        median(compact_ms),
    );
    if std::env::args().nth(2).as_deref() == Some("levels") {
        compare_levels(&renderer, &asset, count as u64);
    }
}

/// The median bytes and time of every level, with each row-filter rule.
fn compare_levels(
    renderer: &Renderer,
    asset: &std::sync::Arc<opentime::render::Asset>,
    count: u64,
) {
    let cards: Vec<Vec<u8>> = (0..count)
        .map(|n| {
            let plan = card_in(Wording::Reference, asset, n, 1, OutputFormat::Png);
            renderer.render(&plan).expect("the card renders")
        })
        .collect();
    for level in 1..=9 {
        for (rule, filter) in [
            ("sum_of_differences", png::Filter::Adaptive),
            ("min_entropy", png::Filter::MinEntropy),
        ] {
            let (mut bytes, mut ms) = (Vec::new(), Vec::new());
            for card in &cards {
                let started = Instant::now();
                let encoded = encode_at(card, level, filter);
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
                bytes.push(encoded.len() as f64);
            }
            println!(
                "{{\"level\":{level},\"filter\":\"{rule}\",\"bytes\":{},\"ms\":{:.3}}}",
                median(bytes),
                median(ms)
            );
        }
    }
}

/// `card` decoded and written again at `level` with `filter`.
fn encode_at(card: &[u8], level: u8, filter: png::Filter) -> Vec<u8> {
    let decoder = png::Decoder::new(std::io::Cursor::new(card));
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut rows = vec![0; reader.output_buffer_size().expect("a small image")];
    let frame = reader.next_frame(&mut rows).expect("its rows decode");
    let mut encoded = Vec::new();
    let mut encoder = png::Encoder::new(&mut encoded, frame.width, frame.height);
    encoder.set_color(frame.color_type);
    encoder.set_depth(frame.bit_depth);
    encoder.set_deflate_compression(png::DeflateCompression::Level(level));
    encoder.set_filter(filter);
    let mut writer = encoder.write_header().expect("a valid header");
    writer
        .write_image_data(&rows[..frame.buffer_size()])
        .expect("the rows fit the header");
    writer.finish().expect("the file ends");
    encoded
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The decoded rows of a PNG, checksums verified.
fn pixels(png: &[u8]) -> Vec<u8> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut rows = vec![0; reader.output_buffer_size().expect("a small image")];
    let frame = reader.next_frame(&mut rows).expect("its rows decode");
    rows.truncate(frame.buffer_size());
    rows
}
