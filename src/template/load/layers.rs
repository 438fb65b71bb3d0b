//! Checking a variant's layers: one `match` hands each kind of layer to a
//! function of its own, which checks the layer's fields and compiles its
//! texts. Errors name the field under the layer's path in the file
//! (`variants[0].layers[2].fill`), and only a layer's first error is
//! reported, so each function checks its fields in a fixed order.
//!
//! The layers that set text in a font (text, countdown, poll results) are in
//! `text_layers.rs`.

use std::path::Path;
use std::sync::Arc;

use super::repeat::RepeatFields;
use super::text_layers::{CountdownFields, PollResultsFields, TextFields};
use super::{Builder, TemplateError};
use crate::render::{Asset, CodeLayer, Color, Fit, Frame, ImageLayer, Layer, RectLayer, Symbology};
use crate::template::VariantLayer;
use crate::template::file::LayerFile;

impl Builder<'_> {
    /// Checks one layer of variant `variant`, found at `path` in the file,
    /// and compiles its texts. This only dispatches: the file's layers are
    /// struct variants of one enum, so their fields are unpacked here and
    /// handed to the function of their kind.
    pub(super) fn layer(
        &mut self,
        layer: LayerFile,
        variant: &str,
        path: &str,
    ) -> Result<VariantLayer, TemplateError> {
        let file = self.path;
        let site = |x: f32, y: f32, width: f32, height: f32| LayerSite {
            file,
            variant,
            path,
            x,
            y,
            width,
            height,
        };
        match layer {
            LayerFile::Rect {
                x,
                y,
                width,
                height,
                fill,
                radius,
            } => rect_layer(&site(x, y, width, height), &fill, radius),
            LayerFile::Image {
                x,
                y,
                width,
                height,
                src,
                url: None,
                fit,
                radius,
                opacity,
            } => self.image_layer(&site(x, y, width, height), src, fit, radius, opacity),
            LayerFile::Image {
                x,
                y,
                width,
                height,
                src,
                url: Some(url),
                fit,
                radius,
                opacity,
            } => {
                self.remote_image_layer(&site(x, y, width, height), url, src, fit, radius, opacity)
            }
            LayerFile::Text {
                x,
                y,
                width,
                height,
                text,
                font,
                weight,
                size,
                min_size,
                color,
                align,
                vertical_align,
                direction,
                emoji,
                line_height,
                letter_spacing,
                max_lines,
                wrap,
            } => self.text_layer(
                &site(x, y, width, height),
                text,
                TextFields {
                    font,
                    weight,
                    size,
                    min_size,
                    color,
                    align,
                    vertical_align,
                    direction,
                    emoji,
                    line_height,
                    letter_spacing,
                    max_lines,
                    wrap,
                },
            ),
            LayerFile::Countdown {
                x,
                y,
                width,
                height,
                units,
                labels,
                locale,
                font,
                weight,
                size,
                color,
                label_size,
                label_color,
                digit_box,
                separator,
                pad,
                gap,
                hide_leading_zero_units,
            } => self.countdown_layer(
                &site(x, y, width, height),
                CountdownFields {
                    units,
                    labels,
                    locale,
                    font,
                    weight,
                    size,
                    color,
                    label_size,
                    label_color,
                    digit_box,
                    separator,
                    pad,
                    gap,
                    hide_leading_zero_units,
                },
            ),
            LayerFile::PollResults {
                x,
                y,
                width,
                height,
                font,
                weight,
                size,
                color,
                bar_color,
                track_color,
                highlight_color,
                label_width,
                value_width,
                value,
            } => self.poll_results_layer(
                &site(x, y, width, height),
                PollResultsFields {
                    font,
                    weight,
                    size,
                    color,
                    bar_color,
                    track_color,
                    highlight_color,
                    label_width,
                    value_width,
                    value,
                },
            ),
            LayerFile::Qr {
                x,
                y,
                width,
                height,
                content,
                color,
                background,
                error_correction,
            } => self.code_layer(
                &site(x, y, width, height),
                Symbology::Qr { error_correction },
                content,
                &color,
                background,
            ),
            LayerFile::Barcode {
                x,
                y,
                width,
                height,
                content,
                color,
                background,
            } => self.code_layer(
                &site(x, y, width, height),
                Symbology::Code128,
                content,
                &color,
                background,
            ),
            LayerFile::Repeat {
                items,
                max,
                x,
                y,
                width,
                height,
                columns,
                gap,
                layers,
            } => self.repeat_layer(
                &site(x, y, width, height),
                RepeatFields {
                    items,
                    max,
                    columns,
                    gap,
                    layers,
                },
            ),
        }
    }

    /// An image from the templates directory, the same for every recipient.
    fn image_layer(
        &mut self,
        site: &LayerSite,
        src: Option<String>,
        fit: Fit,
        radius: f32,
        opacity: f32,
    ) -> Result<VariantLayer, TemplateError> {
        let image = self.image_basics(site, src, radius, opacity)?;
        let Some(asset) = image.asset else {
            return Err(site.error(
                "src",
                "an image layer needs src (a file) or url (from state), or both".into(),
            ));
        };
        Ok(VariantLayer::Static(Layer::Image(ImageLayer {
            frame: image.frame,
            asset,
            fit,
            radius: image.radius,
            opacity,
        })))
    }

    /// An image whose URL comes from state, fetched per request; the file at
    /// `src`, when given, is its placeholder.
    fn remote_image_layer(
        &mut self,
        site: &LayerSite,
        url: String,
        src: Option<String>,
        fit: Fit,
        radius: f32,
        opacity: f32,
    ) -> Result<VariantLayer, TemplateError> {
        let image = self.image_basics(site, src, radius, opacity)?;
        let url = self
            .texts
            .add(&url)
            .map_err(|e| site.error("url", e.to_string()))?;
        Ok(VariantLayer::RemoteImage {
            frame: image.frame,
            url,
            fit,
            radius: image.radius,
            opacity,
            placeholder: image.asset,
        })
    }

    /// Checks what every image layer has, in this order: the opacity, the
    /// frame, the radius and the file at `src`.
    fn image_basics(
        &mut self,
        site: &LayerSite,
        src: Option<String>,
        radius: f32,
        opacity: f32,
    ) -> Result<ImageBasics, TemplateError> {
        if !(0.0..=1.0).contains(&opacity) {
            return Err(site.error("opacity", "must be from 0 to 1".into()));
        }
        let frame = site.frame()?;
        let radius = site.radius(radius)?;
        let asset = match &src {
            Some(src) => Some(
                self.asset(src)
                    .map_err(|message| site.error("src", message))?,
            ),
            None => None,
        };
        Ok(ImageBasics {
            frame,
            radius,
            asset,
        })
    }

    /// A QR code or a barcode of a text. Content without interpolation is
    /// checked now, so that a code that can never be drawn fails at load;
    /// the rest is checked per request.
    fn code_layer(
        &mut self,
        site: &LayerSite,
        symbology: Symbology,
        content: String,
        color: &str,
        background: Option<String>,
    ) -> Result<VariantLayer, TemplateError> {
        let frame = site.frame()?;
        let is_static = !content.contains("{{") && !content.contains("{%");
        if is_static && let Err(message) = CodeLayer::check_content(symbology, &content) {
            return Err(site.error("content", message));
        }
        let color = site.color("color", color)?;
        let background = match &background {
            Some(text) => Some(site.color("background", text)?),
            None => None,
        };
        let content = self
            .texts
            .add(&content)
            .map_err(|e| site.error("content", e.to_string()))?;
        Ok(VariantLayer::Code {
            frame,
            symbology,
            content,
            color,
            background,
        })
    }
}

/// A rectangle, filled and maybe rounded.
fn rect_layer(site: &LayerSite, fill: &str, radius: f32) -> Result<VariantLayer, TemplateError> {
    Ok(VariantLayer::Static(Layer::Rect(RectLayer {
        frame: site.frame()?,
        fill: site.color("fill", fill)?,
        radius: site.radius(radius)?,
    })))
}

/// Where a layer is: in the file, for its errors, and on the canvas, as the
/// file gives it and before it is checked.
pub(super) struct LayerSite<'a> {
    pub(super) file: &'a Path,
    pub(super) variant: &'a str,
    /// The layer's path in the file, such as `variants[0].layers[2]`.
    pub(super) path: &'a str,
    x: f32,
    y: f32,
    width: f32,
    height: f32,
}

impl LayerSite<'_> {
    /// An error in `field` of this layer.
    pub(super) fn error(&self, field: &str, message: String) -> TemplateError {
        TemplateError {
            file: self.file.to_path_buf(),
            variant: Some(self.variant.to_string()),
            field: Some(format!("{}.{field}", self.path)),
            message,
        }
    }

    /// The layer's frame, once its numbers are checked.
    pub(super) fn frame(&self) -> Result<Frame, TemplateError> {
        let (x, y, width, height) = (self.x, self.y, self.width, self.height);
        let all_finite = [x, y, width, height].iter().all(|v| v.is_finite());
        if !all_finite || width <= 0.0 || height <= 0.0 {
            return Err(self.error(
                "width",
                "x, y, width and height must be numbers, with width and height above 0".into(),
            ));
        }
        Ok(Frame {
            x,
            y,
            width,
            height,
        })
    }

    /// The color that `text`, the value of `field`, names.
    pub(super) fn color(&self, field: &str, text: &str) -> Result<Color, TemplateError> {
        Color::parse(text).map_err(|e| self.error(field, format!("{text:?}: {e}")))
    }

    /// A corner radius, which is never negative.
    pub(super) fn radius(&self, radius: f32) -> Result<f32, TemplateError> {
        if radius.is_finite() && radius >= 0.0 {
            Ok(radius)
        } else {
            Err(self.error("radius", "must be 0 or more".into()))
        }
    }
}

/// What every image layer has, checked.
struct ImageBasics {
    frame: Frame,
    radius: f32,
    /// The file at `src`, decoded: the image itself, or a remote image's
    /// placeholder.
    asset: Option<Arc<Asset>>,
}
