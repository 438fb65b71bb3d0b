//! A lock as the store keeps it: the variant a person's first open showed,
//! its resolved content and its resolved link, as JSON in
//! `{prefix}r:{ID}:lock:{template}`.
//!
//! The stored form is fixed, because locks written by earlier versions must
//! keep holding: `{"variant": ID, "texts": [...], "link": URL or null}`,
//! where `texts` lists the variant's per-request strings in layer order
//! (one per text, remote image, code and poll layer, one per countdown
//! label, or one per form of a label with plural forms, then the
//! countdown's locale when it names one; a poll's results as
//! `"3,0,12|2"`). Only this file knows that
//! form; everything else sees a typed [`Content`].

use serde::{Deserialize, Serialize};

use super::content::{Content, LayerContent, declared_categories};
use crate::poll::PollView;
use crate::template::{Template, Variant, VariantLayer};
use crate::words::plural::PluralForms;

/// A lock: what was shown, and the link it had then.
#[derive(Debug, Clone)]
pub struct Lock<'t> {
    pub variant: &'t Variant,
    pub content: Content,
    /// The link resolved at the first open; `None` when the variant had
    /// none, or it did not resolve.
    pub link: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct LockRecord {
    variant: String,
    texts: Vec<String>,
    link: Option<String>,
}

impl<'t> Lock<'t> {
    /// The record to store.
    pub fn encode(&self) -> String {
        let record = LockRecord {
            variant: self.variant.id.clone(),
            texts: flatten(&self.content),
            link: self.link.clone(),
        };
        serde_json::to_string(&record).expect("a lock record is plain strings")
    }

    /// A stored record, if it still fits `template`: its variant exists and
    /// its texts fit the variant's layers. An edit of the template can
    /// leave a lock that does not; the rules decide again then.
    pub fn decode(template: &'t Template, record: &str) -> Option<Lock<'t>> {
        let record: LockRecord = serde_json::from_str(record).ok()?;
        let variant = template.variant(&record.variant)?;
        let content = unflatten(variant, record.texts)?;
        Some(Lock {
            variant,
            content,
            link: record.link,
        })
    }
}

/// The stored strings of `content`, in layer order.
fn flatten(content: &Content) -> Vec<String> {
    let mut texts = Vec::new();
    flatten_layers(&content.layers, &mut texts);
    texts
}

fn flatten_layers(layers: &[LayerContent], texts: &mut Vec<String>) {
    for layer in layers {
        match layer {
            LayerContent::Fixed => {}
            LayerContent::Text(text) | LayerContent::ImageUrl(text) | LayerContent::Code(text) => {
                texts.push(text.clone())
            }
            LayerContent::Poll(view) => texts.push(encode_poll(view)),
            LayerContent::Countdown { labels, locale } => {
                for label in labels {
                    texts.extend(label.given().map(|(_, words)| words.to_string()));
                }
                texts.extend(locale.iter().cloned());
            }
            // The number of items, then each item's strings.
            LayerContent::Repeat(cells) => {
                texts.push(cells.len().to_string());
                for cell in cells {
                    flatten_layers(cell, texts);
                }
            }
        }
    }
}

/// The content of `variant` from its stored strings, if there are exactly
/// as many as its layers hold.
fn unflatten(variant: &Variant, texts: Vec<String>) -> Option<Content> {
    let mut texts = texts.into_iter();
    let layers = unflatten_layers(&variant.layers, &mut texts)?;
    let content = Content { layers };
    (texts.next().is_none() && content.fits(variant)).then_some(content)
}

fn unflatten_layers(
    declared: &[VariantLayer],
    texts: &mut std::vec::IntoIter<String>,
) -> Option<Vec<LayerContent>> {
    let mut layers = Vec::with_capacity(declared.len());
    for layer in declared {
        layers.push(match layer {
            VariantLayer::Static(_) => LayerContent::Fixed,
            VariantLayer::Text { .. } => LayerContent::Text(texts.next()?),
            VariantLayer::RemoteImage { .. } => LayerContent::ImageUrl(texts.next()?),
            VariantLayer::Code { .. } => LayerContent::Code(texts.next()?),
            VariantLayer::PollResults(results) => {
                LayerContent::Poll(decode_poll(&texts.next()?, results.labels.len()))
            }
            VariantLayer::Countdown { labels, locale, .. } => {
                let mut resolved = Vec::with_capacity(labels.len());
                for declared in labels {
                    let mut forms = Vec::new();
                    for category in declared_categories(declared) {
                        forms.push((category, texts.next()?));
                    }
                    resolved.push(PluralForms::new(forms)?);
                }
                let locale = match locale {
                    Some(_) => Some(texts.next()?),
                    None => None,
                };
                LayerContent::Countdown {
                    labels: resolved,
                    locale,
                }
            }
            VariantLayer::Repeat(repeat) => {
                let count: usize = texts.next()?.parse().ok()?;
                if count > repeat.max {
                    return None;
                }
                let mut cells = Vec::with_capacity(count);
                for _ in 0..count {
                    cells.push(unflatten_layers(&repeat.layers, texts)?);
                }
                LayerContent::Repeat(cells)
            }
        });
    }
    Some(layers)
}

/// A poll's results as one stored string: `"3,0,12|2"` (counts, then the
/// chosen index or `-`), or `"?|-"` without counts.
fn encode_poll(view: &PollView) -> String {
    let counts = match &view.counts {
        Some(counts) => counts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        None => "?".to_string(),
    };
    let choice = view
        .choice
        .map_or_else(|| "-".to_string(), |index| index.to_string());
    format!("{counts}|{choice}")
}

/// The inverse of [`encode_poll`] for a poll of `options` options;
/// anything else reads as unknown results.
fn decode_poll(text: &str, options: usize) -> PollView {
    let Some((counts, choice)) = text.split_once('|') else {
        return PollView::unknown();
    };
    let choice = choice.parse().ok().filter(|index| *index < options);
    let counts = (counts != "?")
        .then(|| counts.split(',').map(|count| count.parse().ok()).collect())
        .flatten()
        .filter(|counts: &Vec<u64>| counts.len() == options);
    PollView { counts, choice }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_results_round_trip_through_their_stored_string() {
        let view = PollView {
            counts: Some(vec![3, 0, 12]),
            choice: Some(2),
        };
        assert_eq!(encode_poll(&view), "3,0,12|2");
        assert_eq!(decode_poll(&encode_poll(&view), 3), view);
        let unknown = decode_poll("1,2|0", 3);
        assert_eq!(unknown.counts, None, "the wrong number of options");
        assert_eq!(decode_poll("garbage", 3).counts, None);
        assert_eq!(decode_poll("1,2,3|7", 3).choice, None);
        assert_eq!(encode_poll(&PollView::unknown()), "?|-");
    }

    /// A grid's items, as a lock keeps them: the count, then each item's
    /// strings; a record whose count does not fit the layer is refused.
    #[test]
    fn a_repeat_layers_items_round_trip_through_the_stored_strings() {
        let fonts = crate::render::FontBook::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"),
        )
        .expect("the bundled fonts load");
        let renderer = crate::render::Renderer::new(fonts);
        let json = r##"{ "name": "grid", "width": 300, "height": 100, "access": "token",
          "variants": [ { "id": "default", "layers": [
            { "type": "text", "x": 0, "y": 0, "width": 300, "height": 20, "size": 12, "text": "Hi" },
            { "type": "repeat", "items": "query.x", "max": 2, "x": 0, "y": 20, "width": 300, "height": 80, "columns": 2,
              "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 10, "height": 10, "fill": "#000" },
                          { "type": "text", "x": 0, "y": 10, "width": 100, "height": 20, "size": 12, "text": "{{ item }}" } ] } ] } ] }"##;
        let loader = crate::template::Loader {
            renderer: &renderer,
            prerender: |_, _| Ok(Vec::new()),
            sources: &crate::template::NoSources,
        };
        let template = crate::template::load_bytes(
            std::path::Path::new("grid.json"),
            json.as_bytes(),
            std::path::Path::new("."),
            loader,
            &mut crate::template::AssetCache::default(),
        )
        .expect("the template loads");
        let variant = template.default_variant();
        let content = Content {
            layers: vec![
                LayerContent::Text("Hi".into()),
                LayerContent::Repeat(vec![
                    vec![LayerContent::Fixed, LayerContent::Text("one".into())],
                    vec![LayerContent::Fixed, LayerContent::Text("two".into())],
                ]),
            ],
        };
        assert!(content.fits(variant));
        let lock = Lock {
            variant,
            content: content.clone(),
            link: None,
        };
        let record = lock.encode();
        assert_eq!(
            record,
            r#"{"variant":"default","texts":["Hi","2","one","two"],"link":null}"#
        );
        let decoded = Lock::decode(&template, &record).expect("the record fits");
        assert_eq!(decoded.content, content);
        for unfit in [
            r#"{"variant":"default","texts":["Hi","3","a","b","c"],"link":null}"#,
            r#"{"variant":"default","texts":["Hi","2","one"],"link":null}"#,
            r#"{"variant":"default","texts":["Hi","x"],"link":null}"#,
        ] {
            assert!(Lock::decode(&template, unfit).is_none(), "{unfit}");
        }
    }
}
