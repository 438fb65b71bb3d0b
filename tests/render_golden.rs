//! Golden-image tests of the renderer: a table of plans, each rendered and
//! compared byte for byte with `tests/golden/{name}.png` (or `.jpg`).
//!
//! Set `OPENTIME_BLESS=1` to write the golden files instead of comparing
//! (see `tests/golden/README.md`); look at the changed images before
//! committing them. Besides the goldens, this file checks what a reader of
//! an email would notice: every supported script renders without boxes, 2x
//! is real double resolution, and the same plan always gives the same bytes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use opentime::poll::PollView;
use opentime::render::{
    Asset, Color, EmojiStyle, Fit, FontBook, Frame, HorizontalAlign, ImageLayer, Layer,
    OutputFormat, RectLayer, RenderPlan, Renderer, ResultsLayer, ResultsValue, TextDirection,
    TextLayer, TextStyle, VerticalAlign, Weight,
};

/// The names every script test uses: a recipient's first name in each of the
/// bundled scripts, a line that mixes directions, and emoji.
const NAMES: [(&str, &str); 38] = [
    ("latin", "Thank you, Zoë!"),
    ("cyrillic", "Спасибо, Алёна!"),
    ("greek", "Ευχαριστούμε, Ελένη!"),
    ("chinese", "谢谢你，王芳！"),
    ("japanese", "ありがとう、さくらさん！"),
    ("korean", "감사합니다, 김민지 님!"),
    ("arabic", "شكرًا لك يا محمد!"),
    ("hebrew", "תודה רבה, נועה!"),
    ("devanagari", "धन्यवाद, प्रिया क्षत्रिय!"),
    ("thai", "ขอบคุณค่ะ คุณสมชาย"),
    ("bengali", "ধন্যবাদ, লক্ষ্মী!"),
    ("gurmukhi", "ਧੰਨਵਾਦ, ਹਰਪ੍ਰੀਤ!"),
    ("gujarati", "આભાર, પ્રિયા!"),
    ("odia", "ଧନ୍ୟବାଦ, ଲକ୍ଷ୍ମୀ!"),
    ("tamil", "நன்றி, முருகன்! கூப்பன்"),
    ("telugu", "ధన్యవాదాలు, శ్రీనివాస్!"),
    ("kannada", "ಧನ್ಯವಾದಗಳು, ಲಕ್ಷ್ಮಿ!"),
    ("malayalam", "നന്ദി, കൃഷ്ണൻ!"),
    ("sinhala", "ස්තූතියි, නිමල්!"),
    ("lao", "ຂອບໃຈ, ສົມພອນ!"),
    ("khmer", "អរគុណច្រើន ស្រីនាង!"),
    ("myanmar", "ကျေးဇူးတင်ပါတယ် မြင့်မြင့်!"),
    ("georgian", "გმადლობთ, ნინო!"),
    ("armenian", "Շնորհակալություն, Անի!"),
    ("ethiopic", "እናመሰግናለን፣ አበበ!"),
    ("thaana", "ޝުކުރިއްޔާ، އަޙްމަދު!"),
    ("syriac", "ܬܘܕܝ ܣܓܝ، ܡܪܝܡ!"),
    ("tibetan", "ཐུགས་རྗེ་ཆེ། བཀྲ་ཤིས།"),
    ("javanese", "ꦲꦏ꧀ꦱꦫꦗꦮ"),
    ("canadian-syllabics", "ᖁᔭᓐᓇᒦᒃ, ᓄᓇᕗᑦ!"),
    ("cherokee", "ᏩᏙ, ᏣᎳᎩ!"),
    ("tifinagh", "ⵜⴰⵏⵎⵉⵔⵜ, ⵜⵉⵍⴻⵍⵍⵉ!"),
    ("adlam", "𞤆𞤵𞤤𞤢𞤪"),
    ("nko", "ߒߞߏ ߞߊ߲ߜߍ"),
    ("ol-chiki", "ᱥᱟᱱᱛᱟᱲᱤ"),
    ("yi", "ꆈꌠꁱꂷ ꆈꌠꉙ"),
    ("bidi", "Order #4521 — تم الشحن"),
    ("emoji", "Zoë 🎉 👩\u{200D}💻 🇫🇷"),
];

#[test]
fn every_case_matches_its_golden_image() {
    let mut failures = Vec::new();
    for (name, plan) in cases() {
        if let Err(problem) = check(name, &plan) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

/// Renders `plan` and compares it with its golden file, or writes the file
/// when blessing. A mismatch leaves the new image in `target/golden-actual/`
/// for a side-by-side look.
fn check(name: &str, plan: &RenderPlan) -> Result<(), String> {
    let bytes = renderer().render(plan).map_err(|error| error.to_string())?;
    let decoded = image::load_from_memory(&bytes).map_err(|error| error.to_string())?;
    let expected_size = (plan.width * plan.scale, plan.height * plan.scale);
    if (decoded.width(), decoded.height()) != expected_size {
        return Err(format!(
            "size {:?}, expected {expected_size:?}",
            decoded.dimensions_pair()
        ));
    }
    let file = golden_dir().join(format!("{name}.{}", plan.format.extension()));
    if std::env::var_os("OPENTIME_BLESS").is_some_and(|value| value == "1") {
        std::fs::write(&file, &bytes).map_err(|error| error.to_string())?;
        return Ok(());
    }
    let golden = std::fs::read(&file)
        .map_err(|error| format!("{}: {error} (bless with OPENTIME_BLESS=1)", file.display()))?;
    if golden != bytes {
        let actual_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden-actual");
        let _ = std::fs::create_dir_all(&actual_dir);
        let actual = actual_dir.join(file.file_name().unwrap_or_default());
        let _ = std::fs::write(&actual, &bytes);
        return Err(format!(
            "differs from {}; new image in {}",
            file.display(),
            actual.display()
        ));
    }
    Ok(())
}

trait DimensionsPair {
    fn dimensions_pair(&self) -> (u32, u32);
}

impl DimensionsPair for image::DynamicImage {
    fn dimensions_pair(&self) -> (u32, u32) {
        (self.width(), self.height())
    }
}

/// The table: every feature of the renderer that changes pixels.
fn cases() -> Vec<(&'static str, RenderPlan)> {
    let mut cases = vec![
        (
            "rect-radius-alpha",
            plan(
                300,
                120,
                vec![
                    rect(0.0, 0.0, 300.0, 120.0, "#ffffff", 0.0),
                    rect(20.0, 20.0, 160.0, 80.0, "#0b3d91", 16.0),
                    rect(120.5, 40.25, 160.0, 60.0, "#e0303080", 30.0),
                ],
            ),
        ),
        (
            "image-cover-radius",
            plan(
                300,
                200,
                vec![image(
                    background(),
                    Fit::Cover,
                    20.0,
                    20.0,
                    160.0,
                    160.0,
                    24.0,
                    1.0,
                )],
            ),
        ),
        (
            "image-contain",
            plan(
                300,
                200,
                vec![
                    rect(0.0, 0.0, 300.0, 200.0, "#eeeeee", 0.0),
                    image(
                        background(),
                        Fit::Contain,
                        20.0,
                        20.0,
                        260.0,
                        160.0,
                        12.0,
                        1.0,
                    ),
                ],
            ),
        ),
        (
            "image-fill-opacity",
            plan(
                300,
                200,
                vec![
                    rect(0.0, 0.0, 300.0, 200.0, "#ffffff", 0.0),
                    image(background(), Fit::Fill, 20.0, 20.0, 120.0, 160.0, 0.0, 0.5),
                    image(badge(), Fit::Contain, 160.0, 40.0, 120.0, 120.0, 0.0, 1.0),
                ],
            ),
        ),
    ];
    let aligned = [
        ("text-left-top", HorizontalAlign::Left, VerticalAlign::Top),
        (
            "text-center-middle",
            HorizontalAlign::Center,
            VerticalAlign::Middle,
        ),
        (
            "text-right-bottom",
            HorizontalAlign::Right,
            VerticalAlign::Bottom,
        ),
    ];
    for (name, align, vertical_align) in aligned {
        let style = TextStyle {
            align,
            vertical_align,
            direction: TextDirection::Auto,
            emoji: EmojiStyle::Color,
            ..style(20.0)
        };
        cases.push((name, framed_text("Hello, Ann", style)));
    }
    let wrapping = style(20.0);
    cases.push((
        "text-wrap",
        framed_text(
            "Your plan renews on 1 March. Thank you for staying with us!",
            wrapping,
        ),
    ));
    let cut = TextStyle {
        max_lines: Some(2),
        ..style(20.0)
    };
    cases.push((
        "text-ellipsis",
        framed_text(
            "Your plan renews on 1 March. Thank you for staying with us, truly!",
            cut,
        ),
    ));
    let shrink = TextStyle {
        size: 40.0,
        min_size: 10.0,
        wrap: false,
        ..style(40.0)
    };
    cases.push((
        "text-shrink-to-fit",
        framed_text("Thank you, Alexandrina-Maria!", shrink),
    ));
    let bold = TextStyle {
        weight: Weight::Bold,
        size: 28.0,
        min_size: 28.0,
        ..style(28.0)
    };
    cases.push(("text-bold", framed_text("Bold Алёна 王芳", bold)));
    let spaced = TextStyle {
        letter_spacing: 4.0,
        ..style(20.0)
    };
    cases.push((
        "text-letter-spacing",
        framed_text("S P A C E D out", spaced),
    ));
    let mut double = card("Thank you, Алёна!");
    double.scale = 2;
    cases.push(("card-2x", double));
    let mut jpeg = card("Thank you, Алёна!");
    jpeg.format = OutputFormat::Jpeg;
    cases.push(("card-jpeg", jpeg));
    cases.push(("card", card("Thank you, Алёна!")));
    cases.push(("card-arabic", card("شكرًا لتجديد اشتراكك يا ليلى!")));
    cases.push((
        "card-devanagari",
        card("सदस्यता नवीनीकरण के लिए धन्यवाद, प्रिया!"),
    ));
    // The same emoji as outlines in the text's color.
    cases.push((
        "name-emoji-mono",
        framed_text(
            "Zoë 🎉 👩\u{200D}💻 🇫🇷",
            TextStyle {
                emoji: EmojiStyle::Mono,
                ..style(26.0)
            },
        ),
    ));
    // A right-to-left paragraph wrapped over three lines, aligned to its
    // start (the right), with a number kept left to right.
    cases.push((
        "text-rtl-wrap",
        framed_text(
            "طلبك رقم 4521 في الطريق إليك وسيصل خلال يومين، شكرًا لتسوقك معنا",
            style(22.0),
        ),
    ));
    // A poll before its first vote: the options as plain choices, with no
    // empty bars and no "0%".
    cases.push(("poll-empty", poll(&[0, 0, 0, 0])));
    cases.push(("poll-results", poll(&[7, 2, 1, 0])));
    for (script, name) in NAMES {
        let text = TextStyle {
            size: 26.0,
            min_size: 26.0,
            ..style(26.0)
        };
        let plan = framed_text(name, text);
        cases.push((Box::leak(format!("name-{script}").into_boxed_str()), plan));
    }
    cases
}

#[test]
fn names_in_every_script_have_all_their_glyphs_in_both_weights() {
    let fonts = renderer().fonts();
    assert!(fonts.has_family("sans"));
    assert!(!fonts.has_family("comic"));
    for (script, name) in NAMES {
        for weight in [Weight::Regular, Weight::Bold] {
            assert_eq!(
                fonts.missing_chars("sans", weight, name),
                Vec::<char>::new(),
                "{script} {weight:?}"
            );
        }
    }
    // A character no bundled font has is reported, once.
    assert_eq!(
        fonts.missing_chars("sans", Weight::Regular, "a\u{10FFFD} \u{10FFFD}"),
        ['\u{10FFFD}']
    );
}

#[test]
fn names_in_every_script_put_ink_inside_their_frame() {
    for (script, name) in NAMES {
        for weight in [Weight::Regular, Weight::Bold] {
            let style = TextStyle {
                weight,
                color: Color::rgba(0, 0, 0, 255),
                ..style(24.0)
            };
            let frame = Frame {
                x: 10.0,
                y: 10.0,
                width: 380.0,
                height: 40.0,
            };
            let plan = plan(
                400,
                60,
                vec![Layer::Text(TextLayer {
                    frame,
                    text: name.to_string(),
                    style,
                })],
            );
            let bytes = renderer().render(&plan).expect("renders");
            let pixels = image::load_from_memory(&bytes)
                .expect("decodes")
                .into_rgba8();
            let inked = |x: u32, y: u32| pixels.get_pixel(x, y).0[3] > 128;
            let inside = (10..390).flat_map(|x| (10..50).map(move |y| (x, y)));
            let ink = inside.filter(|&(x, y)| inked(x, y)).count();
            assert!(ink > 300, "{script} {weight:?}: only {ink} inked pixels");
            let outside = (0..400).filter(|&x| inked(x, 0) || inked(x, 59)).count();
            assert_eq!(outside, 0, "{script} {weight:?}: ink outside the frame");
        }
    }
}

/// The files' pixels, decoded, are those `tests/golden/pixels.tsv` lists
/// (a SHA-256 of each PNG's RGBA pixels): a change to the PNG writer may
/// change the files' bytes, never what they show. Written from the files by
/// `OPENTIME_BLESS_PIXELS=1`, only when pixels are meant to change.
#[test]
fn golden_pngs_keep_their_pixels() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "png"))
        .collect();
    names.sort();
    let listed: String = names
        .iter()
        .map(|path| {
            let pixels = image::open(path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
                .into_rgba8();
            let digest = Sha256::digest(pixels.as_raw());
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            format!("{name}\t{}\n", hex::encode(digest))
        })
        .collect();
    let list = golden_dir().join("pixels.tsv");
    if std::env::var_os("OPENTIME_BLESS_PIXELS").is_some_and(|value| value == "1") {
        std::fs::write(&list, listed).expect("writes pixels.tsv");
        return;
    }
    let expected = std::fs::read_to_string(&list).expect("tests/golden/pixels.tsv");
    let changed: Vec<&str> = listed
        .lines()
        .filter(|line| !expected.lines().any(|known| known == *line))
        .collect();
    assert!(
        changed.is_empty() && listed.lines().count() == expected.lines().count(),
        "pixels differ from pixels.tsv (or files were added or removed): {changed:?}"
    );
}

/// Keeping a plan's fixed layers drawn and compressed changes no pixel: for
/// every golden case and several choices of fixed layers, the render shows
/// a full render's pixels, and gives the same bytes from a base drawn now,
/// from a kept one and from another renderer. (Its bytes may differ from a
/// full render's: a stripe over a photo is coded with the kept stripe's
/// Huffman code, so that its unchanged rows are copied.)
#[test]
fn incremental_renders_give_the_pixels_of_full_renders() {
    let renderer = Renderer::new(load_fonts());
    let other = Renderer::new(load_fonts());
    let mut recoded = 0;
    for (name, plan) in cases() {
        if plan.format != OutputFormat::Png {
            continue;
        }
        let full = renderer.render(&plan).expect("renders");
        let full_pixels = decoded(&full);
        let layers = plan.layers.len();
        let mut choices: Vec<Vec<bool>> = (0..layers)
            .map(|varying| (0..layers).map(|index| index != varying).collect())
            .collect();
        choices.push((0..layers).map(|index| index == 0).collect());
        choices.push((0..layers).map(|index| index % 2 == 1).collect());
        choices.push(vec![true; layers]);
        for fixed in choices {
            let incremental = RenderPlan {
                fixed: fixed.clone(),
                ..plan.clone()
            };
            let first = renderer.render(&incremental).expect("renders");
            assert!(
                decoded(&first) == full_pixels,
                "{name}, fixed {fixed:?}: not a full render's pixels"
            );
            let kept = renderer.render(&incremental).expect("renders");
            assert!(
                first == kept,
                "{name}, fixed {fixed:?}: a kept base changed the bytes"
            );
            let elsewhere = other.render(&incremental).expect("renders");
            assert!(
                first == elsewhere,
                "{name}, fixed {fixed:?}: another renderer's bytes differ"
            );
            recoded += usize::from(first != full);
        }
    }
    // The comparisons above mean something only if renders were made
    // incrementally: most cases with a fixed layer draw a few rows only.
    let incremental = renderer.incremental_renders();
    assert!(
        incremental > 100,
        "only {incremental} renders were incremental"
    );
    // And the photo cases were coded over their kept stripes.
    assert!(recoded > 0, "no render was coded over a kept photo");
}

/// The color type and pixels of a PNG, every checksum verified (`image`
/// does not check the Adler-32 that copied rows are joined by).
fn decoded(bytes: &[u8]) -> (png::ColorType, Vec<u8>) {
    let mut options = png::DecodeOptions::default();
    options.set_ignore_crc(false);
    options.set_ignore_adler32(false);
    let decoder = png::Decoder::new_with_options(std::io::Cursor::new(bytes), options);
    let mut reader = decoder.read_info().expect("a valid PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut pixels).expect("valid image data");
    pixels.truncate(info.buffer_size());
    (info.color_type, pixels)
}

/// Personalized layers far apart make two windows of stripes, and a layer
/// over every row touches them all: both still render incrementally (each
/// window draws only the layers that reach it; a text of the other window
/// is not a spill), from the kept background, to a whole render's pixels.
/// (A loyalty card's name and points lines were drawn whole at every open
/// before, after their texts had been laid out once for nothing.)
#[test]
fn far_apart_and_everywhere_personalized_layers_render_incrementally() {
    let renderer = Renderer::new(load_fonts());
    let text_at = |y: f32, text: &str| {
        Layer::Text(TextLayer {
            frame: Frame {
                x: 24.0,
                y,
                width: 552.0,
                height: 30.0,
            },
            text: text.to_string(),
            style: TextStyle {
                color: Color::WHITE,
                ..style(20.0)
            },
        })
    };
    let photo = || image(background(), Fit::Cover, 0.0, 0.0, 600.0, 200.0, 0.0, 1.0);
    let cases = [
        (
            "two texts far apart",
            vec![
                photo(),
                text_at(6.0, "Ada Lovelace"),
                text_at(164.0, "1,240 points"),
            ],
        ),
        (
            "a layer over every row",
            vec![
                photo(),
                rect(0.0, 0.0, 600.0, 200.0, "#10204080", 0.0),
                text_at(84.0, "Ada"),
            ],
        ),
    ];
    for (name, layers) in cases {
        let whole = plan(600, 200, layers);
        let full = renderer.render(&whole).expect("renders");
        let mut fixed = vec![false; whole.layers.len()];
        fixed[0] = true;
        let incremental = RenderPlan { fixed, ..whole };
        for round in ["a new base", "a kept base"] {
            let before = renderer.incremental_renders();
            let bytes = renderer.render(&incremental).expect("renders");
            assert_eq!(
                renderer.incremental_renders(),
                before + 1,
                "{name}, {round}: rendered whole"
            );
            assert!(
                decoded(&bytes) == decoded(&full),
                "{name}, {round}: not a whole render's pixels"
            );
        }
    }
}

#[test]
fn the_same_plan_renders_to_the_same_bytes_on_any_thread() {
    let plan = card("Thank you, Ελένη 王芳!");
    let first = renderer().render(&plan).expect("renders");
    // A fresh renderer has an empty glyph cache: the cache must not matter.
    let fresh = Renderer::new(load_fonts());
    assert_eq!(fresh.render(&plan).expect("renders"), first);
    let from_threads: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| renderer().render(&plan).expect("renders")))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("no panic"))
            .collect()
    });
    for bytes in from_threads {
        assert_eq!(bytes, first);
    }
}

#[test]
fn a_2x_render_has_twice_the_pixels_and_real_detail() {
    let single = image::load_from_memory(&renderer().render(&card("Hi")).expect("renders"))
        .expect("decodes")
        .into_rgba8();
    let mut plan = card("Hi");
    plan.scale = 2;
    let double = image::load_from_memory(&renderer().render(&plan).expect("renders"))
        .expect("decodes")
        .into_rgba8();
    assert_eq!(double.dimensions(), (1200, 400));
    // Upscaling would make each 2x2 block one color; real detail does not.
    let blocks_with_detail = (0..600 * 200)
        .filter(|index| {
            let (x, y) = (index % 600 * 2, index / 600 * 2);
            let corner = double.get_pixel(x, y);
            [(1, 0), (0, 1), (1, 1)]
                .iter()
                .any(|(dx, dy)| double.get_pixel(x + dx, y + dy) != corner)
        })
        .count();
    assert!(blocks_with_detail > 1000, "{blocks_with_detail}");
    assert_eq!(single.dimensions(), (600, 200));
}

#[test]
fn png_is_rgb_when_opaque_and_rgba_when_not() {
    let opaque = renderer().render(&card("Hi")).expect("renders");
    let clear = renderer()
        .render(&framed_text("Hi", style(20.0)))
        .expect("renders");
    let transparent = renderer()
        .render(&plan(
            100,
            50,
            vec![rect(0.0, 0.0, 50.0, 50.0, "#ff000080", 0.0)],
        ))
        .expect("renders");
    // Byte 25 of a PNG is the color type of its header: 2 is RGB, 6 RGBA.
    assert_eq!(opaque[25], 2);
    assert_eq!(clear[25], 2);
    assert_eq!(transparent[25], 6);
    let pixels = image::load_from_memory(&transparent)
        .expect("decodes")
        .into_rgba8();
    assert_eq!(
        pixels.get_pixel(10, 10).0,
        [255, 0, 0, 128],
        "straight alpha on output"
    );
    assert_eq!(
        pixels.get_pixel(75, 10).0[3],
        0,
        "the canvas starts transparent"
    );
}

#[test]
fn an_unknown_family_is_an_error_not_a_blank_image() {
    let style = TextStyle {
        family: "comic".into(),
        ..style(20.0)
    };
    let result = renderer().render(&framed_text("Hi", style));
    assert!(result.is_err());
}

#[test]
fn a_bad_font_manifest_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = "[families.sans]\nregular = [{ file = \"Missing.ttf\" }]\nbold = [{ file = \"Missing.ttf\" }]\n";
    std::fs::write(dir.path().join("fonts.toml"), manifest).expect("writes");
    let error = FontBook::load(dir.path())
        .expect_err("the file is missing")
        .to_string();
    assert!(error.contains("Missing.ttf"), "{error}");

    let fonts = Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts");
    std::fs::copy(
        fonts.join("NotoSans-Regular.ttf"),
        dir.path().join("Noto.ttf"),
    )
    .expect("copy");
    let manifest = "[families.sans]\nregular = [{ file = \"Noto.ttf\", index = 3 }]\nbold = [{ file = \"Noto.ttf\" }]\n";
    std::fs::write(dir.path().join("fonts.toml"), manifest).expect("writes");
    let error = FontBook::load(dir.path())
        .expect_err("no face 3")
        .to_string();
    assert!(error.contains("Noto.ttf"), "{error}");

    std::fs::write(dir.path().join("Broken.ttf"), b"not a font").expect("writes");
    let manifest = "[families.sans]\nregular = [{ file = \"Broken.ttf\" }]\nbold = [{ file = \"Noto.ttf\" }]\n";
    std::fs::write(dir.path().join("fonts.toml"), manifest).expect("writes");
    let error = FontBook::load(dir.path())
        .expect_err("not a font")
        .to_string();
    assert!(error.contains("Broken.ttf"), "{error}");
}

// Building blocks of the plans above.

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new(load_fonts()))
}

fn load_fonts() -> FontBook {
    FontBook::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).expect("fonts load")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn background() -> Arc<Asset> {
    static ASSET: OnceLock<Arc<Asset>> = OnceLock::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/images/card-background.png");
    ASSET
        .get_or_init(|| {
            let bytes = std::fs::read(&path).expect("the background exists");
            Arc::new(Asset::decode("card-background.png", &bytes).expect("decodes"))
        })
        .clone()
}

/// A 64x64 orange disc on a transparent ground, to see alpha in images.
fn badge() -> Arc<Asset> {
    static ASSET: OnceLock<Arc<Asset>> = OnceLock::new();
    ASSET
        .get_or_init(|| {
            let disc = image::RgbaImage::from_fn(64, 64, |x, y| {
                let distance = ((x as f32 - 31.5).powi(2) + (y as f32 - 31.5).powi(2)).sqrt();
                let alpha = (30.0 - distance).clamp(0.0, 1.0);
                image::Rgba([240, 130, 20, (alpha * 255.0) as u8])
            });
            let mut bytes = Vec::new();
            disc.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .expect("encodes");
            Arc::new(Asset::decode("badge.png", &bytes).expect("decodes"))
        })
        .clone()
}

fn plan(width: u32, height: u32, layers: Vec<Layer>) -> RenderPlan {
    RenderPlan {
        width,
        height,
        scale: 1,
        format: OutputFormat::Png,
        fixed: Vec::new(),
        layers,
    }
}

fn rect(x: f32, y: f32, width: f32, height: f32, fill: &str, radius: f32) -> Layer {
    let fill = Color::parse(fill).expect("a valid color");
    Layer::Rect(RectLayer {
        frame: Frame {
            x,
            y,
            width,
            height,
        },
        fill,
        radius,
    })
}

#[allow(clippy::too_many_arguments)]
fn image(
    asset: Arc<Asset>,
    fit: Fit,
    x: f32,
    y: f32,
    width: f32,
    height: f32,
    radius: f32,
    opacity: f32,
) -> Layer {
    Layer::Image(ImageLayer {
        frame: Frame {
            x,
            y,
            width,
            height,
        },
        asset,
        fit,
        radius,
        opacity,
    })
}

fn style(size: f32) -> TextStyle {
    TextStyle {
        family: "sans".into(),
        weight: Weight::Regular,
        size,
        min_size: size,
        color: Color::rgba(20, 30, 60, 255),
        align: HorizontalAlign::Start,
        vertical_align: VerticalAlign::Top,
        direction: TextDirection::Auto,
        emoji: EmojiStyle::Color,
        line_height: 1.25,
        letter_spacing: 0.0,
        max_lines: None,
        wrap: true,
    }
}

/// Text in a 300x100 frame drawn as a pale box on a white 340x140 canvas,
/// so that alignment and cutting can be judged by eye.
fn framed_text(text: &str, style: TextStyle) -> RenderPlan {
    let frame = Frame {
        x: 20.0,
        y: 20.0,
        width: 300.0,
        height: 100.0,
    };
    plan(
        340,
        140,
        vec![
            rect(0.0, 0.0, 340.0, 140.0, "#ffffff", 0.0),
            rect(frame.x, frame.y, frame.width, frame.height, "#dde8f6", 0.0),
            Layer::Text(TextLayer {
                frame,
                text: text.to_string(),
                style,
            }),
        ],
    )
}

/// A four-option poll's results for `counts` on a pale card, drawn as the
/// pipeline draws a `poll_results` layer.
fn poll(counts: &[u64]) -> RenderPlan {
    let view = PollView {
        counts: Some(counts.to_vec()),
        choice: None,
    };
    let results = ResultsLayer {
        frame: Frame {
            x: 20.0,
            y: 20.0,
            width: 360.0,
            height: 140.0,
        },
        labels: ["Excellent", "Good", "Fair", "Poor"]
            .map(String::from)
            .to_vec(),
        style: style(16.0),
        bar: Color::rgba(43, 108, 176, 255),
        track: Some(Color::WHITE),
        highlight: Color::rgba(46, 157, 91, 255),
        label_width: 100.0,
        value_width: 48.0,
        value: ResultsValue::Percent,
    };
    let mut layers = vec![rect(0.0, 0.0, 400.0, 180.0, "#e8eef5", 0.0)];
    layers.extend(results.layers(&view.rows(results.value)));
    plan(400, 180, layers)
}

/// The reference card of the benchmark: a 600x200 background image and two
/// lines of white text.
fn card(name: &str) -> RenderPlan {
    let white = Color::WHITE;
    let headline = TextStyle {
        weight: Weight::Bold,
        color: white,
        align: HorizontalAlign::Center,
        vertical_align: VerticalAlign::Bottom,
        direction: TextDirection::Auto,
        emoji: EmojiStyle::Color,
        min_size: 24.0,
        ..style(36.0)
    };
    let subline = TextStyle {
        color: Color::rgba(255, 255, 255, 220),
        align: HorizontalAlign::Center,
        ..style(20.0)
    };
    plan(
        600,
        200,
        vec![
            image(background(), Fit::Cover, 0.0, 0.0, 600.0, 200.0, 0.0, 1.0),
            Layer::Text(TextLayer {
                frame: Frame {
                    x: 24.0,
                    y: 30.0,
                    width: 552.0,
                    height: 70.0,
                },
                text: name.to_string(),
                style: headline,
            }),
            Layer::Text(TextLayer {
                frame: Frame {
                    x: 24.0,
                    y: 110.0,
                    width: 552.0,
                    height: 60.0,
                },
                text: "Your renewal went through. See you next year.".into(),
                style: subline,
            }),
        ],
    )
}

#[test]
fn color_emoji_keep_their_colors_and_mono_emoji_take_the_text_color() {
    let render = |emoji: EmojiStyle| {
        let style = TextStyle {
            color: Color::rgba(0, 0, 0, 255),
            emoji,
            ..style(40.0)
        };
        let plan = framed_text("🇫🇷", style);
        let bytes = renderer().render(&plan).expect("renders");
        image::load_from_memory(&bytes)
            .expect("decodes")
            .into_rgb8()
    };
    // The French flag's blue and red, drawn with black text.
    let colorful = |pixels: &image::RgbImage| {
        let blue = pixels.pixels().any(|p| p.0[2] > 150 && p.0[0] < 80);
        let red = pixels
            .pixels()
            .any(|p| p.0[0] > 200 && p.0[1] < 80 && p.0[2] < 80);
        blue && red
    };
    assert!(colorful(&render(EmojiStyle::Color)));
    // In mono, every pixel lies between the text's black and the frame's
    // pale blue: no red anywhere.
    let mono = render(EmojiStyle::Mono);
    assert!(!colorful(&mono));
    assert!(
        mono.pixels()
            .any(|p| p.0[0] < 60 && p.0[1] < 60 && p.0[2] < 60)
    );
}
