//! The workload config: where the metrics come from, which series is the forecast target, how
//! features, labels, splits and the model are defined, the capacity, the deploy policy and the
//! promotion gate. One YAML (or JSON) file per workload, validated against
//! `schemas/WorkloadConfig.schema.json` before use.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::calendar::CalendarConfig;
use super::capacity::CapacityConfig;
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
        let mut durations: Vec<(String, &HumanDuration)> = vec![
            ("/label/horizon".into(), &self.label.horizon),
            ("/features/fill_limit".into(), &self.features.fill_limit),
            ("/split/shadow_window".into(), &self.split.shadow_window),
        ];
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
        if self.label.horizon.seconds() == 0 {
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
            if deploy.drift_alert.is_some() && !tracks {
                return Err(Error::field(
                    origin,
                    "/deploy/drift_alert",
                    "measures drift by the adaptive interval: set `capacity.predictive.adaptive_interval: {rate: 0.05}`",
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
}
