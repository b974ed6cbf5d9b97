//! The workload config: where the metrics come from, which series is the forecast target, how
//! features, labels, splits and the model are defined. One YAML (or JSON) file per workload,
//! validated against `schemas/WorkloadConfig.schema.json` before use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contract::{ApiVersion, Document};
use crate::duration::{dur, HumanDuration};
use crate::error::{Error, Result};
use crate::policy::gate::GatePolicy;
use crate::replay::CapacityConfig;

crate::document_kind!(WorkloadConfigKind, "WorkloadConfig");

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
    pub deploy: Option<crate::forecast::DeployConfig>,
    /// Promotion policy used by `mttd run` (the `gate` step can also take its own file).
    #[serde(default)]
    pub gate: GatePolicy,
    /// The config file's folder: relative source paths are relative to it (not serialised, so
    /// manifests record paths as written, the same on every machine).
    #[serde(skip)]
    #[schemars(skip)]
    pub base_dir: PathBuf,
}

impl Document for WorkloadConfig {
    const KIND: &'static str = "WorkloadConfig";
}

/// Where the metrics come from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SourceConfig {
    /// A long-format export: columns `timestamp,series,value` (CSV or Parquet).
    File(FileSourceConfig),
    /// A Prometheus server's `query_range` API: the target and every feature is a PromQL query.
    Prometheus(PrometheusSourceConfig),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSourceConfig {
    /// Base URL of the server (or of a path-prefixed proxy in front of it), e.g.
    /// `http://prometheus.monitoring:9090`. Recorded in the manifest; never put credentials here.
    #[schemars(regex(pattern = r"^https?://[^@/]+(/.*)?$"))]
    pub url: String,
    /// Query resolution (`step` of `query_range`); default the config's `resolution`, which it
    /// must divide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<HumanDuration>,
    /// How far back from `end` the extraction reads.
    pub lookback: HumanDuration,
    /// A file holding a bearer token (e.g. a mounted ServiceAccount token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic auth, the password read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
    /// PEM file of the CA that signed the server's certificate (for `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: u32,
    /// Points per series per request; Prometheus refuses more than 11,000.
    #[serde(default = "default_chunk_points")]
    #[schemars(range(min = 2, max = 11000))]
    pub chunk_points: u32,
    /// Time limit of one request.
    #[serde(default = "default_request_timeout")]
    pub timeout: HumanDuration,
    /// Retries of a request after a connection error, a timeout, 429 or 5xx (exponential
    /// backoff from 250 ms, with jitter). A 4xx other than 429 is never retried.
    #[serde(default = "default_retries")]
    #[schemars(range(max = 20))]
    pub retries: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    pub password_file: PathBuf,
}

fn default_concurrency() -> u32 {
    4
}
fn default_chunk_points() -> u32 {
    10_000
}
fn default_request_timeout() -> HumanDuration {
    dur("30s")
}
fn default_retries() -> u32 {
    4
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Path of the export; a relative path is relative to the config file's folder.
    pub path: PathBuf,
    /// `csv` or `parquet`; taken from the file extension when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Parquet,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// The series to forecast (e.g. requests per second): a series name in a file source, a
    /// PromQL query returning one series for Prometheus.
    pub target: String,
    /// Other series used as features at the time of the forecast: a list of series names in a
    /// file source, `name: PromQL query` for Prometheus.
    #[serde(default)]
    pub features: FeatureSignals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FeatureSignals {
    /// Series names of a file source.
    Names(Vec<String>),
    /// Feature name → PromQL query returning one series (names: lower-case letters, digits, `_`).
    Queries(BTreeMap<String, String>),
}

impl Default for FeatureSignals {
    fn default() -> Self {
        FeatureSignals::Names(Vec::new())
    }
}

impl FeatureSignals {
    /// The feature signals' names, in order (queries: by name).
    pub fn names(&self) -> Vec<String> {
        match self {
            FeatureSignals::Names(names) => names.clone(),
            FeatureSignals::Queries(queries) => queries.keys().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// Lags of the target.
    #[serde(default = "default_lags")]
    pub lags: Vec<HumanDuration>,
    /// Trailing windows for the target's rolling mean and standard deviation.
    #[serde(default = "default_rolling")]
    pub rolling_windows: Vec<HumanDuration>,
    /// Seasonal lags, counted back from the forecast time (t + horizon). A seasonal lag longer
    /// than a third of the data is left out, and the manifest says so.
    #[serde(default = "default_seasonal")]
    pub seasonal_lags: Vec<HumanDuration>,
    /// Gaps up to this long are filled with the last value seen; longer gaps stay missing and
    /// the rows that would need them are dropped.
    #[serde(default = "default_fill_limit")]
    pub fill_limit: HumanDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// The target at t + horizon.
    At,
    /// The target's peak over (t, t + horizon]: what capacity must cover.
    Peak,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelConfig {
    #[serde(default = "default_horizon")]
    pub horizon: HumanDuration,
    #[serde(default = "default_label_kind")]
    pub kind: LabelKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    ElasticNet,
    LastValue,
    SeasonalNaive,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::ElasticNet => "elastic-net",
            ModelKind::LastValue => "last-value",
            ModelKind::SeasonalNaive => "seasonal-naive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default = "default_model_kind")]
    pub kind: ModelKind,
    /// Overall regularisation strength (alpha) of the elastic net.
    #[serde(default = "default_penalty")]
    #[schemars(range(min = 0.0))]
    pub penalty: f64,
    /// Share of L1 in the penalty (1 = lasso, 0 = ridge).
    #[serde(default = "default_l1_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub l1_ratio: f64,
    /// What the fit minimises: `absolute` error (the forecast is a conditional median: the
    /// metric the gate compares by default, and robust to bursts) or `squared` error (a mean).
    #[serde(default = "default_loss")]
    pub loss: Loss,
    #[serde(default = "default_max_iterations")]
    #[schemars(range(min = 1))]
    pub max_iterations: u32,
    #[serde(default = "default_tolerance")]
    #[schemars(range(min = 0.0))]
    pub tolerance: f64,
    /// Coverage of the prediction interval (split-conformal).
    #[serde(default = "default_interval_level")]
    #[schemars(range(min = 0.5, max = 0.999))]
    pub interval_level: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    Absolute,
    Squared,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// The most recent window, kept away from training and validation, for shadow-compare.
    #[serde(default = "default_shadow_window")]
    pub shadow_window: HumanDuration,
    /// Share of the remaining rows (the latest ones) held out for validation.
    #[serde(default = "default_holdout")]
    #[schemars(range(min = 0.05, max = 0.5))]
    pub holdout_fraction: f64,
    /// Share of the training rows (the latest ones) used to calibrate the interval.
    #[serde(default = "default_calibration")]
    #[schemars(range(min = 0.05, max = 0.5))]
    pub calibration_fraction: f64,
    /// Rolling-origin folds evaluated by `validate`.
    #[serde(default = "default_folds")]
    #[schemars(range(min = 0, max = 10))]
    pub folds: u32,
}

fn default_resolution() -> HumanDuration {
    dur("1m")
}
fn default_lags() -> Vec<HumanDuration> {
    ["5m", "15m", "30m", "60m"].into_iter().map(dur).collect()
}
fn default_rolling() -> Vec<HumanDuration> {
    ["15m", "60m"].into_iter().map(dur).collect()
}
fn default_seasonal() -> Vec<HumanDuration> {
    ["1d", "7d"].into_iter().map(dur).collect()
}
fn default_fill_limit() -> HumanDuration {
    dur("5m")
}
fn default_horizon() -> HumanDuration {
    dur("15m")
}
fn default_label_kind() -> LabelKind {
    LabelKind::At
}
fn default_model_kind() -> ModelKind {
    ModelKind::ElasticNet
}
fn default_penalty() -> f64 {
    0.01
}
fn default_l1_ratio() -> f64 {
    0.5
}
fn default_loss() -> Loss {
    Loss::Absolute
}
fn default_max_iterations() -> u32 {
    10_000
}
fn default_tolerance() -> f64 {
    1e-6
}
fn default_interval_level() -> f64 {
    0.8
}
fn default_shadow_window() -> HumanDuration {
    dur("2d")
}
fn default_holdout() -> f64 {
    0.2
}
fn default_calibration() -> f64 {
    0.2
}
fn default_folds() -> u32 {
    3
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            lags: default_lags(),
            rolling_windows: default_rolling(),
            seasonal_lags: default_seasonal(),
            fill_limit: default_fill_limit(),
        }
    }
}
impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            horizon: default_horizon(),
            kind: default_label_kind(),
        }
    }
}
impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: default_model_kind(),
            penalty: default_penalty(),
            l1_ratio: default_l1_ratio(),
            loss: default_loss(),
            max_iterations: default_max_iterations(),
            tolerance: default_tolerance(),
            interval_level: default_interval_level(),
        }
    }
}
impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            shadow_window: default_shadow_window(),
            holdout_fraction: default_holdout(),
            calibration_fraction: default_calibration(),
            folds: default_folds(),
        }
    }
}

impl WorkloadConfig {
    /// Reads and validates a config file; relative source paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Self> {
        let mut config = Self::read(path)?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.check(&path.display().to_string())?;
        Ok(config)
    }

    /// Checks what the schema cannot: every duration a whole number of grid steps.
    pub fn check(&self, origin: &str) -> Result<()> {
        let step = self.resolution.seconds();
        if step <= 0 {
            return Err(Error::invalid(origin, "field `/resolution`", "must be longer than 0s"));
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
                return Err(Error::invalid(
                    origin,
                    format!("field `{field}`"),
                    format!("{d} is not a whole number of the resolution {}", self.resolution),
                ));
            }
        }
        if self.label.horizon.seconds() == 0 {
            return Err(Error::invalid(
                origin,
                "field `/label/horizon`",
                "must be longer than 0s",
            ));
        }
        for w in &self.features.rolling_windows {
            if w.seconds() < 2 * step {
                return Err(Error::invalid(
                    origin,
                    "field `/features/rolling_windows`",
                    format!("{w} must cover at least two grid steps"),
                ));
            }
        }
        if let Some(capacity) = &self.capacity {
            capacity.check(origin, step)?;
        }
        match (&self.source, &self.signals.features) {
            (SourceConfig::File(_), FeatureSignals::Queries(_)) => {
                return Err(Error::invalid(
                    origin,
                    "field `/signals/features`",
                    "a file source lists its feature series by name (a YAML list), not `name: query`",
                ))
            }
            (SourceConfig::Prometheus(_), FeatureSignals::Names(names)) if !names.is_empty() => {
                return Err(Error::invalid(
                    origin,
                    "field `/signals/features`",
                    "a Prometheus source names each feature and its query (`name: PromQL query`), not a list",
                ))
            }
            (SourceConfig::File(_), FeatureSignals::Names(names)) if names.contains(&self.signals.target) => {
                return Err(Error::invalid(
                    origin,
                    "field `/signals/features`",
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
                    return Err(Error::invalid(
                        origin,
                        format!("field `/signals/features/{bad}`"),
                        "a feature name is lower-case letters, digits and `_`",
                    ));
                }
            }
            _ => {}
        }
        if let SourceConfig::Prometheus(prometheus) = &self.source {
            let query_step = prometheus.step.as_ref().unwrap_or(&self.resolution).seconds();
            if query_step <= 0 || step % query_step != 0 {
                return Err(Error::invalid(
                    origin,
                    "field `/source/prometheus/step`",
                    format!("must divide the resolution {} (and be longer than 0s)", self.resolution),
                ));
            }
            if prometheus.lookback.seconds() <= 0 || prometheus.lookback.seconds() % step != 0 {
                return Err(Error::invalid(
                    origin,
                    "field `/source/prometheus/lookback`",
                    format!("must be a whole, non-zero number of the resolution {}", self.resolution),
                ));
            }
            if prometheus.timeout.seconds() <= 0 {
                return Err(Error::invalid(
                    origin,
                    "field `/source/prometheus/timeout`",
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
