//! Drawing a `code` layer: a QR code or a Code 128 barcode, for a phone's
//! camera or a till's scanner to read off the screen.
//!
//! Scanners decide dark or light per module, so nothing here is
//! antialiased: every module is a whole number of canvas pixels, the
//! largest that fits the frame, and every fill starts and ends on a pixel
//! edge. A code that would need less than one pixel a module, or whose
//! content cannot be encoded, is an error rather than a blurred or clipped
//! symbol: an image that does not scan is worse than the fallback image
//! the server shows instead.

use qrcode::{EcLevel, QrCode};

use crate::render::canvas::{Canvas, Premultiplied, blend_over};
use crate::render::{CodeLayer, Frame, QrErrorCorrection, RenderError, Symbology, code128};

/// Modules of light space around a QR code, which readers need to find its
/// finder patterns (ISO/IEC 18004 asks for four).
const QR_QUIET_ZONE_MODULES: u32 = 4;

/// Draws the layer's code centered in its frame, at `scale` canvas pixels
/// per 1x pixel.
pub(crate) fn draw_code(
    canvas: &mut Canvas,
    layer: &CodeLayer,
    scale: u32,
) -> Result<(), RenderError> {
    check_content(layer.symbology, &layer.content)
        .map_err(|reason| RenderError::Code { reason })?;
    let frame = PixelFrame::inside(layer.frame, scale);
    let dark = Premultiplied::from_color(layer.color);
    let light = layer.background.map(Premultiplied::from_color);
    match layer.symbology {
        Symbology::Qr { error_correction } => draw_qr(
            canvas,
            frame,
            &layer.content,
            error_correction,
            dark,
            light,
            scale,
        ),
        Symbology::Code128 => draw_code128(canvas, frame, &layer.content, dark, light, scale),
    }
    .map_err(|reason| RenderError::Code { reason })
}

/// Whether `content` can be encoded in `symbology`, or why not; behind
/// [`CodeLayer::check_content`].
pub(crate) fn check_content(symbology: Symbology, content: &str) -> Result<(), String> {
    match symbology {
        Symbology::Code128 => code128::check_content(content),
        Symbology::Qr { error_correction } => {
            if content.is_empty() {
                return Err("a QR code needs some content; it is empty".into());
            }
            // The same segmenting and capacity check `QrCode` makes, without
            // the error correction and masking of a full encode.
            qrcode::bits::encode_auto(content.as_bytes(), ec_level(error_correction))
                .map(|_| ())
                .map_err(|_| qr_too_long(content, error_correction))
        }
    }
}

/// Draws a QR code, square, as large as whole pixels per module allow.
fn draw_qr(
    canvas: &mut Canvas,
    frame: PixelFrame,
    content: &str,
    error_correction: QrErrorCorrection,
    dark: Premultiplied,
    light: Option<Premultiplied>,
    scale: u32,
) -> Result<(), String> {
    let code = QrCode::with_error_correction_level(content.as_bytes(), ec_level(error_correction))
        .map_err(|_| qr_too_long(content, error_correction))?;
    let symbol_modules = code.width() as i64;
    let side_modules = symbol_modules + 2 * i64::from(QR_QUIET_ZONE_MODULES);
    let available = frame.width.min(frame.height);
    let module = available / side_modules;
    if module < 1 {
        return Err(format!(
            "the frame is too small for this QR code: {symbol_modules}x{symbol_modules} modules \
             and a {QR_QUIET_ZONE_MODULES}-module quiet zone need {side_modules} pixels a side at \
             one pixel a module, and the frame's smaller side is {available} pixels at {scale}x; \
             make the frame larger, the content shorter or the error correction lower"
        ));
    }
    let side = module * side_modules;
    let left = frame.left + (frame.width - side) / 2;
    let top = frame.top + (frame.height - side) / 2;
    if let Some(light) = light {
        fill(canvas, left, top, side, side, light);
    }
    let quiet = i64::from(QR_QUIET_ZONE_MODULES) * module;
    let colors = code.to_colors();
    for (row, modules) in colors.chunks_exact(code.width()).enumerate() {
        let y = top + quiet + row as i64 * module;
        // Each run of dark modules in a row is one fill.
        let mut column = 0;
        while column < modules.len() {
            if modules[column] == qrcode::Color::Light {
                column += 1;
                continue;
            }
            let run_start = column;
            while column < modules.len() && modules[column] == qrcode::Color::Dark {
                column += 1;
            }
            let x = left + quiet + run_start as i64 * module;
            let run = (column - run_start) as i64 * module;
            fill(canvas, x, y, run, module, dark);
        }
    }
    Ok(())
}

/// Draws a Code 128 barcode whose bars start at the frame's left edge, so
/// that they line up with text set at the same `x`, and fill its height.
/// The ten-module quiet zones go outside the frame, on the canvas (a
/// `background` paints them, otherwise the template keeps that space
/// light): modules are the largest whole number of pixels for which the
/// bars fit the frame and both quiet zones fit the canvas. A frame with no
/// room left of it for even a one-pixel-module quiet zone keeps its quiet
/// zones inside, the bars after the left one.
fn draw_code128(
    canvas: &mut Canvas,
    frame: PixelFrame,
    content: &str,
    dark: Premultiplied,
    light: Option<Premultiplied>,
    scale: u32,
) -> Result<(), String> {
    let barcode = code128::encode(content)?;
    let quiet_modules = i64::from(code128::QUIET_ZONE_MODULES);
    let bar_modules = i64::from(barcode.module_count());
    let room_right = i64::from(canvas.width) - frame.left;
    let outside = (frame.width / bar_modules)
        .min(frame.left / quiet_modules)
        .min(room_right / (bar_modules + quiet_modules));
    let (module, bars_left) = if outside >= 1 {
        (outside, frame.left)
    } else {
        let inside = frame.width / (bar_modules + 2 * quiet_modules);
        (inside, frame.left + quiet_modules * inside)
    };
    if module < 1 || frame.height < 1 {
        let total_modules = bar_modules + 2 * quiet_modules;
        return Err(format!(
            "the frame is too small for this Code 128 barcode: {bar_modules} modules of bars \
             need {bar_modules} pixels across at one pixel a module, with a \
             {quiet_modules}-module quiet zone each side outside the frame (or {total_modules} \
             pixels inside it), and the frame is {}x{} pixels at {scale}x; make the frame \
             wider or the content shorter",
            frame.width, frame.height,
        ));
    }
    let quiet = quiet_modules * module;
    if let Some(light) = light {
        let width = bar_modules * module + 2 * quiet;
        fill(
            canvas,
            bars_left - quiet,
            frame.top,
            width,
            frame.height,
            light,
        );
    }
    let mut x = bars_left;
    for (index, modules) in barcode.element_widths().enumerate() {
        let element = i64::from(modules) * module;
        // Elements alternate bar, space, bar, starting with a bar.
        if index % 2 == 0 {
            fill(canvas, x, frame.top, element, frame.height, dark);
        }
        x += element;
    }
    Ok(())
}

/// The whole canvas pixels inside a frame: its edges rounded inwards, so a
/// code drawn in it never spills past the frame the template gave (but for
/// the light quiet zone of a barcode with a `background`, which lies
/// outside on purpose).
#[derive(Debug, Clone, Copy)]
struct PixelFrame {
    left: i64,
    top: i64,
    /// Zero or more.
    width: i64,
    /// Zero or more.
    height: i64,
}

impl PixelFrame {
    fn inside(frame: Frame, scale: u32) -> PixelFrame {
        // Far beyond any canvas (`MAX_SIDE`), and small enough that no sum
        // of positions and sizes below can overflow. `as` maps NaN to zero,
        // so an absurd frame becomes an empty one, which fails as too small.
        const LIMIT: f64 = (1 << 24) as f64;
        let scale = f64::from(scale);
        let edge = |value: f32, round: fn(f64) -> f64| {
            round(f64::from(value) * scale).clamp(-LIMIT, LIMIT) as i64
        };
        let left = edge(frame.x, f64::ceil);
        let top = edge(frame.y, f64::ceil);
        let right = edge(frame.x + frame.width, f64::floor);
        let bottom = edge(frame.y + frame.height, f64::floor);
        PixelFrame {
            left,
            top,
            width: (right - left).max(0),
            height: (bottom - top).max(0),
        }
    }
}

/// Blends `color` over a rectangle of whole pixels, clipped to the canvas.
fn fill(canvas: &mut Canvas, left: i64, top: i64, width: i64, height: i64, color: Premultiplied) {
    if color.0[3] == 0 {
        return;
    }
    let clip = |start: i64, length: i64, limit: u32| {
        let limit = i64::from(limit);
        (
            start.clamp(0, limit) as u32,
            (start + length).clamp(0, limit) as u32,
        )
    };
    let (x0, x1) = clip(left, width, canvas.width);
    let rows = canvas.drawable_rows(top, top.saturating_add(height));
    let (y0, y1) = (rows.start, rows.end);
    if x0 >= x1 {
        return;
    }
    for y in y0..y1 {
        for pixel in canvas
            .span_mut(x0, y, (x1 - x0) as usize)
            .chunks_exact_mut(4)
        {
            blend_over(pixel, color.0);
        }
    }
}

/// The level as template files write it.
fn level_name(error_correction: QrErrorCorrection) -> &'static str {
    match error_correction {
        QrErrorCorrection::Low => "low",
        QrErrorCorrection::Medium => "medium",
        QrErrorCorrection::Quartile => "quartile",
        QrErrorCorrection::High => "high",
    }
}

fn ec_level(error_correction: QrErrorCorrection) -> EcLevel {
    match error_correction {
        QrErrorCorrection::Low => EcLevel::L,
        QrErrorCorrection::Medium => EcLevel::M,
        QrErrorCorrection::Quartile => EcLevel::Q,
        QrErrorCorrection::High => EcLevel::H,
    }
}

/// Why a QR code cannot hold `content`, with the limits of the largest
/// symbol (version 40) for text that is not all digits or capitals.
fn qr_too_long(content: &str, error_correction: QrErrorCorrection) -> String {
    let most_bytes = match error_correction {
        QrErrorCorrection::Low => 2953,
        QrErrorCorrection::Medium => 2331,
        QrErrorCorrection::Quartile => 1663,
        QrErrorCorrection::High => 1273,
    };
    format!(
        "the content is too long for a QR code: {} bytes, and the largest QR code holds about \
         {most_bytes} bytes of text at {} error correction (more if it is all digits or \
         capitals); shorten it or lower the error correction",
        content.len(),
        level_name(error_correction),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Color;

    fn layer(symbology: Symbology, content: &str, width: f32, height: f32) -> CodeLayer {
        CodeLayer {
            frame: Frame {
                x: 0.5,
                y: 0.5,
                width,
                height,
            },
            symbology,
            content: content.into(),
            color: Color::rgba(0, 0, 0, 255),
            background: Some(Color::WHITE),
        }
    }

    const QR: Symbology = Symbology::Qr {
        error_correction: QrErrorCorrection::Medium,
    };

    /// The canvas's distinct alpha values: a crisp code has only 0 and 255.
    fn alphas(canvas: &Canvas) -> Vec<u8> {
        let mut alphas: Vec<u8> = canvas.pixels.chunks_exact(4).map(|p| p[3]).collect();
        alphas.sort_unstable();
        alphas.dedup();
        alphas
    }

    #[test]
    fn a_qr_code_takes_whole_pixels_inside_a_fractional_frame() {
        let mut canvas = Canvas::new(120, 120);
        // Version 1 (21 modules) and the quiet zone: 29 modules. The frame
        // runs from 0.5 to 100.5 and so covers the 99 whole pixels 1 to 99:
        // 99 / 29 = 3 pixels a module.
        draw_code(&mut canvas, &layer(QR, "SAVE20", 100.0, 100.0), 1).expect("draws");
        assert_eq!(alphas(&canvas), [0, 255]);
        let painted: Vec<usize> = (0..120)
            .filter(|&x| canvas.pixels[(50 * 120 + x) * 4 + 3] != 0)
            .collect();
        let side = 29 * 3;
        let left = 1 + (99 - side) / 2;
        assert_eq!(painted.first(), Some(&left));
        assert_eq!(painted.len(), side);
    }

    #[test]
    fn a_barcode_fills_the_frame_height_between_pixel_edges() {
        let mut canvas = Canvas::new(300, 60);
        draw_code(
            &mut canvas,
            &layer(Symbology::Code128, "12345678", 280.0, 40.0),
            1,
        )
        .expect("draws");
        assert_eq!(alphas(&canvas), [0, 255]);
        let column_alpha = |x: usize| -> Vec<u8> {
            (0..60)
                .map(|y| canvas.pixels[(y * 300 + x) * 4 + 3])
                .collect()
        };
        // The frame runs from 0.5 to 40.5: rows 1 to 39 are whole pixels
        // inside it and covered, the half-covered rows 0 and 40 are not.
        let middle = column_alpha(150);
        assert_eq!(middle[0], 0);
        assert!(middle[1..40].iter().all(|&alpha| alpha == 255));
        assert!(middle[40..].iter().all(|&alpha| alpha == 0));
    }

    #[test]
    fn a_barcode_starts_at_the_frames_left_edge_with_its_quiet_zone_outside() {
        // "12345678" is 79 modules of bars: 3 pixels a module in 240.
        let mut canvas = Canvas::new(320, 40);
        let barcode = CodeLayer {
            frame: Frame {
                x: 40.0,
                y: 0.0,
                width: 240.0,
                height: 40.0,
            },
            ..layer(Symbology::Code128, "12345678", 0.0, 0.0)
        };
        draw_code(&mut canvas, &barcode, 1).expect("draws");
        let row: Vec<[u8; 4]> = (0..320)
            .map(|x| {
                let at = (20 * 320 + x) * 4;
                let pixel = &canvas.pixels[at..at + 4];
                [pixel[0], pixel[1], pixel[2], pixel[3]]
            })
            .collect();
        let dark = |pixel: &[u8; 4]| pixel[3] == 255 && pixel[0] == 0;
        let first_bar = row.iter().position(dark);
        let last_bar = row.iter().rposition(dark);
        assert_eq!(first_bar, Some(40), "the first bar is on the frame's edge");
        assert_eq!(last_bar, Some(40 + 79 * 3 - 1));
        // Ten modules of white on either side, outside the frame on the left.
        let white = |x: usize| row[x] == [255, 255, 255, 255];
        assert!((10..40).all(white), "the left quiet zone");
        assert!(
            (40 + 79 * 3..40 + 89 * 3).all(white),
            "the right quiet zone"
        );
        assert_eq!(row[9][3], 0, "nothing beyond the quiet zone");
        assert_eq!(row[40 + 89 * 3][3], 0);
    }

    #[test]
    fn too_small_frames_say_how_many_pixels_the_code_needs() {
        let mut canvas = Canvas::new(40, 40);
        let error = draw_code(&mut canvas, &layer(QR, "SAVE20", 20.0, 20.0), 1)
            .expect_err("29 modules do not fit in 20 pixels")
            .to_string();
        assert!(
            error.contains("too small") && error.contains("29"),
            "{error}"
        );
        let error = draw_code(
            &mut canvas,
            &layer(Symbology::Code128, "SAVE20", 39.0, 39.0),
            1,
        )
        .expect_err("too narrow")
        .to_string();
        assert!(error.contains("too small"), "{error}");
        // At 2x the same frame has twice the pixels, and fits.
        draw_code(&mut canvas, &layer(QR, "SAVE20", 19.0, 19.0), 2).expect("fits at 2x");
        let nan = CodeLayer {
            frame: Frame {
                x: f32::NAN,
                y: 0.0,
                width: f32::INFINITY,
                height: 10.0,
            },
            ..layer(QR, "SAVE20", 1.0, 1.0)
        };
        assert!(draw_code(&mut canvas, &nan, 1).is_err());
    }

    #[test]
    fn qr_contents_are_checked_for_capacity_per_error_correction() {
        let text = "x".repeat(2000);
        let low = Symbology::Qr {
            error_correction: QrErrorCorrection::Low,
        };
        let high = Symbology::Qr {
            error_correction: QrErrorCorrection::High,
        };
        assert!(check_content(low, &text).is_ok());
        let error = check_content(high, &text).expect_err("too long at high");
        assert!(
            error.contains("2000 bytes") && error.contains("high"),
            "{error}"
        );
        assert!(check_content(QR, "").is_err());
    }
}
