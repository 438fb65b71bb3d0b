//! QR codes and Code 128 barcodes as a scanner sees them. Each case of the
//! table is rendered, decoded from its image by a reader that shares no
//! code with our encoders (`rqrr` for QR, `rxing`, a port of ZXing, for
//! Code 128), and must read back exactly its content. Besides reading,
//! the checks are what a till or a phone would trip over: antialiased
//! edges, modules that are not whole pixels, codes spilling out of their
//! frame, and contents or frames that cannot work, which must fail with a
//! reason instead of drawing something unreadable.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use opentime::render::{
    CodeLayer, Color, FontBook, Frame, Layer, OutputFormat, QrErrorCorrection, RectLayer,
    RenderError, RenderPlan, Renderer, Symbology,
};

/// One rendered code and what reading it must give.
struct Case {
    name: &'static str,
    plan: RenderPlan,
    /// The code layer's symbology and content, to read back.
    symbology: Symbology,
    content: String,
}

#[test]
fn every_code_reads_back_as_its_content() {
    let mut failures = Vec::new();
    let table = cases();
    for case in &table {
        if let Err(problem) = check(case) {
            let kept = keep_for_a_look(case)
                .map_or_else(|| "not rendered".into(), |path| path.display().to_string());
            failures.push(format!("{}: {problem} (image: {kept})", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} codes failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

/// Writes the case's image to `target/tmp/code-render/`, to look at why it
/// did not read.
fn keep_for_a_look(case: &Case) -> Option<PathBuf> {
    let bytes = renderer().render(&case.plan).ok()?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("code-render");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{}.{}", case.name, case.plan.format.extension()));
    std::fs::write(&path, bytes).ok()?;
    Some(path)
}

/// Renders the case, decodes its image as a mail client would, checks that
/// a PNG or GIF holds no colors but the plan's (no antialiasing), and reads
/// the code with the independent decoder.
fn check(case: &Case) -> Result<(), String> {
    let bytes = renderer()
        .render(&case.plan)
        .map_err(|error| format!("render failed: {error}"))?;
    let image = decode(&bytes, case.plan.format)?;
    let expected_size = (
        case.plan.width * case.plan.scale,
        case.plan.height * case.plan.scale,
    );
    if (image.width, image.height) != expected_size {
        return Err(format!(
            "size {}x{}, expected {expected_size:?}",
            image.width, image.height
        ));
    }
    if case.plan.format != OutputFormat::Jpeg {
        let colors = image.distinct_colors();
        let allowed = plan_colors(&case.plan);
        if let Some(stray) = colors.iter().find(|color| !allowed.contains(color)) {
            return Err(format!(
                "color {stray:?} is none of the plan's {allowed:?}: edges are not crisp"
            ));
        }
    }
    let luma = image.luma_over_white();
    let read = match case.symbology {
        Symbology::Qr { .. } => read_qr(&luma, image.width, image.height)?,
        Symbology::Code128 => read_code128(luma, image.width, image.height)?,
    };
    if read != case.content {
        return Err(format!("read {read:?}, expected {:?}", case.content));
    }
    Ok(())
}

/// The table: each symbology at both scales, in every format, with every
/// error correction level, over an opaque and a transparent ground, and
/// contents that exercise every Code 128 code set and character.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let medium = qr(QrErrorCorrection::Medium);
    let mut add = |name: &'static str, symbology: Symbology, content: &str, plan: RenderPlan| {
        cases.push(Case {
            name,
            plan,
            symbology,
            content: content.to_string(),
        });
    };
    add(
        "qr-short",
        medium,
        "SAVE20-XK4Q",
        qr_plan(medium, "SAVE20-XK4Q", 1),
    );
    let url = "https://shop.example.com/r/spring-sale?code=SAVE20-XK4Q&utm_source=email";
    add("qr-url", medium, url, qr_plan(medium, url, 1));
    add("qr-url-2x", medium, url, qr_plan(medium, url, 2));
    for (name, level) in [
        ("qr-low", QrErrorCorrection::Low),
        ("qr-medium", QrErrorCorrection::Medium),
        ("qr-quartile", QrErrorCorrection::Quartile),
        ("qr-high", QrErrorCorrection::High),
    ] {
        add(name, qr(level), url, qr_plan(qr(level), url, 1));
    }
    let long = "Order 4521: ".to_string() + &"thank you, Zoë! ".repeat(20);
    add("qr-long-utf8", medium, &long, qr_plan(medium, &long, 2));
    // No background: the light modules and the quiet zone are the yellow
    // rectangle under the code.
    let mut over_rect = qr_plan(medium, "SAVE20-XK4Q", 1);
    over_rect.layers = vec![
        rect(0.0, 0.0, 240.0, 240.0, Color::rgba(255, 214, 79, 255)),
        code(medium, "SAVE20-XK4Q", frame(20.0, 20.0, 200.0, 200.0), None),
    ];
    add("qr-transparent-over-rect", medium, "SAVE20-XK4Q", over_rect);
    let mut jpeg = qr_plan(medium, url, 1);
    jpeg.format = OutputFormat::Jpeg;
    add("qr-jpeg", medium, url, jpeg);
    let mut gif = qr_plan(medium, url, 2);
    gif.format = OutputFormat::Gif;
    add("qr-gif-2x", medium, url, gif);

    let bars = Symbology::Code128;
    for (name, name_2x, content) in [
        ("code128-coupon", "code128-coupon-2x", "SAVE20-XK4Q"),
        (
            "code128-digits-set-c",
            "code128-digits-set-c-2x",
            "12345678",
        ),
        ("code128-switching", "code128-switching-2x", "AB1234567890"),
    ] {
        add(name, bars, content, barcode_plan(content, 1));
        add(name_2x, bars, content, barcode_plan(content, 2));
    }
    // An odd run of digits, first and inside: C takes the pairs and B the
    // digit left over.
    add(
        "code128-odd-digits",
        bars,
        "12345X67890",
        barcode_plan("12345X67890", 1),
    );
    add(
        "code128-lowercase",
        bars,
        "welcome-back",
        barcode_plan("welcome-back", 1),
    );
    // Control characters: a tab among lowercase letters takes a shift, a
    // run of them at the end a switch to code set A.
    add("code128-shift", bars, "ab\tcd", barcode_plan("ab\tcd", 1));
    add(
        "code128-set-a",
        bars,
        "AB\t\r\n",
        barcode_plan("AB\t\r\n", 1),
    );
    // Every printable ASCII character, and every pair of digits in C, so
    // that each entry of the pattern table is read by the decoder once.
    let printable: String = (b' '..=b'~').map(char::from).collect();
    let (first, second) = printable.split_at(48);
    add("code128-ascii-1", bars, first, barcode_plan(first, 2));
    add("code128-ascii-2", bars, second, barcode_plan(second, 2));
    let pairs: String = (0..100).map(|pair| format!("{pair:02}")).collect();
    for (index, chunk) in pairs.as_bytes().chunks(80).enumerate() {
        let chunk = std::str::from_utf8(chunk).expect("digits are ASCII");
        let name: &'static str = Box::leak(format!("code128-pairs-{index}").into_boxed_str());
        add(name, bars, chunk, barcode_plan(chunk, 2));
    }
    let mut over_rect = barcode_plan("SAVE20-XK4Q", 1);
    over_rect.layers = vec![
        rect(0.0, 0.0, 400.0, 120.0, Color::rgba(255, 214, 79, 255)),
        Layer::Code(CodeLayer {
            background: None,
            ..barcode("SAVE20-XK4Q", frame(10.0, 10.0, 380.0, 100.0))
        }),
    ];
    add(
        "code128-transparent-over-rect",
        bars,
        "SAVE20-XK4Q",
        over_rect,
    );
    let mut jpeg = barcode_plan("AB1234567890", 1);
    jpeg.format = OutputFormat::Jpeg;
    add("code128-jpeg", bars, "AB1234567890", jpeg);
    let mut gif = barcode_plan("AB1234567890", 2);
    gif.format = OutputFormat::Gif;
    add("code128-gif-2x", bars, "AB1234567890", gif);
    cases
}

#[test]
fn modules_are_the_largest_whole_number_of_pixels_that_fit() {
    // "SAVE20" is a version 1 symbol: 21 modules and a 4-module quiet zone
    // each side, 29 in all. A 200-pixel frame at 1x gives 6 pixels a
    // module (174 pixels), at 2x 13 (377 of 400).
    for (scale, module) in [(1, 6), (2, 13)] {
        let plan = RenderPlan {
            width: 240,
            height: 240,
            scale,
            format: OutputFormat::Png,
            fixed: Vec::new(),
            layers: vec![code(
                qr(QrErrorCorrection::Medium),
                "SAVE20",
                frame(20.0, 20.0, 200.0, 200.0),
                Some(Color::WHITE),
            )],
        };
        let image = render_png(&plan);
        // The symbol, quiet zone included, is centered in the frame.
        let frame_left = 20 * scale;
        let side = 29 * module;
        let left = frame_left + (200 * scale - side) / 2;
        let middle = image.height / 2;
        let painted = image.run_along_row(middle, |pixel| pixel[3] == 255);
        assert_eq!(painted, Some((left, side)), "{scale}x");
        // The finder pattern's top-left corner, seven modules wide, starts
        // after the quiet zone.
        let finder_row = left + 4 * module;
        let finder = image.run_along_row(finder_row, |pixel| pixel == NAVY);
        assert_eq!(finder, Some((left + 4 * module, 7 * module)), "{scale}x");
    }
    // "12345678": start C, four pairs and the checksum (6 symbols of 11
    // modules) and the stop (13): 79 modules of bars, which start on the
    // frame's left edge, and a 10-module quiet zone each side outside the
    // frame. The 20 pixels left of the frame hold the quiet zone at 2
    // pixels a module at 1x, 4 at 2x (the frame alone would allow 4 and 9).
    for (scale, module) in [(1, 2), (2, 4)] {
        let image = render_png(&barcode_plan("12345678", scale));
        let frame_left = 20 * scale;
        let left = frame_left - 10 * module;
        let bars = image.dark_span(image.height / 2);
        assert_eq!(
            bars,
            Some((left + 10 * module, 79 * module)),
            "{scale}x: the bars start on the frame's edge"
        );
        let painted = image.run_along_row(image.height / 2, |pixel| pixel[3] == 255);
        assert_eq!(
            painted,
            Some((left, 99 * module)),
            "{scale}x: a light quiet zone each side"
        );
        // Start C begins with a bar two modules wide.
        let first_bar = image.run_along_row_from(image.height / 2, left + 10 * module, is_black);
        assert_eq!(first_bar, 2 * module, "{scale}x");
        // The bars fill the frame's height and nothing above or below it.
        let column = left + 10 * module;
        let top = 20 * scale;
        let bottom = top + 80 * scale;
        for y in 0..image.height {
            let dark = is_black(image.pixel(column, y));
            assert_eq!(dark, (top..bottom).contains(&y), "{scale}x, row {y}");
        }
    }
}

/// A content or frame the code cannot work with, and words its error must
/// contain.
struct Refusal {
    name: &'static str,
    layer: CodeLayer,
    /// Whether [`CodeLayer::check_content`] already refuses the content.
    bad_content: bool,
    words: &'static [&'static str],
}

#[test]
fn impossible_codes_fail_with_a_reason_and_never_panic() {
    let medium = qr(QrErrorCorrection::Medium);
    let big = frame(0.0, 0.0, 400.0, 400.0);
    let refusals = [
        Refusal {
            name: "qr-5000-chars",
            layer: qr_layer(medium, &"x".repeat(5000), big),
            bad_content: true,
            words: &["too long", "QR"],
        },
        Refusal {
            name: "qr-empty",
            layer: qr_layer(medium, "", big),
            bad_content: true,
            words: &["empty"],
        },
        Refusal {
            name: "qr-frame-too-small",
            layer: qr_layer(medium, "SAVE20-XK4Q", frame(0.0, 0.0, 20.0, 20.0)),
            bad_content: false,
            words: &["too small", "QR", "29"],
        },
        Refusal {
            name: "qr-long-content-in-a-small-frame",
            layer: qr_layer(medium, &"x".repeat(1000), frame(0.0, 0.0, 100.0, 100.0)),
            bad_content: false,
            words: &["too small"],
        },
        Refusal {
            name: "code128-non-ascii",
            layer: barcode("CAFÉ-10", big),
            bad_content: true,
            words: &["ASCII", "É"],
        },
        Refusal {
            name: "code128-emoji",
            layer: barcode("SAVE🎉", big),
            bad_content: true,
            words: &["ASCII"],
        },
        Refusal {
            name: "code128-empty",
            layer: barcode("", big),
            bad_content: true,
            words: &["empty"],
        },
        Refusal {
            name: "code128-too-long",
            layer: barcode(&"X".repeat(81), big),
            bad_content: true,
            words: &["at most 80"],
        },
        Refusal {
            name: "code128-frame-too-narrow",
            layer: barcode("SAVE20-XK4Q", frame(0.0, 0.0, 100.0, 50.0)),
            bad_content: false,
            words: &["too small", "Code 128"],
        },
        Refusal {
            name: "code128-frame-without-height",
            layer: barcode("SAVE20-XK4Q", frame(0.0, 10.2, 400.0, 0.5)),
            bad_content: false,
            words: &["too small"],
        },
        Refusal {
            name: "code128-frame-not-a-number",
            layer: barcode("SAVE20-XK4Q", frame(f32::NAN, 0.0, f32::INFINITY, 50.0)),
            bad_content: false,
            words: &["too small"],
        },
    ];
    let mut failures = Vec::new();
    for refusal in &refusals {
        let check = CodeLayer::check_content(refusal.layer.symbology, &refusal.layer.content);
        if check.is_err() != refusal.bad_content {
            failures.push(format!("{}: check_content gave {check:?}", refusal.name));
        }
        for format in [OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Gif] {
            let plan = RenderPlan {
                width: 400,
                height: 400,
                scale: 1,
                format,
                fixed: Vec::new(),
                layers: vec![Layer::Code(refusal.layer.clone())],
            };
            match renderer().render(&plan) {
                Err(RenderError::Code { reason }) => {
                    let message = RenderError::Code {
                        reason: reason.clone(),
                    }
                    .to_string();
                    if let Some(missing) =
                        refusal.words.iter().find(|word| !message.contains(**word))
                    {
                        failures.push(format!("{}: {message:?} lacks {missing:?}", refusal.name));
                    }
                }
                other => failures.push(format!(
                    "{} as {format:?}: expected a code error, got {:?}",
                    refusal.name,
                    other.map(|bytes| bytes.len())
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_code_renders_to_the_same_bytes_and_another_content_to_another_key() {
    for plan in [
        qr_plan(qr(QrErrorCorrection::Medium), "SAVE20-XK4Q", 2),
        barcode_plan("AB1234567890", 1),
    ] {
        let first = renderer().render(&plan).expect("renders");
        assert_eq!(renderer().render(&plan).expect("renders"), first);
        let fresh = Renderer::new(load_fonts());
        assert_eq!(fresh.render(&plan).expect("renders"), first);
        assert_eq!(plan.render_key(b"v1"), plan.clone().render_key(b"v1"));
    }

    // Every field of a code layer is in the key: no two of these share a
    // cache entry.
    let base = barcode("SAVE20-XK4Q", frame(20.0, 20.0, 360.0, 80.0));
    let variants = [
        base.clone(),
        CodeLayer {
            content: "SAVE20-XK4R".into(),
            ..base.clone()
        },
        CodeLayer {
            symbology: qr(QrErrorCorrection::Medium),
            ..base.clone()
        },
        CodeLayer {
            symbology: qr(QrErrorCorrection::High),
            ..base.clone()
        },
        CodeLayer {
            color: Color::rgba(20, 30, 60, 255),
            ..base.clone()
        },
        CodeLayer {
            background: None,
            ..base.clone()
        },
        CodeLayer {
            background: Some(Color::rgba(255, 214, 79, 255)),
            ..base.clone()
        },
        CodeLayer {
            frame: frame(20.0, 20.0, 360.0, 81.0),
            ..base.clone()
        },
    ];
    let mut keys: Vec<_> = variants
        .iter()
        .map(|layer| {
            let plan = RenderPlan {
                layers: vec![Layer::Code(layer.clone())],
                ..barcode_plan("unused", 1)
            };
            plan.render_key(b"v1")
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), variants.len());
}

// Reading the images back.

/// A decoded image as straight RGBA.
struct Decoded {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

/// Decodes PNG with the `png` crate (every checksum verified), JPEG with
/// `image`, and a one-frame GIF with `gif`.
fn decode(bytes: &[u8], format: OutputFormat) -> Result<Decoded, String> {
    match format {
        OutputFormat::Png => {
            let mut options = png::DecodeOptions::default();
            options.set_ignore_crc(false);
            options.set_ignore_adler32(false);
            let decoder = png::Decoder::new_with_options(std::io::Cursor::new(bytes), options);
            let mut reader = decoder.read_info().map_err(|error| error.to_string())?;
            let size = reader.output_buffer_size().ok_or("an absurd PNG size")?;
            let mut pixels = vec![0; size];
            let info = reader
                .next_frame(&mut pixels)
                .map_err(|error| error.to_string())?;
            pixels.truncate(info.buffer_size());
            let rgba = match info.color_type {
                png::ColorType::Rgba => pixels,
                png::ColorType::Rgb => pixels
                    .chunks_exact(3)
                    .flat_map(|rgb| [rgb[0], rgb[1], rgb[2], 255])
                    .collect(),
                other => return Err(format!("unexpected PNG color type {other:?}")),
            };
            Ok(Decoded {
                width: info.width,
                height: info.height,
                rgba,
            })
        }
        OutputFormat::Jpeg => {
            let image = image::load_from_memory(bytes)
                .map_err(|error| error.to_string())?
                .into_rgba8();
            Ok(Decoded {
                width: image.width(),
                height: image.height(),
                rgba: image.into_raw(),
            })
        }
        OutputFormat::Gif => {
            let mut options = gif::DecodeOptions::new();
            options.set_color_output(gif::ColorOutput::RGBA);
            let mut decoder = options
                .read_info(bytes)
                .map_err(|error| error.to_string())?;
            let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
            let frame = decoder
                .read_next_frame()
                .map_err(|error| error.to_string())?
                .ok_or("a GIF without frames")?;
            if (u32::from(frame.width), u32::from(frame.height)) != (width, height) {
                return Err("a still GIF's frame should cover the screen".into());
            }
            Ok(Decoded {
                width,
                height,
                rgba: frame.buffer.to_vec(),
            })
        }
    }
}

impl Decoded {
    fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let start = (y as usize * self.width as usize + x as usize) * 4;
        let mut pixel = [0; 4];
        pixel.copy_from_slice(&self.rgba[start..start + 4]);
        pixel
    }

    /// The distinct colors, with every fully transparent pixel as one.
    fn distinct_colors(&self) -> Vec<[u8; 4]> {
        let mut colors: Vec<[u8; 4]> = self
            .rgba
            .chunks_exact(4)
            .map(|pixel| {
                if pixel[3] == 0 {
                    [0; 4]
                } else {
                    [pixel[0], pixel[1], pixel[2], pixel[3]]
                }
            })
            .collect();
        colors.sort_unstable();
        colors.dedup();
        colors
    }

    /// The image over white, as a mail client shows it, in gray levels.
    fn luma_over_white(&self) -> Vec<u8> {
        self.rgba
            .chunks_exact(4)
            .map(|pixel| {
                let alpha = u32::from(pixel[3]);
                let over_white =
                    |channel: u8| (u32::from(channel) * alpha + 255 * (255 - alpha)) / 255;
                let luma = 299 * over_white(pixel[0])
                    + 587 * over_white(pixel[1])
                    + 114 * over_white(pixel[2]);
                (luma / 1000) as u8
            })
            .collect()
    }

    /// The first run of pixels along row `y` that `inside` accepts: where
    /// it starts and how long it is.
    fn run_along_row(&self, y: u32, inside: impl Fn([u8; 4]) -> bool) -> Option<(u32, u32)> {
        let start = (0..self.width).find(|&x| inside(self.pixel(x, y)))?;
        Some((start, self.run_along_row_from(y, start, inside)))
    }

    /// How many pixels from column `x` on, along row `y`, `inside` accepts.
    fn run_along_row_from(&self, y: u32, x: u32, inside: impl Fn([u8; 4]) -> bool) -> u32 {
        (x..self.width)
            .take_while(|&column| inside(self.pixel(column, y)))
            .count() as u32
    }

    /// From the first to the last black pixel of row `y`: where and how wide.
    fn dark_span(&self, y: u32) -> Option<(u32, u32)> {
        let first = (0..self.width).find(|&x| is_black(self.pixel(x, y)))?;
        let last = (0..self.width)
            .rev()
            .find(|&x| is_black(self.pixel(x, y)))?;
        Some((first, last - first + 1))
    }
}

fn is_black(pixel: [u8; 4]) -> bool {
    pixel == [0, 0, 0, 255]
}

/// Reads the one QR code of a gray image with rqrr.
fn read_qr(luma: &[u8], width: u32, height: u32) -> Result<String, String> {
    let (width, height) = (width as usize, height as usize);
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| luma[y * width + x]);
    let grids = prepared.detect_grids();
    match grids.as_slice() {
        [grid] => grid
            .decode()
            .map(|(_, text)| text)
            .map_err(|error| format!("rqrr found the code but cannot decode it: {error:?}")),
        grids => Err(format!("rqrr found {} QR codes, expected 1", grids.len())),
    }
}

/// Reads the one Code 128 barcode of a gray image with rxing.
fn read_code128(luma: Vec<u8>, width: u32, height: u32) -> Result<String, String> {
    let result =
        rxing::helpers::detect_in_luma(luma, width, height, Some(rxing::BarcodeFormat::CODE_128))
            .map_err(|error| format!("rxing cannot read a Code 128 barcode: {error}"))?;
    if *result.getBarcodeFormat() != rxing::BarcodeFormat::CODE_128 {
        return Err(format!("rxing read a {:?}", result.getBarcodeFormat()));
    }
    Ok(result.getText().to_string())
}

/// Every color a plan's layers can leave on the canvas, as straight RGBA,
/// with transparency as one: what a crisp render may contain.
fn plan_colors(plan: &RenderPlan) -> Vec<[u8; 4]> {
    let mut colors = vec![[0; 4]];
    for layer in &plan.layers {
        match layer {
            Layer::Rect(rect) => colors.push(rgba(rect.fill)),
            Layer::Code(code) => {
                colors.push(rgba(code.color));
                colors.extend(code.background.map(rgba));
            }
            other => panic!("no layer but rects and codes in these plans: {other:?}"),
        }
    }
    colors
}

fn rgba(color: Color) -> [u8; 4] {
    [color.r, color.g, color.b, color.a]
}

fn render_png(plan: &RenderPlan) -> Decoded {
    let bytes = renderer().render(plan).expect("renders");
    decode(&bytes, OutputFormat::Png).expect("decodes")
}

// Building blocks of the plans above.

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new(load_fonts()))
}

fn load_fonts() -> FontBook {
    FontBook::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).expect("fonts load")
}

fn qr(error_correction: QrErrorCorrection) -> Symbology {
    Symbology::Qr { error_correction }
}

fn frame(x: f32, y: f32, width: f32, height: f32) -> Frame {
    Frame {
        x,
        y,
        width,
        height,
    }
}

fn rect(x: f32, y: f32, width: f32, height: f32, fill: Color) -> Layer {
    Layer::Rect(RectLayer {
        frame: frame(x, y, width, height),
        fill,
        radius: 0.0,
    })
}

/// The dark modules of the QR codes, as straight RGBA.
const NAVY: [u8; 4] = [0, 0, 0x80, 255];

/// A navy code, on `background` or on whatever is under it.
fn code(symbology: Symbology, content: &str, frame: Frame, background: Option<Color>) -> Layer {
    Layer::Code(CodeLayer {
        frame,
        symbology,
        content: content.to_string(),
        color: Color::rgba(NAVY[0], NAVY[1], NAVY[2], NAVY[3]),
        background,
    })
}

/// A navy QR code on white.
fn qr_layer(symbology: Symbology, content: &str, frame: Frame) -> CodeLayer {
    CodeLayer {
        frame,
        symbology,
        content: content.to_string(),
        color: Color::rgba(NAVY[0], NAVY[1], NAVY[2], NAVY[3]),
        background: Some(Color::WHITE),
    }
}

/// A black-on-white Code 128 barcode.
fn barcode(content: &str, frame: Frame) -> CodeLayer {
    CodeLayer {
        frame,
        symbology: Symbology::Code128,
        content: content.to_string(),
        color: Color::rgba(0, 0, 0, 255),
        background: Some(Color::WHITE),
    }
}

/// A QR code on white in a 200x200 frame at (20, 20) of a 240x240 card.
fn qr_plan(symbology: Symbology, content: &str, scale: u32) -> RenderPlan {
    RenderPlan {
        width: 240,
        height: 240,
        scale,
        format: OutputFormat::Png,
        fixed: Vec::new(),
        layers: vec![code(
            symbology,
            content,
            frame(20.0, 20.0, 200.0, 200.0),
            Some(Color::WHITE),
        )],
    }
}

/// A black-on-white barcode in a 360x80 frame at (20, 20) of a 400x120
/// card, a coupon's proportions.
fn barcode_plan(content: &str, scale: u32) -> RenderPlan {
    RenderPlan {
        width: 400,
        height: 120,
        scale,
        format: OutputFormat::Png,
        fixed: Vec::new(),
        layers: vec![Layer::Code(barcode(
            content,
            frame(20.0, 20.0, 360.0, 80.0),
        ))],
    }
}
