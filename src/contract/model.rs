//! The model's contract: the `model:` and `split:` config, the `Model` document (everything
//! prediction needs), its manifest (everything needed to audit or reproduce it), and the interval
//! calibration. Fitting and predicting are in `crate::model` and `crate::train`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dataset::LabelKind;
use super::document::{document_kind, ApiVersion};
use super::interval::Interval;
use crate::time::{dur, HumanDuration};

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

document_kind!(Model, ModelDocKind, "Model");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ModelDocKind,
    pub workload: String,
    pub algorithm: ModelKind,
    pub target: String,
    pub horizon: String,
    pub label: LabelKind,
    /// Input columns, in the order of `coefficients`.
    pub features: Vec<String>,
    /// Per feature: subtract `mean`, divide by `scale` (elastic net only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardisation: Option<Standardisation>,
    /// Coefficients on the standardised features, in the target's units (elastic net only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coefficients: Vec<f64>,
    #[serde(default)]
    pub intercept: f64,
    pub hyperparameters: ModelConfig,
    pub interval: Calibration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Standardisation {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

document_kind!(ModelManifest, ModelManifestKind, "ModelManifest");

/// What the model was trained on and how: everything needed to audit or reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ModelManifestKind,
    pub workload: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub model_sha256: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub dataset_sha256: String,
    pub split: Split,
    pub hyperparameters: ModelConfig,
    pub split_config: SplitConfig,
    /// Rows used to fit and to calibrate.
    pub fit_rows: u64,
    pub calibration_rows: u64,
    /// Coordinate-descent passes of the fit, and whether it converged (elastic net).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver: Option<SolverReport>,
    /// mttd version that trained it.
    pub code_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolverReport {
    pub iterations: u32,
    pub converged: bool,
}

/// The time-ordered split of a dataset: fit, calibration, holdout (validate), shadow
/// (shadow-compare). Each part ends at least one horizon before the next begins, so no label
/// reaches into a later part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub fit: Interval,
    pub calibration: Interval,
    pub holdout: Interval,
    pub shadow: Interval,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Target coverage of the interval.
    pub level: f64,
    /// The interval is point ± half_width.
    pub half_width: f64,
    /// Residuals it was calibrated on.
    pub calibration_rows: u64,
}
