//! Training: the time-ordered split of a dataset (fit → calibration → holdout → shadow, each
//! part ending a horizon before the next starts, never shuffled), and fitting a model of the
//! configured kind with its conformal interval.

use std::ops::Range;

use crate::contract::dataset::DatasetManifest;
use crate::contract::document::{sha256_hex, Document};
use crate::contract::interval::Interval;
use crate::contract::model::{
    Calibration, IntervalScale, IntervalScaleMode, Model, ModelConfig, ModelKind, ModelManifest, RelativeScale,
    ScaleCandidate, ScaleMode, Selection, SolverReport, Split, SplitConfig,
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
    pub selection: Option<Selection>,
}

/// Fits a model of `params.kind` on the `fit` rows and calibrates its interval on `calibration`.
/// For the elastic net, each candidate scale (`params.scale`) is fitted on the fit rows and
/// scored on the calibration rows; the best is kept (the absolute one on a tie), its interval
/// calibrated on those out-of-sample residuals, and, with `params.refit`, it is fitted again
/// on the fit and calibration rows together.
pub fn fit_model(
    params: &ModelConfig,
    data: &Dataset,
    fit: Range<usize>,
    calibration: Range<usize>,
    meta: &DatasetManifest,
) -> Result<Trained> {
    let features = data.feature_names();
    let calibration_data = data.view(calibration.clone());
    if params.kind != ModelKind::ElasticNet {
        let mut model = model::baseline(
            params.kind,
            &meta.workload,
            &features,
            &meta.target,
            &meta.label.horizon,
            meta.label.kind,
        )?;
        model.hyperparameters = params.clone();
        let points = model.predict_points(calibration_data)?;
        model.interval = Calibration::fit(&points, calibration_data.label(), params.interval_level);
        return Ok(Trained {
            model,
            solver: None,
            selection: None,
        });
    }
    // The candidates are independent: each fitted on its own thread (two cores halve a long
    // history's training), then judged in order.
    let scales = candidate_scales(params.scale, &features, data, &fit)?;
    let fits: Vec<(ScaleMode, Result<(Model, SolverReport)>)> = std::thread::scope(|scope| {
        let running: Vec<_> = scales
            .into_iter()
            .map(|(mode, relative)| {
                let (fit, features) = (fit.clone(), &features);
                let job = move || fit_elastic_net(params, data, fit, relative, features, meta, None);
                (mode, scope.spawn(job))
            })
            .collect();
        running
            .into_iter()
            .map(|(mode, handle)| (mode, handle.join().expect("a fit does not panic")))
            .collect()
    });
    let mut candidates = Vec::new();
    let mut best: Option<(Model, SolverReport, f64, Vec<f64>)> = None;
    for (mode, fitted) in fits {
        let (model, solver) = match fitted {
            Ok(fitted) => fitted,
            // Under `auto`, a relative fit that fails (an idle workload's scale) leaves the
            // absolute one, which comes first.
            Err(e) if params.scale == ScaleMode::Auto && mode == ScaleMode::Relative && best.is_some() => {
                tracing::warn!(error = %e, "the relative fit failed: the absolute one is kept");
                continue;
            }
            Err(e) => return Err(e),
        };
        let points = model.predict_points(calibration_data)?;
        let mae = points
            .iter()
            .zip(calibration_data.label())
            .map(|(p, a)| (p - a).abs())
            .sum::<f64>()
            / points.len().max(1) as f64;
        candidates.push(ScaleCandidate {
            scale: mode,
            calibration_mae: mae,
        });
        if best.as_ref().is_none_or(|b| mae < b.2) {
            best = Some((model, solver, mae, points));
        }
    }
    let (mut model, mut solver, _, points) = best.expect("the absolute or relative scale is always a candidate");
    let scale = match (params.interval_scale, level_feature(&features)) {
        (IntervalScaleMode::SqrtLevel, Some(by)) => {
            let values = calibration_data.column(&by).expect("a feature of the dataset");
            IntervalScale::over(&by, values).map(|s| (s, values))
        }
        _ => None,
    };
    let interval = Calibration::fit_scaled(&points, calibration_data.label(), params.interval_level, scale);
    model.interval = interval;
    let fitted = if params.refit {
        let rows = fit.start..calibration.end;
        (model, solver) = refit(&model, data, rows.clone(), meta)?;
        rows
    } else {
        fit.clone()
    };
    let chosen = if model.relative.is_some() {
        ScaleMode::Relative
    } else {
        ScaleMode::Absolute
    };
    Ok(Trained {
        model,
        solver: Some(solver),
        selection: Some(Selection {
            candidates,
            chosen,
            fitted_on: interval_of(data, &fitted),
            fitted_rows: fitted.len() as u64,
        }),
    })
}

/// The same elastic net (features, scale, hyperparameters, interval) fitted again on `rows`,
/// starting from its own coefficients: the final fit of `refit`, and validate's rolling-origin
/// folds (which keep a baseline as it is: it has nothing to fit).
pub(crate) fn refit(
    model: &Model,
    data: &Dataset,
    rows: Range<usize>,
    meta: &DatasetManifest,
) -> Result<(Model, SolverReport)> {
    let (mut refitted, solver) = fit_elastic_net(
        &model.hyperparameters,
        data,
        rows,
        model.relative.clone(),
        &model.features,
        meta,
        Some(model),
    )?;
    refitted.interval = model.interval.clone();
    Ok((refitted, solver))
}

/// The rows a model tested from row `next` on may be fitted on: everything before it, purged
/// by one horizon.
pub(crate) fn rows_before(data: &Dataset, next: usize, horizon_seconds: i64) -> Range<usize> {
    0..purged_end(data, next, next, horizon_seconds)
}

/// The feature that stands for the target's level: its longest rolling mean.
fn level_feature(features: &[String]) -> Option<String> {
    features
        .iter()
        .filter_map(|f| {
            let window = HumanDuration::parse(f.strip_prefix("target_mean_")?).ok()?;
            Some((window.seconds(), f))
        })
        .max()
        .map(|(_, f)| f.clone())
}

/// The scales to try: the absolute one, and the relative one where the dataset has a rolling
/// mean of the target to divide by (its longest window).
fn candidate_scales(
    mode: ScaleMode,
    features: &[String],
    data: &Dataset,
    fit: &Range<usize>,
) -> Result<Vec<(ScaleMode, Option<RelativeScale>)>> {
    let relative = level_feature(features).map(|by| {
        let values = &data.column(&by).expect("a feature of the dataset")[fit.clone()];
        RelativeScale {
            by,
            floor: model::level_reference(values).map_or(f64::MIN_POSITIVE, |(_, floor)| floor),
            divided: features
                .iter()
                .filter(|f| *f == "target" || f.starts_with("target_"))
                .cloned()
                .collect(),
        }
    });
    Ok(match (mode, relative) {
        (ScaleMode::Absolute, _) => vec![(ScaleMode::Absolute, None)],
        (ScaleMode::Auto, None) => vec![(ScaleMode::Absolute, None)],
        (ScaleMode::Auto, Some(r)) => vec![(ScaleMode::Absolute, None), (ScaleMode::Relative, Some(r))],
        (ScaleMode::Relative, Some(r)) => vec![(ScaleMode::Relative, Some(r))],
        (ScaleMode::Relative, None) => {
            return Err(Error::Fit(
                "model.scale is `relative`, which divides by the target's rolling mean, but the dataset has no `target_mean_*` feature: add a window to features.rolling_windows or use scale `absolute`".into(),
            ))
        }
    })
}

/// Fits the elastic net on `rows`, relative to `relative`'s scale when set, from `start` when
/// given (a model of the same features and scale).
fn fit_elastic_net(
    params: &ModelConfig,
    data: &Dataset,
    rows: Range<usize>,
    relative: Option<RelativeScale>,
    features: &[String],
    meta: &DatasetManifest,
    start: Option<&Model>,
) -> Result<(Model, SolverReport)> {
    let problem = model::design(features, relative.as_ref(), data, rows)?;
    let start = start.and_then(|m| {
        Some(elastic_net::Start {
            standardisation: m.standardisation.as_ref()?,
            coefficients: &m.coefficients,
            intercept: m.intercept,
        })
    });
    let fitted = elastic_net::fit(&problem, params, start)?;
    let model = Model {
        api_version: Default::default(),
        kind: Default::default(),
        workload: meta.workload.clone(),
        algorithm: ModelKind::ElasticNet,
        target: meta.target.clone(),
        horizon: meta.label.horizon.clone(),
        label: meta.label.kind,
        features: features.to_vec(),
        standardisation: Some(fitted.standardisation),
        coefficients: fitted.coefficients,
        intercept: fitted.intercept,
        relative,
        hyperparameters: params.clone(),
        interval: Calibration::default(),
    };
    let solver = SolverReport {
        iterations: fitted.iterations,
        converged: fitted.converged,
    };
    Ok((model, solver))
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
        selection: trained.selection,
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
            columns: vec![("target".into(), vec![1.0; n].into())],
            label: vec![1.0; n].into(),
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
    fn the_relative_scale_divides_by_the_longest_rolling_mean_or_says_what_is_missing() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut d = data((0..100).map(|i| i * 60).collect());
        d.columns = ["target", "target_mean_15m", "target_mean_1h", "hour_sin_1"]
            .iter()
            .map(|n| (n.to_string(), vec![2.0; 100].into()))
            .collect();
        let features = names(&["target", "target_mean_15m", "target_mean_1h", "hour_sin_1"]);
        let auto = candidate_scales(ScaleMode::Auto, &features, &d, &(0..50)).unwrap();
        assert_eq!(auto.len(), 2);
        let relative = auto[1].1.as_ref().unwrap();
        assert_eq!(relative.by, "target_mean_1h", "the longest window, whatever its unit");
        assert_eq!(
            relative.divided,
            names(&["target", "target_mean_15m", "target_mean_1h"])
        );
        assert!((relative.floor - 2e-6).abs() < 1e-15);
        let plain = names(&["target", "hour_sin_1"]);
        assert_eq!(
            candidate_scales(ScaleMode::Auto, &plain, &d, &(0..50)).unwrap().len(),
            1
        );
        let err = candidate_scales(ScaleMode::Relative, &plain, &d, &(0..50))
            .unwrap_err()
            .to_string();
        assert!(err.contains("rolling_windows") && err.contains("absolute"), "{err}");
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
