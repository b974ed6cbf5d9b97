//! The dataset's contract: how features and the label are defined in the config, and the
//! manifest that records the dataset's sha256 and how every column was made. The table itself is
//! in `crate::dataset`; features are computed in `crate::features`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::capacity::SettingSource;
use super::document::{document_kind, ApiVersion};
use super::interval::Interval;
use super::source::SourceRecord;
use crate::time::{dur, HumanDuration};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureConfig {
    /// Lags of the target.
    pub lags: Vec<HumanDuration>,
    /// Trailing windows for the target's rolling mean and standard deviation.
    pub rolling_windows: Vec<HumanDuration>,
    /// Seasonal lags, counted back from the forecast time (t + horizon). A seasonal lag longer
    /// than a third of the data is left out, and the manifest says so.
    pub seasonal_lags: Vec<HumanDuration>,
    /// Gaps up to this long are filled with the last value seen; longer gaps stay missing and
    /// the rows that would need them are dropped.
    pub fill_limit: HumanDuration,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        let durations = |texts: &[&str]| texts.iter().copied().map(dur).collect();
        FeatureConfig {
            lags: durations(&["5m", "15m", "30m", "60m"]),
            rolling_windows: durations(&["15m", "60m"]),
            seasonal_lags: durations(&["1d", "7d"]),
            fill_limit: dur("5m"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// The target at t + horizon.
    At,
    /// The target's peak over (t, t + horizon]: what capacity must cover.
    Peak,
}

/// The horizon when the config sets none and nothing is measured.
pub const DEFAULT_HORIZON: &str = "15m";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LabelConfig {
    /// How far ahead the forecast looks (its scale-ahead). Absent: the lead time of a scale
    /// decision (`capacity`'s start-up delay + metric delay + cadence, rounded up to the
    /// resolution) when the pods' start-up is measured (`source.prometheus.startup_query`) and
    /// `capacity` is configured, else 15m. The dataset manifest records the value and where it
    /// came from; train, validate and forecast use the dataset's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon: Option<HumanDuration>,
    pub kind: LabelKind,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            horizon: None,
            kind: LabelKind::At,
        }
    }
}

impl LabelConfig {
    /// The horizon: the config's (or the one resolved into it), else the default.
    pub fn horizon(&self) -> HumanDuration {
        self.horizon.clone().unwrap_or_else(|| dur(DEFAULT_HORIZON))
    }
}

fn horizon_from_config() -> SettingSource {
    SettingSource::Config
}

document_kind!(DatasetManifest, DatasetManifestKind, "DatasetManifest");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetManifest {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: DatasetManifestKind,
    pub workload: String,
    /// sha256 of `dataset.parquet`.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub dataset_sha256: String,
    pub rows: u64,
    pub source: SourceRecord,
    /// First and last row timestamps (RFC 3339).
    pub interval: Interval,
    pub resolution: String,
    pub target: String,
    pub signals: Vec<String>,
    pub label: LabelDefinition,
    /// Feature columns in order, with what each one is.
    pub features: Vec<FeatureDefinition>,
    /// Configured features left out, and why.
    pub dropped_features: Vec<FeatureDefinition>,
    pub gaps: GapReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelDefinition {
    pub kind: LabelKind,
    pub horizon: String,
    pub horizon_steps: u64,
    /// Where the horizon came from: the config, the measured lead time, or the default
    /// (absent in manifests written before it was recorded: the config's).
    #[serde(default = "horizon_from_config")]
    pub horizon_source: SettingSource,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureDefinition {
    pub name: String,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GapReport {
    /// Grid intervals between the first and last target sample.
    pub grid_intervals: u64,
    /// Gaps filled forward (no longer than the fill limit).
    pub filled_gaps: u64,
    pub filled_intervals: u64,
    /// Gaps longer than the fill limit, left missing.
    pub unfilled_gaps: u64,
    pub unfilled_intervals: u64,
    /// Grid rows dropped because a feature or the label needed a missing value (this includes
    /// the warm-up at the start and the last horizon at the end).
    pub dropped_rows: u64,
    pub fill_limit: String,
    /// The gaps, in time order (the first 1,000).
    pub list: Vec<Gap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub series: String,
    /// First missing grid timestamp.
    pub start: String,
    pub intervals: u64,
    pub filled: bool,
}
