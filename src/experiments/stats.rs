//! The probability that each arm of an experiment is the best, from its
//! exposures and successes.
//!
//! Each arm's rate of success has a Beta posterior: with a uniform prior,
//! `Beta(1 + successes, 1 + exposures - successes)`. The chance that arm
//! `i` is best is the integral over x of arm i's density at x times the
//! chance that every other arm is below x. It is computed here on one grid
//! of points spanning where the posteriors have their mass, each density
//! normalized over the grid and each distribution function summed along
//! it: deterministic (the same counts always give the same answer, on
//! every replica) and within about 1e-4 of the exact value.

/// Points of the grid. The posteriors' mass lies within a span of at most
/// 24 standard deviations of the widest, so even the narrowest arm gets
/// many points unless the arms' spreads differ by orders of magnitude.
const GRID: usize = 8_000;

/// How many standard deviations past the extreme means the grid reaches.
const REACH: f64 = 12.0;

/// One arm's counts: people exposed, and successes among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmCounts {
    pub exposures: u64,
    pub successes: u64,
}

/// For each arm, the probability that its rate is the highest. Arms
/// without exposures have the uniform prior. The probabilities add up to
/// 1 (within rounding); an empty list gives an empty list.
pub fn probability_best(arms: &[ArmCounts]) -> Vec<f64> {
    if arms.is_empty() {
        return Vec::new();
    }
    if arms.len() == 1 {
        return vec![1.0];
    }
    let shapes: Vec<(f64, f64)> = arms
        .iter()
        .map(|arm| {
            let successes = arm.successes.min(arm.exposures) as f64;
            (1.0 + successes, 1.0 + arm.exposures as f64 - successes)
        })
        .collect();
    let (mut low, mut high) = (1.0f64, 0.0f64);
    for &(a, b) in &shapes {
        let mean = a / (a + b);
        let sd = (a * b / ((a + b).powi(2) * (a + b + 1.0))).sqrt();
        low = low.min(mean - REACH * sd);
        high = high.max(mean + REACH * sd);
    }
    let (low, high) = (low.max(0.0), high.min(1.0));
    let step = (high - low) / GRID as f64;
    // Each arm's mass in each cell, from its log density at the cell's
    // middle, normalized over the grid.
    let masses: Vec<Vec<f64>> = shapes
        .iter()
        .map(|&(a, b)| {
            let log_density: Vec<f64> = (0..GRID)
                .map(|cell| {
                    let x = low + (cell as f64 + 0.5) * step;
                    (a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln()
                })
                .collect();
            let peak = log_density
                .iter()
                .cloned()
                .fold(f64::NEG_INFINITY, f64::max);
            let mut mass: Vec<f64> = log_density.iter().map(|l| (l - peak).exp()).collect();
            let total: f64 = mass.iter().sum();
            mass.iter_mut().for_each(|m| *m /= total);
            mass
        })
        .collect();
    // Below each cell's middle: the cells before it and half its own.
    let below: Vec<Vec<f64>> = masses
        .iter()
        .map(|mass| {
            let mut sum = 0.0;
            mass.iter()
                .map(|m| {
                    let value = sum + m / 2.0;
                    sum += m;
                    value
                })
                .collect()
        })
        .collect();
    (0..arms.len())
        .map(|arm| {
            (0..GRID)
                .map(|cell| {
                    let others: f64 = (0..arms.len())
                        .filter(|other| *other != arm)
                        .map(|other| below[other][cell])
                        .product();
                    masses[arm][cell] * others
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(exposures: u64, successes: u64) -> ArmCounts {
        ArmCounts {
            exposures,
            successes,
        }
    }

    #[test]
    fn equal_arms_are_equally_likely_best() {
        let p = probability_best(&[arm(1000, 100), arm(1000, 100)]);
        assert!((p[0] - 0.5).abs() < 1e-3, "{p:?}");
        let p = probability_best(&[arm(0, 0), arm(0, 0), arm(0, 0)]);
        assert!(p.iter().all(|p| (p - 1.0 / 3.0).abs() < 1e-3), "{p:?}");
    }

    #[test]
    fn one_success_in_one_against_nothing_is_two_thirds() {
        // Beta(2,1) against the uniform Beta(1,1): the integral of 2x * x
        // over [0, 1] is exactly 2/3.
        let p = probability_best(&[arm(0, 0), arm(1, 1)]);
        assert!((p[1] - 2.0 / 3.0).abs() < 1e-4, "{p:?}");
    }

    #[test]
    fn a_clearly_better_arm_is_almost_surely_best_and_probabilities_add_up() {
        // 12% against 10% on 5,000 people each: z is about 3.2, so about
        // 0.9993 (the normal approximation).
        let p = probability_best(&[arm(5000, 500), arm(5000, 600)]);
        assert!(p[1] > 0.998 && p[1] < 0.9999, "{p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        // The same counts give the same bits.
        assert_eq!(p, probability_best(&[arm(5000, 500), arm(5000, 600)]));
    }

    #[test]
    fn more_successes_than_exposures_are_read_as_all() {
        let p = probability_best(&[arm(10, 50), arm(10, 0)]);
        assert!(p[0] > 0.99, "{p:?}");
    }
}
