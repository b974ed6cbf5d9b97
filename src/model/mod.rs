//! Forecast models. A [`Model`] document holds everything prediction needs — kind, feature list,
//! standardisation, coefficients, horizon, interval calibration — and nothing machine-specific.
//! Every kind (the elastic net and the baselines) predicts from the same dataset rows and gets
//! its interval the same way, so any of them can be the control in a comparison.

pub mod elastic_net;
pub mod interval;

use crate::contract::document::ApiVersion;
use std::ops::Range;

use crate::contract::model::{Calibration, Model, ModelConfig, ModelDocKind, ModelKind, RelativeScale};
use crate::contract::LabelKind;
use crate::dataset::{Dataset, Rows};
use crate::error::{Error, Result};
use elastic_net::{Divide, Problem};

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
    pub fn predict_points<'a>(&self, data: impl Into<Rows<'a>>) -> Result<Vec<f64>> {
        let data = data.into();
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
                let relative = match &self.relative {
                    Some(r) => Some(divide(r, &self.features, &data)?),
                    None => None,
                };
                (0..data.len())
                    .map(|i| {
                        let s = relative.as_ref().map_or(1.0, |r| r.scale(i));
                        let mut p = self.intercept;
                        for (j, col) in columns.iter().enumerate() {
                            let x = match &relative {
                                Some(r) if r.columns[j] => col[i] / s,
                                _ => col[i],
                            };
                            p += self.coefficients[j] * (x - st.mean[j]) / st.scale[j];
                        }
                        p * s
                    })
                    .collect()
            }
        })
    }

    /// Point and interval for every row of `data`.
    pub fn predict<'a>(&self, data: impl Into<Rows<'a>>) -> Result<Vec<Prediction>> {
        let data = data.into();
        let by = match &self.interval.scaled_by {
            Some(s) => Some((
                s,
                data.column(&s.by).ok_or_else(|| {
                    Error::Data(format!(
                        "the model's interval follows feature `{}`, which the dataset does not have",
                        s.by
                    ))
                })?,
            )),
            None => None,
        };
        Ok(self
            .predict_points(data)?
            .into_iter()
            .enumerate()
            .map(|(i, p)| self.interval.around(p, by.map_or(1.0, |(s, v)| s.factor(v[i]))))
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
            if let Some(r) = &self.relative {
                if !(r.floor > 0.0 && r.floor.is_finite()) {
                    return Err(Error::field(origin, "/relative/floor", "must be a positive number"));
                }
                if let Some(f) = r.divided.iter().find(|f| !self.features.contains(f)) {
                    return Err(Error::field(
                        origin,
                        "/relative/divided",
                        format!("`{f}` is not one of the model's features"),
                    ));
                }
            }
            if let Some(scale) = &self.interval.scaled_by {
                if !(scale.reference > 0.0 && scale.reference.is_finite() && scale.floor > 0.0) {
                    return Err(Error::field(
                        origin,
                        "/interval/scaled_by",
                        "reference and floor must be positive numbers",
                    ));
                }
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

/// The mean |value| of a level feature over some rows and the smallest level used (a millionth
/// of that mean): what a relative model divides by and a level-following interval scales with.
/// None when the mean is not a positive number.
pub(crate) fn level_reference(values: &[f64]) -> Option<(f64, f64)> {
    let mean = values.iter().map(|v| v.abs()).sum::<f64>() / values.len().max(1) as f64;
    (mean.is_finite() && mean > 0.0).then_some((mean, 1e-6 * mean))
}

/// A relative model's scale over `rows`, row by row, and which of its features it divides.
fn divide<'a>(r: &RelativeScale, features: &[String], rows: &Rows<'a>) -> Result<Divide<'a>> {
    let by = rows.column(&r.by).ok_or_else(|| {
        Error::Data(format!(
            "the relative model's scale is feature `{}`, which the dataset does not have",
            r.by
        ))
    })?;
    Ok(Divide {
        by,
        floor: r.floor,
        columns: features.iter().map(|f| r.divided.contains(f)).collect(),
    })
}

/// Features as a model's coefficients see them, for `rows` of `data`: each divided feature
/// over the scale when `relative` is set (divided as the fit reads it), else the column itself.
pub(crate) fn design<'a>(
    features: &[String],
    relative: Option<&RelativeScale>,
    data: &'a Dataset,
    rows: Range<usize>,
) -> Result<Problem<'a>> {
    let rows = data.view(rows);
    let divide = match relative {
        Some(r) => Some(divide(r, features, &rows)?),
        None => None,
    };
    let columns = features
        .iter()
        .map(|name| {
            rows.column(name)
                .ok_or_else(|| Error::Data(format!("the dataset has no feature `{name}`")))
        })
        .collect::<Result<_>>()?;
    Ok(Problem {
        columns,
        label: rows.label(),
        divide,
    })
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
        relative: None,
        hyperparameters: ModelConfig {
            kind,
            ..ModelConfig::default()
        },
        interval: Calibration::default(),
    })
}
