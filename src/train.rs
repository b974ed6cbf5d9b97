//! Training: the time-ordered split of a dataset (fit → calibration → holdout → shadow, each
//! part ending a horizon before the next starts, never shuffled), and fitting a model of the
//! configured kind with its conformal interval.

use std::ops::Range;

use crate::contract::dataset::DatasetManifest;
use crate::contract::document::{sha256_hex, Document};
use crate::contract::interval::Interval;
use crate::contract::model::{
    Calibration, Model, ModelConfig, ModelKind, ModelManifest, SolverReport, Split, SplitConfig,
};
use crate::contract::workload::WorkloadConfig;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::model::{self, elastic_net};
use crate::time::{parse_timestamp, rfc3339, HumanDuration};

/// Fewest rows any part of the split may have.
const MIN_PART_ROWS: usize = 10;

/// Row ranges of the four parts of the split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRows {
    pub fit: Range<usize>,
    pub calibration: Range<usize>,
    pub holdout: Range<usize>,
    pub shadow: Range<usize>,
}

/// End of a part that must stop one horizon before row `next` (its labels reach t + horizon).
fn purged_end(data: &Dataset, end: usize, next: usize, horizon_seconds: i64) -> usize {
    if next >= data.rows() {
        return end;
    }
    let limit = data.timestamps[next] - horizon_seconds;
    data.timestamps[..end].partition_point(|&t| t < limit)
}

/// Plans the split; refuses data too short for it, saying how long it is and what is needed.
pub fn plan_split(data: &Dataset, split: &SplitConfig, horizon_seconds: i64) -> Result<SplitRows> {
    let n = data.rows();
    let short = |what: &str, rows: usize| {
        Error::TooShort(format!(
            "the dataset is too short to split: {rows} rows for the {what} (at least {MIN_PART_ROWS} needed); it has {n} rows from {} to {}; give more data or shorten split.shadow_window / the horizon",
            data.timestamps.first().map(|&t| rfc3339(t)).unwrap_or_default(),
            data.timestamps.last().map(|&t| rfc3339(t)).unwrap_or_default(),
        ))
    };
    if n == 0 {
        return Err(short("whole dataset", 0));
    }
    let last = data.timestamps[n - 1];
    let shadow_start = data.first_at_or_after(last - split.shadow_window.seconds() + 1);
    if n - shadow_start < MIN_PART_ROWS {
        return Err(short("shadow window", n - shadow_start));
    }
    let pre_end = purged_end(data, shadow_start, shadow_start, horizon_seconds);
    let holdout_rows = (pre_end as f64 * split.holdout_fraction).round() as usize;
    if holdout_rows < MIN_PART_ROWS {
        return Err(short("holdout", holdout_rows));
    }
    let holdout = pre_end - holdout_rows..pre_end;
    let (fit, calibration) = plan_training(data, holdout.start, split.calibration_fraction, horizon_seconds)?;
    Ok(SplitRows {
        fit,
        calibration,
        holdout,
        shadow: shadow_start..n,
    })
}

/// The fit and calibration rows for a model tested from row `next` on: everything before it
/// (purged by one horizon), its latest `calibration_fraction` calibrating the interval.
pub(crate) fn plan_training(
    data: &Dataset,
    next: usize,
    calibration_fraction: f64,
    horizon_seconds: i64,
) -> Result<(Range<usize>, Range<usize>)> {
    let train_end = purged_end(data, next, next, horizon_seconds);
    let calibration_rows = (train_end as f64 * calibration_fraction).round() as usize;
    let fit_end = purged_end(
        data,
        train_end - calibration_rows,
        train_end - calibration_rows,
        horizon_seconds,
    );
    if calibration_rows < MIN_PART_ROWS || fit_end < MIN_PART_ROWS {
        return Err(Error::TooShort(format!(
            "too few rows to train before {}: {fit_end} to fit and {calibration_rows} to calibrate (at least {MIN_PART_ROWS} each)",
            rfc3339(data.timestamps[next.min(data.rows() - 1)])
        )));
    }
    Ok((0..fit_end, train_end - calibration_rows..train_end))
}

/// The interval (first and last timestamp) of a row range.
pub(crate) fn interval_of(data: &Dataset, rows: &Range<usize>) -> Interval {
    Interval {
        start: rfc3339(data.timestamps[rows.start]),
        end: rfc3339(data.timestamps[rows.end - 1]),
    }
}

/// The rows of `data` inside a recorded interval.
pub(crate) fn rows_of(data: &Dataset, interval: &Interval, origin: &str) -> Result<Range<usize>> {
    let parse = |field: &str, text: &str| {
        parse_timestamp(text).ok_or_else(|| Error::field(origin, field, format!("`{text}` is not a timestamp")))
    };
    let start = parse("start", &interval.start)?;
    let end = parse("end", &interval.end)?;
    let a = data.first_at_or_after(start);
    let b = data.first_at_or_after(end + 1);
    if a >= b {
        return Err(Error::Data(format!(
            "{origin}: the dataset has no rows between {} and {}",
            interval.start, interval.end
        )));
    }
    Ok(a..b)
}

impl SplitRows {
    pub fn record(&self, data: &Dataset) -> Split {
        Split {
            fit: interval_of(data, &self.fit),
            calibration: interval_of(data, &self.calibration),
            holdout: interval_of(data, &self.holdout),
            shadow: interval_of(data, &self.shadow),
        }
    }
}

/// What fitting a model produced.
pub struct Trained {
    pub model: Model,
    pub solver: Option<SolverReport>,
}

/// Fits a model of `params.kind` on the `fit` rows and calibrates its interval on `calibration`.
pub fn fit_model(
    params: &ModelConfig,
    data: &Dataset,
    fit: Range<usize>,
    calibration: Range<usize>,
    meta: &DatasetManifest,
) -> Result<Trained> {
    let features = data.feature_names();
    let (mut model, solver) = match params.kind {
        ModelKind::ElasticNet => {
            let columns: Vec<&[f64]> = data.columns.iter().map(|(_, v)| &v[fit.clone()]).collect();
            let fitted = elastic_net::fit(&columns, &data.label[fit.clone()], params)?;
            let model = Model {
                api_version: Default::default(),
                kind: Default::default(),
                workload: meta.workload.clone(),
                algorithm: ModelKind::ElasticNet,
                target: meta.target.clone(),
                horizon: meta.label.horizon.clone(),
                label: meta.label.kind,
                features,
                standardisation: Some(fitted.standardisation),
                coefficients: fitted.coefficients,
                intercept: fitted.intercept,
                hyperparameters: params.clone(),
                interval: Calibration::default(),
            };
            let solver = SolverReport {
                iterations: fitted.iterations,
                converged: fitted.converged,
            };
            (model, Some(solver))
        }
        kind => {
            let mut model = model::baseline(
                kind,
                &meta.workload,
                &features,
                &meta.target,
                &meta.label.horizon,
                meta.label.kind,
            )?;
            model.hyperparameters = params.clone();
            (model, None)
        }
    };
    let calibration_data = data.slice(calibration);
    let points = model.predict_points(&calibration_data)?;
    model.interval = Calibration::fit(&points, &calibration_data.label, params.interval_level);
    Ok(Trained { model, solver })
}

/// The train step: split, fit, calibrate; returns the model and its manifest.
pub fn train(config: &WorkloadConfig, data: &Dataset, meta: &DatasetManifest) -> Result<(Model, ModelManifest)> {
    let horizon = HumanDuration::parse(&meta.label.horizon)
        .map_err(|e| Error::Data(format!("dataset manifest: label horizon {e}")))?;
    if meta.workload != config.workload {
        return Err(Error::Lineage(format!(
            "the dataset is of workload `{}`, the config of `{}`",
            meta.workload, config.workload
        )));
    }
    let split = plan_split(data, &config.split, horizon.seconds())?;
    let trained = fit_model(&config.model, data, split.fit.clone(), split.calibration.clone(), meta)?;
    let manifest = ModelManifest {
        api_version: Default::default(),
        kind: Default::default(),
        workload: meta.workload.clone(),
        model_sha256: sha256_hex(&trained.model.to_bytes()),
        dataset_sha256: meta.dataset_sha256.clone(),
        split: split.record(data),
        hyperparameters: config.model.clone(),
        split_config: config.split.clone(),
        fit_rows: split.fit.len() as u64,
        calibration_rows: split.calibration.len() as u64,
        solver: trained.solver,
        code_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    Ok((trained.model, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(timestamps: Vec<i64>) -> Dataset {
        let n = timestamps.len();
        Dataset {
            timestamps,
            columns: vec![("target".into(), vec![1.0; n])],
            label: vec![1.0; n],
        }
    }

    fn split(shadow_window: &str, holdout: f64, calibration: f64) -> SplitConfig {
        SplitConfig {
            shadow_window: HumanDuration::parse(shadow_window).unwrap(),
            holdout_fraction: holdout,
            calibration_fraction: calibration,
            ..SplitConfig::default()
        }
    }

    #[test]
    fn a_day_of_minutes_splits_in_time_order() {
        let d = data((0..1440).map(|i| i * 60).collect());
        let rows = plan_split(&d, &split("2h", 0.2, 0.2), 900).unwrap();
        assert_eq!(rows.shadow, 1440 - 120..1440, "the last two hours");
        assert_eq!(rows.fit.start, 0);
        assert!(rows.fit.end <= rows.calibration.start);
        assert!(rows.calibration.end <= rows.holdout.start);
        assert!(rows.holdout.end <= rows.shadow.start);
    }

    #[test]
    fn too_short_data_is_refused_with_what_is_missing() {
        let d = data((0..100).map(|i| i * 60).collect());
        let err = plan_split(&d, &split("1d", 0.2, 0.2), 900).unwrap_err().to_string();
        assert!(err.contains("shadow window") || err.contains("holdout"), "{err}");
        assert!(err.contains("100 rows"), "{err}");
    }

    proptest! {
        /// No label leaks forward: the last row of each part, plus the horizon, is before the
        /// first row of the next part — whatever the gaps in the data.
        #[test]
        fn no_row_of_one_part_is_within_a_horizon_of_the_next(
            steps in prop::collection::vec(prop::sample::select(vec![60i64, 60, 60, 60, 120, 600, 3600]), 400..3000),
            horizon_steps in 1i64..60,
            shadow_hours in 1i64..8,
            holdout in 0.05f64..0.5,
            calibration in 0.05f64..0.5,
        ) {
            let mut t = 0;
            let timestamps: Vec<i64> = steps.iter().map(|s| { t += s; t }).collect();
            let d = data(timestamps);
            let horizon = horizon_steps * 60;
            if let Ok(rows) = plan_split(&d, &split(&format!("{shadow_hours}h"), holdout, calibration), horizon) {
                let parts = [&rows.fit, &rows.calibration, &rows.holdout, &rows.shadow];
                for part in parts {
                    prop_assert!(part.len() >= MIN_PART_ROWS, "{part:?}");
                }
                prop_assert_eq!(rows.shadow.end, d.rows());
                for pair in parts.windows(2) {
                    let (part, next) = (pair[0], pair[1]);
                    prop_assert!(part.end <= next.start, "{part:?} overlaps {next:?}");
                    let last = d.timestamps[part.end - 1];
                    let first_next = d.timestamps[next.start];
                    prop_assert!(
                        last + horizon < first_next,
                        "row at {last} of {part:?} has its label at {} ≥ {first_next}, the start of {next:?}",
                        last + horizon
                    );
                }
            }
        }
    }
}
