//! Renders the benchmarks' reference card cold, again and again, for
//! profilers that count rather than time: `valgrind --tool=callgrind`
//! counts the same instructions on every run, whatever else the machine is
//! doing, where wall-clock benchmarks on a shared machine drift by several
//! percent.
//!
//! ```text
//! cargo build --release --example render_cards
//! valgrind --tool=callgrind target/release/examples/render_cards latin 100
//! valgrind --tool=callgrind target/release/examples/render_cards latin 400
//! ```
//!
//! The difference of the two totals divided by 300 is the instructions of
//! one cold render, without font loading and decoding. The wording is
//! `latin` (the reference card), `arabic` or `devanagari`, or `timer` for
//! the reference countdown (60 GIF frames).

use std::hint::black_box;

use opentime::render::{OutputFormat, Renderer};

// The shared file also builds the flat card, which only the benchmarks
// and the peers draw.
#[allow(dead_code)]
#[path = "../benches/support/cards.rs"]
mod cards;

use cards::{Wording, background, card_in, fonts, sale_timer};

fn main() {
    let mut args = std::env::args().skip(1);
    let wording = match args.next().as_deref() {
        Some("arabic") => Some(Wording::Arabic),
        Some("devanagari") => Some(Wording::Devanagari),
        Some("latin") | None => Some(Wording::Reference),
        Some("timer") => None,
        Some(other) => {
            eprintln!("unknown wording {other:?}: latin, arabic, devanagari or timer");
            std::process::exit(2);
        }
    };
    let count: u64 = match args.next().map(|text| text.parse()) {
        None => 300,
        Some(Ok(count)) => count,
        Some(Err(_)) => {
            eprintln!("the count must be a whole number");
            std::process::exit(2);
        }
    };
    let renderer = Renderer::new(fonts());
    let asset = background();
    for n in 0..count {
        match wording {
            Some(wording) => {
                let plan = card_in(wording, &asset, n, 1, OutputFormat::Png);
                black_box(renderer.render(&plan).expect("the card renders"));
            }
            None => {
                let plan = sale_timer(86_400 * 3 - n as i64);
                black_box(renderer.render_timer(&plan).expect("the timer renders"));
            }
        }
    }
}
