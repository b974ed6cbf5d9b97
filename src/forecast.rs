//! Deploy: the forecast step. The promoted model's forecast for the latest complete window
//! becomes a replica recommendation under guardrails — advisory (publish what the model would do,
//! change nothing) or assisted (raise the HPA's floor) — and whenever anything is in doubt the
//! recommendation falls back to the reactive baseline (recommend nothing beyond what the HPA
//! does) and says why. It never publishes a forecast made from incomplete data.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::compare::PromotedModel;
use crate::config::WorkloadConfig;
use crate::contract::{rfc3339, ApiVersion, Document};
use crate::duration::{dur, HumanDuration};
use crate::error::{Error, Result};
use crate::replay::CapacityConfig;
use crate::source::{RawSeries, SourceDescription};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Publish the recommendation; change nothing.
    Advisory,
    /// The recommendation may raise the HPA's `minReplicas` (a patch is written).
    Assisted,
}

/// How forecasts are turned into advice, and when to distrust them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Fall back when the latest sample is older than this.
    #[serde(default = "default_max_staleness")]
    pub max_staleness: HumanDuration,
    /// Fall back when (upper − lower) / |point| exceeds this.
    #[serde(default = "default_max_relative_width")]
    #[schemars(range(min = 0.0))]
    pub max_relative_interval_width: f64,
    /// Recommend at most this many replicas fewer than the current count (absent: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scale_down_step: Option<u32>,
    /// Recommend a scale-down only to the highest count recommended during this window.
    #[serde(default = "default_observation_window")]
    pub scale_down_observation_window: HumanDuration,
    /// The HPA the assisted-mode patch is for (default: the workload's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa_name: Option<String>,
    /// Alert the on-call through Alertmanager when the forecast's upper bound exceeds the
    /// current capacity by a factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surge_alert: Option<SurgeAlertConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SurgeAlertConfig {
    /// Alertmanager's base URL, e.g. `http://alertmanager.monitoring:9093` (alerts are posted
    /// to `/api/v2/alerts`).
    #[schemars(regex(pattern = r"^https?://[^@/]+(/.*)?$"))]
    pub alertmanager_url: String,
    /// Alert when upper bound > factor × current replicas × per-replica capacity.
    #[serde(default = "default_surge_factor")]
    #[schemars(range(min = 1.0))]
    pub factor: f64,
    /// The runbook the alert links to (annotation `runbook_url`).
    pub runbook_url: String,
    /// Label `severity`.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// More labels, e.g. `team: payments`, for routing.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

fn default_surge_factor() -> f64 {
    1.2
}
fn default_severity() -> String {
    "warning".into()
}

fn default_mode() -> Mode {
    Mode::Advisory
}
fn default_max_staleness() -> HumanDuration {
    dur("5m")
}
fn default_max_relative_width() -> f64 {
    1.0
}
fn default_observation_window() -> HumanDuration {
    dur("10m")
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            mode: default_mode(),
            max_staleness: default_max_staleness(),
            max_relative_interval_width: default_max_relative_width(),
            max_scale_down_step: None,
            scale_down_observation_window: default_observation_window(),
            hpa_name: None,
            surge_alert: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackReason {
    NoPromotedModel,
    MetricsMissing,
    MetricsStale,
    FeatureWindowIncomplete,
    FeatureMismatch,
    IntervalTooWide,
}

impl FallbackReason {
    pub fn word(self) -> &'static str {
        match self {
            FallbackReason::NoPromotedModel => "no-promoted-model",
            FallbackReason::MetricsMissing => "metrics-missing",
            FallbackReason::MetricsStale => "metrics-stale",
            FallbackReason::FeatureWindowIncomplete => "feature-window-incomplete",
            FallbackReason::FeatureMismatch => "feature-mismatch",
            FallbackReason::IntervalTooWide => "interval-too-wide",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub reason: FallbackReason,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForecastValue {
    /// The time the forecast is for (the latest sample + the horizon).
    pub target_time: String,
    pub point: f64,
    pub lower: f64,
    pub upper: f64,
}

/// A recommendation recorded for the scale-down observation window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    pub at: String,
    pub replicas: u32,
}

crate::document_kind!(RecommendationKind, "Recommendation");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recommendation {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: RecommendationKind,
    pub workload: String,
    /// When it was made ("now").
    pub generated_at: String,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<u32>,
    /// The input window used (first and last sample of the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<crate::dataset::Interval>,
    pub horizon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastValue>,
    /// Replicas for the interval's upper bound after the guardrails; absent on fallback (then
    /// nothing is recommended beyond what the HPA does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Replicas the forecast asked for before the guardrails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed_replicas: Option<u32>,
    /// The guardrails that changed the count, in order.
    pub guardrails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Recommendations within the observation window, for the next run.
    pub history: Vec<Recorded>,
    /// Set when the upper bound exceeds the current capacity by the surge alert's factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surge: Option<Surge>,
}

/// A predicted surge: the forecast's upper bound against what the running replicas serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Surge {
    pub upper: f64,
    pub current_replicas: u32,
    /// current_replicas × per_replica.
    pub current_capacity: f64,
    pub factor: f64,
}

impl Document for Recommendation {
    const KIND: &'static str = "Recommendation";
}

/// Applies min/max, the scale-down step and the observation window to `needed`, given the
/// current replica count and the recent recommendations (`recent`, all within the window).
pub fn guard(
    needed: u32,
    current: Option<u32>,
    recent: &[u32],
    capacity: &CapacityConfig,
    deploy: &DeployConfig,
) -> (u32, Vec<String>) {
    let mut applied = Vec::new();
    let mut r = needed;
    if r < capacity.min_replicas || r > capacity.max_replicas {
        r = r.clamp(capacity.min_replicas, capacity.max_replicas);
        applied.push(format!(
            "min/max replicas [{}, {}]",
            capacity.min_replicas, capacity.max_replicas
        ));
    }
    if let Some(cur) = current {
        if r < cur {
            let highest = recent.iter().copied().max().unwrap_or(r).min(cur);
            if highest > r {
                r = highest;
                applied.push(format!(
                    "observation window {}: no scale-down below the highest recent recommendation",
                    deploy.scale_down_observation_window
                ));
            }
            if let Some(step) = deploy.max_scale_down_step {
                if cur - r > step {
                    r = cur - step;
                    applied.push(format!("max scale-down step {step}"));
                }
            }
        }
    }
    (r.clamp(capacity.min_replicas, capacity.max_replicas), applied)
}

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
    /// Why the metrics source could not be read (the server down, after retries).
    pub source_error: Option<String>,
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
    let window = deploy.scale_down_observation_window.seconds();
    let recent: Vec<Recorded> = input
        .previous
        .map(|p| {
            p.history
                .iter()
                .filter(|r| {
                    crate::contract::parse_timestamp(&r.at).is_some_and(|t| t > input.now - window && t < input.now)
                })
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
        inputs: samples
            .first()
            .zip(samples.last())
            .map(|(a, b)| crate::dataset::Interval {
                start: rfc3339(a.0),
                end: rfc3339(b.0),
            }),
        horizon: config.label.horizon.to_string(),
        forecast: None,
        replicas: None,
        needed_replicas: None,
        guardrails: Vec::new(),
        fallback: None,
        history: recent.clone(),
        surge: None,
    };
    let fall_back = |mut rec: Recommendation, reason: FallbackReason, detail: String| {
        rec.fallback = Some(Fallback { reason, detail });
        Ok(rec)
    };
    let Some(promoted) = input.promoted else {
        return fall_back(
            rec,
            FallbackReason::NoPromotedModel,
            format!("no version of {} is promoted", config.workload),
        );
    };
    if let Some(error) = input.source_error {
        return fall_back(rec, FallbackReason::MetricsMissing, error);
    }
    let Some(&(last, _)) = samples.last() else {
        return fall_back(rec, FallbackReason::MetricsStale, format!("no samples of {target}"));
    };
    let age = input.now - last;
    if age > deploy.max_staleness.seconds() {
        return fall_back(
            rec,
            FallbackReason::MetricsStale,
            format!(
                "the latest {target} sample is {} old (at {}), more than {}",
                human_age(age),
                rfc3339(last),
                deploy.max_staleness
            ),
        );
    }
    let data = match crate::features::extract_unlabelled(config, input.raw, input.source) {
        Ok(d) => d,
        Err(e) => return fall_back(rec, FallbackReason::FeatureWindowIncomplete, e.to_string()),
    };
    let step = config.resolution.seconds();
    let latest_slot = last.div_euclid(step) * step;
    if data.timestamps.last() != Some(&latest_slot) {
        return fall_back(
            rec,
            FallbackReason::FeatureWindowIncomplete,
            format!(
                "the features at the latest time {} are incomplete (a signal or a lag is missing)",
                rfc3339(latest_slot)
            ),
        );
    }
    let row = data.slice(data.rows() - 1..data.rows());
    let prediction = match promoted.model.predict(&row) {
        Ok(p) => p[0],
        Err(e) => return fall_back(rec, FallbackReason::FeatureMismatch, e.to_string()),
    };
    rec.forecast = Some(ForecastValue {
        target_time: rfc3339(latest_slot + config.label.horizon.seconds()),
        point: prediction.point,
        lower: prediction.lower,
        upper: prediction.upper,
    });
    let width = (prediction.upper - prediction.lower) / prediction.point.abs().max(f64::MIN_POSITIVE);
    if width > deploy.max_relative_interval_width {
        return fall_back(
            rec,
            FallbackReason::IntervalTooWide,
            format!(
                "the interval is {:.0}% of the forecast, more than {:.0}%",
                width * 100.0,
                deploy.max_relative_interval_width * 100.0
            ),
        );
    }
    let needed = ((prediction.upper.max(0.0) / capacity.per_replica) - 1e-9)
        .ceil()
        .max(0.0) as u32;
    let recent_counts: Vec<u32> = recent.iter().map(|r| r.replicas).collect();
    let (replicas, guardrails) = guard(needed, current, &recent_counts, capacity, &deploy);
    if let (Some(alert), Some(current)) = (&deploy.surge_alert, current) {
        let current_capacity = f64::from(current) * capacity.per_replica;
        if prediction.upper > alert.factor * current_capacity {
            rec.surge = Some(Surge {
                upper: prediction.upper,
                current_replicas: current,
                current_capacity,
                factor: alert.factor,
            });
        }
    }
    rec.needed_replicas = Some(needed);
    rec.replicas = Some(replicas);
    rec.guardrails = guardrails;
    rec.history.push(Recorded {
        at: rfc3339(input.now),
        replicas: needed.clamp(capacity.min_replicas, capacity.max_replicas),
    });
    Ok(rec)
}

fn human_age(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The ConfigMap `mttd-forecast-<workload>` carrying the recommendation (for kubectl apply,
/// GitOps, or an Argo resource template).
pub fn configmap_yaml(rec: &Recommendation) -> String {
    let json = String::from_utf8(crate::contract::canonical_json(rec)).expect("JSON is UTF-8");
    let value = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": format!("mttd-forecast-{}", rec.workload),
            "labels": {"app.kubernetes.io/name": "mttd", "app.kubernetes.io/component": "forecast"},
        },
        "data": {
            "recommendation.json": json,
            "replicas": rec.replicas.map(|r| r.to_string()).unwrap_or_default(),
            "mode": serde_json::to_value(rec.mode).expect("mode").as_str().unwrap_or_default(),
            "fallback": rec.fallback.as_ref().map(|f| f.reason.word()).unwrap_or_default(),
        },
    });
    serde_yaml_ng::to_string(&value).expect("YAML")
}

/// In assisted mode with a recommendation: a merge patch raising the HPA's minReplicas
/// (`kubectl patch hpa NAME --type merge --patch-file hpa-patch.yaml`).
pub fn hpa_patch_yaml(rec: &Recommendation, deploy: &DeployConfig) -> Option<String> {
    let replicas = rec.replicas?;
    if deploy.mode != Mode::Assisted {
        return None;
    }
    let value = serde_json::json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": deploy.hpa_name.clone().unwrap_or_else(|| rec.workload.clone())},
        "spec": {"minReplicas": replicas},
    });
    Some(serde_yaml_ng::to_string(&value).expect("YAML"))
}

/// One-value files for a workflow engine's conditions and metrics (Argo output parameters):
/// `replicas`, `point`, `upper` (a number, or `none`), `fallback` (the reason, or `none`) and
/// `patch-hpa` (`true` when an HPA patch was written).
pub fn values(rec: &Recommendation, deploy: &DeployConfig) -> Vec<(&'static str, String)> {
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_else(|| "none".into());
    let forecast = rec.forecast.as_ref().filter(|_| rec.fallback.is_none());
    vec![
        (
            "replicas",
            rec.replicas.map(|r| r.to_string()).unwrap_or_else(|| "none".into()),
        ),
        ("point", number(forecast.map(|f| f.point))),
        ("upper", number(forecast.map(|f| f.upper))),
        (
            "fallback",
            rec.fallback
                .as_ref()
                .map(|f| f.reason.word())
                .unwrap_or("none")
                .to_string(),
        ),
        ("patch-hpa", hpa_patch_yaml(rec, deploy).is_some().to_string()),
    ]
}

/// Prometheus text format, for the node exporter's textfile collector and Argo metrics.
pub fn prometheus_text(rec: &Recommendation) -> String {
    let w = &rec.workload;
    let mut out = String::new();
    out.push_str("# HELP mttd_forecast The workload's forecast for the horizon: point and interval bounds.\n# TYPE mttd_forecast gauge\n");
    if let Some(f) = &rec.forecast {
        for (bound, v) in [("point", f.point), ("lower", f.lower), ("upper", f.upper)] {
            out.push_str(&format!("mttd_forecast{{workload=\"{w}\",bound=\"{bound}\"}} {v}\n"));
        }
    }
    out.push_str("# HELP mttd_recommended_replicas Replicas recommended after the guardrails.\n# TYPE mttd_recommended_replicas gauge\n");
    if let Some(r) = rec.replicas {
        let mode = serde_json::to_value(rec.mode).expect("mode");
        out.push_str(&format!(
            "mttd_recommended_replicas{{workload=\"{w}\",mode={mode}}} {r}\n"
        ));
    }
    out.push_str("# HELP mttd_forecast_fallback 1 when the forecast fell back to the reactive baseline.\n# TYPE mttd_forecast_fallback gauge\n");
    let reason = rec.fallback.as_ref().map(|f| f.reason.word()).unwrap_or("none");
    out.push_str(&format!(
        "mttd_forecast_fallback{{workload=\"{w}\",reason=\"{reason}\"}} {}\n",
        u8::from(rec.fallback.is_some())
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn capacity(min: u32, max: u32) -> CapacityConfig {
        serde_yaml_ng::from_str(&format!("per_replica: 10\nmin_replicas: {min}\nmax_replicas: {max}\n")).unwrap()
    }

    #[test]
    fn guardrails_in_order() {
        let deploy = DeployConfig {
            max_scale_down_step: Some(2),
            ..DeployConfig::default()
        };
        assert_eq!(guard(50, None, &[], &capacity(2, 20), &deploy).0, 20);
        assert_eq!(guard(0, None, &[], &capacity(2, 20), &deploy).0, 2);
        // From 10 to 3: the window saw 8, so 8; then within the step.
        assert_eq!(guard(3, Some(10), &[8], &capacity(1, 20), &deploy).0, 8);
        assert_eq!(
            guard(3, Some(10), &[], &capacity(1, 20), &deploy).0,
            8,
            "at most 2 fewer"
        );
        assert_eq!(guard(12, Some(10), &[], &capacity(1, 20), &deploy), (12, vec![]));
    }

    proptest! {
        #[test]
        fn guardrails_hold(
            needed in 0u32..200,
            current in prop::option::of(1u32..100),
            recent in prop::collection::vec(0u32..100, 0..5),
            min in 1u32..10,
            extra in 0u32..100,
            step in prop::option::of(1u32..10),
        ) {
            let cap = capacity(min, min + extra);
            let deploy = DeployConfig { max_scale_down_step: step, ..DeployConfig::default() };
            let (r, _) = guard(needed, current, &recent, &cap, &deploy);
            prop_assert!(r >= cap.min_replicas && r <= cap.max_replicas);
            if let Some(cur) = current {
                if r < cur {
                    if let Some(step) = step {
                        // Only max_replicas (a hard bound) may force a larger step down.
                        prop_assert!(cur - r <= step || r == cap.max_replicas, "scale-down larger than the step");
                    }
                    let highest = recent.iter().copied().max().unwrap_or(0);
                    prop_assert!(r >= highest.min(cur) || r == cap.max_replicas, "below a recent recommendation");
                }
            }
        }
    }
}
