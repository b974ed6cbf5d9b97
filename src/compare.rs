//! Shadow-compare: the candidate against the control — the model in service, or the
//! seasonal-naive baseline when none is promoted — on the most recent window, which neither
//! training nor validation saw: forecast errors, and (when the workload's capacity is
//! configured) an autoscaler replay of the window under the reactive HPA, the control and the
//! candidate.

use crate::contract::calendar::CalendarConfig;
use crate::contract::capacity::CapacityConfig;
use crate::contract::comparison::{Comparison, ComparisonKind, ControlRef, ModelRef, ReplayReport};
use crate::contract::dataset::DatasetManifest;
use crate::contract::deploy::Actuation;
use crate::contract::document::{sha256_hex, ApiVersion, Document};
use crate::contract::interval::Interval;
use crate::contract::model::{Model, ModelKind, ModelManifest};
use crate::contract::workload::WorkloadConfig;
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
        Some(promoted) => match promoted.model.predict_points(data.view(0..1)) {
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

/// The shadow-compare step: the comparison, and the replay's traces when there is a replay (the
/// workload's capacity, and how assisted mode puts the floor under the HPA).
pub fn shadow_compare(
    candidate: &Model,
    manifest: &ModelManifest,
    promoted: Option<PromotedModel>,
    replay: Option<ReplaySetup>,
    data: &Dataset,
    meta: &DatasetManifest,
    origin: &str,
) -> Result<(Comparison, Option<ReplayTraces>)> {
    let window = rows_of(data, &manifest.split.shadow, origin)?;
    let calibration = rows_of(data, &manifest.split.calibration, origin)?;
    let shadow = data.view(window.clone());
    let (control, control_model) = choose_control(promoted, candidate, data, meta, &calibration)?;
    let (replay, traces) = match replay {
        Some(setup) => {
            // The start-up delay: the config's, else the pods' measured P90, else the default.
            let measured = meta
                .source
                .prometheus
                .as_ref()
                .and_then(|p| p.startup.as_ref())
                .map(|s| s.p90_seconds);
            let (capacity, source) = setup.capacity.resolved(measured);
            let resolved = ReplaySetup {
                capacity: &capacity,
                ..setup
            };
            let (mut report, traces) =
                replay_window(data, meta, &manifest.split.shadow, resolved, &control_model, candidate)?;
            report.startup_delay_source = source;
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
        candidate_metrics: metrics(&candidate.predict(shadow)?, shadow.label()),
        control_metrics: metrics(&control_model.predict(shadow)?, shadow.label()),
        replay,
        shape: Some(crate::assess::shape(data, meta)),
    };
    Ok((comparison, traces))
}

/// What the replay of one model over a window needs: demand on the regular grid (a grid time
/// without a row — a gap in the data — repeats the last value) and the forecasts the model
/// makes from each grid time (none where a gap is: the forecast step would fall back there).
pub struct ReplayInputs {
    /// Unix time of the window's first grid time.
    pub start: i64,
    pub row_seconds: i64,
    pub horizon_rows: usize,
    pub demand: Vec<f64>,
    /// See [`Forecasts::by_target`].
    pub forecasts: Vec<Option<Forecast>>,
    /// The model's interval level.
    pub level: f64,
}

impl ReplayInputs {
    pub fn forecasts<'a>(&'a self, calendar: Option<&'a CalendarConfig>) -> Forecasts<'a> {
        Forecasts {
            by_target: &self.forecasts,
            horizon_rows: self.horizon_rows,
            calendar,
            level: self.level,
        }
    }
}

/// What the replay takes from the workload config: the capacity, how assisted mode puts the
/// floor under the HPA, and the calendar's declared events.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySetup<'a> {
    pub capacity: &'a CapacityConfig,
    pub actuation: Actuation,
    pub calendar: Option<&'a CalendarConfig>,
}

impl<'a> ReplaySetup<'a> {
    /// The replay of `config`'s deployed policy; None without `capacity:`.
    pub fn of(config: &'a WorkloadConfig) -> Option<ReplaySetup<'a>> {
        Some(ReplaySetup {
            capacity: config.capacity.as_ref()?,
            actuation: config.deploy.as_ref().map_or(Actuation::FloorMetric, |d| d.actuation),
            calendar: config.calendar.as_ref(),
        })
    }
}

/// The replay's inputs for `model` over `window` of `data`.
pub fn replay_inputs(data: &Dataset, meta: &DatasetManifest, window: &Interval, model: &Model) -> Result<ReplayInputs> {
    let step = HumanDuration::parse(&meta.resolution)
        .map_err(|e| Error::Data(format!("dataset manifest: resolution {e}")))?
        .seconds();
    let h = meta.label.horizon_steps as usize;
    let start = parse_timestamp(&window.start).ok_or_else(|| Error::Data("shadow window start".into()))?;
    let end = parse_timestamp(&window.end).ok_or_else(|| Error::Data("shadow window end".into()))?;
    let n = ((end - start) / step) as usize + 1;
    // Grid position g (from −h) ↔ time start + g·step; rows found by timestamp.
    let first = data.first_at_or_after(start - h as i64 * step);
    let slice = data.view(first..data.rows());
    let target = slice
        .column("target")
        .ok_or_else(|| Error::Data("the dataset has no `target` column".into()))?;
    let mut demand = Vec::with_capacity(n);
    let mut last = target.first().copied().unwrap_or(0.0);
    for g in 0..n {
        if let Ok(i) = slice.timestamps().binary_search(&(start + g as i64 * step)) {
            last = target[i];
        }
        demand.push(last);
    }
    // The forecast made from grid time g − h for g, g in 0..n + h.
    let predictions = model.predict(slice)?;
    let forecasts = (0..n + h)
        .map(|g| {
            let made_at = start + (g as i64 - h as i64) * step;
            slice.timestamps().binary_search(&made_at).ok().map(|i| Forecast {
                point: predictions[i].point,
                lower: predictions[i].lower,
                upper: predictions[i].upper,
            })
        })
        .collect();
    Ok(ReplayInputs {
        start,
        row_seconds: step,
        horizon_rows: h,
        demand,
        forecasts,
        level: model.interval.level,
    })
}

/// Replays the window: the reactive HPA, the control and the candidate.
fn replay_window(
    data: &Dataset,
    meta: &DatasetManifest,
    window: &Interval,
    setup: ReplaySetup,
    control: &Model,
    candidate: &Model,
) -> Result<(ReplayReport, ReplayTraces)> {
    let control = replay_inputs(data, meta, window, control)?;
    let candidate = replay_inputs(data, meta, window, candidate)?;
    Ok(replay::compare(
        &candidate.demand,
        candidate.start,
        candidate.row_seconds,
        setup.capacity,
        setup.actuation,
        &control.forecasts(setup.calendar),
        &candidate.forecasts(setup.calendar),
    ))
}
