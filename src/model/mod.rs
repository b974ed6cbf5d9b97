//! Forecast models. A [`Model`] document holds everything prediction needs — kind, feature list,
//! standardisation, coefficients, horizon, interval calibration — and nothing machine-specific.
//! Every kind (the elastic net and the baselines) predicts from the same dataset rows and gets
//! its interval the same way, so any of them can be the control in a comparison.

pub mod elastic_net;
pub mod interval;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{LabelKind, ModelConfig, ModelKind, SplitConfig};
use crate::contract::{ApiVersion, Document};
use crate::dataset::{Dataset, Interval};
use crate::error::{Error, Result};

pub const MODEL_FILE: &str = "model.json";
pub const MANIFEST_FILE: &str = "model.manifest.json";

crate::document_kind!(ModelDocKind, "Model");

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
    pub interval: interval::Calibration,
}

impl Document for Model {
    const KIND: &'static str = "Model";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Standardisation {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

/// A point forecast and its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub point: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Which column each baseline reads.
fn baseline_column(kind: ModelKind, features: &[String]) -> Option<String> {
    match kind {
        ModelKind::LastValue => features.iter().find(|f| *f == "target").cloned(),
        ModelKind::SeasonalNaive => features
            .iter()
            .find(|f| *f == "target_seasonal_1d")
            .or_else(|| features.iter().find(|f| f.starts_with("target_seasonal_")))
            .cloned(),
        ModelKind::ElasticNet => None,
    }
}

impl Model {
    /// Point predictions for every row of `data`; refuses data that lacks the model's features.
    pub fn predict_points(&self, data: &Dataset) -> Result<Vec<f64>> {
        let columns: Vec<&[f64]> = self
            .features
            .iter()
            .map(|name| {
                data.column(name).ok_or_else(|| {
                    Error::Data(format!(
                        "the {} model needs feature `{name}`, which the dataset does not have",
                        self.algorithm.name()
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(match self.algorithm {
            ModelKind::LastValue | ModelKind::SeasonalNaive => columns[0].to_vec(),
            ModelKind::ElasticNet => {
                let st = self
                    .standardisation
                    .as_ref()
                    .ok_or_else(|| Error::Data("elastic-net model without standardisation".into()))?;
                (0..data.rows())
                    .map(|i| {
                        let mut p = self.intercept;
                        for (j, col) in columns.iter().enumerate() {
                            p += self.coefficients[j] * (col[i] - st.mean[j]) / st.scale[j];
                        }
                        p
                    })
                    .collect()
            }
        })
    }

    /// Point and interval for every row of `data`.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<Prediction>> {
        Ok(self
            .predict_points(data)?
            .into_iter()
            .map(|p| self.interval.around(p))
            .collect())
    }

    /// Checks a loaded model is internally consistent (lengths agree, scales non-zero).
    pub fn check(&self, origin: &str) -> Result<()> {
        if self.algorithm == ModelKind::ElasticNet {
            let n = self.features.len();
            let st = self.standardisation.as_ref().ok_or_else(|| {
                Error::invalid(origin, "field `/standardisation`", "missing for an elastic-net model")
            })?;
            if self.coefficients.len() != n || st.mean.len() != n || st.scale.len() != n {
                return Err(Error::invalid(
                    origin,
                    "field `/coefficients`",
                    format!("expected {n} values, one per feature"),
                ));
            }
            if st.scale.iter().any(|s| s.is_nan() || *s <= 0.0 || !s.is_finite()) {
                return Err(Error::invalid(
                    origin,
                    "field `/standardisation/scale`",
                    "every scale must be a positive number",
                ));
            }
        } else if self.features.len() != 1 {
            return Err(Error::invalid(
                origin,
                "field `/features`",
                "a baseline reads exactly one feature",
            ));
        }
        Ok(())
    }
}

crate::document_kind!(ModelManifestKind, "ModelManifest");

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

impl Document for ModelManifest {
    const KIND: &'static str = "ModelManifest";
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

/// A baseline model of `kind` over `features` (which must hold its column).
pub fn baseline(
    kind: ModelKind,
    workload: &str,
    data_features: &[String],
    target: &str,
    horizon: &str,
    label: LabelKind,
) -> Result<Model> {
    let column = baseline_column(kind, data_features).ok_or_else(|| {
        Error::Data(format!(
            "the {} baseline needs a {} column, which the dataset does not have",
            kind.name(),
            if kind == ModelKind::LastValue {
                "`target`"
            } else {
                "`target_seasonal_*`"
            }
        ))
    })?;
    Ok(Model {
        api_version: ApiVersion::V1,
        kind: ModelDocKind::Kind,
        workload: workload.to_string(),
        algorithm: kind,
        target: target.to_string(),
        horizon: horizon.to_string(),
        label,
        features: vec![column],
        standardisation: None,
        coefficients: Vec::new(),
        intercept: 0.0,
        hyperparameters: ModelConfig {
            kind,
            ..ModelConfig::default()
        },
        interval: interval::Calibration::default(),
    })
}
