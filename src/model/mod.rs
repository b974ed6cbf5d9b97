//! Forecast models. A [`Model`] document holds everything prediction needs — kind, feature list,
//! standardisation, coefficients, horizon, interval calibration — and nothing machine-specific.
//! Every kind (the elastic net and the baselines) predicts from the same dataset rows and gets
//! its interval the same way, so any of them can be the control in a comparison.

pub mod elastic_net;
pub mod interval;

use crate::contract::document::ApiVersion;
use crate::contract::model::{Calibration, Model, ModelConfig, ModelDocKind, ModelKind};
use crate::contract::LabelKind;
use crate::dataset::Dataset;
use crate::error::{Error, Result};

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
                        self.algorithm.as_str()
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
            let st = self
                .standardisation
                .as_ref()
                .ok_or_else(|| Error::field(origin, "/standardisation", "missing for an elastic-net model"))?;
            if self.coefficients.len() != n || st.mean.len() != n || st.scale.len() != n {
                return Err(Error::field(
                    origin,
                    "/coefficients",
                    format!("expected {n} values, one per feature"),
                ));
            }
            if st.scale.iter().any(|s| s.is_nan() || *s <= 0.0 || !s.is_finite()) {
                return Err(Error::field(
                    origin,
                    "/standardisation/scale",
                    "every scale must be a positive number",
                ));
            }
        } else if self.features.len() != 1 {
            return Err(Error::field(
                origin,
                "/features",
                "a baseline reads exactly one feature",
            ));
        }
        Ok(())
    }
}

/// The model in service, if any, as the store gave it.
pub struct PromotedModel {
    pub version: u32,
    pub model: Model,
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
            kind.as_str(),
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
        interval: Calibration::default(),
    })
}
