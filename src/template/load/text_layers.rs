//! Checking the layers that set text in a font: a text, a countdown's
//! numbers and labels, and a poll's results. Their font family must be in
//! the font book, their sizes sane, and their words compile as texts, which
//! are resolved per request.
//!
//! The dispatch in `layers.rs` hands each of them its fields from the file
//! (all but the frame, which comes in the layer's site) as one plain struct,
//! because the file's layers are struct variants of one enum.

use std::collections::BTreeMap;

use super::layers::LayerSite;
use super::{Builder, TemplateError};
use crate::render::{
    CountdownLayer, DigitBox, EmojiStyle, HorizontalAlign, TextDirection, TextStyle, TimeUnit,
    VerticalAlign, Weight,
};
use crate::render::{ResultsLayer, ResultsValue};
use crate::template::VariantLayer;
use crate::template::file::{CountdownLabelFile, DigitBoxFile, PluralLabelFile};
use crate::words::plural::PluralCategory;

/// A text layer's fields, as the file gives them.
pub(super) struct TextFields {
    pub(super) font: String,
    pub(super) weight: Weight,
    pub(super) size: f32,
    pub(super) min_size: Option<f32>,
    pub(super) color: String,
    pub(super) align: HorizontalAlign,
    pub(super) vertical_align: VerticalAlign,
    pub(super) direction: TextDirection,
    pub(super) emoji: EmojiStyle,
    pub(super) line_height: f32,
    pub(super) letter_spacing: f32,
    pub(super) max_lines: Option<u32>,
    pub(super) wrap: bool,
}

/// A countdown layer's fields, as the file gives them.
pub(super) struct CountdownFields {
    pub(super) units: Vec<TimeUnit>,
    pub(super) labels: BTreeMap<TimeUnit, CountdownLabelFile>,
    pub(super) locale: Option<String>,
    pub(super) font: String,
    pub(super) weight: Weight,
    pub(super) size: f32,
    pub(super) color: String,
    pub(super) label_size: Option<f32>,
    pub(super) label_color: Option<String>,
    pub(super) digit_box: Option<DigitBoxFile>,
    pub(super) separator: String,
    pub(super) pad: u8,
    pub(super) gap: f32,
    pub(super) hide_leading_zero_units: bool,
}

/// A poll results layer's fields, as the file gives them.
pub(super) struct PollResultsFields {
    pub(super) font: String,
    pub(super) weight: Weight,
    pub(super) size: f32,
    pub(super) color: String,
    pub(super) bar_color: String,
    pub(super) track_color: Option<String>,
    pub(super) highlight_color: Option<String>,
    pub(super) label_width: Option<f32>,
    pub(super) value_width: Option<f32>,
    pub(super) value: ResultsValue,
}

impl Builder<'_> {
    /// A text, set in its style; `text` compiles as a text.
    pub(super) fn text_layer(
        &mut self,
        site: &LayerSite,
        text: String,
        fields: TextFields,
    ) -> Result<VariantLayer, TemplateError> {
        let TextFields {
            font,
            weight,
            size,
            min_size,
            color: text_color,
            align,
            vertical_align,
            direction,
            emoji,
            line_height,
            letter_spacing,
            max_lines,
            wrap,
        } = fields;
        let frame = site.frame()?;
        if !(size.is_finite() && size > 0.0 && size <= 500.0) {
            return Err(site.error("size", "must be above 0 and at most 500".into()));
        }
        let min_size = min_size.unwrap_or(size);
        if !(min_size.is_finite() && min_size > 0.0 && min_size <= size) {
            return Err(site.error("min_size", "must be above 0 and at most size".into()));
        }
        if !(line_height.is_finite() && line_height > 0.0 && line_height <= 10.0) {
            return Err(site.error("line_height", "must be above 0 and at most 10".into()));
        }
        if !letter_spacing.is_finite() {
            return Err(site.error("letter_spacing", "must be a number".into()));
        }
        if max_lines == Some(0) {
            return Err(site.error("max_lines", "must be at least 1".into()));
        }
        self.check_font(site, &font)?;
        let style = TextStyle {
            family: font,
            weight,
            size,
            min_size,
            color: site.color("color", &text_color)?,
            align,
            vertical_align,
            direction: direction_of_wording(&text, direction),
            emoji,
            line_height,
            letter_spacing,
            max_lines,
            wrap,
        };
        let text = self
            .texts
            .add(&text)
            .map_err(|e| site.error("text", e.to_string()))?;
        Ok(VariantLayer::Text { frame, text, style })
    }

    /// A countdown: a number per unit, largest first, each with an optional
    /// label that compiles as a text.
    pub(super) fn countdown_layer(
        &mut self,
        site: &LayerSite,
        fields: CountdownFields,
    ) -> Result<VariantLayer, TemplateError> {
        let CountdownFields {
            units,
            labels,
            locale,
            font,
            weight,
            size,
            color: digit_color,
            label_size,
            label_color,
            digit_box,
            separator,
            pad,
            gap,
            hide_leading_zero_units,
        } = fields;
        let frame = site.frame()?;
        let descending = units.windows(2).all(|pair| pair[0] < pair[1]);
        if units.is_empty() || !descending {
            return Err(site.error(
                "units",
                "list units largest first, each once: days, hours, minutes, seconds".into(),
            ));
        }
        let label_size = label_size.unwrap_or(size * 0.35);
        for (field, value) in [("size", size), ("label_size", label_size)] {
            if !value.is_finite() || value <= 0.0 || value > 1000.0 {
                return Err(site.error(field, "must be above 0 and at most 1000".into()));
            }
        }
        if !(1..=6).contains(&pad) {
            return Err(site.error("pad", "must be 1 to 6 digits".into()));
        }
        if !gap.is_finite() || gap < 0.0 {
            return Err(site.error("gap", "must be 0 or more".into()));
        }
        if let Some(extra) = labels.keys().find(|unit| !units.contains(unit)) {
            return Err(site.error(
                "labels",
                format!("has a label for {extra:?}, which is not in units"),
            ));
        }
        self.check_font(site, &font)?;
        let digits = TextStyle {
            family: font,
            weight,
            size,
            min_size: size,
            color: site.color("color", &digit_color)?,
            align: HorizontalAlign::Center,
            vertical_align: VerticalAlign::Middle,
            direction: TextDirection::Ltr,
            emoji: EmojiStyle::Color,
            line_height: 1.2,
            letter_spacing: 0.0,
            max_lines: Some(1),
            wrap: false,
        };
        let label_style = TextStyle {
            weight: Weight::Regular,
            size: label_size,
            min_size: label_size,
            color: match &label_color {
                Some(text) => site.color("label_color", text)?,
                None => digits.color,
            },
            direction: TextDirection::Auto,
            ..digits.clone()
        };
        let digit_box = match digit_box {
            None => None,
            Some(file) => Some(DigitBox {
                fill: site.color("box.fill", &file.fill)?,
                radius: site.radius(file.radius)?,
            }),
        };
        let mut label_texts = Vec::with_capacity(units.len());
        let mut has_plural_forms = false;
        for unit in &units {
            let unit_name = format!("{unit:?}").to_lowercase();
            let forms: Vec<(PluralCategory, &String)> = match labels.get(unit) {
                None => Vec::new(),
                Some(CountdownLabelFile::Text(text)) => vec![(PluralCategory::Other, text)],
                Some(CountdownLabelFile::Plural(forms)) => {
                    has_plural_forms = true;
                    plural_label_forms(forms)
                }
            };
            let mut texts = Vec::with_capacity(forms.len());
            for (category, text) in forms {
                let field = match labels.get(unit) {
                    Some(CountdownLabelFile::Plural(_)) => {
                        format!("labels.{unit_name}.{}", category.name())
                    }
                    _ => format!("labels.{unit_name}"),
                };
                let id = self
                    .texts
                    .add(text)
                    .map_err(|e| site.error(&field, e.to_string()))?;
                texts.push((category, id));
            }
            label_texts.push(texts);
        }
        let locale = match locale {
            Some(locale) => Some(
                self.texts
                    .add(&locale)
                    .map_err(|e| site.error("locale", e.to_string()))?,
            ),
            None if has_plural_forms => {
                return Err(site.error(
                    "locale",
                    "labels with plural forms need the locale whose rules pick them: \"locale\": \"ru\" or \"{{ profile.locale }}\"".into(),
                ));
            }
            None => None,
        };
        Ok(VariantLayer::Countdown {
            countdown: CountdownLayer {
                frame,
                labels: Vec::new(),
                locale: String::new(),
                units,
                digits,
                label_style,
                digit_box,
                separator,
                pad,
                gap,
                hide_leading_zero_units,
            },
            labels: label_texts,
            locale,
        })
    }

    /// The template's poll results: a row per option of the poll, which
    /// the template must have.
    pub(super) fn poll_results_layer(
        &mut self,
        site: &LayerSite,
        fields: PollResultsFields,
    ) -> Result<VariantLayer, TemplateError> {
        let PollResultsFields {
            font,
            weight,
            size,
            color: text_color,
            bar_color,
            track_color,
            highlight_color,
            label_width,
            value_width,
            value,
        } = fields;
        let Some(labels) = self.poll_labels.clone() else {
            return Err(site.error(
                "type",
                "a poll_results layer needs the template's poll: { \"poll\": ... }".into(),
            ));
        };
        let frame = site.frame()?;
        if !(size.is_finite() && size > 0.0 && size <= 500.0) {
            return Err(site.error("size", "must be above 0 and at most 500".into()));
        }
        self.check_font(site, &font)?;
        let column = |field: &str, width: Option<f32>, default: f32| {
            let width = width.unwrap_or(default);
            if width.is_finite() && width >= 0.0 && width < frame.width {
                Ok(width)
            } else {
                Err(site.error(
                    field,
                    "must be 0 or more and less than the layer's width".into(),
                ))
            }
        };
        let label_width = column("label_width", label_width, frame.width / 4.0)?;
        let value_width = column("value_width", value_width, size * 3.5)?;
        let bar = site.color("bar_color", &bar_color)?;
        Ok(VariantLayer::PollResults(ResultsLayer {
            frame,
            labels,
            style: TextStyle {
                family: font,
                weight,
                size,
                min_size: size * 0.6,
                color: site.color("color", &text_color)?,
                align: HorizontalAlign::Start,
                vertical_align: VerticalAlign::Middle,
                direction: TextDirection::Auto,
                emoji: EmojiStyle::Color,
                line_height: 1.2,
                letter_spacing: 0.0,
                max_lines: Some(1),
                wrap: false,
            },
            bar,
            track: match &track_color {
                Some(text) => Some(site.color("track_color", text)?),
                None => None,
            },
            highlight: match &highlight_color {
                Some(text) => site.color("highlight_color", text)?,
                None => bar,
            },
            label_width,
            value_width,
            value,
        }))
    }

    /// Refuses a font family the font book does not have, so that a typo
    /// fails at load rather than at every render.
    fn check_font(&self, site: &LayerSite, font: &str) -> Result<(), TemplateError> {
        if self.renderer.fonts().has_family(font) {
            Ok(())
        } else {
            Err(site.error("font", format!("no font family {font:?} in the font book")))
        }
    }
}

/// The direction of a text layer whose template says `auto`: that of the
/// template's own wording, the text outside `{{ }}`, `{% %}` and `{# #}`,
/// when it has a letter with a direction. "{{ profile.first_name }}, your
/// plan renews soon" is an English sentence whatever script the name is in,
/// and must not turn right-to-left because the name comes first. A text made
/// only of interpolations stays `auto` and takes the direction of what it
/// resolves to.
fn direction_of_wording(source: &str, declared: TextDirection) -> TextDirection {
    if declared != TextDirection::Auto {
        return declared;
    }
    let mut rest = source;
    let mut wording = String::new();
    while let Some(start) = rest.find('{') {
        let closing = match rest[start..].chars().nth(1) {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                wording.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
                continue;
            }
        };
        wording.push_str(&rest[..start]);
        rest = match rest[start + 2..].find(closing) {
            Some(end) => &rest[start + 2 + end + 2..],
            None => "",
        };
    }
    wording.push_str(rest);
    for c in wording.chars() {
        match unicode_bidi::bidi_class(c) {
            unicode_bidi::BidiClass::L => return TextDirection::Ltr,
            unicode_bidi::BidiClass::R | unicode_bidi::BidiClass::AL => return TextDirection::Rtl,
            _ => {}
        }
    }
    TextDirection::Auto
}

/// The forms a plural label gives, in category order.
fn plural_label_forms(forms: &PluralLabelFile) -> Vec<(PluralCategory, &String)> {
    [
        (PluralCategory::Zero, forms.zero.as_ref()),
        (PluralCategory::One, forms.one.as_ref()),
        (PluralCategory::Two, forms.two.as_ref()),
        (PluralCategory::Few, forms.few.as_ref()),
        (PluralCategory::Many, forms.many.as_ref()),
        (PluralCategory::Other, Some(&forms.other)),
    ]
    .into_iter()
    .filter_map(|(category, text)| Some((category, text?)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_direction_follows_the_wording_not_the_interpolated_name() {
        let auto = TextDirection::Auto;
        let cases = [
            (
                "{{ profile.first_name }}, your plan renews soon",
                TextDirection::Ltr,
            ),
            ("{{ profile.first_name }}، شكرًا لك", TextDirection::Rtl),
            ("{% if x %}{{ a }}{% endif %} שלום", TextDirection::Rtl),
            ("{{ profile.first_name }}!", auto),
            ("{# a note #}{{ n }} 42", auto),
            ("{ not jinja } hello", TextDirection::Ltr),
        ];
        for (source, expected) in cases {
            assert_eq!(direction_of_wording(source, auto), expected, "{source}");
        }
        // What the template declares wins.
        let rtl = TextDirection::Rtl;
        assert_eq!(direction_of_wording("Hello {{ name }}", rtl), rtl);
    }
}
