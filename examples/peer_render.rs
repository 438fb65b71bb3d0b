//! opentime's side of the peer comparison (`loadtest/peers.sh`): renders
//! the benchmarks' reference card, flat card, the open spike's loyalty
//! card or the reference timer `count` times, cold, and prints the time of
//! each render in the same one-line JSON as the Pillow and takumi peers in
//! `loadtest/peers/`. The loyalty card is byte for byte what the server
//! renders of `assets/templates/loyalty.json` for a member named "Алёна
//! Martin n" with the card's points and tier.
//!
//! ```text
//! cargo build --release --example peer_render
//! target/release/examples/peer_render card 200 /tmp/opentime-card.png
//! target/release/examples/peer_render flat 200 /tmp/opentime-flat.png
//! target/release/examples/peer_render loyalty 200 /tmp/opentime-loyalty.png
//! target/release/examples/peer_render timer 20 /tmp/opentime-timer.gif
//! ```
//!
//! Card `n` thanks recipient `n` and timer `k` starts `k` seconds before
//! three days, so every render is a new image that no cache could answer.
//! The cards' fixed layers (the reference card's background, the flat
//! card's white and heading, the loyalty card's gradient and panel) are drawn and compressed once by the first
//! render and kept, as in the server; the rows the recipient's text
//! touches are drawn and compressed for each card.
//! Fonts are loaded and the background decoded before the clock starts, and
//! two unmeasured renders (numbers past the measured ones) warm the glyph
//! cache and the background's resize, as in a server that has rendered
//! anything before. Each measured time is one render and its encoding, on
//! this thread. The first measured image is written to the output file and
//! its size is the `bytes` of the result.

use std::time::Instant;

use opentime::render::{OutputFormat, Renderer};

// The shared file also builds the Arabic and Devanagari wordings, which
// only the benchmarks draw.
#[allow(dead_code)]
#[path = "../benches/support/cards.rs"]
mod cards;

use cards::{
    Wording, background, card_in, flat_card, fonts, loyalty_background, loyalty_card, sale_timer,
};

/// Unmeasured renders before the measured ones.
const WARM_UP_RENDERS: u64 = 2;

/// Seconds left at the first frame of timer number 0.
const TIMER_START_SECONDS: i64 = 3 * 86_400;

#[derive(Clone, Copy)]
enum Case {
    Card,
    Flat,
    Loyalty,
    Timer,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Card => "card",
            Case::Flat => "flat",
            Case::Loyalty => "loyalty",
            Case::Timer => "timer",
        }
    }

    /// The image format's name and the bytes every such file starts with.
    fn format(self) -> (&'static str, &'static [u8]) {
        match self {
            Case::Card | Case::Flat | Case::Loyalty => ("PNG", b"\x89PNG\r\n\x1a\n"),
            Case::Timer => ("GIF", b"GIF89a"),
        }
    }
}

fn main() {
    let (case, count, output) = match parse_args(std::env::args().skip(1).collect()) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\nusage: peer_render card|flat|loyalty|timer COUNT OUTFILE");
            std::process::exit(2);
        }
    };
    let renderer = Renderer::new(fonts());
    let asset = background();
    let loyalty_asset = loyalty_background();
    let render = |number: u64| match case {
        Case::Card => renderer
            .render(&card_in(
                Wording::Reference,
                &asset,
                number,
                1,
                OutputFormat::Png,
            ))
            .expect("the reference card renders"),
        Case::Flat => renderer
            .render(&flat_card(number, 1))
            .expect("the flat card renders"),
        Case::Loyalty => renderer
            .render(&loyalty_card(&loyalty_asset, number))
            .expect("the loyalty card renders"),
        Case::Timer => renderer
            .render_timer(&sale_timer(TIMER_START_SECONDS - number as i64))
            .expect("the reference timer renders"),
    };

    for number in count..count + WARM_UP_RENDERS {
        render(number);
    }
    let mut times_ms = Vec::with_capacity(count as usize);
    let mut sample = Vec::new();
    for number in 0..count {
        let started = Instant::now();
        let image = render(number);
        times_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        check_image(case, &image, number);
        if number == 0 {
            sample = image;
        }
    }
    if let Err(error) = std::fs::write(&output, &sample) {
        eprintln!("cannot write {output}: {error}");
        std::process::exit(1);
    }
    let result = serde_json::json!({
        "renderer": "opentime",
        "version": env!("CARGO_PKG_VERSION"),
        "case": case.name(),
        "times_ms": times_ms,
        "bytes": sample.len(),
    });
    println!("{result}");
}

fn parse_args(args: Vec<String>) -> Result<(Case, u64, String), String> {
    let [case, count, output] = args.as_slice() else {
        return Err("expected three arguments".into());
    };
    let case = match case.as_str() {
        "card" => Case::Card,
        "flat" => Case::Flat,
        "loyalty" => Case::Loyalty,
        "timer" => Case::Timer,
        other => return Err(format!("unknown case {other:?}")),
    };
    let count = match count.parse() {
        Ok(count) if count > 0 => count,
        _ => {
            return Err(format!(
                "the count must be a positive number, not {count:?}"
            ));
        }
    };
    Ok((case, count, output.clone()))
}

/// Stops the run when an image is not the PNG or GIF it should be, so a
/// broken render is never timed as a fast one.
fn check_image(case: Case, image: &[u8], number: u64) {
    let (format, signature) = case.format();
    if !image.starts_with(signature) {
        let bytes = image.len();
        eprintln!(
            "{} number {number} is not a {format} ({bytes} bytes)",
            case.name()
        );
        std::process::exit(1);
    }
}
