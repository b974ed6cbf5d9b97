//! Evaluation: error metrics of forecasts against actuals, and the validate step's computation —
//! the model on the time-ordered holdout (beside the baselines), and rolling-origin folds that
//! refit the same kind of model on an expanding window and test it on the block that follows.

use std::ops::Range;

use crate::contract::dataset::DatasetManifest;
use crate::contract::document::ApiVersion;
use crate::contract::model::{Calibration, Model, ModelKind, ModelManifest};
use crate::contract::validation::{Fold, Holdout, Metrics, Validation, ValidationKind};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::model::{self, Prediction};
use crate::time::HumanDuration;
use crate::train::{self, interval_of, rows_of};

/// Metrics of `predictions` against `actuals` (same length, non-empty).
pub fn metrics(predictions: &[Prediction], actuals: &[f64]) -> Metrics {
    let n = actuals.len().max(1) as f64;
    let mean_abs = actuals.iter().map(|a| a.abs()).sum::<f64>() / n;
    let mean_pos = actuals.iter().map(|a| a.max(0.0)).sum::<f64>() / n;
    let floor = (0.01 * mean_abs).max(f64::MIN_POSITIVE);
    let (mut abs, mut pct, mut sq, mut weighted, mut weights, mut inside, mut width) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0usize, 0.0);
    for (p, &a) in predictions.iter().zip(actuals) {
        let e = (p.point - a).abs();
        abs += e;
        pct += e / a.abs().max(floor);
        sq += e * e;
        let w = if mean_pos > 0.0 { a.max(0.0) / mean_pos } else { 1.0 };
        weighted += w * e;
        weights += w;
        inside += usize::from(a >= p.lower && a <= p.upper);
        width += p.upper - p.lower;
    }
    Metrics {
        rows: actuals.len() as u64,
        mae: abs / n,
        mape: pct / n,
        rmse: (sq / n).sqrt(),
        peak_weighted_mae: if weights > 0.0 { weighted / weights } else { abs / n },
        coverage: inside as f64 / n,
        mean_interval_width: width / n,
    }
}

/// The holdout's rows with the model's predictions, for reports.
pub struct HoldoutSeries {
    pub timestamps: Vec<i64>,
    pub actual: Vec<f64>,
    pub predictions: Vec<Prediction>,
}

/// Checks that a model (whose manifest matches it) was trained on this dataset.
pub(crate) fn check_lineage(
    model_manifest: &ModelManifest,
    data_manifest: &DatasetManifest,
    model_origin: &str,
) -> Result<()> {
    if model_manifest.dataset_sha256 != data_manifest.dataset_sha256 {
        return Err(Error::Lineage(format!(
            "{model_origin}: the model was trained on dataset {}, not on the given dataset {}",
            model_manifest.dataset_sha256, data_manifest.dataset_sha256
        )));
    }
    Ok(())
}

/// A baseline model with its interval calibrated on the `calibration` rows, or `None` for
/// seasonal-naive when the dataset has no seasonal lag.
pub(crate) fn calibrated_baseline(
    kind: ModelKind,
    data: &Dataset,
    meta: &DatasetManifest,
    level: f64,
    calibration: &std::ops::Range<usize>,
) -> Result<Option<Model>> {
    let mut baseline = match model::baseline(
        kind,
        &meta.workload,
        &data.feature_names(),
        &meta.target,
        &meta.label.horizon,
        meta.label.kind,
    ) {
        Ok(m) => m,
        Err(_) if kind == ModelKind::SeasonalNaive => return Ok(None),
        Err(e) => return Err(e),
    };
    let cal = data.view(calibration.clone());
    baseline.interval = Calibration::fit(&baseline.predict_points(cal)?, cal.label(), level);
    Ok(Some(baseline))
}

/// The validate step.
pub fn validate(
    model: &Model,
    model_manifest: &ModelManifest,
    data: &Dataset,
    meta: &DatasetManifest,
    origin: &str,
) -> Result<(Validation, HoldoutSeries)> {
    let horizon = HumanDuration::parse(&meta.label.horizon).map_err(|e| Error::field(origin, "/label/horizon", e))?;
    let holdout_rows = rows_of(data, &model_manifest.split.holdout, origin)?;
    let calibration_rows = rows_of(data, &model_manifest.split.calibration, origin)?;
    let holdout = data.view(holdout_rows.clone());
    let level = model.interval.level;
    // The model and the baselines on the holdout, beside the folds below.
    let on_the_holdout = || -> Result<_> {
        let predictions = model.predict(holdout)?;
        let last_value = calibrated_baseline(ModelKind::LastValue, data, meta, level, &calibration_rows)?
            .expect("last-value always exists")
            .predict(holdout)?;
        let seasonal = match calibrated_baseline(ModelKind::SeasonalNaive, data, meta, level, &calibration_rows)? {
            Some(m) => Some(m.predict(holdout)?),
            None => None,
        };
        Ok((predictions, last_value, seasonal))
    };

    // Rolling origin: the holdout cut into `folds` blocks; fold j is the same model fitted again
    // on everything before block j (purged by one horizon) and tested on block j. Its interval
    // is the model's own, calibrated before the holdout began, so no fold sees its test rows.
    let k = model_manifest.split_config.folds as usize;
    let block = holdout_rows.len() / k.max(1);
    let tests: Vec<(usize, Range<usize>)> = (0..k)
        .map(|j| {
            let end = if j + 1 == k {
                holdout_rows.end
            } else {
                holdout_rows.start + (j + 1) * block
            };
            (j, holdout_rows.start + j * block..end)
        })
        .filter(|(_, test)| !test.is_empty())
        .collect();
    // The folds are independent (each starts from the model's own coefficients): they share
    // the cores, at most one fit's working set per core. This thread meanwhile predicts the
    // holdout (it would otherwise wait for the folds, and a core would idle through the last
    // fold: three folds on two cores). Its errors come first, as when it ran before the folds.
    let fold = |(j, test): &(usize, Range<usize>)| -> Result<Fold> {
        let rows = train::rows_before(data, test.start, horizon.seconds());
        let refitted = match model.algorithm {
            ModelKind::ElasticNet => train::refit(model, data, rows.clone(), meta)?.0,
            _ => model.clone(),
        };
        let test_data = data.view(test.clone());
        Ok(Fold {
            fold: *j as u32 + 1,
            train: interval_of(data, &rows),
            test: interval_of(data, test),
            metrics: metrics(&refitted.predict(test_data)?, test_data.label()),
        })
    };
    let (on_the_holdout, folds) = std::thread::scope(|scope| {
        let folds = scope.spawn(|| crate::parallel::map(&tests, crate::parallel::cores(), fold));
        (on_the_holdout(), folds.join().expect("a fold does not panic"))
    });
    let (predictions, last_value, seasonal) = on_the_holdout?;
    let folds = folds.into_iter().collect::<Result<Vec<Fold>>>()?;
    let validation = Validation {
        api_version: ApiVersion::V1,
        kind: ValidationKind::Kind,
        workload: meta.workload.clone(),
        algorithm: model.algorithm,
        model_sha256: model_manifest.model_sha256.clone(),
        dataset_sha256: meta.dataset_sha256.clone(),
        horizon: meta.label.horizon.clone(),
        interval_level: level,
        holdout: Holdout {
            interval: model_manifest.split.holdout.clone(),
            model: metrics(&predictions, holdout.label()),
            last_value: metrics(&last_value, holdout.label()),
            seasonal_naive: seasonal.as_ref().map(|p| metrics(p, holdout.label())),
        },
        folds,
    };
    let series = HoldoutSeries {
        timestamps: holdout.timestamps().to_vec(),
        actual: holdout.label().to_vec(),
        predictions,
    };
    Ok((validation, series))
}
