//! Prediction intervals by split-conformal calibration: the absolute residuals of a model on
//! rows it was not fitted on give a half-width that covers the configured share of them, with
//! the finite-sample correction (the ⌈(n + 1)·level⌉-th smallest residual).

use super::Prediction;
use crate::contract::model::{Calibration, IntervalScale};

impl IntervalScale {
    /// A scale following `by`, whose calibration-row values are `values`; None when they have
    /// no positive mean (nothing to be proportional to).
    pub fn over(by: &str, values: &[f64]) -> Option<IntervalScale> {
        let (reference, floor) = super::level_reference(values)?;
        Some(IntervalScale {
            by: by.to_string(),
            reference,
            floor,
        })
    }

    /// The half-width's factor at a row whose `by` is `value`.
    pub fn factor(&self, value: f64) -> f64 {
        (value.abs().max(self.floor) / self.reference).sqrt()
    }
}

impl Calibration {
    /// Calibrates one half-width on `points` against `actuals`.
    pub fn fit(points: &[f64], actuals: &[f64], level: f64) -> Calibration {
        Calibration::fit_scaled(points, actuals, level, None)
    }

    /// Calibrates on `points` against `actuals`; with a scale and each row's `by` value, on the
    /// residuals divided by each row's factor (so the half-width is the one at the reference).
    pub fn fit_scaled(
        points: &[f64],
        actuals: &[f64],
        level: f64,
        scale: Option<(IntervalScale, &[f64])>,
    ) -> Calibration {
        let mut residuals: Vec<f64> = points
            .iter()
            .zip(actuals)
            .enumerate()
            .map(|(i, (p, a))| (a - p).abs() / scale.as_ref().map_or(1.0, |(s, by)| s.factor(by[i])))
            .collect();
        residuals.sort_by(f64::total_cmp);
        let n = residuals.len();
        let half_width = if n == 0 {
            0.0
        } else {
            let rank = (((n + 1) as f64) * level).ceil() as usize;
            residuals[rank.clamp(1, n) - 1]
        };
        Calibration {
            level,
            half_width,
            calibration_rows: n as u64,
            scaled_by: scale.map(|(s, _)| s),
        }
    }

    /// The interval around `point` at a row whose half-width factor is `factor` (1 unless the
    /// interval is scaled).
    pub fn around(&self, point: f64, factor: f64) -> Prediction {
        let half = self.half_width * factor;
        Prediction {
            point,
            lower: point - half,
            upper: point + half,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_the_level_on_its_own_residuals() {
        let actuals: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let points = vec![0.0; 100];
        let c = Calibration::fit(&points, &actuals, 0.8);
        assert_eq!(c.half_width, 80.0); // ceil(101 * 0.8) = 81st smallest of 0..99
        let covered = actuals.iter().filter(|&&a| a <= c.half_width).count();
        assert!(covered as f64 / 100.0 >= 0.8);
    }

    /// Residuals whose spread grows as √ of the level (counts): one half-width over-covers the
    /// quiet rows and under-covers the busy ones; the scaled one covers the level at both.
    #[test]
    fn a_scaled_interval_covers_the_level_at_every_level() {
        let n = 2000;
        let levels: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 4.0 } else { 400.0 }).collect();
        // A residual per row: a spread of √level times a fraction evenly spread over [0, 1).
        let residual = |i: usize| levels[i].sqrt() * ((i / 2 * 37 % 1000) as f64 / 1000.0);
        let actuals: Vec<f64> = (0..n).map(residual).collect();
        let points = vec![0.0; n];
        let coverage = |c: &Calibration, quiet: bool| {
            let rows: Vec<usize> = (0..n).filter(|i| (i % 2 == 0) == quiet).collect();
            let scale = c.scaled_by.clone();
            let inside = rows
                .iter()
                .filter(|&&i| {
                    let factor = scale.as_ref().map_or(1.0, |s| s.factor(levels[i]));
                    let p = c.around(points[i], factor);
                    p.lower <= actuals[i] && actuals[i] <= p.upper
                })
                .count();
            inside as f64 / rows.len() as f64
        };
        let constant = Calibration::fit(&points, &actuals, 0.8);
        assert!(coverage(&constant, true) > 0.99 && coverage(&constant, false) < 0.65);
        let scale = IntervalScale::over("target_mean_60m", &levels).unwrap();
        let scaled = Calibration::fit_scaled(&points, &actuals, 0.8, Some((scale, &levels)));
        for quiet in [true, false] {
            let c = coverage(&scaled, quiet);
            assert!((0.79..=0.82).contains(&c), "quiet {quiet}: {c}");
        }
    }
}
