//! How much of each pixel a (rounded) rectangle covers: the antialiasing of
//! rectangle layers and of images' rounded corners.
//!
//! Straight edges get their exact area coverage, so a frame at a fractional
//! position has soft but correct edges; corners use the distance from the
//! pixel's center to the corner circle, which is within a few percent of the
//! exact area and much cheaper.

/// A rectangle with rounded corners, in canvas pixels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RoundedRect {
    pub(crate) left: f32,
    pub(crate) top: f32,
    pub(crate) right: f32,
    pub(crate) bottom: f32,
    pub(crate) radius: f32,
}

impl RoundedRect {
    /// The rows the shape touches, `floor(top)..ceil(bottom)`, before any
    /// clipping; an empty range for a shape that is not finite.
    pub(crate) fn row_extent(&self) -> (i64, i64) {
        let all_finite = [self.left, self.top, self.right, self.bottom, self.radius]
            .iter()
            .all(|value| value.is_finite() && value.abs() < 1e9);
        if !all_finite {
            return (0, 0);
        }
        (self.top.floor() as i64, self.bottom.ceil() as i64)
    }

    /// Calls `row(y, x, coverage)` for every canvas row the shape touches,
    /// with the coverage (0 to 255) of the pixels from column `x` on. Columns
    /// outside `canvas_width` and rows outside `rows` are left out; a row's
    /// coverage does not depend on which rows are drawn.
    pub(crate) fn for_each_row(
        &self,
        canvas_width: u32,
        rows: std::ops::Range<u32>,
        mut row: impl FnMut(u32, u32, &[u8]),
    ) {
        let all_finite = [self.left, self.top, self.right, self.bottom, self.radius]
            .iter()
            .all(|value| value.is_finite());
        if !all_finite || self.right <= self.left || self.bottom <= self.top {
            return;
        }
        let x_start = self.left.floor().max(0.0) as u32;
        let x_end = (self.right.ceil().max(0.0) as u32).min(canvas_width);
        let y_start = (self.top.floor().max(0.0) as u32).max(rows.start);
        let y_end = (self.bottom.ceil().max(0.0) as u32).min(rows.end);
        if x_start >= x_end || y_start >= y_end {
            return;
        }
        let radius = self.radius.clamp(
            0.0,
            (self.right - self.left).min(self.bottom - self.top) / 2.0,
        );
        let column_coverage: Vec<f32> = (x_start..x_end)
            .map(|x| overlap(x as f32, self.left, self.right))
            .collect();
        let mut coverage = vec![0u8; column_coverage.len()];
        for y in y_start..y_end {
            let row_coverage = overlap(y as f32, self.top, self.bottom);
            let center_y = y as f32 + 0.5;
            // The vertical distance into a corner's circle, when this row
            // crosses the top or bottom band of the corners.
            let corner_dy = if center_y < self.top + radius {
                Some(self.top + radius - center_y)
            } else if center_y > self.bottom - radius {
                Some(center_y - (self.bottom - radius))
            } else {
                None
            };
            for (index, (out, column)) in coverage.iter_mut().zip(&column_coverage).enumerate() {
                let mut value = row_coverage * column;
                if let Some(dy) = corner_dy {
                    let center_x = (x_start as usize + index) as f32 + 0.5;
                    let dx = if center_x < self.left + radius {
                        self.left + radius - center_x
                    } else if center_x > self.right - radius {
                        center_x - (self.right - radius)
                    } else {
                        0.0
                    };
                    if dx > 0.0 {
                        let distance = (dx * dx + dy * dy).sqrt();
                        value *= (radius - distance + 0.5).clamp(0.0, 1.0);
                    }
                }
                *out = (value * 255.0 + 0.5) as u8;
            }
            row(y, x_start, &coverage);
        }
    }
}

/// The length of `[cell, cell + 1]` that lies inside `[start, end]`.
fn overlap(cell: f32, start: f32, end: f32) -> f32 {
    ((cell + 1.0).min(end) - cell.max(start)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage_map(shape: RoundedRect, width: u32, height: u32) -> Vec<Vec<u8>> {
        let mut map = vec![vec![0u8; width as usize]; height as usize];
        shape.for_each_row(width, 0..height, |y, x, row| {
            map[y as usize][x as usize..x as usize + row.len()].copy_from_slice(row);
        });
        map
    }

    #[test]
    fn square_corners_cover_whole_pixels_and_half_pixels() {
        let shape = RoundedRect {
            left: 1.0,
            top: 1.0,
            right: 3.5,
            bottom: 3.0,
            radius: 0.0,
        };
        let map = coverage_map(shape, 5, 4);
        assert_eq!(map[0], [0, 0, 0, 0, 0]);
        assert_eq!(map[1], [0, 255, 255, 128, 0]);
        assert_eq!(map[3], [0, 0, 0, 0, 0]);
    }

    #[test]
    fn rounded_corners_are_clear_at_the_tip_and_full_inside() {
        let shape = RoundedRect {
            left: 0.0,
            top: 0.0,
            right: 40.0,
            bottom: 40.0,
            radius: 10.0,
        };
        let map = coverage_map(shape, 40, 40);
        assert_eq!(map[0][0], 0, "the corner tip is outside the circle");
        assert_eq!(map[39][39], 0);
        assert_eq!(map[20][20], 255);
        assert_eq!(map[0][20], 255, "the middle of the top edge is straight");
        // The arc is antialiased: the corner block has partly covered pixels.
        let partial = map[..10]
            .iter()
            .flat_map(|row| &row[..10])
            .filter(|&&c| c > 0 && c < 255);
        assert!(partial.count() >= 10);
    }
}
