//! Deploy: the forecast step. The promoted model's forecast for the latest complete window
//! becomes a replica recommendation under guardrails — advisory (publish what the model would do,
//! change nothing) or assisted (raise the HPA's floor) — and whenever anything is in doubt the
//! recommendation falls back to the reactive baseline (recommend nothing beyond what the HPA
//! does) and says why. It never publishes a forecast made from incomplete data.

use crate::contract::capacity::CapacityConfig;
use crate::contract::dataset::LabelConfig;
use crate::contract::deploy::{
    DecisionRecord, Fallback, FallbackReason, ForecastValue, Headroom, HeadroomConfig, IntervalTracking, Mode,
    PendingForecast, Recommendation, RecommendationKind, Recorded, SetBy, ShadowForecast, Surge,
};
use crate::contract::document::ApiVersion;
use crate::contract::interval::Interval;
use crate::contract::model::Model;
use crate::contract::registry::{DriftMark, LogWitness};
use crate::contract::workload::WorkloadConfig;
use crate::error::{Error, Result};
use crate::features;
use crate::model::{Prediction, PromotedModel};
use crate::policy::{floor_for, score_due, Distrust, Floor, Forecast};
use crate::replay::hpa;
use crate::source::{RawSeries, SourceDescription};
use crate::time::{parse_timestamp, rfc3339, HumanDuration};

/// The inputs of one forecast.
pub struct ForecastInput<'a> {
    pub config: &'a WorkloadConfig,
    pub promoted: Option<PromotedModel>,
    pub raw: &'a RawSeries,
    pub source: &'a SourceDescription,
    /// Unix seconds.
    pub now: i64,
    pub current_replicas: Option<u32>,
    pub previous: Option<&'a Recommendation>,
    /// What went wrong before the forecast could be made (the source, the store, the model,
    /// the state): the recommendation is then that fallback.
    pub unavailable: Option<Fallback>,
    /// The change log's last entry as read now; absent when the store could not be read (the
    /// previous recommendation's is carried forward).
    pub log_witness: Option<LogWitness>,
    /// The live drift the change log records for the promoted version.
    pub drift: Option<DriftMark>,
}

/// A model's forecast from the latest complete features: the latest sample's time, the target
/// time (that sample's grid slot + the model's horizon) and the prediction.
struct Latest {
    last: i64,
    target_time: i64,
    prediction: Prediction,
}

/// Why a model made no forecast: the fallback's reason and detail.
type NoForecast = (FallbackReason, String);

/// The horizon `model` was trained for — its dataset's: the config's, or the lead time measured
/// then — which is how far ahead it forecasts, whatever the config says today (its seasonal
/// and calendar features are of the time it was trained to look at).
fn model_horizon(model: &Model) -> std::result::Result<HumanDuration, NoForecast> {
    match HumanDuration::parse(&model.horizon) {
        Ok(h) if h.seconds() > 0 => Ok(h),
        _ => Err((
            FallbackReason::ModelRejected,
            format!("the model's horizon `{}` is not a duration", model.horizon),
        )),
    }
}

/// `model`'s forecast, `horizon` ahead, from the latest complete features of `raw`, or why
/// there is none: stale or missing samples, incomplete features, features that are not the
/// model's, a number that is not finite.
fn predict_latest(
    config: &WorkloadConfig,
    model: &Model,
    horizon: &HumanDuration,
    raw: &RawSeries,
    source: &SourceDescription,
    now: i64,
    max_staleness: &HumanDuration,
) -> std::result::Result<Latest, NoForecast> {
    let served;
    let config = if config.label.horizon() == *horizon {
        config
    } else {
        served = WorkloadConfig {
            label: LabelConfig {
                horizon: Some(horizon.clone()),
                ..config.label.clone()
            },
            ..config.clone()
        };
        &served
    };
    let target = &config.signals.target;
    let samples = raw.series.get(target).map(Vec::as_slice).unwrap_or(&[]);
    let Some(&(last, _)) = samples.last() else {
        return Err((FallbackReason::MetricsStale, format!("no samples of {target}")));
    };
    let age = now - last;
    if age > max_staleness.seconds() {
        return Err((
            FallbackReason::MetricsStale,
            format!(
                "the latest {target} sample is {} old (at {}), more than {max_staleness}",
                human_age(age),
                rfc3339(last),
            ),
        ));
    }
    let data = features::extract_unlabelled(config, raw, source)
        .map_err(|e| (FallbackReason::FeatureWindowIncomplete, e.to_string()))?;
    let step = config.resolution.seconds();
    let latest_slot = last.div_euclid(step) * step;
    if data.timestamps.last() != Some(&latest_slot) {
        return Err((
            FallbackReason::FeatureWindowIncomplete,
            format!(
                "the features at the latest time {} are incomplete (a signal or a lag is missing)",
                rfc3339(latest_slot)
            ),
        ));
    }
    let row = data.slice(data.rows() - 1..data.rows());
    let prediction = model
        .predict(&row)
        .map_err(|e| (FallbackReason::FeatureMismatch, e.to_string()))?[0];
    if ![prediction.point, prediction.lower, prediction.upper]
        .iter()
        .all(|v| v.is_finite())
    {
        // Not recorded as the forecast: a non-finite number has no JSON form, and the next run
        // reads this recommendation back as its state.
        return Err((
            FallbackReason::ForecastInvalid,
            format!(
                "the model's forecast is not a finite number (point {}, interval [{}, {}]): the inputs or the model overflowed",
                prediction.point, prediction.lower, prediction.upper
            ),
        ));
    }
    Ok(Latest {
        last,
        target_time: latest_slot + horizon.seconds(),
        prediction,
    })
}

/// The shadow versions' forecasts from the same inputs (each with its calibrated interval):
/// logged and scored beside the promoted version's, never acted on. One that cannot forecast
/// says why and keeps no other from forecasting.
pub fn shadow_forecasts(
    config: &WorkloadConfig,
    shadows: &[(u32, std::result::Result<PromotedModel, String>)],
    raw: &RawSeries,
    source: &SourceDescription,
    now: i64,
) -> Vec<ShadowForecast> {
    let max_staleness = config.deploy.clone().unwrap_or_default().max_staleness;
    shadows
        .iter()
        .map(|(version, loaded)| {
            let made = loaded
                .as_ref()
                .map_err(|e| (FallbackReason::ModelRejected, e.clone()))
                .and_then(|shadow| {
                    let horizon = model_horizon(&shadow.model)?;
                    predict_latest(config, &shadow.model, &horizon, raw, source, now, &max_staleness)
                });
            match made {
                Ok(latest) => ShadowForecast {
                    model_version: *version,
                    forecast: Some(ForecastValue {
                        target_time: rfc3339(latest.target_time),
                        point: latest.prediction.point,
                        lower: latest.prediction.lower,
                        upper: latest.prediction.upper,
                    }),
                    failed: None,
                },
                Err((reason, detail)) => ShadowForecast {
                    model_version: *version,
                    forecast: None,
                    failed: Some(Fallback { reason, detail }),
                },
            }
        })
        .collect()
}

/// Makes the recommendation; errors only on bad configuration, never on doubtful data (that
/// is a fallback, recorded).
pub fn recommend(input: ForecastInput) -> Result<Recommendation> {
    let config = input.config;
    let deploy = config.deploy.clone().unwrap_or_default();
    let capacity = config.capacity.as_ref().ok_or_else(|| {
        Error::Data(format!(
            "workload {}: forecast needs `capacity:` in the config",
            config.workload
        ))
    })?;
    let window = capacity.predictive.scale_down_observation_window.seconds();
    let recent: Vec<Recorded> = input
        .previous
        .map(|p| {
            p.history
                .iter()
                .filter(|r| parse_timestamp(&r.at).is_some_and(|t| t > input.now - window && t < input.now))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let current = input.current_replicas.or(input.previous.and_then(|p| p.replicas));
    let target = &config.signals.target;
    let samples = input.raw.series.get(target).map(Vec::as_slice).unwrap_or(&[]);
    let mut rec = Recommendation {
        api_version: ApiVersion::V1,
        kind: RecommendationKind::Kind,
        workload: config.workload.clone(),
        generated_at: rfc3339(input.now),
        mode: deploy.mode,
        model_version: input.promoted.as_ref().map(|p| p.version),
        inputs: samples.first().zip(samples.last()).map(|(a, b)| Interval {
            start: rfc3339(a.0),
            end: rfc3339(b.0),
        }),
        horizon: config.label.horizon().to_string(),
        forecast: None,
        replicas: None,
        needed_replicas: None,
        guardrails: Vec::new(),
        fallback: None,
        history: recent.clone(),
        operator_floor: Some(capacity.min_replicas),
        log_witness: input
            .log_witness
            .clone()
            .or_else(|| input.previous.and_then(|p| p.log_witness.clone())),
        surge: None,
        decision: None,
        headroom: None,
        shadows: Vec::new(),
        demoted: None,
        // The adaptive interval's memory, kept as it was until a forecast is made.
        interval_tracking: capacity
            .predictive
            .adaptive_interval
            .as_ref()
            .and(input.previous.and_then(|p| p.interval_tracking.clone())),
    };
    // Live drift recorded for the version in service: assisted mode is advisory for it.
    let advisory_on_drift = deploy.drift_alert.as_ref().is_some_and(|d| d.advisory_on_drift);
    if let (Mode::Assisted, true, Some(mark)) = (deploy.mode, advisory_on_drift, input.drift.as_ref()) {
        let d = &mark.drift;
        rec.mode = Mode::Advisory;
        rec.demoted = Some(format!(
            "live drift of v{} recorded {} by {}: live MAE {:.4} = {:.2}× its validation MAE over {} ({} forecasts); advisory until another version is promoted",
            d.model_version, mark.at, mark.by, d.live_mae, d.ratio, d.window, d.scored
        ));
    }
    // The latest demand the HPA's metric sees, for the decision record (a finite one only: the
    // record is read back as the next run's state).
    let demand = samples.last().map(|s| s.1).filter(|d| d.is_finite());
    let running = input.current_replicas;
    let fall_back = |mut rec: Recommendation, reason: FallbackReason, detail: String| {
        rec.fallback = Some(Fallback { reason, detail });
        let shown = rec.forecast.as_ref().map(|f| Forecast {
            point: f.point,
            lower: f.lower,
            upper: f.upper,
        });
        rec.decision = demand.map(|d| decision_record(capacity, d, running, None, shown.as_ref()));
        // No trusted forecast, no balloon.
        rec.headroom = headroom(deploy.headroom.as_ref(), capacity, None, running, rec.decision.as_ref());
        Ok(rec)
    };
    if let Some(failure) = input.unavailable {
        return fall_back(rec, failure.reason, failure.detail);
    }
    let Some(promoted) = input.promoted else {
        return fall_back(
            rec,
            FallbackReason::NoPromotedModel,
            format!("no version of {} is promoted", config.workload),
        );
    };
    let horizon = match model_horizon(&promoted.model) {
        Ok(h) => h,
        Err((reason, detail)) => return fall_back(rec, reason, detail),
    };
    rec.horizon = horizon.to_string();
    let latest = predict_latest(
        config,
        &promoted.model,
        &horizon,
        input.raw,
        input.source,
        input.now,
        &deploy.max_staleness,
    );
    let Latest {
        last,
        target_time,
        prediction,
    } = match latest {
        Ok(latest) => latest,
        Err((reason, detail)) => return fall_back(rec, reason, detail),
    };
    // The adaptive interval: the forecasts whose target time has passed are scored against what
    // happened, and the half-width tracks the misses.
    let calibrated = (prediction.upper - prediction.lower) / 2.0;
    let mut tracking = capacity.predictive.adaptive_interval.as_ref().map(|a| {
        tracked(
            input.previous.and_then(|p| p.interval_tracking.as_ref()),
            calibrated,
            promoted.model.interval.level,
            a.rate,
            samples,
            last,
        )
    });
    let half = tracking.as_ref().map_or(calibrated, |t| t.half_width);
    let forecast = Forecast {
        point: prediction.point,
        lower: prediction.point - half,
        upper: prediction.point + half,
    };
    rec.forecast = Some(ForecastValue {
        target_time: rfc3339(target_time),
        point: forecast.point,
        lower: forecast.lower,
        upper: forecast.upper,
    });
    let recent_counts: Vec<u32> = recent.iter().map(|r| r.replicas).collect();
    // The declared events at the forecast's target time.
    let events = config
        .calendar
        .as_ref()
        .map(|c| c.events_at(target_time))
        .unwrap_or_default();
    // The forecast is made: it is scored when its time comes whether or not it is acted on, so
    // that an interval widened past trust can narrow again.
    if let Some(t) = tracking.as_mut() {
        t.pending.push(PendingForecast {
            target_time: rfc3339(target_time),
            point: prediction.point,
            half_width: half,
        });
        rec.interval_tracking = tracking;
    }
    if let Some(adaptive) = capacity.predictive.adaptive_interval.as_ref() {
        if adaptive.drifted(half, calibrated) {
            let why = format!(
                "the adaptive interval is ±{half:.4}, {:.2}× the calibrated ±{calibrated:.4} (limit {}×): the model has drifted",
                half / calibrated.max(f64::MIN_POSITIVE),
                adaptive.max_width_ratio.unwrap_or_default()
            );
            return fall_back(rec, FallbackReason::Drifted, why);
        }
    }
    let floor = match floor_for(&forecast, current, &recent_counts, capacity, &events) {
        Ok(floor) => floor,
        Err(Distrust(why)) => return fall_back(rec, FallbackReason::IntervalTooWide, why),
    };
    if let (Some(alert), Some(current)) = (&deploy.surge_alert, current) {
        let current_capacity = f64::from(current) * capacity.per_replica;
        if floor.adjusted.upper > alert.factor * current_capacity {
            rec.surge = Some(Surge {
                upper: floor.adjusted.upper,
                current_replicas: current,
                current_capacity,
                factor: alert.factor,
            });
        }
    }
    rec.decision = demand.map(|d| decision_record(capacity, d, running, Some(&floor), Some(&floor.adjusted)));
    rec.headroom = headroom(
        deploy.headroom.as_ref(),
        capacity,
        Some(&floor.adjusted),
        running,
        rec.decision.as_ref(),
    );
    rec.needed_replicas = Some(floor.needed);
    rec.replicas = Some(floor.replicas);
    rec.guardrails = floor.guardrails;
    rec.history.push(Recorded {
        at: rfc3339(input.now),
        replicas: floor.remembered,
    });
    Ok(rec)
}

/// What the HPA alone would recommend for `demand` with `running` replicas (unknown: the count
/// that demand settles at), beside the forecast's floor (None on a fallback), and what wins.
pub fn decision_record(
    capacity: &CapacityConfig,
    demand: f64,
    running: Option<u32>,
    floor: Option<&Floor>,
    forecast: Option<&Forecast>,
) -> DecisionRecord {
    let total = running.unwrap_or(0);
    let reactive = hpa::recommend(&capacity.hpa, total, total, demand, capacity.per_replica)
        .clamp(capacity.min_replicas, capacity.max_replicas);
    let (final_replicas, set_by) = match floor {
        Some(floor) if floor.replicas > reactive => (floor.replicas, floor.set_by),
        Some(_) => (reactive, SetBy::Reactive),
        None => (reactive, SetBy::Fallback),
    };
    DecisionRecord {
        demand,
        reactive_replicas: reactive,
        point_replicas: forecast.map(|f| capacity.replicas_for(f.point)),
        upper_replicas: forecast.map(|f| capacity.replicas_for(f.upper)),
        final_replicas,
        set_by,
        changed_outcome: final_replicas > reactive,
    }
}

/// The adaptive interval's state after scoring the pending forecasts whose target time has
/// passed (`latest`: the latest target sample's time) against the samples at their target times,
/// in the order they were made. What is tracked is the ratio of the half-width to the
/// calibrated one (1 on the first run), moved by `rate` per score; the state records both
/// half-widths of this forecast (`calibrated`: the model's at this forecast, which follows the
/// level when the model's interval does).
fn tracked(
    previous: Option<&IntervalTracking>,
    calibrated: f64,
    level: f64,
    rate: f64,
    samples: &[(i64, f64)],
    latest: i64,
) -> IntervalTracking {
    let mut state = previous.cloned().unwrap_or(IntervalTracking {
        half_width: calibrated,
        calibrated_half_width: calibrated,
        pending: Vec::new(),
        scored: 0,
        missed: 0,
    });
    let target_time = |p: &PendingForecast| parse_timestamp(&p.target_time);
    let actual = |p: &PendingForecast| {
        let t = target_time(p)?;
        samples.binary_search_by_key(&t, |s| s.0).ok().map(|i| samples[i].1)
    };
    // A target time that does not parse is due (and, without an actual, dropped).
    let due = |p: &PendingForecast| target_time(p).is_none_or(|t| t <= latest);
    let previous = (state.half_width, state.calibrated_half_width);
    let (half_width, waiting, scored, missed) = score_due(
        previous,
        calibrated,
        std::mem::take(&mut state.pending),
        due,
        actual,
        level,
        rate,
    );
    state.half_width = half_width;
    state.calibrated_half_width = calibrated;
    state.pending = waiting;
    state.scored += scored;
    state.missed += missed;
    state
}

/// The balloon for `forecast` (None: a fallback, 0 pods), when headroom is configured and the
/// running count is known (given, else the decision record's final count).
pub fn headroom(
    config: Option<&HeadroomConfig>,
    capacity: &CapacityConfig,
    forecast: Option<&Forecast>,
    running: Option<u32>,
    decision: Option<&DecisionRecord>,
) -> Option<Headroom> {
    let config = config?;
    let running = running.or(decision.map(|d| d.final_replicas))?;
    let upper = forecast.map_or(0, |f| capacity.replicas_for(f.upper).min(capacity.max_replicas));
    Some(Headroom {
        balloon_replicas: upper.saturating_sub(running).min(config.max_replicas),
        running_replicas: running,
        upper_replicas: upper,
    })
}

fn human_age(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
