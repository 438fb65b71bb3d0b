//! What a variant shows one request, layer by layer: the typed result of
//! resolving its texts, links and poll results against the request's
//! context.
//!
//! A [`Content`] holds one [`LayerContent`] per layer of the variant, in
//! layer order, so nothing walks a flat list of strings with a counter.
//! With the variant, it decides the image completely: it is what a lock
//! keeps (see [`super::lock`]) and what the artwork is built from.

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
        for layer in &self.layers {
            if let LayerContent::ImageUrl(url) = layer
                && !url.is_empty()
                && !urls.contains(&url.as_str())
            {
                urls.push(url);
            }
        }
        urls
    }

    /// The words of the text-like layers (texts, image URLs, codes and
    /// countdown labels), in layer order, as the AMP answer lists them.
    pub fn plain_texts(&self) -> Vec<&str> {
        let mut texts = Vec::new();
        for layer in &self.layers {
            match layer {
                LayerContent::Fixed | LayerContent::Poll(_) => {}
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
        self.layers.len() == variant.layers.len()
            && self
                .layers
                .iter()
                .zip(&variant.layers)
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
    let texts = &template.texts;
    let mut layers = Vec::with_capacity(variant.layers.len());
    for layer in &variant.layers {
        layers.push(match layer {
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
                    resolved
                        .push(PluralForms::new(words).unwrap_or_else(|| PluralForms::plain("")));
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
        });
    }
    Ok(Content { layers })
}

/// The categories a declared label resolves to: its own, or `other` alone
/// for a unit without a label (which resolves to an empty plain label).
pub(super) fn declared_categories(
    declared: &[(PluralCategory, crate::expr::TextId)],
) -> impl Iterator<Item = PluralCategory> + '_ {
    let plain = declared.is_empty().then_some(PluralCategory::Other);
    declared.iter().map(|(category, _)| *category).chain(plain)
}
