//! The model's contract: the `model:` and `split:` config, the `Model` document (everything
//! prediction needs), its manifest (everything needed to audit or reproduce it), and the interval
//! calibration. Fitting and predicting are in `crate::model` and `crate::train`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dataset::LabelKind;
use super::document::{document_kind, wire_enum, ApiVersion};
use super::interval::Interval;
use crate::time::{dur, HumanDuration};

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum ModelKind {
        ElasticNet = "elastic-net",
        LastValue = "last-value",
        SeasonalNaive = "seasonal-naive",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub kind: ModelKind,
    /// Overall regularisation strength (alpha) of the elastic net.
    #[schemars(range(min = 0.0))]
    pub penalty: f64,
    /// Share of L1 in the penalty (1 = lasso, 0 = ridge).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub l1_ratio: f64,
    /// What the fit minimises: `absolute` error (the forecast is a conditional median: the
    /// metric the gate compares by default, and robust to bursts) or `squared` error (a mean).
    pub loss: Loss,
    #[schemars(range(min = 1))]
    pub max_iterations: u32,
    #[schemars(range(min = 0.0))]
    pub tolerance: f64,
    /// Coverage of the prediction interval (split-conformal).
    #[schemars(range(min = 0.5, max = 0.999))]
    pub interval_level: f64,
    /// How the elastic net sees the target's level: `absolute` (in the target's units),
    /// `relative` (the target's own features and the label divided by its longest rolling
    /// mean, so that what is learnt at one level holds at another: growing workloads), or
    /// `auto` (both fitted; the one with the lower MAE on the calibration window is kept).
    pub scale: ScaleMode,
    /// After calibrating, fit the chosen model again on the fit and calibration rows together
    /// (everything before the holdout), keeping the interval calibrated on the first fit's
    /// out-of-sample residuals. Off by default: on the shared traces it moved the holdout MAE
    /// by less than 1% either way (BENCHMARKS.md).
    pub refit: bool,
    /// How the elastic net's interval widens with the workload: `sqrt-level` (the half-width
    /// grows with the square root of the target's longest rolling mean, as the noise of counts
    /// does: calibrated on residuals divided by it) or `constant` (one half-width).
    pub interval_scale: IntervalScaleMode,
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum IntervalScaleMode {
        SqrtLevel = "sqrt-level",
        Constant = "constant",
    }
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum ScaleMode {
        Auto = "auto",
        Absolute = "absolute",
        Relative = "relative",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    Absolute,
    Squared,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// The most recent window, kept away from training and validation, for shadow-compare.
    pub shadow_window: HumanDuration,
    /// Share of the remaining rows (the latest ones) held out for validation.
    #[schemars(range(min = 0.05, max = 0.5))]
    pub holdout_fraction: f64,
    /// Share of the training rows (the latest ones) used to calibrate the interval.
    #[schemars(range(min = 0.05, max = 0.5))]
    pub calibration_fraction: f64,
    /// Rolling-origin folds evaluated by `validate`.
    #[schemars(range(min = 0, max = 10))]
    pub folds: u32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: ModelKind::ElasticNet,
            penalty: 0.01,
            l1_ratio: 0.5,
            loss: Loss::Absolute,
            max_iterations: 10_000,
            tolerance: 1e-6,
            interval_level: 0.8,
            scale: ScaleMode::Auto,
            refit: false,
            interval_scale: IntervalScaleMode::SqrtLevel,
        }
    }
}
impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            shadow_window: dur("2d"),
            holdout_fraction: 0.2,
            calibration_fraction: 0.2,
            folds: 3,
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
    /// Set when the model works relative to the target's level (elastic net, `scale:
    /// relative`): the `divided` features are divided by the scale before standardisation,
    /// and the prediction is multiplied by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<RelativeScale>,
    pub hyperparameters: ModelConfig,
    pub interval: Calibration,
}

/// The scale a relative model divides by: `|by|` at the row, at least `floor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelativeScale {
    /// The feature whose value is the scale (the target's longest rolling mean).
    pub by: String,
    /// Smallest scale used (a millionth of the mean scale over the fit rows), so that an idle
    /// workload never divides by zero.
    pub floor: f64,
    /// The features divided by the scale: the target's own level features.
    pub divided: Vec<String>,
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
    /// Which scale was chosen and on what evidence, and the final fit (elastic net).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
    /// mttd version that trained it.
    pub code_version: String,
}

/// The elastic net's scale as chosen: each candidate's MAE on the calibration window (fitted
/// on the fit rows), the one kept, and the rows of the final fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub candidates: Vec<ScaleCandidate>,
    pub chosen: ScaleMode,
    /// The interval of rows the served coefficients were fitted on (fit rows, or fit and
    /// calibration rows with `refit`).
    pub fitted_on: Interval,
    pub fitted_rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleCandidate {
    pub scale: ScaleMode,
    pub calibration_mae: f64,
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
    /// The interval is point ± half_width (× the row's factor when `scaled_by` is set: then
    /// this is the half-width at the calibration window's mean level).
    pub half_width: f64,
    /// Residuals it was calibrated on.
    pub calibration_rows: u64,
    /// Set when the half-width follows the level: at a row, it is `half_width` ×
    /// √(max(|by|, floor) / reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaled_by: Option<IntervalScale>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalScale {
    /// The feature the half-width follows (the target's longest rolling mean).
    pub by: String,
    /// Its mean |value| over the calibration rows: where the factor is 1.
    pub reference: f64,
    /// Smallest value used (a millionth of the reference).
    pub floor: f64,
}
