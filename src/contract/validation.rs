//! What validate writes: error metrics on the time-ordered holdout and per rolling-origin fold.
//! Computed in `crate::evaluate`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::{document_kind, ApiVersion};
use super::interval::Interval;
use super::model::ModelKind;

/// Error metrics over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub rows: u64,
    /// Mean absolute error, in the target's units.
    pub mae: f64,
    /// Mean absolute percentage error (a fraction); each denominator is at least 1% of the
    /// window's mean absolute actual, so near-zero actuals cannot blow it up.
    pub mape: f64,
    pub rmse: f64,
    /// Absolute error weighted by actual / mean actual: an error at the peak counts more than
    /// the same error in the trough.
    pub peak_weighted_mae: f64,
    /// Share of actuals inside the prediction interval.
    pub coverage: f64,
    pub mean_interval_width: f64,
}

document_kind!(Validation, ValidationKind, "Validation");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ValidationKind,
    pub workload: String,
    pub algorithm: ModelKind,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub model_sha256: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub dataset_sha256: String,
    pub horizon: String,
    pub interval_level: f64,
    pub holdout: Holdout,
    pub folds: Vec<Fold>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    pub interval: Interval,
    pub model: Metrics,
    /// The baselines on the same rows, their intervals calibrated on the same rows as the model's.
    pub last_value: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seasonal_naive: Option<Metrics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fold {
    pub fold: u32,
    /// Rows the fold's model was fitted on (everything before its test rows, purged by one
    /// horizon); its interval is the validated model's.
    pub train: Interval,
    pub test: Interval,
    pub metrics: Metrics,
}
