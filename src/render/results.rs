//! The `poll_results` layer: one row per option of a poll, its label, a
//! bar as long as its share, and its percentage or count beside it.
//!
//! It draws numbers it is given ([`ResultsRows`]); what a poll is, and
//! how its tally becomes those numbers, is [`crate::poll`]'s.

use crate::render::{
    Color, Frame, HorizontalAlign, Layer, RectLayer, TextLayer, TextStyle, VerticalAlign, Weight,
};

/// The numbers one request's results image draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsRows {
    /// Each option's count, written for people ("1,204"), in option order;
    /// `None` when there are no shares to draw (the store could not say,
    /// or nobody has voted yet): the options are then drawn as plain
    /// choices, with no bars and no numbers.
    pub counts: Option<Vec<String>>,
    /// Each option's whole percentage; they add up to 100 once anyone
    /// voted.
    pub percentages: Vec<u64>,
    /// The option this recipient chose.
    pub choice: Option<usize>,
}

/// What a `poll_results` row shows beside its bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultsValue {
    #[default]
    Percent,
    Count,
    None,
}

/// A `poll_results` layer as a template holds it: one row per option, its
/// label, a bar as long as its share, and its percentage or count.
#[derive(Debug, Clone)]
pub struct ResultsLayer {
    pub frame: Frame,
    pub labels: Vec<String>,
    pub style: TextStyle,
    pub bar: Color,
    pub track: Option<Color>,
    /// The bar of the option this recipient chose; its label is bold too.
    pub highlight: Color,
    pub label_width: f32,
    pub value_width: f32,
    pub value: ResultsValue,
}

impl ResultsLayer {
    /// The rectangles and texts that draw `results`. Without counts the
    /// options show as plain choices: a row of empty bars and "0%" would
    /// read as a poll nobody cares about rather than one to be first in.
    pub fn layers(&self, results: &ResultsRows) -> Vec<Layer> {
        if results.counts.is_none() {
            return self.choices(results.choice);
        }
        let rows = self.labels.len().max(1) as f32;
        let frame = self.frame;
        let row_height = frame.height / rows;
        let gap = (self.style.size * 0.5).min(frame.width / 10.0);
        let value_width = match (&results.counts, self.value) {
            (None, _) | (_, ResultsValue::None) => 0.0,
            _ => self.value_width,
        };
        let track_x = frame.x + self.label_width + gap;
        let track_width = (frame.width - self.label_width - gap - value_width - gap).max(0.0);
        let bar_height = (row_height * 0.6).max(1.0);
        let percentages = &results.percentages;
        let mut layers = Vec::new();
        for (index, label) in self.labels.iter().enumerate() {
            let chosen = results.choice == Some(index);
            let top = frame.y + row_height * index as f32;
            let text_style = TextStyle {
                weight: if chosen {
                    Weight::Bold
                } else {
                    self.style.weight
                },
                ..self.style.clone()
            };
            layers.push(Layer::Text(TextLayer {
                frame: Frame {
                    x: frame.x,
                    y: top,
                    width: self.label_width,
                    height: row_height,
                },
                text: label.clone(),
                style: text_style.clone(),
            }));
            let Some(counts) = &results.counts else {
                continue;
            };
            let bar_frame = |width: f32| Frame {
                x: track_x,
                y: top + (row_height - bar_height) / 2.0,
                width,
                height: bar_height,
            };
            let radius = bar_height / 2.0;
            if let Some(track) = self.track
                && track_width > 0.0
            {
                layers.push(Layer::Rect(RectLayer {
                    frame: bar_frame(track_width),
                    fill: track,
                    radius,
                }));
            }
            let share = percentages[index] as f32 / 100.0;
            if share > 0.0 && track_width > 0.0 {
                layers.push(Layer::Rect(RectLayer {
                    frame: bar_frame((track_width * share).max(bar_height.min(track_width))),
                    fill: if chosen { self.highlight } else { self.bar },
                    radius,
                }));
            }
            let value = match self.value {
                ResultsValue::Percent => format!("{}%", percentages[index]),
                ResultsValue::Count => counts[index].clone(),
                ResultsValue::None => continue,
            };
            layers.push(Layer::Text(TextLayer {
                frame: Frame {
                    x: frame.x + frame.width - value_width,
                    y: top,
                    width: value_width,
                    height: row_height,
                },
                text: value,
                style: TextStyle {
                    align: HorizontalAlign::Right,
                    ..text_style
                },
            }));
        }
        layers
    }

    /// Each option as a plain choice: its label on a pill of the track's
    /// color (none without a track) across the whole row, bold for the
    /// option this recipient chose.
    fn choices(&self, choice: Option<usize>) -> Vec<Layer> {
        let frame = self.frame;
        let row_height = frame.height / self.labels.len().max(1) as f32;
        let pill_height = (row_height * 0.8).max(1.0);
        let padding = (pill_height / 2.0).min(frame.width / 4.0);
        let mut layers = Vec::with_capacity(self.labels.len() * 2);
        for (index, label) in self.labels.iter().enumerate() {
            let pill = Frame {
                x: frame.x,
                y: frame.y + row_height * index as f32 + (row_height - pill_height) / 2.0,
                width: frame.width,
                height: pill_height,
            };
            if let Some(track) = self.track {
                layers.push(Layer::Rect(RectLayer {
                    frame: pill,
                    fill: track,
                    radius: pill_height / 2.0,
                }));
            }
            layers.push(Layer::Text(TextLayer {
                frame: Frame {
                    x: pill.x + padding,
                    width: (pill.width - 2.0 * padding).max(1.0),
                    ..pill
                },
                text: label.clone(),
                style: TextStyle {
                    vertical_align: VerticalAlign::Middle,
                    weight: if choice == Some(index) {
                        Weight::Bold
                    } else {
                        self.style.weight
                    },
                    ..self.style.clone()
                },
            }));
        }
        layers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> ResultsLayer {
        ResultsLayer {
            frame: Frame {
                x: 10.0,
                y: 10.0,
                width: 300.0,
                height: 90.0,
            },
            labels: vec!["Yes".into(), "No".into(), "Maybe".into()],
            style: crate::render::test_fonts::style(16.0),
            bar: Color::rgba(0, 0, 0, 255),
            track: Some(Color::WHITE),
            highlight: Color::rgba(0, 0, 0, 255),
            label_width: 80.0,
            value_width: 50.0,
            value: ResultsValue::Percent,
        }
    }

    fn texts(layers: &[Layer]) -> Vec<&str> {
        layers
            .iter()
            .filter_map(|layer| match layer {
                Layer::Text(text) => Some(text.text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn without_counts_the_options_are_plain_choices_across_the_row() {
        let rows = ResultsRows {
            counts: None,
            percentages: Vec::new(),
            choice: None,
        };
        let layers = layer().layers(&rows);
        assert_eq!(texts(&layers), ["Yes", "No", "Maybe"], "no percentages");
        let pills: Vec<Frame> = layers
            .iter()
            .filter_map(|layer| match layer {
                Layer::Rect(rect) => Some(rect.frame),
                _ => None,
            })
            .collect();
        assert_eq!(pills.len(), 3, "one pill per option, no bars");
        assert!(
            pills
                .iter()
                .all(|pill| pill.x == 10.0 && pill.width == 300.0)
        );
    }

    #[test]
    fn with_counts_each_row_has_its_bar_and_percentage() {
        let rows = ResultsRows {
            counts: Some(vec![String::new(); 3]),
            percentages: vec![50, 50, 0],
            choice: Some(0),
        };
        let layers = layer().layers(&rows);
        assert_eq!(texts(&layers), ["Yes", "50%", "No", "50%", "Maybe", "0%"]);
    }
}
