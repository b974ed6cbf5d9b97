//! Shadow-compare: the candidate against the control — the model in service, or the
//! seasonal-naive baseline when none is promoted — on the most recent window, which neither
//! training nor validation saw: forecast errors, and (when the workload's capacity is
//! configured) an autoscaler replay of the window under the reactive HPA, the control and the
//! candidate.

use crate::contract::capacity::CapacityConfig;
use crate::contract::comparison::{Comparison, ComparisonKind, ControlRef, ModelRef, ReplayReport};
use crate::contract::dataset::DatasetManifest;
use crate::contract::document::{sha256_hex, ApiVersion, Document};
use crate::contract::interval::Interval;
use crate::contract::model::{Model, ModelKind, ModelManifest};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::evaluate::{calibrated_baseline, metrics};
use crate::model::PromotedModel;
use crate::policy::Forecast;
use crate::replay::{self, Forecasts, ReplayTraces};
use crate::time::{parse_timestamp, HumanDuration};
use crate::train::rows_of;

/// The control: the promoted model if it can predict on this dataset, else a baseline.
fn choose_control(
    promoted: Option<PromotedModel>,
    candidate: &Model,
    data: &Dataset,
    meta: &DatasetManifest,
    calibration: &std::ops::Range<usize>,
) -> Result<(ControlRef, Model)> {
    let reason = match promoted {
        None => "no model is promoted for this workload".to_string(),
        Some(promoted) => match promoted.model.predict_points(&data.slice(0..1)) {
            Ok(_) => {
                let control = ControlRef {
                    algorithm: promoted.model.algorithm,
                    version: Some(promoted.version),
                    model_sha256: Some(sha256_hex(&promoted.model.to_bytes())),
                    reason: format!("v{} is the promoted model", promoted.version),
                };
                return Ok((control, promoted.model));
            }
            Err(e) => format!(
                "the promoted v{} cannot predict on this dataset ({e})",
                promoted.version
            ),
        },
    };
    let level = candidate.interval.level;
    let (model, reason) = match calibrated_baseline(ModelKind::SeasonalNaive, data, meta, level, calibration)? {
        Some(m) => (m, reason),
        None => (
            calibrated_baseline(ModelKind::LastValue, data, meta, level, calibration)?
                .expect("last-value always exists"),
            format!("{reason}; the dataset has no seasonal lag"),
        ),
    };
    let control = ControlRef {
        algorithm: model.algorithm,
        version: None,
        model_sha256: None,
        reason: format!("{} baseline: {reason}", model.algorithm.as_str()),
    };
    Ok((control, model))
}

/// The shadow-compare step: the comparison, and the replay's traces when there is a replay.
pub fn shadow_compare(
    candidate: &Model,
    manifest: &ModelManifest,
    promoted: Option<PromotedModel>,
    capacity: Option<&CapacityConfig>,
    data: &Dataset,
    meta: &DatasetManifest,
    origin: &str,
) -> Result<(Comparison, Option<ReplayTraces>)> {
    let window = rows_of(data, &manifest.split.shadow, origin)?;
    let calibration = rows_of(data, &manifest.split.calibration, origin)?;
    let shadow = data.slice(window.clone());
    let (control, control_model) = choose_control(promoted, candidate, data, meta, &calibration)?;
    let (replay, traces) = match capacity {
        Some(capacity) => {
            let (report, traces) =
                replay_window(data, meta, &manifest.split.shadow, capacity, &control_model, candidate)?;
            (Some(report), Some(traces))
        }
        None => (None, None),
    };
    let comparison = Comparison {
        api_version: ApiVersion::V1,
        kind: ComparisonKind::Kind,
        workload: meta.workload.clone(),
        dataset_sha256: meta.dataset_sha256.clone(),
        window: manifest.split.shadow.clone(),
        candidate: ModelRef {
            algorithm: candidate.algorithm,
            model_sha256: manifest.model_sha256.clone(),
        },
        control,
        candidate_metrics: metrics(&candidate.predict(&shadow)?, &shadow.label),
        control_metrics: metrics(&control_model.predict(&shadow)?, &shadow.label),
        replay,
    };
    Ok((comparison, traces))
}

/// Replays the window on the regular grid. Demand is the target; a grid time without a row (a
/// gap in the data) repeats the last value, and so does a missing forecast.
fn replay_window(
    data: &Dataset,
    meta: &DatasetManifest,
    window: &Interval,
    capacity: &CapacityConfig,
    control: &Model,
    candidate: &Model,
) -> Result<(ReplayReport, ReplayTraces)> {
    let step = HumanDuration::parse(&meta.resolution)
        .map_err(|e| Error::Data(format!("dataset manifest: resolution {e}")))?
        .seconds();
    let h = meta.label.horizon_steps as usize;
    let start = parse_timestamp(&window.start).ok_or_else(|| Error::Data("shadow window start".into()))?;
    let end = parse_timestamp(&window.end).ok_or_else(|| Error::Data("shadow window end".into()))?;
    let n = ((end - start) / step) as usize + 1;
    // Grid position g (from −h) ↔ time start + g·step; rows found by timestamp.
    let first = data.first_at_or_after(start - h as i64 * step);
    let rows = first..data.rows();
    let slice = data.slice(rows.clone());
    let target = slice
        .column("target")
        .ok_or_else(|| Error::Data("the dataset has no `target` column".into()))?;
    let on_grid = |values: &[f64], len: usize, from: i64| -> Vec<f64> {
        let mut out = Vec::with_capacity(len);
        let mut last = values.first().copied().unwrap_or(0.0);
        for g in 0..len {
            let t = from + g as i64 * step;
            if let Ok(i) = slice.timestamps.binary_search(&t) {
                last = values[i];
            }
            out.push(last);
        }
        out
    };
    let demand = on_grid(target, n, start);
    // The forecast made from grid time g − h for g, g in 0..n + h: from the row at that time,
    // or none where the dataset has no row (a gap: the forecast step would fall back).
    let forecasts = |model: &Model| -> Result<Vec<Option<Forecast>>> {
        let predictions = model.predict(&slice)?;
        Ok((0..n + h)
            .map(|g| {
                let made_at = start + (g as i64 - h as i64) * step;
                slice.timestamps.binary_search(&made_at).ok().map(|i| Forecast {
                    point: predictions[i].point,
                    lower: predictions[i].lower,
                    upper: predictions[i].upper,
                })
            })
            .collect())
    };
    let control = forecasts(control)?;
    let candidate = forecasts(candidate)?;
    Ok(replay::compare(
        &demand,
        start,
        step,
        capacity,
        &Forecasts {
            by_target: &control,
            horizon_rows: h,
        },
        &Forecasts {
            by_target: &candidate,
            horizon_rows: h,
        },
    ))
}
