//! The geometry of the `/reports` page's daily chart: the people who
//! opened and who clicked each day, as two lines with a point per day,
//! over labeled axes. Computed here, drawn as SVG by the page's template,
//! so the numbers are tested apart from the markup.

use serde::Serialize;

/// The drawing's size in SVG units; the page scales it to its width.
pub const WIDTH: f64 = 960.0;
pub const HEIGHT: f64 = 300.0;

/// The plot's edges inside the drawing: room for the axes' labels.
const LEFT: f64 = 64.0;
/// Half a date label's width, so the last one is not cut.
const RIGHT: f64 = WIDTH - 36.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = HEIGHT - 56.0;

/// At most this many dates are written under the axis.
const MAX_DATE_LABELS: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    /// The y axis's gridlines and their values.
    pub y_ticks: Vec<Tick>,
    /// The dates written under the x axis.
    pub x_ticks: Vec<Tick>,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    /// The position along its axis.
    pub at: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub name: &'static str,
    /// The CSS class that colors it.
    pub class: &'static str,
    /// `points` as the `points` attribute of a polyline.
    pub polyline: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// What the point says on hover and to a screen reader.
    pub label: String,
}

/// A chart of `dates` (`YYYY-MM-DD`) and each series' value on them:
/// `(name, class, values)`, values in the order of the dates.
pub fn chart(dates: &[String], series: &[(&'static str, &'static str, Vec<u64>)]) -> Chart {
    let highest = series
        .iter()
        .flat_map(|(_, _, values)| values.iter().copied())
        .max()
        .unwrap_or(0);
    let (step, top_value) = scale(highest);
    let y_of = |value: u64| BOTTOM - (BOTTOM - TOP) * value as f64 / top_value as f64;
    let x_of = |index: usize| {
        if dates.len() <= 1 {
            (LEFT + RIGHT) / 2.0
        } else {
            LEFT + (RIGHT - LEFT) * index as f64 / (dates.len() - 1) as f64
        }
    };
    let y_ticks = (0..=top_value / step)
        .map(|n| Tick {
            at: round(y_of(n * step)),
            label: super::grouped(n * step),
        })
        .collect();
    let every = dates.len().div_ceil(MAX_DATE_LABELS).max(1);
    let x_ticks = dates
        .iter()
        .enumerate()
        .filter(|(index, _)| index.is_multiple_of(every))
        .map(|(index, date)| Tick {
            at: round(x_of(index)),
            label: short_date(date),
        })
        .collect();
    let series = series
        .iter()
        .map(|(name, class, values)| {
            let points: Vec<Point> = values
                .iter()
                .zip(dates)
                .enumerate()
                .map(|(index, (value, date))| Point {
                    x: round(x_of(index)),
                    y: round(y_of(*value)),
                    label: format!("{date}: {} {}", super::grouped(*value), name.to_lowercase()),
                })
                .collect();
            let polyline = points
                .iter()
                .map(|point| format!("{},{}", point.x, point.y))
                .collect::<Vec<_>>()
                .join(" ");
            Series {
                name,
                class,
                polyline,
                points,
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: RIGHT,
        top: TOP,
        bottom: BOTTOM,
        y_ticks,
        x_ticks,
        series,
    }
}

/// A step of 1, 2 or 5 times a power of ten that splits `highest` in at
/// most five, and the axis's top: the first step at or above it.
fn scale(highest: u64) -> (u64, u64) {
    let mut power = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * power;
            if highest.div_ceil(step) <= 5 {
                let top = highest.div_ceil(step).max(1) * step;
                return (step, top);
            }
        }
        power = power.saturating_mul(10);
    }
}

/// `2026-11-05` as `Nov 5`.
fn short_date(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = date
        .get(5..7)
        .and_then(|month| month.parse::<usize>().ok())
        .and_then(|month| MONTHS.get(month.wrapping_sub(1)));
    let day = date.get(8..10).and_then(|day| day.parse::<u32>().ok());
    match (month, day) {
        (Some(month), Some(day)) => format!("{month} {day}"),
        _ => date.to_string(),
    }
}

/// Two decimals are plenty for a drawing a few hundred units wide.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_goes_up_in_round_steps_to_just_above_the_highest_value() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(4), (1, 4));
        assert_eq!(scale(7), (2, 8));
        assert_eq!(scale(10), (2, 10));
        assert_eq!(scale(23), (5, 25));
        assert_eq!(scale(2_345), (500, 2_500));
    }

    #[test]
    fn each_day_is_a_point_on_each_line_and_the_dates_are_thinned_out() {
        let dates: Vec<String> = (1..=30).map(|day| format!("2026-11-{day:02}")).collect();
        let opened: Vec<u64> = (1..=30).collect();
        let clicked = vec![3; 30];
        let drawn = chart(
            &dates,
            &[
                ("People who opened", "opened", opened),
                ("People who clicked", "clicked", clicked),
            ],
        );
        assert_eq!(drawn.series[0].points.len(), 30);
        assert_eq!(drawn.series[1].points.len(), 30);
        assert_eq!(drawn.series[0].points[0].x, LEFT);
        assert_eq!(drawn.series[0].points[29].x, RIGHT);
        // 30 is the axis's top: the last point touches it.
        assert_eq!(drawn.series[0].points[29].y, TOP);
        assert_eq!(
            drawn.series[0].points[29].label,
            "2026-11-30: 30 people who opened"
        );
        let labels: Vec<&str> = drawn.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "10", "20", "30"]);
        let dates: Vec<&str> = drawn.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            dates,
            [
                "Nov 1", "Nov 5", "Nov 9", "Nov 13", "Nov 17", "Nov 21", "Nov 25", "Nov 29"
            ]
        );
        // One day is a point in the middle.
        let one = chart(&dates_of(1), &[("People who opened", "opened", vec![0])]);
        assert_eq!(one.series[0].points[0].x, (LEFT + RIGHT) / 2.0);
        assert_eq!(one.series[0].points[0].y, BOTTOM);
    }

    fn dates_of(n: usize) -> Vec<String> {
        (1..=n).map(|day| format!("2026-11-{day:02}")).collect()
    }
}
