//! Countdown GIFs as a mail client decodes them: frame count, delays, the
//! loop flag, what each frame shows, and a golden image of the first frame.
//! Re-bless the golden frame with `OPENTIME_BLESS=1 cargo test --test timer_render`.

use std::path::Path;
use std::sync::OnceLock;

use opentime::render::{FontBook, Frame, Renderer, TimeUnit, TimerPlan};
use opentime::words::plural::{PluralCategory, PluralForms};

#[path = "../benches/support/cards.rs"]
#[allow(dead_code, reason = "the benchmarks use the still cards")]
mod cards;

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| {
        let fonts = FontBook::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"))
            .expect("fonts load");
        Renderer::new(fonts)
    })
}

/// The benchmarks' reference timer.
fn sale_timer(remaining: i64, frames: u32, labels: [&str; 4]) -> TimerPlan {
    cards::sale_timer_with(remaining, frames, labels)
}

/// Every frame of a GIF as whole RGBA images, as a viewer shows them, and
/// the frames' delays and the loop setting.
struct Decoded {
    frames: Vec<Vec<u8>>,
    delays: Vec<u16>,
    loops: bool,
    width: usize,
}

fn decode(bytes: &[u8]) -> Decoded {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(bytes).expect("a GIF");
    let (width, height) = (decoder.width() as usize, decoder.height() as usize);
    let mut screen = vec![0u8; width * height * 4];
    let mut frames = Vec::new();
    let mut delays = Vec::new();
    while let Some(frame) = decoder.read_next_frame().expect("frames decode") {
        for row in 0..frame.height as usize {
            for column in 0..frame.width as usize {
                let source = (row * frame.width as usize + column) * 4;
                if frame.buffer[source + 3] == 0 {
                    continue;
                }
                let x = frame.left as usize + column;
                let y = frame.top as usize + row;
                let target = (y * width + x) * 4;
                screen[target..target + 4].copy_from_slice(&frame.buffer[source..source + 4]);
            }
        }
        frames.push(screen.clone());
        delays.push(frame.delay);
    }
    Decoded {
        frames,
        delays,
        loops: decoder.repeat() == gif::Repeat::Infinite,
        width,
    }
}

const ENGLISH: [&str; 4] = ["days", "hours", "minutes", "seconds"];

/// Russian words for a number of days and of seconds, by plural category.
fn russian(one: &str, few: &str, many: &str) -> PluralForms {
    PluralForms::new([
        (PluralCategory::One, one.to_string()),
        (PluralCategory::Few, few.to_string()),
        (PluralCategory::Many, many.to_string()),
        (PluralCategory::Other, few.to_string()),
    ])
    .expect("other is given")
}

#[test]
fn russian_labels_agree_with_the_number_each_frame_shows() {
    // 3 days and 25 seconds: "03 дня" throughout, and the seconds go 25
    // секунд, 24 секунды, 23, 22 секунды, 21 секунда, 20 секунд.
    let remaining = 3 * 86_400 + 25;
    let mut plural = sale_timer(remaining, 6, ["", "часов", "минут", ""]);
    plural.countdown.locale = "ru".to_string();
    plural.countdown.labels[0] = russian("день", "дня", "дней");
    plural.countdown.labels[3] = russian("секунда", "секунды", "секунд");
    let gif = decode(&renderer().render_timer(&plural).expect("renders"));
    assert_eq!(gif.frames.len(), 6);
    let expected_seconds = [
        "секунд",
        "секунды",
        "секунды",
        "секунды",
        "секунда",
        "секунд",
    ];
    // A different word differs by far more than the palettes' rounding.
    let plain_frame = |left: i64, seconds_word: &str| {
        let plain = sale_timer(left, 1, ["дня", "часов", "минут", seconds_word]);
        decode(&renderer().render_timer(&plain).expect("renders"))
            .frames
            .remove(0)
    };
    for (index, seconds_word) in expected_seconds.iter().enumerate() {
        // The same second drawn with plain labels of the expected words.
        let left = remaining - index as i64;
        let gap = worst_gap(&gif.frames[index], &plain_frame(left, seconds_word));
        assert!(
            gap <= 24,
            "frame {index} ({left} s left) shows \"03 дня\" and \"{seconds_word}\" (off by {gap})"
        );
    }
    let wrong = worst_gap(&gif.frames[1], &plain_frame(remaining - 1, "секунд"));
    assert!(
        wrong > 24,
        "the test tells секунд from секунды (off by {wrong})"
    );
    // And the words really differ: "секунд" is not "секунды".
    assert!(gif.frames[0] != gif.frames[1]);
}

#[test]
fn sixty_frames_one_second_apart_that_loop() {
    let bytes = renderer()
        .render_timer(&sale_timer(2 * 86_400 + 3_723, 60, ENGLISH))
        .expect("renders");
    let gif = decode(&bytes);
    assert_eq!(gif.frames.len(), 60);
    assert!(gif.delays.iter().all(|&delay| delay == 100));
    assert!(gif.loops);
    eprintln!("reference timer: {} bytes", bytes.len());
    // Under the 50 KB target for this size.
    assert!(bytes.len() < 50_000, "{} bytes", bytes.len());
}

#[test]
fn each_frame_changes_only_the_seconds_until_a_minute_turns() {
    // 5 s past a whole minute: frames 1 to 5 change the seconds only, and
    // frame 6 turns the minute too.
    let bytes = renderer()
        .render_timer(&sale_timer(3 * 60 + 5, 8, ENGLISH))
        .expect("renders");
    let gif = decode(&bytes);
    let changed_columns = |a: &[u8], b: &[u8]| {
        let mut columns = std::collections::BTreeSet::new();
        for (index, (x, y)) in a.chunks_exact(4).zip(b.chunks_exact(4)).enumerate() {
            if x != y {
                columns.insert(index % gif.width);
            }
        }
        columns
    };
    // The seconds cell is the last quarter of the countdown's 540 px.
    for step in 1..=5 {
        let columns = changed_columns(&gif.frames[step - 1], &gif.frames[step]);
        assert!(!columns.is_empty(), "frame {step} shows a new second");
        assert!(
            columns.iter().all(|&x| x >= 400),
            "frame {step}: {columns:?}"
        );
    }
    let turn = changed_columns(&gif.frames[5], &gif.frames[6]);
    assert!(turn.iter().any(|&x| x < 400), "the minute changes at 3:00");
}

#[test]
fn a_timer_near_its_deadline_ends_on_zero_and_stops() {
    let near = renderer()
        .render_timer(&sale_timer(10, 60, ENGLISH))
        .expect("renders");
    let gif = decode(&near);
    // 10, 9, ... 0: eleven frames, then it stays on zero.
    assert_eq!(gif.frames.len(), 11);
    assert!(!gif.loops, "a finished countdown must not jump back up");
    let zero = renderer()
        .render_timer(&sale_timer(0, 60, ENGLISH))
        .expect("renders");
    let zero = decode(&zero);
    assert_eq!(zero.frames.len(), 1);
    assert!(
        gif.frames.last() == zero.frames.last(),
        "the last frame is 00:00:00:00"
    );
}

#[test]
fn the_same_second_gives_the_same_bytes_and_the_next_does_not() {
    let plan = sale_timer(86_400, 60, ENGLISH);
    let first = renderer().render_timer(&plan).expect("renders");
    let again = renderer().render_timer(&plan).expect("renders");
    assert!(first == again);
    let later = renderer()
        .render_timer(&sale_timer(86_399, 60, ENGLISH))
        .expect("renders");
    assert!(first != later);
    let version = [7u8; 32];
    assert_eq!(
        plan.render_key(&version),
        sale_timer(86_400, 60, ENGLISH).render_key(&version)
    );
    assert_ne!(
        plan.render_key(&version),
        sale_timer(86_399, 60, ENGLISH).render_key(&version)
    );
}

/// The reference timer that hides its leading zero units.
fn hiding_timer(remaining: i64, frames: u32) -> TimerPlan {
    let mut plan = sale_timer(remaining, frames, ENGLISH);
    plan.countdown.hide_leading_zero_units = true;
    plan
}

#[test]
fn the_first_frame_matches_its_golden_image() {
    let two_days = 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5;
    for (name, plan) in [
        ("timer-first-frame", sale_timer(two_days, 60, ENGLISH)),
        (
            "timer-first-frame-russian",
            sale_timer(two_days, 60, ["дней", "часов", "минут", "секунд"]),
        ),
        // 0 days 05:12:09: hours, minutes and seconds, centered.
        (
            "timer-zero-days-hidden",
            hiding_timer(5 * 3_600 + 12 * 60 + 9, 60),
        ),
    ] {
        let bytes = renderer().render_timer(&plan).expect("renders");
        let gif = decode(&bytes);
        let first = image::RgbaImage::from_raw(600, 150, gif.frames[0].clone()).expect("600x150");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(format!("{name}.png"));
        if std::env::var_os("OPENTIME_BLESS").is_some() {
            first.save(&path).expect("the golden image is written");
            continue;
        }
        let golden = image::open(&path)
            .unwrap_or_else(|error| {
                panic!("{}: {error}; bless with OPENTIME_BLESS=1", path.display())
            })
            .into_rgba8();
        assert!(
            golden.as_raw() == first.as_raw(),
            "{name} differs from {}",
            path.display()
        );
    }
}

/// The largest difference of one channel between two frames. Each GIF's
/// palette comes from its own first frame, so the same picture in two
/// GIFs may differ by a rounding of the antialiasing; other digits or a
/// moved row differ by far more.
fn worst_gap(a: &[u8], b: &[u8]) -> u8 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn hidden_units_leave_the_row_the_second_they_run_out() {
    // 1 day and 2 seconds: 01:00:00:02, :01, :00, then 23:59:59 without
    // the day, and 23:59:58.
    let day = 86_400;
    let gif = decode(
        &renderer()
            .render_timer(&hiding_timer(day + 2, 5))
            .expect("renders"),
    );
    assert_eq!(gif.frames.len(), 5);
    let first_frame = |plan: TimerPlan| {
        decode(&renderer().render_timer(&plan).expect("renders"))
            .frames
            .remove(0)
    };
    for (index, left) in (day - 2..=day + 2).rev().enumerate() {
        let alone = first_frame(hiding_timer(left, 1));
        let gap = worst_gap(&gif.frames[index], &alone);
        assert!(gap <= 24, "frame {index} ({left} s left) is off by {gap}");
    }
    // Before the day ends the row is the one that shows every unit.
    let every_unit = first_frame(sale_timer(day + 1, 1, ENGLISH));
    assert!(worst_gap(&gif.frames[1], &every_unit) <= 24);
    // After it, it is not: the day is gone and the row moved.
    let zero_day = first_frame(sale_timer(day - 1, 1, ENGLISH));
    assert!(worst_gap(&gif.frames[3], &zero_day) > 24);
    // The seconds' cell is always drawn: at zero only it remains.
    let zero = first_frame(hiding_timer(0, 1));
    let seconds_only = first_frame(hiding_timer(7, 1));
    assert!(worst_gap(&zero, &seconds_only) > 24, "zero is drawn");
    let dark_columns = |frame: &[u8]| {
        (0..600)
            .filter(|&x| (0..150).all(|y| frame[(y * 600 + x) * 4 + 2] < 100))
            .count()
    };
    // One 120 px cell in the middle: the background shows on both sides.
    assert!(dark_columns(&zero) > 400, "{}", dark_columns(&zero));
}

#[test]
fn a_timer_never_weighs_more_than_a_megabyte() {
    // A 2000x1000 countdown of seconds in 700 px digits, 300 frames: every
    // frame repaints most of the image, far past 1 MB. The first frames
    // that fit are kept, the first of them the time left at the request.
    let mut huge = sale_timer(86_400, 300, ENGLISH);
    huge.base.width = 2000;
    huge.base.height = 1000;
    huge.countdown.frame = Frame {
        x: 0.0,
        y: 0.0,
        width: 2000.0,
        height: 1000.0,
    };
    huge.countdown.units = vec![TimeUnit::Seconds];
    huge.countdown.labels = Vec::new();
    huge.countdown.pad = 6;
    huge.countdown.digits.size = 700.0;
    huge.countdown.digits.min_size = 700.0;
    let (bytes, kept) = renderer().render_timer_frames(&huge).expect("renders");
    assert!(bytes.len() <= 1024 * 1024, "{} bytes", bytes.len());
    assert!(kept < 300 && kept > 100, "{kept} frames kept");
    assert_eq!(decode(&bytes).frames.len(), kept as usize);
}
