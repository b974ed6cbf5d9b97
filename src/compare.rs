//! Shadow-compare: the candidate against the control — the model in service, or the
//! seasonal-naive baseline when none is promoted — on the most recent window, which neither
//! training nor validation saw. (The autoscaler replay slots in here.)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::ModelKind;
use crate::contract::{sha256_hex, ApiVersion, Document};
use crate::dataset::{Dataset, DatasetManifest, Interval};
use crate::error::Result;
use crate::evaluation::{baseline_predictions, metrics, Metrics};
use crate::model::{Model, ModelManifest, Prediction};
use crate::train::rows_of;

crate::document_kind!(ComparisonKind, "Comparison");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: ComparisonKind,
    pub workload: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub dataset_sha256: String,
    /// The shadow window: the latest rows, unseen by training and validation.
    pub window: Interval,
    pub candidate: ModelRef,
    pub control: ControlRef,
    pub candidate_metrics: Metrics,
    pub control_metrics: Metrics,
}

impl Document for Comparison {
    const KIND: &'static str = "Comparison";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    pub algorithm: ModelKind,
    pub model_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlRef {
    pub algorithm: ModelKind,
    /// The promoted version it came from; absent for a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    /// Why this control was used.
    pub reason: String,
}

/// The model in service, if any, as the store gave it.
pub struct PromotedModel {
    pub version: u32,
    pub model: Model,
}

/// The shadow-compare step.
pub fn shadow_compare(
    candidate: &Model,
    manifest: &ModelManifest,
    promoted: Option<PromotedModel>,
    data: &Dataset,
    meta: &DatasetManifest,
    origin: &str,
) -> Result<Comparison> {
    let window = rows_of(data, &manifest.split.shadow, origin)?;
    let calibration = rows_of(data, &manifest.split.calibration, origin)?;
    let shadow = data.slice(window.clone());
    let candidate_predictions = candidate.predict(&shadow)?;

    let (control, control_predictions) = match control_for(promoted, &shadow)? {
        Ok(found) => found,
        Err(reason) => {
            let level = candidate.interval.level;
            let (kind, predictions, reason) =
                match baseline_predictions(ModelKind::SeasonalNaive, data, meta, level, &calibration, &window)? {
                    Some(p) => (ModelKind::SeasonalNaive, p, reason),
                    None => {
                        let p = baseline_predictions(ModelKind::LastValue, data, meta, level, &calibration, &window)?
                            .expect("last-value always exists");
                        (
                            ModelKind::LastValue,
                            p,
                            format!("{reason}; the dataset has no seasonal lag"),
                        )
                    }
                };
            let control = ControlRef {
                algorithm: kind,
                version: None,
                model_sha256: None,
                reason: format!("{} baseline: {reason}", kind.name()),
            };
            (control, predictions)
        }
    };
    Ok(Comparison {
        api_version: ApiVersion::V1,
        kind: ComparisonKind::Kind,
        workload: meta.workload.clone(),
        dataset_sha256: meta.dataset_sha256.clone(),
        window: manifest.split.shadow.clone(),
        candidate: ModelRef {
            algorithm: candidate.algorithm,
            model_sha256: manifest.model_sha256.clone(),
        },
        control,
        candidate_metrics: metrics(&candidate_predictions, &shadow.label),
        control_metrics: metrics(&control_predictions, &shadow.label),
    })
}

/// The promoted model as the control with its predictions, or why there is none to use.
fn control_for(
    promoted: Option<PromotedModel>,
    shadow: &Dataset,
) -> Result<std::result::Result<(ControlRef, Vec<Prediction>), String>> {
    let Some(promoted) = promoted else {
        return Ok(Err("no model is promoted for this workload".into()));
    };
    Ok(match promoted.model.predict(shadow) {
        Ok(predictions) => Ok((
            ControlRef {
                algorithm: promoted.model.algorithm,
                version: Some(promoted.version),
                model_sha256: Some(sha256_hex(&promoted.model.to_bytes())),
                reason: format!("v{} is the promoted model", promoted.version),
            },
            predictions,
        )),
        Err(e) => Err(format!(
            "the promoted v{} cannot predict on this dataset ({e})",
            promoted.version
        )),
    })
}
