//! From a variant and its resolved [`Content`] to what the renderer draws:
//! a still [`RenderPlan`], or for a countdown with time left, the
//! animation's [`TimerPlan`].
//!
//! Pure: the remote images a request fetched come in as
//! [`RemoteAssets`]; offline and for fallback images there are none, and
//! those layers show their placeholder, or nothing.

use std::collections::HashMap;
use std::sync::Arc;

use super::content::{Content, LayerContent};
use crate::countdown::TimerState;
use crate::render::{
    Artwork, Asset, CodeLayer, CountdownLayer, ImageLayer, Layer, OutputFormat, RenderPlan,
    TextLayer, TimerPlan,
};
use crate::template::{Template, Variant, VariantLayer};

/// Images fetched for a request's remote image layers, by URL.
pub type RemoteAssets = HashMap<String, Arc<Asset>>;

/// The scale and format a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub scale: u32,
    pub format: OutputFormat,
}

/// What to render for `variant` showing `content`: its still image, or,
/// for a countdown template's variant with a countdown layer and time
/// left (`timer`), asked for as a GIF, the animation.
pub fn build_artwork(
    template: &Template,
    variant: &Variant,
    content: &Content,
    target: Target,
    timer: Option<&TimerState>,
    remote: &RemoteAssets,
) -> Artwork {
    let base = build_plan(template, variant, content, target, remote);
    let countdown = variant
        .layers
        .iter()
        .zip(&content.layers)
        .find_map(|(layer, content)| match (layer, content) {
            (
                VariantLayer::Countdown { countdown, .. },
                LayerContent::Countdown { labels, locale },
            ) => Some(CountdownLayer {
                labels: labels.clone(),
                locale: locale.clone().unwrap_or_default(),
                ..countdown.clone()
            }),
            _ => None,
        });
    match (countdown, template.timer.as_ref(), timer) {
        (Some(countdown), Some(settings), Some(state)) if target.format == OutputFormat::Gif => {
            Artwork::from(TimerPlan {
                base,
                countdown,
                remaining: state.seconds_left,
                frames: settings.frames,
                looping: settings.looping,
            })
        }
        _ => Artwork::Still(base),
    }
}

/// The still plan of `variant` showing `content` (a countdown layer is
/// left to [`build_artwork`]). A remote image that was not fetched shows
/// its placeholder, or nothing.
pub fn build_plan(
    template: &Template,
    variant: &Variant,
    content: &Content,
    target: Target,
    remote: &RemoteAssets,
) -> RenderPlan {
    let mut layers = Vec::with_capacity(variant.layers.len());
    let mut fixed = Vec::with_capacity(variant.layers.len());
    for (index, layer) in variant.layers.iter().enumerate() {
        // Content always fits its variant (resolved for it, or a lock
        // checked against it); a missing entry draws as empty.
        let content = content.layers.get(index).unwrap_or(&LayerContent::Fixed);
        plan_layer(layer, content, remote, &mut layers);
        fixed.resize(layers.len(), draws_the_same_for_everyone(template, layer));
    }
    RenderPlan {
        width: template.width,
        height: template.height,
        scale: target.scale,
        format: target.format,
        layers,
        fixed,
    }
}

/// Whether a variant's layer draws the same for every recipient: a static
/// layer, or a text with no expression in it. The renderer keeps such
/// layers' pixels ([`RenderPlan::fixed`]); the rest it draws every time.
fn draws_the_same_for_everyone(template: &Template, layer: &VariantLayer) -> bool {
    match layer {
        VariantLayer::Static(_) => true,
        VariantLayer::Text { text, .. } => template.texts.is_literal(*text),
        _ => false,
    }
}

/// Adds what `layer` draws showing `content` to `layers`: nothing, one
/// layer, or several (a poll's rows, a repeat layer's cells).
fn plan_layer(
    layer: &VariantLayer,
    content: &LayerContent,
    remote: &RemoteAssets,
    layers: &mut Vec<Layer>,
) {
    let text = match content {
        LayerContent::Text(text) | LayerContent::ImageUrl(text) | LayerContent::Code(text) => {
            text.as_str()
        }
        _ => "",
    };
    layers.push(match layer {
        VariantLayer::Countdown { .. } => return,
        VariantLayer::PollResults(results) => {
            if let LayerContent::Poll(view) = content {
                layers.extend(results.layers(&view.rows(results.value)));
            }
            return;
        }
        VariantLayer::Repeat(repeat) => {
            let LayerContent::Repeat(cells) = content else {
                return;
            };
            for (index, cell) in cells.iter().enumerate() {
                let (x, y) = repeat.cell_origin(index);
                let mut drawn = Vec::with_capacity(cell.len());
                for (child, content) in repeat.layers.iter().zip(cell) {
                    plan_layer(child, content, remote, &mut drawn);
                }
                layers.extend(drawn.into_iter().map(|layer| moved(layer, x, y)));
            }
            return;
        }
        VariantLayer::Static(layer) => layer.clone(),
        VariantLayer::Text { frame, style, .. } => Layer::Text(TextLayer {
            frame: *frame,
            text: text.to_string(),
            style: style.clone(),
        }),
        VariantLayer::Code {
            frame,
            symbology,
            color,
            background,
            ..
        } => {
            // A code with nothing to encode (no coupon code yet) is not
            // drawn, rather than failing the render.
            if text.is_empty() {
                return;
            }
            Layer::Code(CodeLayer {
                frame: *frame,
                symbology: *symbology,
                content: text.to_string(),
                color: *color,
                background: *background,
            })
        }
        VariantLayer::RemoteImage {
            frame,
            fit,
            radius,
            opacity,
            placeholder,
            ..
        } => {
            let Some(asset) = remote.get(text).or(placeholder.as_ref()) else {
                return;
            };
            Layer::Image(ImageLayer {
                frame: *frame,
                asset: Arc::clone(asset),
                fit: *fit,
                radius: *radius,
                opacity: *opacity,
            })
        }
    });
}

/// `layer` moved by (`dx`, `dy`): a repeat layer's child, from its cell's
/// coordinates to the canvas's.
fn moved(mut layer: Layer, dx: f32, dy: f32) -> Layer {
    let frame = match &mut layer {
        Layer::Rect(rect) => &mut rect.frame,
        Layer::Image(image) => &mut image.frame,
        Layer::Text(text) => &mut text.frame,
        Layer::Code(code) => &mut code.frame,
    };
    frame.x += dx;
    frame.y += dy;
    layer
}
