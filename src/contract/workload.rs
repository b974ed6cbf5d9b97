//! The workload config: where the metrics come from, which series is the forecast target, how
//! features, labels, splits and the model are defined, the capacity, the deploy policy and the
//! promotion gate. One YAML (or JSON) file per workload, validated against
//! `schemas/WorkloadConfig.schema.json` before use.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::calendar::CalendarConfig;
use super::capacity::{CapacityConfig, SettingSource};
use super::dataset::{FeatureConfig, LabelConfig};
use super::deploy::DeployConfig;
use super::document::{document_kind, ApiVersion, Document};
use super::gate::GatePolicy;
use super::model::{ModelConfig, SplitConfig};
use super::source::{FeatureSignals, SignalsConfig, SourceConfig};
use crate::error::{Error, Result};
use crate::time::{dur, HumanDuration};

document_kind!(WorkloadConfig, WorkloadConfigKind, "WorkloadConfig");

/// The most points an extraction may ask Prometheus for, all signals together (a year of
/// 1-minute points is 0.5 M per signal).
const MAX_QUERY_POINTS: i64 = 20_000_000;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: WorkloadConfigKind,
    /// Workload name: lower-case letters, digits and dashes (it names folders in the store).
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub workload: String,
    pub source: SourceConfig,
    pub signals: SignalsConfig,
    /// Spacing of the regular grid the series are put on.
    #[serde(default = "default_resolution")]
    pub resolution: HumanDuration,
    #[serde(default)]
    pub features: FeatureConfig,
    #[serde(default)]
    pub label: LabelConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub split: SplitConfig,
    /// What one replica serves, the HPA and the predictive policy: enables the autoscaler
    /// replay in shadow-compare and the gate's operational checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityConfig>,
    /// How the forecast step turns forecasts into advice (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    /// Holidays (a feature) and declared events (an uplift and a replica window the forecast
    /// and the replay apply). Absent: neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarConfig>,
    /// Promotion policy used by `mttd run` (the `gate` step can also take its own file).
    #[serde(default)]
    pub gate: GatePolicy,
    /// The config file's folder: relative source paths are relative to it (not serialised, so
    /// manifests record paths as written, the same on every machine).
    #[serde(skip)]
    #[schemars(skip)]
    pub base_dir: PathBuf,
    /// The config file, for errors about a field of it (not serialised).
    #[serde(skip)]
    #[schemars(skip)]
    pub origin: String,
}

fn default_resolution() -> HumanDuration {
    dur("1m")
}

impl WorkloadConfig {
    /// Reads and validates a config file; relative source paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Self> {
        let mut config = Self::read(path)?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.origin = path.display().to_string();
        config.check(&path.display().to_string())?;
        Ok(config)
    }

    /// Checks what the schema cannot: every duration a whole number of grid steps.
    pub fn check(&self, origin: &str) -> Result<()> {
        let step = self.resolution.seconds();
        if step <= 0 {
            return Err(Error::field(origin, "/resolution", "must be longer than 0s"));
        }
        let mut durations: Vec<(String, &HumanDuration)> = self
            .label
            .horizon
            .iter()
            .map(|horizon| ("/label/horizon".into(), horizon))
            .collect();
        durations.push(("/features/fill_limit".into(), &self.features.fill_limit));
        durations.push(("/split/shadow_window".into(), &self.split.shadow_window));
        for (name, list) in [
            ("lags", &self.features.lags),
            ("rolling_windows", &self.features.rolling_windows),
            ("seasonal_lags", &self.features.seasonal_lags),
        ] {
            for (i, d) in list.iter().enumerate() {
                durations.push((format!("/features/{name}/{i}"), d));
            }
        }
        for (field, d) in durations {
            if d.seconds() % step != 0 {
                return Err(Error::field(
                    origin,
                    &field,
                    format!("{d} is not a whole number of the resolution {}", self.resolution),
                ));
            }
        }
        if self.label.horizon().seconds() == 0 {
            return Err(Error::field(origin, "/label/horizon", "must be longer than 0s"));
        }
        for w in &self.features.rolling_windows {
            if w.seconds() < 2 * step {
                return Err(Error::field(
                    origin,
                    "/features/rolling_windows",
                    format!("{w} must cover at least two grid steps"),
                ));
            }
        }
        if let Some(capacity) = &self.capacity {
            capacity.check(origin, step)?;
        }
        if let Some(deploy) = &self.deploy {
            deploy.check(origin)?;
            let tracks = self
                .capacity
                .as_ref()
                .is_some_and(|c| c.predictive.adaptive_interval.is_some());
            // Drift is measured by the adaptive interval (the forecast step) or by the live
            // score (`live_mae_ratio`): a rule with neither could never hold.
            let live = deploy.drift_alert.as_ref().is_some_and(|d| d.live_mae_ratio.is_some());
            if deploy.drift_alert.is_some() && !tracks && !live {
                return Err(Error::field(
                    origin,
                    "/deploy/drift_alert",
                    "measures drift by the adaptive interval or by the live score: set `capacity.predictive.adaptive_interval: {rate: 0.05}` or `live_mae_ratio`",
                ));
            }
        }
        if let Some(calendar) = &self.calendar {
            calendar.check(origin)?;
        }
        match (&self.source, &self.signals.features) {
            (SourceConfig::File(_), FeatureSignals::Queries(_)) => {
                return Err(Error::field(
                    origin,
                    "/signals/features",
                    "a file source lists its feature series by name (a YAML list), not `name: query`",
                ))
            }
            (SourceConfig::Prometheus(_), FeatureSignals::Names(names)) if !names.is_empty() => {
                return Err(Error::field(
                    origin,
                    "/signals/features",
                    "a Prometheus source names each feature and its query (`name: PromQL query`), not a list",
                ))
            }
            (SourceConfig::File(_), FeatureSignals::Names(names)) if names.contains(&self.signals.target) => {
                return Err(Error::field(
                    origin,
                    "/signals/features",
                    format!("lists the target `{}` itself", self.signals.target),
                ))
            }
            (_, FeatureSignals::Queries(queries)) => {
                if let Some(bad) = queries.keys().find(|name| {
                    name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                }) {
                    return Err(Error::field(
                        origin,
                        format!("/signals/features/{bad}"),
                        "a feature name is lower-case letters, digits and `_`",
                    ));
                }
            }
            _ => {}
        }
        if let SourceConfig::Prometheus(prometheus) = &self.source {
            let query_step = prometheus.step.as_ref().unwrap_or(&self.resolution).seconds();
            if query_step <= 0 || step % query_step != 0 {
                return Err(Error::field(
                    origin,
                    "/source/prometheus/step",
                    format!("must divide the resolution {} (and be longer than 0s)", self.resolution),
                ));
            }
            if prometheus.lookback.seconds() <= 0 || prometheus.lookback.seconds() % step != 0 {
                return Err(Error::field(
                    origin,
                    "/source/prometheus/lookback",
                    format!("must be a whole, non-zero number of the resolution {}", self.resolution),
                ));
            }
            // Bounded before anything is asked: a year of 1-second points per signal is not a
            // mistake to find by running out of memory.
            let points =
                (prometheus.lookback.seconds() / query_step) * (1 + self.signals.features.names().len() as i64);
            if points > MAX_QUERY_POINTS {
                return Err(Error::field(
                    origin,
                    "/source/prometheus/lookback",
                    format!(
                        "{} at a {}s step for {} signal(s) is {points} points, more than {MAX_QUERY_POINTS}",
                        prometheus.lookback,
                        query_step,
                        1 + self.signals.features.names().len()
                    ),
                ));
            }
            if prometheus.timeout.seconds() <= 0 {
                return Err(Error::field(
                    origin,
                    "/source/prometheus/timeout",
                    "must be longer than 0s",
                ));
            }
        }
        Ok(())
    }

    /// This config with its horizon filled in — the config's, else the lead time of a scale
    /// decision from the pods' measured start-up P90 (`startup_p90`, seconds) rounded up to the
    /// resolution, when `capacity` is configured, else the default — and where it came from.
    pub fn with_horizon(&self, startup_p90: Option<f64>) -> (WorkloadConfig, SettingSource) {
        let mut resolved = self.clone();
        let (horizon, source) = match (&self.label.horizon, &self.capacity, startup_p90) {
            (Some(h), _, _) => (h.clone(), SettingSource::Config),
            (None, Some(capacity), Some(p90)) => {
                let step = self.resolution.seconds().max(1);
                let lead = capacity.resolved(Some(p90)).0.lead_seconds().max(1);
                (
                    HumanDuration::from_seconds((lead + step - 1) / step * step),
                    SettingSource::Measured,
                )
            }
            _ => (self.label.horizon(), SettingSource::Default),
        };
        resolved.label.horizon = Some(horizon);
        (resolved, source)
    }

    /// Number of grid steps in a duration (checked to divide by `check`).
    pub fn steps(&self, d: &HumanDuration) -> usize {
        (d.seconds() / self.resolution.seconds()) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extraction_too_large_to_ask_for_is_refused_before_it_starts() {
        let config = |lookback: &str, step: &str| {
            format!(
                "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: api\nsource:\n  prometheus:\n    url: http://p:9090\n    lookback: {lookback}\n    step: {step}\nsignals:\n  target: up\nresolution: 1m\n"
            )
        };
        let ok = WorkloadConfig::from_bytes(config("365d", "1m").as_bytes(), "w.yaml").unwrap();
        ok.check("w.yaml").unwrap();
        let huge = WorkloadConfig::from_bytes(config("3650d", "1s").as_bytes(), "w.yaml").unwrap();
        let e = huge.check("w.yaml").unwrap_err().to_string();
        assert!(
            e.contains("w.yaml") && e.contains("/source/prometheus/lookback") && e.contains("points"),
            "{e}"
        );
    }

    #[test]
    fn an_open_horizon_is_the_lead_time_of_a_scale_decision_when_start_up_is_measured() {
        let config = |extra: &str| {
            let text = format!(
                "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: api\nsource:\n  file:\n    path: d.csv\nsignals:\n  target: up\nresolution: 2m\n{extra}"
            );
            WorkloadConfig::from_bytes(text.as_bytes(), "w.yaml").unwrap()
        };
        let horizon = |c: &WorkloadConfig, p90: Option<f64>| {
            let (resolved, source) = c.with_horizon(p90);
            (resolved.label.horizon().to_string(), source)
        };
        let capacity = "capacity:\n  per_replica: 10\n";
        // 181 s of start-up + 1m metric delay + 5m cadence = 541 s, rounded up to the 2m grid.
        let open = config(capacity);
        assert_eq!(horizon(&open, Some(180.2)), ("10m".into(), SettingSource::Measured));
        // The config's start-up delay is the one a floor waits for, as in the replay.
        let declared = config("capacity:\n  per_replica: 10\n  startup_delay: 4m\n");
        assert_eq!(horizon(&declared, Some(30.0)), ("10m".into(), SettingSource::Measured));
        // Nothing measured, no capacity, or a horizon in the config: as before.
        assert_eq!(horizon(&open, None), ("15m".into(), SettingSource::Default));
        assert_eq!(
            horizon(&config(""), Some(180.0)),
            ("15m".into(), SettingSource::Default)
        );
        let set = config("capacity:\n  per_replica: 10\nlabel:\n  horizon: 30m\n");
        assert_eq!(horizon(&set, Some(180.0)), ("30m".into(), SettingSource::Config));
    }

    #[test]
    fn a_drift_rule_needs_the_adaptive_interval_or_the_live_score() {
        let config = |capacity: &str, rule: &str| {
            let text = format!(
                "apiVersion: mttd/v1\nkind: WorkloadConfig\nworkload: api\nsource:\n  file:\n    path: d.csv\nsignals:\n  target: up\ncapacity:\n  per_replica: 10\n{capacity}deploy:\n  drift_alert:\n    alertmanager_url: http://am:9093\n    runbook_url: https://runbooks.example/drift\n{rule}"
            );
            WorkloadConfig::from_bytes(text.as_bytes(), "w.yaml")
                .unwrap()
                .check("w.yaml")
        };
        let tracked = "  predictive:\n    adaptive_interval: {rate: 0.05}\n";
        assert!(config(tracked, "").is_ok());
        assert!(config("", "    live_mae_ratio: 1.5\n").is_ok(), "the live rule alone");
        let neither = config("", "").unwrap_err().to_string();
        assert!(
            neither.contains("/deploy/drift_alert") && neither.contains("live_mae_ratio"),
            "{neither}"
        );
    }
}
