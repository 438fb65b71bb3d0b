//! What a variant shows one request, layer by layer: the typed result of
//! resolving its texts, links and poll results against the request's
//! context.
//!
//! A [`Content`] holds one [`LayerContent`] per layer of the variant, in
//! layer order, so nothing walks a flat list of strings with a counter.
//! With the variant, it decides the image completely: it is what a lock
//! keeps (see [`super::lock`]) and what the artwork is built from.

use minijinja::Value;
use minijinja::value::ValueKind;

use crate::expr::{Context, ExprError};
use crate::poll::PollView;
use crate::template::{Template, Variant, VariantLayer};
use crate::words::plural::{PluralCategory, PluralForms};

/// What one layer of a variant shows a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerContent {
    /// A layer fully known at load: nothing to resolve.
    Fixed,
    /// A text layer's resolved words.
    Text(String),
    /// A remote image layer's resolved URL, trimmed; empty when the state
    /// names none.
    ImageUrl(String),
    /// What a QR code or barcode encodes, trimmed; empty draws no code.
    Code(String),
    /// A poll's results as this request sees them.
    Poll(PollView),
    /// A countdown's unit labels, one per unit, each its resolved forms
    /// (a plain label has only `other`; empty where the template gives
    /// none), and the resolved locale of their plural rules when the
    /// template names one.
    Countdown {
        labels: Vec<PluralForms>,
        locale: Option<String>,
    },
    /// A repeat layer's cells, one per item drawn, each its child layers'
    /// content in order.
    Repeat(Vec<Vec<LayerContent>>),
}

/// A variant's resolved layers, in layer order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    pub layers: Vec<LayerContent>,
}

impl Content {
    /// The URLs the variant's remote image layers resolved to, each once;
    /// empty ones are left out.
    pub fn image_urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = Vec::new();
        for layer in every_layer(&self.layers) {
            if let LayerContent::ImageUrl(url) = layer
                && !url.is_empty()
                && !urls.contains(&url.as_str())
            {
                urls.push(url);
            }
        }
        urls
    }

    /// The texts of each item a repeat layer drew, item by item, as the
    /// AMP answer lists them.
    pub fn repeated_items(&self) -> Vec<Vec<&str>> {
        let mut items = Vec::new();
        for layer in &self.layers {
            if let LayerContent::Repeat(cells) = layer {
                for cell in cells {
                    items.push(
                        cell.iter()
                            .filter_map(|content| match content {
                                LayerContent::Text(text)
                                | LayerContent::ImageUrl(text)
                                | LayerContent::Code(text) => Some(text.as_str()),
                                _ => None,
                            })
                            .collect(),
                    );
                }
            }
        }
        items
    }

    /// The words of the text-like layers (texts, image URLs, codes and
    /// countdown labels), in layer order, as the AMP answer lists them.
    pub fn plain_texts(&self) -> Vec<&str> {
        let mut texts = Vec::new();
        for layer in &self.layers {
            match layer {
                // Listed item by item in the AMP answer's own field.
                LayerContent::Fixed | LayerContent::Poll(_) | LayerContent::Repeat(_) => {}
                LayerContent::Text(text)
                | LayerContent::ImageUrl(text)
                | LayerContent::Code(text) => texts.push(text.as_str()),
                LayerContent::Countdown { labels, .. } => {
                    texts.extend(labels.iter().map(|label| label.pick(PluralCategory::Other)));
                }
            }
        }
        texts
    }

    /// Whether this content fits `variant`: one entry per layer, each of
    /// the layer's kind. A lock kept before an edit of the template may
    /// not.
    pub fn fits(&self, variant: &Variant) -> bool {
        fits_layers(&self.layers, &variant.layers)
    }
}

/// Every layer's content, a repeat layer's cells' included.
fn every_layer(layers: &[LayerContent]) -> Box<dyn Iterator<Item = &LayerContent> + '_> {
    Box::new(layers.iter().flat_map(|layer| match layer {
        LayerContent::Repeat(cells) => Box::new(cells.iter().flat_map(|cell| every_layer(cell)))
            as Box<dyn Iterator<Item = &LayerContent>>,
        other => Box::new(std::iter::once(other)),
    }))
}

/// Whether `contents` fit `layers`: one entry per layer, each of its kind.
fn fits_layers(contents: &[LayerContent], layers: &[VariantLayer]) -> bool {
    {
        contents.len() == layers.len()
            && contents
                .iter()
                .zip(layers)
                .all(|(content, layer)| match (content, layer) {
                    (LayerContent::Fixed, VariantLayer::Static(_))
                    | (LayerContent::Text(_), VariantLayer::Text { .. })
                    | (LayerContent::ImageUrl(_), VariantLayer::RemoteImage { .. })
                    | (LayerContent::Code(_), VariantLayer::Code { .. })
                    | (LayerContent::Poll(_), VariantLayer::PollResults(_)) => true,
                    (
                        LayerContent::Countdown { labels, locale },
                        VariantLayer::Countdown {
                            labels: declared,
                            locale: declared_locale,
                            ..
                        },
                    ) => {
                        labels.len() == declared.len()
                            && locale.is_some() == declared_locale.is_some()
                            && labels.iter().zip(declared).all(|(label, declared)| {
                                label
                                    .given()
                                    .map(|(category, _)| category)
                                    .eq(declared_categories(declared))
                            })
                    }
                    (LayerContent::Repeat(cells), VariantLayer::Repeat(repeat)) => {
                        cells.len() <= repeat.max
                            && cells.iter().all(|cell| fits_layers(cell, &repeat.layers))
                    }
                    _ => false,
                })
    }
}

/// Resolves every layer of `variant` against `context`. A poll's results
/// come from `poll` (the request's view of the template's poll); without
/// one they show as unknown.
pub fn resolve_content(
    template: &Template,
    variant: &Variant,
    context: &Context,
    poll: Option<&PollView>,
) -> Result<Content, ExprError> {
    let mut layers = Vec::with_capacity(variant.layers.len());
    for layer in &variant.layers {
        layers.push(resolve_layer(template, layer, context, poll)?);
    }
    Ok(Content { layers })
}

/// What one layer shows this request.
fn resolve_layer(
    template: &Template,
    layer: &VariantLayer,
    context: &Context,
    poll: Option<&PollView>,
) -> Result<LayerContent, ExprError> {
    let texts = &template.texts;
    Ok(match layer {
        VariantLayer::Static(_) => LayerContent::Fixed,
        VariantLayer::Text { text, .. } => LayerContent::Text(texts.render(*text, context)?),
        VariantLayer::RemoteImage { url, .. } => {
            LayerContent::ImageUrl(texts.render(*url, context)?.trim().to_string())
        }
        VariantLayer::Code { content, .. } => {
            LayerContent::Code(texts.render(*content, context)?.trim().to_string())
        }
        VariantLayer::PollResults(_) => {
            LayerContent::Poll(poll.cloned().unwrap_or_else(PollView::unknown))
        }
        VariantLayer::Countdown { labels, locale, .. } => {
            let mut resolved = Vec::with_capacity(labels.len());
            for forms in labels {
                let mut words = Vec::with_capacity(forms.len());
                for (category, text) in forms {
                    words.push((*category, texts.render(*text, context)?));
                }
                // The loader gives every label with forms an `other`.
                resolved.push(PluralForms::new(words).unwrap_or_else(|| PluralForms::plain("")));
            }
            let locale = match locale {
                Some(text) => Some(texts.render(*text, context)?.trim().to_string()),
                None => None,
            };
            LayerContent::Countdown {
                labels: resolved,
                locale,
            }
        }
        VariantLayer::Repeat(repeat) => {
            let items = repeat.items.value(context)?;
            let items = list_items(&items, repeat.max)?;
            let length = items.len();
            let mut cells = Vec::with_capacity(length);
            for (index, item) in items.into_iter().enumerate() {
                let looping = Value::from_pairs(vec![
                    ("index", Value::from(index + 1)),
                    ("index0", Value::from(index)),
                    ("first", Value::from(index == 0)),
                    ("last", Value::from(index + 1 == length)),
                    ("length", Value::from(length)),
                ]);
                let context = context.with("item", item).with("loop", looping);
                let mut cell = Vec::with_capacity(repeat.layers.len());
                for child in &repeat.layers {
                    cell.push(resolve_layer(template, child, &context, poll)?);
                }
                cells.push(cell);
            }
            LayerContent::Repeat(cells)
        }
    })
}

/// The first `max` items of a repeat layer's list. Undefined or none is
/// no items (a source that did not answer draws an empty grid); a value
/// that is not a list is an error, as a text that does not render is.
fn list_items(items: &Value, max: usize) -> Result<Vec<Value>, ExprError> {
    match items.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(Vec::new()),
        ValueKind::Seq | ValueKind::Iterable => Ok(items
            .try_iter()
            .map_err(|error| ExprError::Eval(error.to_string()))?
            .take(max)
            .collect()),
        kind => Err(ExprError::Eval(format!(
            "a repeat layer's items must be a list, not {kind}"
        ))),
    }
}

/// The categories a declared label resolves to: its own, or `other` alone
/// for a unit without a label (which resolves to an empty plain label).
pub(super) fn declared_categories(
    declared: &[(PluralCategory, crate::expr::TextId)],
) -> impl Iterator<Item = PluralCategory> + '_ {
    let plain = declared.is_empty().then_some(PluralCategory::Other);
    declared.iter().map(|(category, _)| *category).chain(plain)
}
