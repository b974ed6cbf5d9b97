//! Prediction intervals by split-conformal calibration: the absolute residuals of a model on
//! rows it was not fitted on give a half-width that covers the configured share of them, with
//! the finite-sample correction (the ⌈(n + 1)·level⌉-th smallest residual).

use super::Prediction;
use crate::contract::model::Calibration;

impl Calibration {
    /// Calibrates on `points` against `actuals`.
    pub fn fit(points: &[f64], actuals: &[f64], level: f64) -> Calibration {
        let mut residuals: Vec<f64> = points.iter().zip(actuals).map(|(p, a)| (a - p).abs()).collect();
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
        }
    }

    pub fn around(&self, point: f64) -> Prediction {
        Prediction {
            point,
            lower: point - self.half_width,
            upper: point + self.half_width,
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
}
